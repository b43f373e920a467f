class User implements Namespace {}
class Doc implements Namespace {
  related: { owners: User[] }
  permits = {
    view: (ctx) => ((((((((((this.related.owners.includes(ctx.subject)))))))))),
  }
}
