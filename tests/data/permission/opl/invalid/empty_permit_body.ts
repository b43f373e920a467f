class User implements Namespace {}
class Doc implements Namespace {
  related: { owners: User[] }
  permits = {
    view: (ctx) => ,
    edit: (ctx) => this.related.owners.includes(ctx.subject),
  }
}
