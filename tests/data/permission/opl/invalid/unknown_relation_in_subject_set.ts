class User implements Namespace {}
class Group implements Namespace {
  related: { members: User[] }
}
class Doc implements Namespace {
  related: {
    viewers: SubjectSet<Group, "admins">[]
  }
}
