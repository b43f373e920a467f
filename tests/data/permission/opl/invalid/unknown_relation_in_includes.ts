class User implements Namespace {}
class Doc implements Namespace {
  related: { owners: User[] }
  permits = {
    view: (ctx: Context): boolean => this.related.viewers.includes(ctx.subject),
  }
}
