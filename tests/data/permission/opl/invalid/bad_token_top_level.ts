class User implements Namespace {}
# not a comment
