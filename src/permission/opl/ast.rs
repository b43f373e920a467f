//! The OPL syntax tree, shaped exactly like Keto's namespace AST (including the
//! single-child `or` wrappers its parser produces), plus byte spans for diagnostics.
//!
//! Serialising a [`Namespace`]'s relations gives the same JSON as Keto's
//! `internal/namespace/ast` types (`{"name","types"?,"rewrite"?}`); spans are not serialised.
//! The engine does not walk this tree directly: it gets the [`super::ir`] lowering.

use serde::Serialize;

/// Byte range `start..end` in the source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// `class Name implements Namespace { … }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Namespace {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
    /// `related` entries and `permits`, in source order (lookups take the first match).
    pub relations: Vec<Relation>,
}

/// A `related` entry (has `types`) or a permit (has `rewrite`); Keto never sets both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relation {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<RelationType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<SubjectSetRewrite>,
}

/// One allowed subject type: `T` (`relation` absent) or `SubjectSet<T, "r">`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelationType {
    pub namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
}

/// `&&` / `||`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operator {
    Or,
    And,
}

/// An operator node with its operands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubjectSetRewrite {
    pub operator: Operator,
    pub children: Vec<Child>,
}

/// One operand of a rewrite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Child {
    /// A nested operator node (from parentheses or from left-to-right grouping).
    Rewrite(SubjectSetRewrite),
    /// `this.related.R.includes(ctx.subject)` or `this.permits.R(ctx)`.
    ComputedSubjectSet { relation: String },
    /// `this.related.R.traverse(x => x.related.S.includes(ctx.subject))` or
    /// `this.related.R.traverse(x => x.permits.S(ctx))`.
    TupleToSubjectSet {
        relation: String,
        computed_subject_set_relation: String,
    },
    /// `!operand`.
    InvertResult { inverted: Box<Child> },
}
