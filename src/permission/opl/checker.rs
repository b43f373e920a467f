//! OPL type checker: runs the checks the parser queued, against the classes of the same
//! file, with Keto's messages and positions (`shared/reference/keto.md` §4.5).
//!
//! Runs only when parsing produced no error. Lookups take the first class / relation with a
//! name; "relation" means a `related` entry or a permit alike.

use super::ast::{Namespace, Relation};
use super::diagnostic::go_quote;
use super::lexer::Token;
use super::parser::RawDiagnostic;

/// Keto's limit on following `SubjectSet<…>` types while checking a `traverse`.
pub const TUPLE_TO_SUBJECT_SET_TYPE_CHECK_MAX_DEPTH: i32 = 10;

/// Quartet's bound on the work of one `traverse` check (Keto has none: a relation with many
/// self-referencing `SubjectSet<…>` types makes its check exponential).
const TRAVERSE_CHECK_BUDGET: usize = 10_000;

/// A check queued by the parser; tokens give the error positions.
#[derive(Debug, Clone)]
pub enum Check {
    /// `R: T[]`, `(T | …)[]`, `Array<T>`: class `T` exists.
    NamespaceExists { namespace: Token },
    /// `SubjectSet<T, "r">`: class `T` exists and declares `r`.
    NamespaceHasRelation { namespace: Token, relation: Token },
    /// `this.related.R…` / `this.permits.R(ctx)`: the current class declares `R`.
    CurrentHasRelation { current: String, relation: Token },
    /// `this.related.R.traverse(x => x.….S…)`: every type of `R` has `S`.
    AllTypesHaveRelation {
        current: String,
        relation_type: Token,
        relation: String,
    },
}

/// Runs all checks in order and returns the errors.
pub fn run(namespaces: &[Namespace], checks: &[Check]) -> Vec<RawDiagnostic> {
    let mut cx = Cx {
        namespaces,
        errors: Vec::new(),
        budget: 0,
    };
    for check in checks {
        cx.run(check);
    }
    cx.errors
}

struct Cx<'a> {
    namespaces: &'a [Namespace],
    errors: Vec<RawDiagnostic>,
    budget: usize,
}

impl<'a> Cx<'a> {
    fn find(&self, name: &str) -> Option<&'a Namespace> {
        self.namespaces.iter().find(|n| n.name == name)
    }

    fn find_relation(&self, namespace: &str, relation: &str) -> Option<&'a Relation> {
        self.find(namespace)?
            .relations
            .iter()
            .find(|r| r.name == relation)
    }

    fn err(&mut self, at: &Token, message: String) {
        self.errors.push(RawDiagnostic::at(at, message));
    }

    fn run(&mut self, check: &Check) {
        match check {
            Check::NamespaceExists { namespace } => {
                if self.find(&namespace.val).is_none() {
                    self.err(
                        namespace,
                        format!("namespace {} was not declared", go_quote(&namespace.val)),
                    );
                }
            }
            Check::NamespaceHasRelation {
                namespace,
                relation,
            } => match self.find(&namespace.val) {
                Some(ns) => {
                    if !ns.relations.iter().any(|r| r.name == relation.val) {
                        self.err(
                            relation,
                            format!(
                                "namespace {} did not declare relation {}",
                                go_quote(&namespace.val),
                                go_quote(&relation.val)
                            ),
                        );
                    }
                }
                None => self.err(
                    namespace,
                    format!("namespace {} was not declared", go_quote(&namespace.val)),
                ),
            },
            Check::CurrentHasRelation { current, relation } => match self.find(current) {
                Some(ns) => {
                    if !ns.relations.iter().any(|r| r.name == relation.val) {
                        self.err(
                            relation,
                            format!(
                                "namespace {} did not declare relation {}",
                                go_quote(current),
                                go_quote(&relation.val)
                            ),
                        );
                    }
                }
                None => self.err(
                    relation,
                    format!("namespace {} was not declared", go_quote(current)),
                ),
            },
            Check::AllTypesHaveRelation {
                current,
                relation_type,
                relation,
            } => {
                self.budget = TRAVERSE_CHECK_BUDGET;
                self.all_types_have_relation(
                    relation_type,
                    current,
                    &relation_type.val,
                    relation,
                    TUPLE_TO_SUBJECT_SET_TYPE_CHECK_MAX_DEPTH,
                );
            }
        }
    }

    /// Keto's `recursiveCheckAllRelationsTypesHaveRelation`; recursion depth ≤ 12.
    fn all_types_have_relation(
        &mut self,
        at: &Token,
        namespace: &str,
        relation_type: &str,
        relation: &str,
        depth: i32,
    ) {
        if self.budget == 0 {
            return;
        }
        self.budget -= 1;
        // Budget exhausted (Quartet) or Keto's depth limit: same message, one per branch.
        if self.budget == 0 || depth < 0 {
            self.err(
                at,
                "could not typecheck deeply nested SubjectSet further".to_owned(),
            );
            return;
        }
        let Some(r) = self.find_relation(namespace, relation_type) else {
            self.err(
                at,
                format!(
                    "relation {} was not declared in namespace {}",
                    go_quote(relation_type),
                    go_quote(namespace)
                ),
            );
            return;
        };
        for t in &r.types {
            match &t.relation {
                None => {
                    if self.find_relation(&t.namespace, relation).is_none() {
                        self.err(
                            at,
                            format!(
                                "relation {} was not declared in namespace {}",
                                go_quote(relation),
                                go_quote(&t.namespace)
                            ),
                        );
                    }
                }
                Some(sub) => {
                    self.all_types_have_relation(at, &t.namespace, sub, relation, depth - 1)
                }
            }
        }
    }
}
