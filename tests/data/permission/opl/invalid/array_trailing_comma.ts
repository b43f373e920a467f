class User implements Namespace {}
class Doc implements Namespace {
  related: {
    owners: Array<User>,
    editors: User[],
  }
}
