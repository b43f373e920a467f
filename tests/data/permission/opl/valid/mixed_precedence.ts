class User implements Namespace {}

class Doc implements Namespace {
  related: {
    a: User[]
    b: User[]
    c: User[]
  }

  permits = {
    // Keto: (a || b) && c   --   TypeScript: a || (b && c)
    mixed: (ctx: Context): boolean =>
      this.related.a.includes(ctx.subject) ||
      this.related.b.includes(ctx.subject) &&
      this.related.c.includes(ctx.subject),
    explicit: (ctx: Context): boolean =>
      this.related.a.includes(ctx.subject) ||
      (this.related.b.includes(ctx.subject) && this.related.c.includes(ctx.subject)),
  }
}
