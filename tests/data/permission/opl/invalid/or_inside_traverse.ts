class User implements Namespace {}
class Doc implements Namespace {
  related: { parents: Doc[]; owners: User[]; editors: User[] }
  permits = {
    view: (ctx) => this.related.parents.traverse((p) => p.related.owners.includes(ctx.subject) || p.related.editors.includes(ctx.subject)),
  }
}
