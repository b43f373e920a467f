//! Relation tuples as the domain knows them — `namespace:object#relation@subject` — plus the
//! partial tuple used as a list/delete filter, and Keto's text form (`K:ketoapi/enc_string.go`).
//! Wire DTOs live in `permission::http`; these types never touch serde.

use std::fmt;

use super::error::PermissionError;

/// `namespace:object#relation` — a subject set (the relation may be empty: `Folder:b`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectSet {
    pub namespace: String,
    pub object: String,
    pub relation: String,
}

/// Who a tuple grants something to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    Id(String),
    Set(SubjectSet),
}

/// One stored fact.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelationTuple {
    pub namespace: String,
    pub object: String,
    pub relation: String,
    pub subject: Subject,
}

/// A partial tuple: every `Some` field must match exactly (`Some("")` matches the empty
/// string, as Keto's presence-based query parameters do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TupleFilter {
    pub namespace: Option<String>,
    pub object: Option<String>,
    pub relation: Option<String>,
    pub subject: Option<Subject>,
}

impl fmt::Display for SubjectSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.relation.is_empty() {
            write!(f, "{}:{}", self.namespace, self.object)
        } else {
            write!(f, "{}:{}#{}", self.namespace, self.object, self.relation)
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Id(id) => f.write_str(id),
            Subject::Set(set) => set.fmt(f),
        }
    }
}

impl fmt::Display for RelationTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}#{}@{}",
            self.namespace, self.object, self.relation, self.subject
        )
    }
}

impl RelationTuple {
    /// Parses Keto's text form `ns:obj#rel@subject`: split at the first `:`, then the first
    /// `#`, then the first `@`; a subject containing `:` is a subject set (relation after `#`,
    /// empty without one); surrounding parentheses are stripped.
    pub fn parse(input: &str) -> Result<RelationTuple, PermissionError> {
        let malformed = |what: &str| PermissionError::MalformedTuple {
            input: input.to_string(),
            reason: format!("expected {what}"),
        };
        let (namespace, rest) = input
            .split_once(':')
            .ok_or_else(|| malformed("input to contain ':'"))?;
        let (object, rest) = rest
            .split_once('#')
            .ok_or_else(|| malformed("input to contain '#'"))?;
        let (relation, subject) = rest
            .split_once('@')
            .ok_or_else(|| malformed("input to contain '@'"))?;
        let subject = subject
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or(subject);
        let subject = if subject.contains(':') {
            let (ns, rest) = subject
                .split_once(':')
                .ok_or_else(|| malformed("subject set to contain ':'"))?;
            let (obj, rel) = rest.split_once('#').unwrap_or((rest, ""));
            Subject::Set(SubjectSet {
                namespace: ns.to_string(),
                object: obj.to_string(),
                relation: rel.to_string(),
            })
        } else {
            Subject::Id(subject.to_string())
        };
        Ok(RelationTuple {
            namespace: namespace.to_string(),
            object: object.to_string(),
            relation: relation.to_string(),
            subject,
        })
    }

    /// The filter that matches exactly this tuple.
    pub fn as_filter(&self) -> TupleFilter {
        TupleFilter {
            namespace: Some(self.namespace.clone()),
            object: Some(self.object.clone()),
            relation: Some(self.relation.clone()),
            subject: Some(self.subject.clone()),
        }
    }
}

impl TupleFilter {
    /// Does `tuple` match every given field?
    pub fn matches(&self, tuple: &RelationTuple) -> bool {
        self.namespace
            .as_ref()
            .is_none_or(|v| *v == tuple.namespace)
            && self.object.as_ref().is_none_or(|v| *v == tuple.object)
            && self.relation.as_ref().is_none_or(|v| *v == tuple.relation)
            && self.subject.as_ref().is_none_or(|v| *v == tuple.subject)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn parses_keto_text_form() {
        let t = RelationTuple::parse("File:a#parents@Folder:b").unwrap();
        assert_eq!(
            t.subject,
            Subject::Set(SubjectSet {
                namespace: "Folder".into(),
                object: "b".into(),
                relation: "".into()
            })
        );
        assert_eq!(t.to_string(), "File:a#parents@Folder:b");
        let t = RelationTuple::parse("Group:dev#members@(Group:ops#members)").unwrap();
        assert_eq!(t.to_string(), "Group:dev#members@Group:ops#members");
        let t = RelationTuple::parse("Doc:d#owner@alice@example.com").unwrap();
        assert_eq!(t.subject, Subject::Id("alice@example.com".into()));
        assert!(RelationTuple::parse("nocolon").is_err());
        assert!(RelationTuple::parse("ns:obj").is_err());
        assert!(RelationTuple::parse("ns:obj#rel").is_err());
    }

    #[test]
    fn filter_matches_present_fields_only() {
        let t = RelationTuple::parse("Doc:d#owner@alice").unwrap();
        let f = TupleFilter {
            namespace: Some("Doc".into()),
            ..Default::default()
        };
        assert!(f.matches(&t));
        let f = TupleFilter {
            object: Some("".into()),
            ..Default::default()
        };
        assert!(!f.matches(&t));
    }
}
