//! Rewrite IR: what `permission::engine` walks. One [`Schema`] per OPL file.
//!
//! Each relation is either **stored** (a `related` entry: tuples are looked up and subject
//! sets expanded, with its declared subject types for strict mode) or a **permit** (a
//! [`Rewrite`] tree). Keto's engine additionally runs the *direct* lookup and the subject-set
//! expansion for permits too (non-strict mode, §5.5 of the Keto reference); that is per
//! relation, not a node of the tree, so there is no `Direct` node here.
//!
//! The tree keeps Keto's exact shape, including single-child `Union` nodes and unflattened
//! nested unions, because Keto's depth accounting charges one unit per nested operator node
//! (reference §5.3, §12): e.g. `a && b` is `Intersection[Union[a], b]`. Do not "simplify" it
//! in the engine unless you also give up depth-for-depth compatibility.

use serde::Serialize;

use super::ast;

/// All namespaces of one file, in source order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schema {
    pub namespaces: Vec<NamespaceDef>,
}

/// One OPL class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespaceDef {
    pub name: String,
    /// In source order; Keto resolves a name to its *first* relation (see [`Self::relation`]).
    pub relations: Vec<RelationDef>,
}

/// One relation name of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelationDef {
    pub name: String,
    #[serde(flatten)]
    pub kind: RelationKind,
}

/// Stored relation or permit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RelationKind {
    /// `related: { name: … }`.
    Stored { subject_types: Vec<SubjectType> },
    /// `permits = { name: (ctx) => … }`.
    Permit { rewrite: Rewrite },
}

/// A declared subject type of a stored relation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SubjectType {
    /// `User[]`: subject sets of namespace `User` with no relation, i.e. `User:id`.
    Namespace { namespace: String },
    /// `SubjectSet<Group, "members">`.
    SubjectSet { namespace: String, relation: String },
}

/// A permit body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rewrite {
    /// `||` node (Keto operator `or`); may have a single child.
    Union(Vec<Rewrite>),
    /// `&&` node (Keto operator `and`).
    Intersection(Vec<Rewrite>),
    /// `!x` (Keto `InvertResult`).
    Not(Box<Rewrite>),
    /// `this.related.R.includes(ctx.subject)` / `this.permits.R(ctx)`: same object, relation R.
    ComputedSubjectSet { relation: String },
    /// `this.related.R.traverse(x => x.related.S.includes(ctx.subject))` or
    /// `… x.permits.S(ctx)`: for each stored subject-set tuple `obj#R@T:t#*`, check `T:t#S`.
    TupleToSubjectSet {
        relation: String,
        computed_relation: String,
    },
}

impl Schema {
    /// Lowers parsed namespaces. Only meaningful for a parse without errors.
    pub fn from_ast(namespaces: &[ast::Namespace]) -> Schema {
        Schema {
            namespaces: namespaces
                .iter()
                .map(|ns| NamespaceDef {
                    name: ns.name.clone(),
                    relations: ns.relations.iter().map(lower_relation).collect(),
                })
                .collect(),
        }
    }

    /// The first namespace with this name (Keto's lookup order).
    pub fn namespace(&self, name: &str) -> Option<&NamespaceDef> {
        self.namespaces.iter().find(|n| n.name == name)
    }
}

impl NamespaceDef {
    /// The first relation with this name (Keto's lookup order: a `related` entry declared
    /// before a permit of the same name hides the permit, and vice versa).
    pub fn relation(&self, name: &str) -> Option<&RelationDef> {
        self.relations.iter().find(|r| r.name == name)
    }

    /// A class without any relation (`class User implements Namespace {}`) accepts every
    /// relation name in Keto instead of answering "relation does not exist".
    pub fn accepts_any_relation(&self) -> bool {
        self.relations.is_empty()
    }
}

impl RelationDef {
    /// The permit body, if this is a permit.
    pub fn rewrite(&self) -> Option<&Rewrite> {
        match &self.kind {
            RelationKind::Permit { rewrite } => Some(rewrite),
            RelationKind::Stored { .. } => None,
        }
    }

    /// Strict mode expands stored subject sets only for relations that declare a
    /// `SubjectSet<…>` type.
    pub fn declares_subject_set_type(&self) -> bool {
        match &self.kind {
            RelationKind::Stored { subject_types } => subject_types
                .iter()
                .any(|t| matches!(t, SubjectType::SubjectSet { .. })),
            RelationKind::Permit { .. } => false,
        }
    }
}

fn lower_relation(r: &ast::Relation) -> RelationDef {
    let kind = match &r.rewrite {
        Some(rw) => RelationKind::Permit {
            rewrite: lower_rewrite(rw),
        },
        None => RelationKind::Stored {
            subject_types: r
                .types
                .iter()
                .map(|t| match &t.relation {
                    Some(rel) => SubjectType::SubjectSet {
                        namespace: t.namespace.clone(),
                        relation: rel.clone(),
                    },
                    None => SubjectType::Namespace {
                        namespace: t.namespace.clone(),
                    },
                })
                .collect(),
        },
    };
    RelationDef {
        name: r.name.clone(),
        kind,
    }
}

// Recursion depth is bounded by the parser's `MAX_REWRITE_DEPTH`.
fn lower_rewrite(rw: &ast::SubjectSetRewrite) -> Rewrite {
    let children = rw.children.iter().map(lower_child).collect();
    match rw.operator {
        ast::Operator::Or => Rewrite::Union(children),
        ast::Operator::And => Rewrite::Intersection(children),
    }
}

fn lower_child(c: &ast::Child) -> Rewrite {
    match c {
        ast::Child::Rewrite(rw) => lower_rewrite(rw),
        ast::Child::ComputedSubjectSet { relation } => Rewrite::ComputedSubjectSet {
            relation: relation.clone(),
        },
        ast::Child::TupleToSubjectSet {
            relation,
            computed_subject_set_relation,
        } => Rewrite::TupleToSubjectSet {
            relation: relation.clone(),
            computed_relation: computed_subject_set_relation.clone(),
        },
        ast::Child::InvertResult { inverted } => Rewrite::Not(Box::new(lower_child(inverted))),
    }
}
