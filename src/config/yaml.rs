//! The one YAML reader of Quartet (config files, env values, namespace files, access-rule
//! repositories): `serde-saphyr` with bounded resources and `serde_yaml` 0.9's reading of
//! untyped scalars, so that neither an alias bomb nor deep nesting can hang or overflow the stack.
//!
//! See `docs/decisions/0006-yaml-crate.md` for the choice of crate and the numbers.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{Error, MessageFormatter, UserMessageFormatter};

/// Deepest nesting of sequences and mappings accepted (the deepest Ory config key path is about
/// a dozen levels; a deeper document is rejected before it is built).
pub const MAX_DEPTH: usize = 64;

/// Most nodes an alias may replay in one document, all aliases together. A configuration that
/// shares blocks with anchors replays a few hundred; a "billion laughs" document hits this
/// at once instead of growing to gigabytes.
pub const MAX_REPLAYED_EVENTS: usize = 100_000;

/// Most nodes (scalars, sequences, mappings) in one document.
pub const MAX_NODES: usize = 250_000;

/// Parses one YAML document (JSON is YAML too) into `T`. The error is one line with the line and
/// column; it never quotes the document (which may hold secrets).
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_saphyr::from_str_with_options(text, options())
        .map_err(|e| one_line(&e.render_with_formatter(&Messages)))
}

/// The crate's user-facing wording, with the limits Quartet sets named in words.
struct Messages;

impl MessageFormatter for Messages {
    fn format_message<'a>(&self, err: &'a Error) -> Cow<'a, str> {
        match err {
            Error::Budget {
                breach: BudgetBreach::Depth { .. },
                ..
            } => Cow::Owned(format!(
                "nested deeper than {MAX_DEPTH} levels of lists and mappings"
            )),
            Error::Budget {
                breach: BudgetBreach::Nodes { .. },
                ..
            } => Cow::Owned(format!("more than {MAX_NODES} values in one document")),
            Error::AliasReplayLimitExceeded { .. } => Cow::Owned(format!(
                "aliases (*name) expand to more than {MAX_REPLAYED_EVENTS} values"
            )),
            other => UserMessageFormatter.format_message(other),
        }
    }
}

fn options() -> serde_saphyr::Options {
    let mut alias_limits = serde_saphyr::options::AliasLimits::default();
    alias_limits.max_total_replayed_events = MAX_REPLAYED_EVENTS;
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            flow_nesting_limit: MAX_DEPTH,
            max_nodes: MAX_NODES,
            max_documents: 1,
            // The replay limit bounds the work exactly; the ratio heuristic would refuse an
            // access-rule file whose 200 rules share one authenticator block.
            enforce_alias_anchor_ratio: false,
        },
        alias_limits: alias_limits,
        // Untyped scalars (every config value is first read into a `serde_json::Value`) as
        // `serde_yaml` 0.9 and Go's yaml.v3 read them: only `true`/`false` are booleans, and
        // `0755` or `1_000` stay strings.
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        with_snippet: false,
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    #[test]
    fn untyped_scalars_read_as_before() {
        let v: Value = from_str(
            "a: yes\nb: true\nc: 0755\nd: 1_000\ne: 12\nf: 1.5\ng: ~\nh: '12'\ni: off\nj: 0x1F\n",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"a": "yes", "b": true, "c": "0755", "d": "1_000", "e": 12, "f": 1.5,
                   "g": null, "h": "12", "i": "off", "j": 31})
        );
    }

    #[test]
    fn empty_document_is_null_and_json_is_yaml() {
        assert_eq!(from_str::<Value>("").unwrap(), Value::Null);
        assert_eq!(
            from_str::<Value>("# only a comment\n").unwrap(),
            Value::Null
        );
        assert_eq!(
            from_str::<Value>(r#"{"a": [1, "x"]}"#).unwrap(),
            json!({"a": [1, "x"]})
        );
    }

    #[test]
    fn anchors_and_merge_keys_still_work() {
        let v: Value = from_str("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\ncopy: *b\n").unwrap();
        assert_eq!(v["other"], json!({"x": 1, "y": 2}));
        assert_eq!(v["copy"], json!({"x": 1}));
    }

    #[test]
    fn an_alias_bomb_is_an_error_quickly() {
        let mut doc = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let p = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let started = std::time::Instant::now();
        let err = from_str::<Value>(&doc).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(err.contains("alias"), "{err}");
    }

    /// 150 kB whose one anchor of 50,000 items is replayed 1,001 times: `serde_yaml` 0.9 built
    /// the 50 million values (47 s and 3 GB here) since its limit only counts alias jumps.
    fn large_anchor_replayed() -> String {
        let mut doc = String::from("a: &a [");
        doc.push_str(&"x, ".repeat(50_000));
        doc.push_str("x]\nb: [");
        doc.push_str(&"*a, ".repeat(1_000));
        doc.push_str("*a]\n");
        doc
    }

    #[test]
    fn a_large_anchor_replayed_many_times_is_an_error_quickly() {
        let started = std::time::Instant::now();
        let err = from_str::<Value>(&large_anchor_replayed()).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(
            err.contains("aliases (*name) expand to more than 100000 values"),
            "{err}"
        );
        // Sharing blocks with anchors, as configurations do, stays fine.
        let mut doc = String::from("base: &b {a: 1, b: [1, 2, 3]}\n");
        for i in 0..200 {
            doc.push_str(&format!("k{i}: *b\n"));
        }
        assert_eq!(
            from_str::<Value>(&doc).unwrap()["k199"]["b"],
            json!([1, 2, 3])
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        for doc in [
            "[".repeat(10_000) + &"]".repeat(10_000),
            "{a: ".repeat(10_000) + &"}".repeat(10_000),
            (0..10_000)
                .map(|i| format!("{}k:\n", " ".repeat(i)))
                .collect::<String>(),
            (0..10_000)
                .map(|i| format!("{}-\n", " ".repeat(i)))
                .collect::<String>(),
        ] {
            let err = from_str::<Value>(&doc).unwrap_err();
            // the scanner's own flow limit ("recursion limit") or the budget's depth
            assert!(
                err.contains("nested deeper than 64 levels") || err.contains("recursion limit"),
                "{err}"
            );
        }
        let ok = "[".repeat(MAX_DEPTH - 1) + &"]".repeat(MAX_DEPTH - 1);
        assert!(from_str::<Value>(&ok).is_ok());
    }

    #[test]
    fn errors_are_one_line_and_do_not_quote_the_document() {
        let err = from_str::<Value>("secret: hunter2\n  bad: [\n").unwrap_err();
        assert!(!err.contains('\n'), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = from_str::<Value>("a: 1\na: 2\n").unwrap_err();
        assert!(err.contains("duplicate mapping key `a`"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }
}
