//! Pure matching rules shared by every grant: fosite's scope strategies (`exact`, `wildcard`),
//! the audience strategy, and Go duration strings (`1h`, `30m`, `1h0m0s`) used by `ttl.*` and the
//! client `*_lifespan` fields. No I/O, no clock.

use std::time::Duration;

/// `strategies.scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeStrategy {
    Exact,
    Wildcard,
}

impl ScopeStrategy {
    pub fn parse(name: Option<&str>) -> ScopeStrategy {
        match name {
            Some("exact") => ScopeStrategy::Exact,
            _ => ScopeStrategy::Wildcard,
        }
    }

    /// Whether the client's allowed scopes `matchers` allow the requested scope `needle`.
    pub fn allows(self, matchers: &[String], needle: &str) -> bool {
        matchers.iter().any(|m| match self {
            ScopeStrategy::Exact => m == needle,
            ScopeStrategy::Wildcard => wildcard_match(m, needle),
        })
    }
}

/// fosite `WildcardScopeStrategy`: dot-separated segments, `*` matches one non-empty segment,
/// a trailing `*` also matches any deeper suffix.
fn wildcard_match(matcher: &str, needle: &str) -> bool {
    if matcher == needle {
        return true;
    }
    let m: Vec<&str> = matcher.split('.').collect();
    let n: Vec<&str> = needle.split('.').collect();
    for (i, seg) in m.iter().enumerate() {
        let Some(current) = n.get(i) else {
            return false;
        };
        if *seg == "*" {
            if current.is_empty() {
                return false;
            }
            if i == m.len() - 1 {
                return true;
            }
            continue;
        }
        if seg != current {
            return false;
        }
    }
    m.len() == n.len()
}

/// fosite `DefaultAudienceMatchingStrategy`: every requested audience shares scheme and host
/// with an allowed one and its path equals or lies below the allowed path.
pub fn audience_allowed(allowed: &[String], requested: &str) -> bool {
    let Ok(req) = url::Url::parse(requested) else {
        return allowed.iter().any(|a| a == requested);
    };
    allowed.iter().any(|a| {
        let Ok(al) = url::Url::parse(a) else {
            return a == requested;
        };
        if al.scheme() != req.scheme() || al.host_str() != req.host_str() || al.port() != req.port()
        {
            return false;
        }
        let ap = al.path().trim_end_matches('/');
        let rp = req.path().trim_end_matches('/');
        rp == ap || rp.starts_with(&format!("{ap}/"))
    })
}

/// Parses a Go duration (`1h`, `30m`, `1h30m`, `500ms`, `10s`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    crate::config::duration::parse(text).ok()
}

/// Formats like Go's `time.Duration.String()` (`1h0m0s`, `30m0s`, `45s`, `500ms`).
pub fn format_duration(d: Duration) -> String {
    crate::config::duration::format(d)
}

/// Whether a client lifespan string matches Hydra's `NullDuration` pattern
/// `^([0-9]+(ns|us|ms|s|m|h))*$` (one or more number-unit pairs, e.g. `1h30m`).
pub fn valid_lifespan(text: &str) -> bool {
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ns", "us", "ms", "s", "m", "h"].into_iter().find(|u| {
            rest.starts_with(u) && !rest[u.len()..].starts_with(|c: char| c.is_ascii_alphabetic())
        });
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn wildcard_scopes_follow_fosite() {
        let w = ScopeStrategy::Wildcard;
        assert!(w.allows(&s(&["foo.*"]), "foo.bar"));
        assert!(w.allows(&s(&["foo.*"]), "foo.bar.baz"));
        assert!(!w.allows(&s(&["foo.*"]), "foo"));
        assert!(w.allows(&s(&["foo.*.baz"]), "foo.bar.baz"));
        assert!(!w.allows(&s(&["foo.*.baz"]), "foo.bar.qux"));
        assert!(w.allows(&s(&["openid", "offline"]), "offline"));
        assert!(!w.allows(&s(&["foo"]), "foo.bar"));
        assert!(!ScopeStrategy::Exact.allows(&s(&["foo.*"]), "foo.bar"));
    }

    #[test]
    fn lifespans_follow_hydras_pattern() {
        for ok in ["1h", "30m", "5m0s", "1h30m", "10s", "500ms", "1h0m0s"] {
            assert!(valid_lifespan(ok), "{ok}");
        }
        for bad in ["", "1", "1d", "h", "1.5h", "-1h", "1hm", "1 h"] {
            assert!(!valid_lifespan(bad), "{bad}");
        }
        assert_eq!(format_duration(parse_duration("90m").unwrap()), "1h30m0s");
    }

    #[test]
    fn audience_paths_nest() {
        let allowed = s(&["https://api.example.com/v1"]);
        assert!(audience_allowed(&allowed, "https://api.example.com/v1"));
        assert!(audience_allowed(
            &allowed,
            "https://api.example.com/v1/users"
        ));
        assert!(!audience_allowed(&allowed, "https://api.example.com/v2"));
        assert!(!audience_allowed(&allowed, "http://api.example.com/v1"));
    }

    #[test]
    fn durations_round_trip_go_style() {
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(
            parse_duration("720h"),
            Some(Duration::from_secs(720 * 3600))
        );
        assert_eq!(parse_duration("x"), None);
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(5)), "5s");
        assert!(valid_lifespan("12h") && valid_lifespan("1h30m") && !valid_lifespan("h"));
    }
}
