// LetheModels
