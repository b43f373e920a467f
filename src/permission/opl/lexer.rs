//! OPL lexer: turns source text into tokens with byte offsets, exactly as Keto v0.14 splits it.
//!
//! Facts reproduced from Keto's lexer (see `shared/reference/keto.md` §4.1):
//! whitespace is `\t\n\v\f\r `; identifiers are ASCII `[A-Za-z_][A-Za-z0-9_]*`; string literals
//! are `'…'`/`"…"` without escapes and the token covers only the text *between* the quotes;
//! `=>`, `||`, `&&` are matched before comments and one-character tokens; comments are dropped.
//! Lexing stops at the first error, which becomes an [`TokenKind::Error`] token whose value is
//! Keto's text (`at "<rest of input>": <reason>`). Past the end of the token list the parser
//! sees Keto's `broken state` pseudo token at offset 0 (see [`Token::broken_state`]).

use super::diagnostic::go_quote;

/// Kind of a token. Mirrors Keto's `itemType` (comments never reach the parser).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Error,
    Eof,
    Identifier,
    StringLiteral,
    KeywordClass,
    KeywordImplements,
    KeywordThis,
    KeywordCtx,
    And,
    Or,
    Not,
    Assign,
    Arrow,
    Dot,
    Colon,
    Comma,
    Semicolon,
    TypeUnion,
    ParenLeft,
    ParenRight,
    BraceLeft,
    BraceRight,
    BracketLeft,
    BracketRight,
    AngledLeft,
    AngledRight,
}

impl TokenKind {
    /// The name Keto prints for this kind (Go `stringer` output, operators keep their quotes).
    pub fn keto_name(self) -> &'static str {
        match self {
            TokenKind::Error => "Error",
            TokenKind::Eof => "EOF",
            TokenKind::Identifier => "Identifier",
            TokenKind::StringLiteral => "StringLiteral",
            TokenKind::KeywordClass => "KeywordClass",
            TokenKind::KeywordImplements => "KeywordImplements",
            TokenKind::KeywordThis => "KeywordThis",
            TokenKind::KeywordCtx => "KeywordCtx",
            TokenKind::And => "\"&&\"",
            TokenKind::Or => "\"||\"",
            TokenKind::Not => "\"!\"",
            TokenKind::Assign => "\"=\"",
            TokenKind::Arrow => "\"=>\"",
            TokenKind::Dot => "\".\"",
            TokenKind::Colon => "\":\"",
            TokenKind::Comma => "\",\"",
            TokenKind::Semicolon => "\";\"",
            TokenKind::TypeUnion => "\"|\"",
            TokenKind::ParenLeft => "\"(\"",
            TokenKind::ParenRight => "\")\"",
            TokenKind::BraceLeft => "\"{\"",
            TokenKind::BraceRight => "\"}\"",
            TokenKind::BracketLeft => "\"[\"",
            TokenKind::BracketRight => "\"]\"",
            TokenKind::AngledLeft => "\"<\"",
            TokenKind::AngledRight => "\">\"",
        }
    }
}

/// One token: kind, value (for string literals the text without quotes, for errors the
/// message) and the byte range `start..end` in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub val: String,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// What Keto's lexer hands out after EOF or after an error: an error token at offset 0.
    pub fn broken_state() -> Token {
        Token {
            kind: TokenKind::Error,
            val: "broken state".to_owned(),
            start: 0,
            end: 0,
        }
    }

    /// Go's zero `item` (error kind, empty value, offset 0); Keto reports it in one quirk.
    pub fn zero() -> Token {
        Token {
            kind: TokenKind::Error,
            val: String::new(),
            start: 0,
            end: 0,
        }
    }

    /// Keto's `item.String()`: names are shown in single quotes (cut after 10 characters).
    pub fn keto_display(&self) -> String {
        match self.kind {
            TokenKind::Error => format!("error: {}", self.val),
            TokenKind::Eof => "EOF".to_owned(),
            TokenKind::Identifier | TokenKind::StringLiteral => {
                if self.val.len() > 10 {
                    let cut: String = self.val.chars().take(10).collect();
                    format!("'{cut}...'")
                } else {
                    format!("'{}'", self.val)
                }
            }
            _ => self.val.clone(),
        }
    }
}

const SPACES: &[char] = &['\t', '\n', '\u{b}', '\u{c}', '\r', ' '];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn one_char_token(c: char) -> Option<TokenKind> {
    Some(match c {
        ':' => TokenKind::Colon,
        '.' => TokenKind::Dot,
        '(' => TokenKind::ParenLeft,
        ')' => TokenKind::ParenRight,
        '[' => TokenKind::BracketLeft,
        ']' => TokenKind::BracketRight,
        '{' => TokenKind::BraceLeft,
        '}' => TokenKind::BraceRight,
        '<' => TokenKind::AngledLeft,
        '>' => TokenKind::AngledRight,
        '=' => TokenKind::Assign,
        ',' => TokenKind::Comma,
        ';' => TokenKind::Semicolon,
        '|' => TokenKind::TypeUnion,
        '!' => TokenKind::Not,
        _ => return None,
    })
}

fn keyword(word: &str) -> Option<TokenKind> {
    Some(match word {
        "class" => TokenKind::KeywordClass,
        "implements" => TokenKind::KeywordImplements,
        "this" => TokenKind::KeywordThis,
        "ctx" => TokenKind::KeywordCtx,
        _ => return None,
    })
}

