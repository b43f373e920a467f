//! The access-rule matcher, a pure core (no I/O, no clock): compiles `match.url` patterns with
//! Oathkeeper's `regexp` strategy (`<…>` groups, anchored; the linear `regex` crate when the
//! pattern allows, backtracking syntax such as `(?!protected)` via `fancy-regex` with a step
//! limit) or `glob` strategy (gobwas-style, `.` and `/` separators),
//! and picks the one rule that matches a method and URL.

use std::time::Duration;

/// `access_rules.matching_strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Regexp,
    Glob,
}

impl Strategy {
    /// Oathkeeper: empty or absent means `regexp`.
    pub fn parse(name: Option<&str>) -> Result<Self, String> {
        match name.unwrap_or("") {
            "" | "regexp" => Ok(Strategy::Regexp),
            "glob" => Ok(Strategy::Glob),
            other => Err(format!(
                "unknown matching strategy {other:?}; expected \"regexp\" or \"glob\""
            )),
        }
    }
}

/// Oathkeeper runs each regexp with a 250 ms timeout (dlclark/regexp2). Quartet compiles every
/// pattern it can with the linear-time `regex` crate; only a pattern that needs look-around or
/// backreferences runs on `fancy-regex`'s backtracking engine, bounded by this many steps
/// (about 2–3 ms of CPU on a hostile pattern and input), after which the match fails.
pub const BACKTRACK_LIMIT: usize = 100_000;
/// Kept for documentation of the equivalence above.
pub const ORY_MATCH_TIMEOUT: Duration = Duration::from_millis(250);

/// How deep groups (regexp) or `{…}` alternatives (glob) may nest in one pattern.
pub const MAX_NESTING: usize = 100;

/// The deepest nesting of unescaped parentheses in a regexp (an upper bound: a `(` inside a
/// character class counts too).
fn group_depth(re: &str) -> usize {
    let (mut depth, mut max, mut escaped) = (0usize, 0usize, false);
    for c in re.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '(' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// A compiled `match.url`.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// A regexp without look-around or backreferences: linear time in the URL's length.
    Regexp(regex::Regex),
    /// A regexp that needs the backtracking engine (bounded by [`BACKTRACK_LIMIT`] steps).
    Backtracking(fancy_regex::Regex),
    Glob(regex::Regex),
}

impl Pattern {
    pub fn compile(strategy: Strategy, pattern: &str) -> Result<Self, String> {
        let parts = split_delimited(pattern)?;
        match strategy {
            Strategy::Regexp => {
                let mut re = String::from("^");
                for part in parts {
                    match part {
                        Part::Literal(l) => re.push_str(&regex::escape(l)),
                        Part::Inner(i) => {
                            re.push('(');
                            re.push_str(i);
                            re.push(')');
                        }
                    }
                }
                re.push('$');
                if let Ok(linear) = regex::Regex::new(&re) {
                    return Ok(Pattern::Regexp(linear));
                }
                // fancy-regex parses by recursive descent: bound its depth first.
                if group_depth(&re) > MAX_NESTING {
                    return Err(format!(
                        "invalid regular expression: groups nest more than {MAX_NESTING} deep"
                    ));
                }
                fancy_regex::RegexBuilder::new(&re)
                    .backtrack_limit(BACKTRACK_LIMIT)
                    .build()
                    .map(Pattern::Backtracking)
                    .map_err(|e| format!("invalid regular expression: {e}"))
            }
            Strategy::Glob => {
                let mut re = String::from("^");
                for part in parts {
                    match part {
                        Part::Literal(l) => re.push_str(&regex::escape(l)),
                        Part::Inner(i) => re.push_str(&glob_to_regex(i)?),
                    }
                }
                re.push('$');
                regex::Regex::new(&re)
                    .map(Pattern::Glob)
                    .map_err(|e| format!("invalid glob: {e}"))
            }
        }
    }

    /// Whether the pattern runs on the backtracking engine (its cost per request is bounded
    /// by [`BACKTRACK_LIMIT`] steps, not by the URL's length alone).
    pub fn needs_backtracking(&self) -> bool {
        matches!(self, Pattern::Backtracking(_))
    }

