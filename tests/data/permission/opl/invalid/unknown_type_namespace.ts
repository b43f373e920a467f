class Doc implements Namespace {
  related: {
    owners: Person[]
    editors: Array<Person | User>
  }
}
