class User implements Namespace {}
class Doc implements Namespace {
  related: {
    viewers: (User | SubjectSet<Team, "members">)[]
  }
}