    /// `Ok(None)`: no match; `Ok(Some(groups))`: match with its capture groups (every group but
    /// the whole match, non-participating ones as ""; always empty for glob); `Err`: the
    /// matcher gave up (backtracking limit), which Oathkeeper answers with 500.
    pub fn captures(&self, url: &str) -> Result<Option<Vec<String>>, String> {
        match self {
            Pattern::Glob(re) => Ok(re.is_match(url).then(Vec::new)),
            Pattern::Regexp(re) => Ok(re.captures(url).map(|caps| {
                caps.iter()
                    .skip(1)
                    .map(|m| m.map(|m| m.as_str().to_owned()).unwrap_or_default())
                    .collect()
            })),
            Pattern::Backtracking(re) => match re.captures(url) {
                Ok(Some(caps)) => Ok(Some(
                    caps.iter()
                        .skip(1)
                        .map(|m| m.map(|m| m.as_str().to_owned()).unwrap_or_default())
                        .collect(),
                )),
                Ok(None) => Ok(None),
                Err(e) => Err(format!("matching gave up: {e}")),
            },
        }
    }
}

enum Part<'a> {
    Literal(&'a str),
    Inner(&'a str),
}

/// Splits at top-level `<` `>` (nested pairs are counted, as Ladon's delimiter scanner does).
fn split_delimited(pattern: &str) -> Result<Vec<Part<'_>>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    for (i, c) in pattern.char_indices() {
        match c {
            '<' => {
                if depth == 0 {
                    if start < i {
                        parts.push(Part::Literal(&pattern[start..i]));
                    }
                    start = i + 1;
                }
                depth += 1;
            }
            '>' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    parts.push(Part::Inner(&pattern[start..i]));
                    start = i + 1;
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced braces in pattern {pattern:?}"));
    }
    if start < pattern.len() {
        parts.push(Part::Literal(&pattern[start..]));
    }
    Ok(parts)
}

/// gobwas/glob syntax with separators `.` and `/` as a regular expression.
fn glob_to_regex(glob: &str) -> Result<String, String> {
    let chars: Vec<char> = glob.chars().collect();
    let (re, rest) = glob_seq(&chars, 0, false, 0)?;
    if rest != chars.len() {
        return Err(format!("unexpected {:?} in glob {glob:?}", chars[rest]));
    }
    Ok(re)
}

const SEP_CLASS: &str = "[^./]";

/// Translates from `i` until the end (or, inside `{…}`, until `,` or `}`).
fn glob_seq(
    chars: &[char],
    mut i: usize,
    in_alt: bool,
    depth: usize,
) -> Result<(String, usize), String> {
    if depth > MAX_NESTING {
        return Err(format!(
            "{{…}} alternatives nest more than {MAX_NESTING} deep in glob"
        ));
    }
    let mut out = String::new();
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                out.push_str(".*");
                i += 2;
            }
            '*' => {
                out.push_str(SEP_CLASS);
                out.push('*');
                i += 1;
            }
            '?' => {
                out.push_str(SEP_CLASS);
                i += 1;
            }
            '\\' => {
                let c = chars.get(i + 1).ok_or("dangling escape in glob")?;
                out.push_str(&regex::escape(&c.to_string()));
                i += 2;
            }
            '[' => {
                let end = chars[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .map(|p| p + i)
                    .ok_or("unclosed [ in glob")?;
                let body: String = chars[i + 1..end].iter().collect();
                let (neg, body) = match body.strip_prefix('!') {
                    Some(b) => (true, b.to_string()),
                    None => (false, body),
                };
                if body.is_empty() {
                    return Err("empty character class in glob".into());
                }
                out.push('[');
                if neg {
                    out.push('^');
                }
                for c in body.chars() {
                    if matches!(c, '[' | ']' | '\\' | '^' | '&' | '~') {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push(']');
                i = end + 1;
            }
            '{' => {
                let mut alts = Vec::new();
                i += 1;
                loop {
                    let (alt, next) = glob_seq(chars, i, true, depth + 1)?;
                    alts.push(alt);
                    match chars.get(next) {
                        Some(',') => i = next + 1,
                        Some('}') => {
                            i = next + 1;
                            break;
                        }
                        _ => return Err("unclosed { in glob".into()),
                    }
                }
                out.push_str("(?:");
                out.push_str(&alts.join("|"));
                out.push(')');
            }
            ',' | '}' if in_alt => return Ok((out, i)),
            c => {
                out.push_str(&regex::escape(&c.to_string()));
                i += 1;
            }
        }
    }
    Ok((out, i))
}

