class User implements Namespace {}
class Doc implements Namespace {
  related: { owners: User[]; editors: User[] }
  permits = {
    view: (ctx) => (this.related.owners.includes(ctx.subject)) this.related.editors.includes(ctx.subject),
  }
}
