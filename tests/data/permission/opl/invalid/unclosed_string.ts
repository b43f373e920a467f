class User implements Namespace {}
class Doc implements Namespace {
  related: {
    viewers: SubjectSet<User, "members>[]
  }
}
