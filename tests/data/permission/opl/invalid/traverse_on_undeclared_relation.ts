class User implements Namespace {}
class Doc implements Namespace {
  related: { owners: User[] }
  permits = {
    view: (ctx: Context): boolean => this.related.parents.traverse((p) => p.permits.view(ctx)),
  }
}
