class User implements Namespace {}
class Doc implements Namespace {
  related: { owners: User[] }
  permits = {
    view: (ctx: Context): boolean => {
      return this.related.owners.includes(ctx.subject)
    },
  }
}
