//! Diagnostics of the OPL front end: positions, Keto's quirky API positions, and renderers
//! (`quartet opl check` text, Keto's own error text, and the `POST /opl/syntax/check` JSON).

use serde::Serialize;

/// A true source position. All three numbers describe the same point.
///
/// * `offset`: byte offset into the source (0-based).
/// * `line`: 1-based line number.
/// * `column`: 1-based column, counted in characters (Unicode scalar values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    pub offset: usize,
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// Position of byte `offset` in `src` (clamped to the source; never panics).
    pub fn of(src: &str, offset: usize) -> Position {
        let mut offset = offset.min(src.len());
        while offset > 0 && !src.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = src.get(..offset).unwrap_or("");
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = 1 + before.matches('\n').count();
        let column = 1 + before.get(line_start..).unwrap_or("").chars().count();
        Position {
            offset,
            line,
            column,
        }
    }
}

/// A position as Keto v0.14 puts it on the wire (`{"Line":…, "column":…}`, note the capital
/// `L`). Computed with Keto's algorithm, quirks included (see [`ApiSourcePosition::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ApiSourcePosition {
    #[serde(rename = "Line")]
    pub line: usize,
    pub column: usize,
}

impl ApiSourcePosition {
    /// Keto's `toSrcPos`: `Line` is 1-based and `column` is the 0-based character index in the
    /// line, except that offset 0 gives column 1 (column 0 for empty input), and a point at the
    /// very start of line n>1 is reported as line n-1, column = length(line n-1)+1. The byte
    /// offset is counted down once per *character*, so non-ASCII text before the point shifts
    /// the result just as it does in Keto.
    pub fn of(src: &str, offset: usize) -> ApiSourcePosition {
        let mut line = 1usize;
        let mut column = 0usize;
        let mut remaining = offset as i128;
        for c in src.chars() {
            column += 1;
            remaining -= 1;
            if remaining <= 0 {
                break;
            }
            if c == '\n' {
                line += 1;
                column = 0;
            }
        }
        ApiSourcePosition { line, column }
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Keto would reject the file (or Quartet does, for its own safety limits).
    Error,
    /// Keto accepts the file, but it probably does not mean what it says (Quartet only).
    Warning,
}

/// One error or warning with its span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// True start of the span (see [`Position`]).
    pub start: Position,
    /// True end of the span (exclusive).
    pub end: Position,
    /// `start` the way Keto reports it in the API.
    pub api_start: ApiSourcePosition,
    /// `end` the way Keto reports it in the API.
    pub api_end: ApiSourcePosition,
}

impl Diagnostic {
    pub(super) fn new(
        src: &str,
        severity: Severity,
        message: String,
        start: usize,
        end: usize,
    ) -> Diagnostic {
        Diagnostic {
            severity,
            message,
            start: Position::of(src, start),
            end: Position::of(src, end.max(start)),
            api_start: ApiSourcePosition::of(src, start),
            api_end: ApiSourcePosition::of(src, end),
        }
    }
}

/// One entry of `checkOplSyntaxResult.errors` (Keto's `ParseError` wire shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiParseError {
    pub message: String,
    pub start: ApiSourcePosition,
    pub end: ApiSourcePosition,
}

/// Body of `POST /opl/syntax/check`: `{"errors":[…]}`, or `{}` when there are no errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyntaxCheckResult {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ApiParseError>,
}

impl SyntaxCheckResult {
    /// Builds the response from the errors of a parse (warnings are not part of Keto's API).
    pub fn from_errors(errors: &[Diagnostic]) -> SyntaxCheckResult {
        SyntaxCheckResult {
            errors: errors
                .iter()
                .map(|d| ApiParseError {
                    message: d.message.clone(),
                    start: d.api_start,
                    end: d.api_end,
                })
                .collect(),
        }
    }
}

/// Renders the JSON body of `POST /opl/syntax/check` exactly as Keto does (same key order:
/// `message`, `start`, `end`; `{}` when there are no errors).
pub fn syntax_check_json(errors: &[Diagnostic]) -> String {
    serde_json::to_string(&SyntaxCheckResult::from_errors(errors))
        .unwrap_or_else(|_| "{}".to_owned())
}

