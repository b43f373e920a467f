class User implements Namespace {
  related: {
    friends: User[]
  }
