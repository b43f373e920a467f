//! Ory's scope strategies (`hierarchic`, `exact`, `wildcard`), with which the jwt and
//! oauth2_introspection authenticators match a rule's required scopes against those granted.
//! Pure.

/// Whether `needle` is granted by one of `granted` under `strategy` (any other strategy grants
/// everything: no check).
pub(super) fn scope_granted(strategy: &str, granted: &[&str], needle: &str) -> bool {
    match strategy {
        "exact" => granted.contains(&needle),
        "hierarchic" => granted
            .iter()
            .any(|g| needle == *g || needle.starts_with(&format!("{g}."))),
        "wildcard" => granted.iter().any(|g| {
            let gp: Vec<&str> = g.split('.').collect();
            let np: Vec<&str> = needle.split('.').collect();
            if gp.len() > np.len() {
                return false;
            }
            for (i, n) in np.iter().enumerate() {
                match gp.get(i) {
                    Some(&"*") => continue,
                    Some(x) if x == n => continue,
                    Some(_) => return false,
                    None => return gp.last() == Some(&"*"),
                }
            }
            true
        }),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_strategies() {
        assert!(scope_granted("hierarchic", &["a"], "a.b"));
        assert!(!scope_granted("hierarchic", &["a.b"], "a"));
        assert!(scope_granted("exact", &["a"], "a"));
        assert!(!scope_granted("exact", &["a"], "a.b"));
        assert!(scope_granted("wildcard", &["a.*"], "a.b"));
        assert!(!scope_granted("wildcard", &["a.*"], "b.c"));
    }
}