/// Lexes the whole input. The result always ends with exactly one `Eof` or `Error` token.
pub fn lex(src: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut pos = 0usize;
    loop {
        let rest = src.get(pos..).unwrap_or("");
        let trimmed = rest.trim_start_matches(SPACES);
        pos += rest.len() - trimmed.len();
        let rest = trimmed;

        let Some(c) = rest.chars().next() else {
            tokens.push(Token {
                kind: TokenKind::Eof,
                val: String::new(),
                start: pos,
                end: pos,
            });
            return tokens;
        };

        let two = [
            ("=>", TokenKind::Arrow),
            ("||", TokenKind::Or),
            ("&&", TokenKind::And),
        ];
        if let Some((text, kind)) = two.iter().find(|(t, _)| rest.starts_with(t)) {
            tokens.push(Token {
                kind: *kind,
                val: (*text).to_owned(),
                start: pos,
                end: pos + text.len(),
            });
            pos += text.len();
            continue;
        }

        if rest.starts_with("//") {
            // Line comment up to (not including) the next newline.
            let len = rest.find('\n').unwrap_or(rest.len());
            pos += len;
            continue;
        }
        if let Some(body) = rest.strip_prefix("/*") {
            match body.find("*/") {
                Some(i) => {
                    pos += 2 + i + 2;
                    continue;
                }
                None => {
                    tokens.push(error_token("", "unclosed comment", pos, src.len()));
                    return tokens;
                }
            }
        }

        if let Some(kind) = one_char_token(c) {
            tokens.push(Token {
                kind,
                val: c.to_string(),
                start: pos,
                end: pos + 1,
            });
            pos += 1;
            continue;
        }

        if c == '\'' || c == '"' {
            let body_start = pos + 1;
            let body = rest.get(1..).unwrap_or("");
            match body.find(c) {
                Some(i) => {
                    tokens.push(Token {
                        kind: TokenKind::StringLiteral,
                        val: body.get(..i).unwrap_or("").to_owned(),
                        start: body_start,
                        end: body_start + i,
                    });
                    pos = body_start + i + 1;
                    continue;
                }
                None => {
                    tokens.push(error_token(
                        "",
                        "unclosed string literal",
                        body_start,
                        src.len(),
                    ));
                    return tokens;
                }
            }
        }

        if is_ident_start(c) {
            let len = rest
                .find(|ch: char| !is_ident_continue(ch))
                .unwrap_or(rest.len());
            let word = rest.get(..len).unwrap_or("");
            tokens.push(Token {
                kind: keyword(word).unwrap_or(TokenKind::Identifier),
                val: word.to_owned(),
                start: pos,
                end: pos + len,
            });
            pos += len;
            continue;
        }

        tokens.push(error_token(
            rest,
            &format!("unexpected token {c}"),
            pos,
            pos,
        ));
        return tokens;
    }
}

fn error_token(rest: &str, reason: &str, start: usize, end: usize) -> Token {
    Token {
        kind: TokenKind::Error,
        val: format!("at {}: {reason}", go_quote(rest)),
        start,
        end,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(TokenKind, String, usize, usize)> {
        lex(src)
            .into_iter()
            .map(|t| (t.kind, t.val, t.start, t.end))
            .collect()
    }

    #[test]
    fn string_literal_span_excludes_quotes() {
        let toks = kinds(r#"a: "x y" 'z'"#);
        assert_eq!(toks[2], (TokenKind::StringLiteral, "x y".into(), 4, 7));
        assert_eq!(toks[3], (TokenKind::StringLiteral, "z".into(), 10, 11));
    }

    #[test]
    fn operators_before_comments_and_single_chars() {
        let toks = kinds("=>=||&&|>>//c\n/* x */!");
        let k: Vec<_> = toks.iter().map(|t| t.0).collect();
        assert_eq!(
            k,
            vec![
                TokenKind::Arrow,
                TokenKind::Assign,
                TokenKind::Or,
                TokenKind::And,
                TokenKind::TypeUnion,
                TokenKind::AngledRight,
                TokenKind::AngledRight,
                TokenKind::Not,
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn errors_carry_keto_text_and_span() {
        assert_eq!(
            kinds("a $b\n").last().unwrap(),
            &(
                TokenKind::Error,
                r#"at "$b\n": unexpected token $"#.into(),
                2,
                2
            )
        );
        assert_eq!(
            kinds(" /* x").last().unwrap(),
            &(TokenKind::Error, r#"at "": unclosed comment"#.into(), 1, 5)
        );
        assert_eq!(
            kinds("'abc").last().unwrap(),
            &(
                TokenKind::Error,
                r#"at "": unclosed string literal"#.into(),
                1,
                4
            )
        );
    }

    #[test]
    fn keywords_and_non_ascii() {
        let toks = kinds("class ctx this implements Namespace é");
        assert_eq!(toks[0].0, TokenKind::KeywordClass);
        assert_eq!(toks[1].0, TokenKind::KeywordCtx);
        assert_eq!(toks[2].0, TokenKind::KeywordThis);
        assert_eq!(toks[3].0, TokenKind::KeywordImplements);
        assert_eq!(toks[4].0, TokenKind::Identifier);
        assert_eq!(toks[5].1, r#"at "é": unexpected token é"#);
    }
}
