class User implements Namespace {}
class Folder implements Namespace {
  related: { viewers: User[] }
}
class Doc implements Namespace {
  related: { parents: (Folder | User)[] }
  permits = {
    view: (ctx: Context): boolean => this.related.parents.traverse((p) => p.permits.view(ctx)),
  }
}
