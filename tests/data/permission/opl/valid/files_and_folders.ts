import { Namespace, SubjectSet, Context } from "@ory/keto-namespace-types"

class User implements Namespace {}

class Group implements Namespace {
  related: {
    members: (User | SubjectSet<Group, "members">)[]
  }
}

/* Folders form a tree; permissions are inherited from parents. */
class Folder implements Namespace {
  related: {
    parents: Folder[];
    viewers: (User | SubjectSet<Group, "members">)[];
    owners: Array<User | SubjectSet<Group, "members">>
  };

  permits = {
    view: (ctx: Context): boolean =>
      this.related.viewers.includes(ctx.subject) ||
      this.permits.edit(ctx) ||
      this.related.parents.traverse((p) => p.permits.view(ctx)),
    edit: (ctx: Context) => this.related.owners.includes(ctx.subject),
  }
}

export class File implements Namespace {
  related: {
    parents: Folder[]
    viewers: (User | SubjectSet<Group, "members">)[]
    owners: (User | SubjectSet<Group, "members">)[]
    banned: User[]
  }

  // Some comment
  permits = {
    view: (ctx: Context): boolean =>
      (this.related.parents.traverse((p) =>
          p.related.viewers.includes(ctx.subject),
        ) &&
        this.related.parents.traverse(p => p.permits.view(ctx))) ||
      (this.related.viewers.includes(ctx.subject) ||
        this.related.owners.includes(ctx.subject)) ||
      this.permits.edit(ctx),

    edit: (ctx: Context) => this.related.owners.includes(ctx.subject),

    read: (ctx: Context) => this.permits.view(ctx) && !this.related.banned.includes(ctx.subject),

    nested: (ctx) => !(this.related.banned.includes(ctx.subject) || !this.permits.edit(ctx)),
  }
}
