// LetheWorld
