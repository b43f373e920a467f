class Doc implements Namespace {
  related: { été: User[] }
}
