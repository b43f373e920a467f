class User implements Namespace {}

class 'Document' implements Namespace {
  related: {
    "owner-ids": User[],
    'viewers': User[],
  }

  permits = {
    "can view": (ctx) => this.related["viewers"].includes(ctx.subject) || this.permits["can edit"](ctx),
    'can edit': (ctx: Context): boolean => this.related['owner-ids'].includes(ctx.subject),
  }
};