/// What the matcher needs of a rule.
pub trait Matchable {
    fn methods(&self) -> &[String];
    fn pattern(&self) -> &Pattern;
}

/// Outcome of matching one request against a rule set.
#[derive(Debug, PartialEq, Eq)]
pub enum MatchOutcome {
    /// Index of the one rule and its capture groups.
    One(usize, Vec<String>),
    None,
    Several,
    /// A pattern gave up (index of the rule, reason).
    Failed(usize, String),
}

/// Scans every rule, as Oathkeeper: method first (case-insensitive), then the URL pattern.
pub fn match_rules<R: Matchable>(rules: &[R], method: &str, url: &str) -> MatchOutcome {
    let mut found: Option<(usize, Vec<String>)> = None;
    for (i, rule) in rules.iter().enumerate() {
        if !rule
            .methods()
            .iter()
            .any(|m| m.eq_ignore_ascii_case(method))
        {
            continue;
        }
        match rule.pattern().captures(url) {
            Ok(Some(groups)) => {
                if found.is_some() {
                    return MatchOutcome::Several;
                }
                found = Some((i, groups));
            }
            Ok(None) => {}
            Err(e) => return MatchOutcome::Failed(i, e),
        }
    }
    match found {
        Some((i, groups)) => MatchOutcome::One(i, groups),
        None => MatchOutcome::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct R(Vec<String>, Pattern);
    impl Matchable for R {
        fn methods(&self) -> &[String] {
            &self.0
        }
        fn pattern(&self) -> &Pattern {
            &self.1
        }
    }
    fn rule(s: Strategy, methods: &[&str], url: &str) -> R {
        R(
            methods.iter().map(|m| m.to_string()).collect(),
            Pattern::compile(s, url).unwrap(),
        )
    }

    #[test]
    fn regexp_is_anchored_quotes_literals_and_captures_groups() {
        let p =
            Pattern::compile(Strategy::Regexp, "<https|http>://example.com/api/<[0-9]+>").unwrap();
        assert_eq!(
            p.captures("https://example.com/api/42").unwrap(),
            Some(vec!["https".into(), "42".into()])
        );
        assert_eq!(p.captures("https://example.com/api/42/x").unwrap(), None);
        assert_eq!(p.captures("https://exampleXcom/api/42").unwrap(), None);
        let nested = Pattern::compile(Strategy::Regexp, "http://h/<(me|orgs)(/.*)?>").unwrap();
        assert_eq!(
            nested.captures("http://h/me").unwrap(),
            Some(vec!["me".into(), "me".into(), "".into()])
        );
    }

    #[test]
    fn regexp_supports_lookahead_as_ory_docs_use_it() {
        let p = Pattern::compile(Strategy::Regexp, "http://h/<(?!protected).*>").unwrap();
        assert!(p.captures("http://h/public").unwrap().is_some());
        assert!(p.captures("http://h/protected/x").unwrap().is_none());
    }

    #[test]
    fn only_look_around_and_backreferences_take_the_backtracking_engine() {
        let linear = Pattern::compile(Strategy::Regexp, "http://h/<(a+)+>/<[0-9]+>").unwrap();
        assert!(!linear.needs_backtracking());
        let look = Pattern::compile(Strategy::Regexp, "http://h/<(?!protected).*>").unwrap();
        assert!(look.needs_backtracking());
        // `<…>` is itself group 1, so the inner group is 2
        let back = Pattern::compile(Strategy::Regexp, "http://h/<(a)\\2>").unwrap();
        assert!(back.needs_backtracking());
        assert_eq!(
            back.captures("http://h/aa").unwrap(),
            Some(vec!["aa".into(), "a".into()])
        );
    }

    #[test]
    fn a_pathological_pattern_gives_up_within_the_step_limit() {
        // nested quantifiers behind a look-ahead: exponential for a backtracking engine
        let p = Pattern::compile(Strategy::Regexp, "http://h/<(?=a)(a|aa)+b>").unwrap();
        assert!(p.needs_backtracking());
        let url = format!("http://h/{}", "a".repeat(64));
        let started = std::time::Instant::now();
        assert!(p.captures(&url).is_err());
        assert!(started.elapsed() < Duration::from_millis(500));
        // the same shape without look-around is linear and answers no match
        let linear = Pattern::compile(Strategy::Regexp, "http://h/<(a|aa)+b>").unwrap();
        assert_eq!(linear.captures(&url).unwrap(), None);
    }

    #[test]
    fn deep_nesting_is_a_load_error_not_a_stack_overflow() {
        for (strategy, pattern) in [
            (
                Strategy::Regexp,
                format!("http://h/<{}a{}>", "(".repeat(100_000), ")".repeat(100_000)),
            ),
            (
                Strategy::Regexp,
                format!(
                    "http://h/<(?!x){}a{}>",
                    "(".repeat(100_000),
                    ")".repeat(100_000)
                ),
            ),
            (
                Strategy::Regexp,
                format!("http://h/<{}>", "(?=".repeat(50_000)),
            ),
            (
                Strategy::Glob,
                format!("http://h/<{}>", "{".repeat(100_000)),
            ),
            (
                Strategy::Glob,
                format!("http://h/<{}a{}>", "{".repeat(200), "}".repeat(200)),
            ),
        ] {
            assert!(Pattern::compile(strategy, &pattern).is_err());
        }
        let ok = format!("http://h/<{}a{}>", "{".repeat(50), "}".repeat(50));
        assert!(Pattern::compile(Strategy::Glob, &ok).is_ok());
    }

    #[test]
    fn unbalanced_and_invalid_patterns_are_errors() {
        assert!(Pattern::compile(Strategy::Regexp, "http://h/<.*").is_err());
        assert!(Pattern::compile(Strategy::Regexp, "http://h/<[>").is_err());
        assert!(Pattern::compile(Strategy::Glob, "http://h/<[ab>").is_err());
    }

    #[test]
    fn glob_separators_are_dot_and_slash() {
        let p = Pattern::compile(Strategy::Glob, "http://127.0.0.1:4455/<*>").unwrap();
        assert!(p.captures("http://127.0.0.1:4455/abc").unwrap().is_some());
        assert!(p.captures("http://127.0.0.1:4455/a/b").unwrap().is_none());
        assert!(p.captures("http://127.0.0.1:4455/a.b").unwrap().is_none());
        let any = Pattern::compile(Strategy::Glob, "http://127.0.0.1:4455/<**>").unwrap();
        assert_eq!(
            any.captures("http://127.0.0.1:4455/a/b.c").unwrap(),
            Some(vec![])
        );
        let alt = Pattern::compile(Strategy::Glob, "https://example.com/<{foo*,bar*}>").unwrap();
        assert!(alt.captures("https://example.com/foox").unwrap().is_some());
        assert!(alt.captures("https://example.com/bazx").unwrap().is_none());
        let cls = Pattern::compile(Strategy::Glob, "http://h/<[!a]?>").unwrap();
        assert!(cls.captures("http://h/bc").unwrap().is_some());
        assert!(cls.captures("http://h/ac").unwrap().is_none());
        // literal parts are quoted: `*` outside <> is a star
        let lit = Pattern::compile(Strategy::Glob, "http://h/*").unwrap();
        assert!(lit.captures("http://h/x").unwrap().is_none());
        assert!(lit.captures("http://h/*").unwrap().is_some());
    }

    #[test]
    fn zero_one_and_several_matches() {
        let rules = vec![
            rule(Strategy::Regexp, &["GET"], "http://h/<.*>"),
            rule(Strategy::Regexp, &["post"], "http://h/a"),
        ];
        assert_eq!(
            match_rules(&rules, "DELETE", "http://h/a"),
            MatchOutcome::None
        );
        assert_eq!(
            match_rules(&rules, "GET", "http://h/a"),
            MatchOutcome::One(0, vec!["a".into()])
        );
        assert_eq!(
            match_rules(&rules, "POST", "http://h/a"),
            MatchOutcome::One(1, vec![])
        );
        let overlapping = vec![
            rule(Strategy::Regexp, &["GET"], "http://h/<.*>"),
            rule(Strategy::Regexp, &["GET"], "http://h/a"),
        ];
        assert_eq!(
            match_rules(&overlapping, "GET", "http://h/a"),
            MatchOutcome::Several
        );
        let none: Vec<R> = vec![rule(Strategy::Regexp, &[], "http://h/a")];
        assert_eq!(match_rules(&none, "GET", "http://h/a"), MatchOutcome::None);
    }
}
