//! Password policy (Kratos' validator, offline): minimum length, bcrypt's 72-byte maximum,
//! similarity to the identifiers, and a breached-password check against a compact list of the
//! most common leaked passwords shipped in the binary. Pure: no I/O, no clock.

use serde_json::json;

use super::text::UiText;
use crate::config::identity::PasswordPolicy;

const COMMON: &str = include_str!("common_passwords.txt");

/// Checks a new password; `Err` carries the UI message for the `password` node.
pub fn check(
    policy: &PasswordPolicy,
    password: &str,
    identifiers: &[String],
    bcrypt: bool,
) -> Result<(), UiText> {
    let len = password.chars().count();
    let min = policy.min_password_length.max(6);
    if len < min {
        return Err(UiText::error(
            4000032,
            format!("The password must be at least {min} characters long, but got {len}."),
            json!({"min_length": min, "actual_length": len}),
        ));
    }
    if bcrypt && password.len() > 72 {
        return Err(UiText::error(
            4000033,
            format!("The password must be at most 72 characters long, but got {len}."),
            json!({"max_length": 72, "actual_length": len}),
        ));
    }
    if policy.identifier_similarity_check_enabled {
        for id in identifiers {
            if too_similar(id, password) {
                return Err(UiText::error(
                    4000031,
                    "The password can not be used because it is too similar to the identifier.",
                    json!({}),
                ));
            }
        }
    }
    if policy.haveibeenpwned_enabled && is_common(password) {
        return Err(UiText::error(
            4000034,
            "The password has been found in data breaches and must no longer be used.",
            json!({"breaches": 1}),
        ));
    }
    Ok(())
}

/// True when the password is on the shipped list of most common breached passwords.
pub fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    COMMON
        .lines()
        .any(|l| l.trim().eq_ignore_ascii_case(&lower))
}

/// Kratos: lower-case both; too similar when the Levenshtein distance is < 5 or the longest
/// common substring covers more than half of the password.
pub fn too_similar(identifier: &str, password: &str) -> bool {
    let (a, b) = (identifier.to_lowercase(), password.to_lowercase());
    if levenshtein(&a, &b) < 5 {
        return true;
    }
    let lcs = longest_common_substring(&a, &b);
    let plen = b.chars().count().max(1);
    lcs as f64 / plen as f64 > 0.5
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn longest_common_substring(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut best = 0;
    let mut prev = vec![0usize; b.len() + 1];
    for ca in &a {
        let mut cur = vec![0usize; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            if ca == cb {
                cur[j + 1] = prev[j] + 1;
                best = best.max(cur[j + 1]);
            }
        }
        prev = cur;
    }
    best
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn policy_rejects_short_similar_and_common_passwords() {
        let p = PasswordPolicy::default();
        let ids = vec!["alice@example.com".to_string()];
        assert_eq!(check(&p, "short", &ids, true).unwrap_err().id, 4000032);
        assert_eq!(
            check(&p, "alice@example.co", &ids, true).unwrap_err().id,
            4000031
        );
        assert_eq!(
            check(&p, "password123", &ids, true).unwrap_err().id,
            4000034
        );
        assert_eq!(
            check(&p, &"x".repeat(80), &[], true).unwrap_err().id,
            4000033
        );
        assert!(check(&p, "correct horse battery staple", &ids, true).is_ok());
        let relaxed = PasswordPolicy {
            haveibeenpwned_enabled: false,
            ..PasswordPolicy::default()
        };
        assert!(check(&relaxed, "password123", &ids, true).is_ok());
    }
}
