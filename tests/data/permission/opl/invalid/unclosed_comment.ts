class User implements Namespace {}
/* the rest of the file
is commented out