/// Renders a diagnostic for the CLI:
///
/// ```text
/// file:line:col: message            (warnings: file:line:col: warning: message)
///     <source line>
///     <caret line>
/// ```
///
/// Line and column are the true 1-based ones ([`Position`]). The caret line puts `^` under the
/// first character of the span and `~` under the rest of it on that line.
pub fn render_diagnostic(file_name: &str, src: &str, d: &Diagnostic) -> String {
    let prefix = match d.severity {
        Severity::Error => "",
        Severity::Warning => "warning: ",
    };
    let mut out = format!(
        "{file_name}:{}:{}: {prefix}{}\n",
        d.start.line, d.start.column, d.message
    );
    let line_text = src.split('\n').nth(d.start.line - 1).unwrap_or("");
    let line_text = line_text.strip_suffix('\r').unwrap_or(line_text);
    let shown = format!("    {line_text}");
    out.push_str(shown.trim_end());
    out.push('\n');
    out.push_str("    ");
    let span_cols = if d.end.line == d.start.line {
        d.end.column.saturating_sub(d.start.column).max(1)
    } else {
        line_text
            .chars()
            .count()
            .saturating_sub(d.start.column - 1)
            .max(1)
    };
    for c in line_text.chars().take(d.start.column - 1) {
        out.push(if c == '\t' { '\t' } else { ' ' });
    }
    out.push('^');
    for _ in 1..span_cols {
        out.push('~');
    }
    out.push('\n');
    out
}

/// Keto's own multi-line error text (`ParseError.Error()`, what `keto namespace validate`
/// prints): header with API positions, the previous and the current line prefixed with their
/// 0-based index, a caret line, and the next line.
pub fn render_keto_error_text(src: &str, d: &Diagnostic) -> String {
    let (start, end) = (d.api_start, d.api_end);
    let mut s = format!(
        "error from {}:{} to {}:{}: {}\n\n",
        start.line, start.column, end.line, end.column, d.message
    );
    let rows: Vec<&str> = src.split('\n').collect();
    let start_line_idx = start.line.saturating_sub(2);
    let error_line_idx = start.line.saturating_sub(1);
    if rows.len() < start.line {
        s.push_str("meta error: could not find source position in input\n");
        return s;
    }
    for line in start_line_idx..=error_line_idx {
        s.push_str(&format!(
            "{line:4} | {}\n",
            rows.get(line).copied().unwrap_or("")
        ));
    }
    s.push_str("     | ");
    for (i, r) in rows
        .get(error_line_idx)
        .copied()
        .unwrap_or("")
        .char_indices()
    {
        if start.column == i {
            s.push('^');
        } else if start.column <= i && i < end.column {
            s.push('~');
        } else if r.is_whitespace() {
            s.push(r);
        } else {
            s.push(' ');
        }
    }
    s.push('\n');
    if let Some(next) = rows.get(error_line_idx + 1) {
        s.push_str(&format!("{:4} | {next}\n\n", error_line_idx + 1));
    }
    s
}

/// Go's `strconv.Quote` (what `%q` prints for a string), used for Keto-identical messages.
///
/// Printability follows Go's `unicode.IsPrint` for ASCII exactly; for other characters it is
/// approximated without Unicode tables (controls, separators/spaces, format characters and
/// private use are escaped; unassigned code points are kept).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if go_is_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

fn go_is_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let format_chars = [
        0xad..=0xad,
        0x600..=0x605,
        0x61c..=0x61c,
        0x6dd..=0x6dd,
        0x70f..=0x70f,
        0x8e2..=0x8e2,
        0x180e..=0x180e,
        0x200b..=0x200f,
        0x202a..=0x202e,
        0x2060..=0x2064,
        0x2066..=0x206f,
        0xfeff..=0xfeff,
        0xfff9..=0xfffb,
        0x110bd..=0x110bd,
        0x110cd..=0x110cd,
        0x13430..=0x1343f,
        0x1bca0..=0x1bca3,
        0x1d173..=0x1d17a,
        0xe0001..=0xe0001,
        0xe0020..=0xe007f,
        0xe000..=0xf8ff,
        0xf0000..=0x10ffff,
    ];
    !format_chars.iter().any(|r| r.contains(&u))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn api_positions_reproduce_keto_quirks() {
        let p = |src: &str, off| {
            let a = ApiSourcePosition::of(src, off);
            (a.line, a.column)
        };
        assert_eq!(p("", 0), (1, 0));
        assert_eq!(p("abc", 0), (1, 1));
        assert_eq!(p("abcdefg", 5), (1, 5));
        // first character of line 2 is reported at the end of line 1
        assert_eq!(p("abc\ndef", 4), (1, 4));
        assert_eq!(p("abc\ndef", 5), (2, 1));
        // offsets are bytes but counted down per character
        assert_eq!(p("éé x", 5), (1, 4));
    }

    #[test]
    fn true_positions() {
        assert_eq!(
            Position::of("ab\ncé d", 7),
            Position {
                offset: 7,
                line: 2,
                column: 4
            }
        );
        assert_eq!(Position::of("ab", 99).offset, 2);
    }

    #[test]
    fn go_quote_matches_go() {
        assert_eq!(
            go_quote("a\"b\\c\n\t\u{0}é\u{a0}"),
            r#""a\"b\\c\n\t\x00é\u00a0""#
        );
        assert_eq!(go_quote("\u{7f}\u{10ffff}"), r#""\x7f\U0010ffff""#);
    }

    #[test]
    fn empty_error_list_is_empty_object() {
        assert_eq!(syntax_check_json(&[]), "{}");
    }
}
