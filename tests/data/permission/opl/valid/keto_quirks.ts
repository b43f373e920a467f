// Inputs Keto v0.14 accepts although TypeScript would not.
class User implements Namespace {}

class Doc implements Namespace {
  related: {
    a: User[]
    b: User[]
    parents: Doc[]
  }

  permits = {
    // two operands without an operator join with "||"
    juxtaposed: (ctx) => this.related.a.includes(ctx.subject) this.related.b.includes(ctx.subject),
    // a dangling operator is ignored
    dangling: (ctx) => this.related.a.includes(ctx.subject) ||,
    // trailing commas inside traverse and a string literal matching a keyword by value
    traversing: (ctx) => 'this'.related.parents.traverse((x) => x.related.a.includes(ctx.subject,),),
    // an unclosed "(" is closed by the "}" of the permits block
    unclosed: (ctx) => (this.related.a.includes(ctx.subject)
  }
}
