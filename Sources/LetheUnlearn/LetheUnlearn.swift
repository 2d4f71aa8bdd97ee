// LetheUnlearn
