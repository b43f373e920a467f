//! Query-string values read as Kratos (Go) reads them: booleans accept every spelling of
//! `strconv.ParseBool` (`1 t T TRUE true True`, `0 f F FALSE false False`), so that clients which
//! send `True` (the Python SDK formats a `bool` that way) get the same answer as from Kratos.

use serde::{Deserialize, Deserializer};

/// `strconv.ParseBool`; `None` for anything else.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `#[serde(default, deserialize_with = "query::opt_bool")]` for an optional boolean parameter.
pub fn opt_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    let raw = Option::<String>::deserialize(deserializer)?;
    match raw.as_deref() {
        None | Some("") => Ok(None),
        Some(v) => parse_bool(v).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!("`{v}` is not a boolean (true or false)"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bool;

    #[test]
    fn go_spellings() {
        for v in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(v), Some(true), "{v}");
        }
        for v in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(v), Some(false), "{v}");
        }
        for v in ["yes", "tRUE", "", "2"] {
            assert_eq!(parse_bool(v), None, "{v}");
        }
    }
}
