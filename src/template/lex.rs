//! Lexing: a template's text split into text and actions (`{{ … }}`, with `{{-`/`-}}` trim
//! markers and `{{/* comments */}}` dropped), and an action's text into tokens.

use serde_json::Number;

use super::{err, TemplateError, R};

/// A piece of a template: literal text or the inside of an action.
pub(super) enum Item {
    Text(String),
    Action(String),
}

/// Splits `text` into text and actions, applying trim markers and dropping comments.
pub(super) fn split_actions(text: &str) -> R<Vec<Item>> {
    let mut items = Vec::new();
    let mut rest = text;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut before = &rest[..start];
        if trim_next {
            before = before.trim_start();
        }
        let after = &rest[start + 2..];
        let (after, trim_left) = match after.strip_prefix("- ") {
            Some(a) => (a, true),
            None => (after, false),
        };
        if trim_left {
            before = before.trim_end();
        }
        if !before.is_empty() {
            items.push(Item::Text(before.to_string()));
        }
        let Some(end) = find_close(after) else {
            return err("unclosed action: missing \"}}\"");
        };
        let mut inner = &after[..end];
        trim_next = false;
        if let Some(i) = inner.strip_suffix(" -") {
            inner = i;
            trim_next = true;
        }
        let inner = inner.trim();
        if !(inner.starts_with("/*") && inner.ends_with("*/")) {
            items.push(Item::Action(inner.to_string()));
        }
        rest = &after[end + 2..];
    }
    let tail = if trim_next { rest.trim_start() } else { rest };
    if !tail.is_empty() {
        items.push(Item::Text(tail.to_string()));
    }
    Ok(items)
}

/// Position of the closing `}}`, skipping string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b[i + 1] == b'}' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// A token of an action.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Field(Vec<String>),
    /// `$` and its fields; a chain glued to `)` is a `Var` whose first field is `"\0"`.
    Var(Vec<String>),
    Dot,
    Ident(String),
    Str(String),
    Num(Number),
    Pipe,
    LParen,
    RParen,
}

fn ident_char(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

/// The field chain `.a.b…` starting at `c[*i]`, if any; `*i` moves past it.
fn read_fields(c: &[char], i: &mut usize) -> Vec<String> {
    let mut fields = Vec::new();
    while *i < c.len() && c[*i] == '.' && *i + 1 < c.len() && ident_char(c[*i + 1]) {
        *i += 1;
        let start = *i;
        while *i < c.len() && ident_char(c[*i]) {
            *i += 1;
        }
        fields.push(c[start..*i].iter().collect());
    }
    fields
}

/// Splits an action's text into tokens.
pub(super) fn lex(s: &str) -> R<Vec<Tok>> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        match ch {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '|' => {
                out.push(Tok::Pipe);
                i += 1;
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                i += 1;
                let fields = read_fields(&c, &mut i);
                out.push(Tok::RParen);
                if !fields.is_empty() {
                    // a field chain glued to `)` applies to the parenthesised value
                    out.push(Tok::Var(
                        std::iter::once("\u{0}".to_string()).chain(fields).collect(),
                    ));
                }
            }
            '.' => {
                let fields = read_fields(&c, &mut i);
                if fields.is_empty() {
                    out.push(Tok::Dot);
                    i += 1;
                } else {
                    out.push(Tok::Field(fields));
                }
            }
            '$' => {
                i += 1;
                if i < c.len() && ident_char(c[i]) {
                    return err("template variables other than $ are not supported");
                }
                out.push(Tok::Var(read_fields(&c, &mut i)));
            }
            '"' => out.push(Tok::Str(quoted(&c, &mut i)?)),
            '`' => out.push(Tok::Str(raw(&c, &mut i)?)),
            ch if ch.is_ascii_digit()
                || (ch == '-' && c.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                out.push(Tok::Num(number(&c, &mut i)?));
            }
            ch if ident_char(ch) => {
                let start = i;
                while i < c.len() && ident_char(c[i]) {
                    i += 1;
                }
                out.push(Tok::Ident(c[start..i].iter().collect()));
            }
            ':' | '=' => return err("template variable assignment is not supported"),
            other => return err(format!("unexpected {other:?} in action")),
        }
    }
    Ok(out)
}

/// The interpreted string literal at `c[*i]` (a `"`), decoded with JSON's escapes.
fn quoted(c: &[char], i: &mut usize) -> R<String> {
    let start = *i;
    *i += 1;
    while *i < c.len() && c[*i] != '"' {
        if c[*i] == '\\' {
            *i += 1;
        }
        *i += 1;
    }
    if *i >= c.len() {
        return err("unterminated quoted string");
    }
    *i += 1;
    let lit: String = c[start..*i].iter().collect();
    serde_json::from_str(&lit).map_err(|e| TemplateError(format!("bad string literal {lit}: {e}")))
}

/// The raw string literal at `c[*i]` (a backquote).
fn raw(c: &[char], i: &mut usize) -> R<String> {
    let start = *i + 1;
    *i += 1;
    while *i < c.len() && c[*i] != '`' {
        *i += 1;
    }
    if *i >= c.len() {
        return err("unterminated raw string");
    }
    let s = c[start..*i].iter().collect();
    *i += 1;
    Ok(s)
}

/// The number at `c[*i]`: an integer if it is one, else a float.
fn number(c: &[char], i: &mut usize) -> R<Number> {
    let start = *i;
    *i += 1;
    while *i < c.len() && (c[*i].is_ascii_alphanumeric() || c[*i] == '.') {
        *i += 1;
    }
    let lit: String = c[start..*i].iter().collect();
    lit.parse::<i64>()
        .ok()
        .map(Number::from)
        .or_else(|| lit.parse::<f64>().ok().and_then(Number::from_f64))
        .ok_or_else(|| TemplateError(format!("bad number {lit}")))
}
