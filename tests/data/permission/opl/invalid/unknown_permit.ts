class User implements Namespace {}
class Doc implements Namespace {
  related: { owners: User[] }
  permits = {
    view: (ctx: Context): boolean => this.permits.edit(ctx) || this.related.owners.includes(ctx.subject),
  }
}
