class User implements Namespace {}
class Folder implements Namespace {
  related: {
    parents: SubjectSet<Folder, "parents">[]
  }
  permits = {
    view: (ctx) => this.related.parents.traverse(p => p.permits.view(ctx)),
  }
}
