class User implements Namespace {}
class Doc implements Namespace {
  related: { parents: Doc[] }
  permits = {
    view: (ctx) => this.related.parents.traverse((p) => q.permits.view(ctx)),
  }
}
