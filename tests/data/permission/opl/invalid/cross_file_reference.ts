// Each file is checked on its own: `User` lives in another file.
class Doc implements Namespace {
  related: { owners: User[] }
  permits = {
    view: (ctx) => this.related.owners.includes(ctx.subject),
  }
}
