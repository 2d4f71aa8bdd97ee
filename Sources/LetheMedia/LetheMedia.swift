// LetheMedia
