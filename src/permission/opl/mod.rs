//! Ory Permission Language (OPL) front end: lexer, parser, type checker and rewrite IR,
//! compatible with Ory Keto v0.14 (`shared/reference/keto.md` §4).
//!
//! **Pure**: no I/O, no clock, no globals; std + serde only. Never panics on any input, and
//! every error carries a position.
//!
//! Components:
//! * `lexer` — source → tokens (byte spans), Keto's lexical rules and errors.
//! * `parser` — tokens → [`ast`] (Keto's exact AST shape), queued type checks,
//!   Quartet warnings where Keto's reading differs from TypeScript's.
//! * `checker` — Keto's type checks (unknown namespaces / relations, traverse
//!   targets), run only when parsing succeeded.
//! * [`ir`] — the [`Schema`] the check engine walks ([`Rewrite`] trees).
//! * [`diagnostic`] — positions (true and Keto's quirky API ones) and renderers for the CLI,
//!   for Keto's own error text, and for `POST /opl/syntax/check`.
//!
//! Entry point: [`parse`].

#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::todo,
    clippy::unimplemented,
    clippy::unreachable,
    clippy::dbg_macro
)]

pub mod ast;
mod checker;
pub mod diagnostic;
pub mod ir;
mod lexer;
mod parser;

#[cfg(test)]
mod tests;

pub use self::diagnostic::{
    render_diagnostic, render_keto_error_text, syntax_check_json, ApiParseError, ApiSourcePosition,
    Diagnostic, Position, Severity, SyntaxCheckResult,
};
pub use self::ir::{NamespaceDef, RelationDef, RelationKind, Rewrite, Schema, SubjectType};
pub use self::parser::{EXPRESSION_NESTING_MAX_DEPTH, MAX_REWRITE_DEPTH};

/// Result of [`parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Completed classes in source order (also when there are errors).
    pub namespaces: Vec<ast::Namespace>,
    /// Keto's errors: at most one syntax error (plus Keto's rare follow-up error), or, when
    /// the syntax is fine, every type error. Empty means Keto accepts the file.
    pub errors: Vec<Diagnostic>,
    /// Quartet-only: places where Keto's reading differs from TypeScript's.
    pub warnings: Vec<Diagnostic>,
}

impl Parsed {
    /// Keto accepts the file.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The engine's view of the file; `None` if there are errors.
    pub fn schema(&self) -> Option<Schema> {
        self.is_ok().then(|| Schema::from_ast(&self.namespaces))
    }

    /// The `POST /opl/syntax/check` response body.
    pub fn syntax_check_result(&self) -> SyntaxCheckResult {
        SyntaxCheckResult::from_errors(&self.errors)
    }
}

/// Parses and type-checks one OPL file, like Keto's `schema.Parse`.
///
/// Positions: every [`Diagnostic`] has true 1-based line/column (`start`, `end`, columns in
/// characters, plus byte offsets) for humans, and Keto's own API positions (`api_start`,
/// `api_end`: 1-based `Line`, mostly 0-based `column`, quirks included) for the wire.
pub fn parse(src: &str) -> Parsed {
    let tokens = lexer::lex(src);
    let lex_error = tokens
        .last()
        .filter(|t| t.kind == lexer::TokenKind::Error)
        .cloned();
    let mut out = parser::parse_tokens(tokens);
    // Keto sometimes swallows the lexer's error token as a name and then complains about the
    // "broken state" token at offset 0; point the user at the real culprit (warning only, the
    // error list stays Keto's).
    if let Some(lex_error) = lex_error {
        if !out.errors.is_empty() && !out.errors.iter().any(|e| e.start == lex_error.start) {
            out.warnings.push(parser::RawDiagnostic::at(
                &lex_error,
                format!(
                    "the input cannot be read past this point: {}",
                    lex_error.val
                ),
            ));
        }
    }
    let raw_errors = if out.errors.is_empty() {
        checker::run(&out.namespaces, &out.checks)
    } else {
        out.errors
    };
    let convert = |severity: Severity, raw: Vec<parser::RawDiagnostic>| -> Vec<Diagnostic> {
        raw.into_iter()
            .map(|r| Diagnostic::new(src, severity, r.message, r.start, r.end))
            .collect()
    };
    Parsed {
        namespaces: out.namespaces,
        errors: convert(Severity::Error, raw_errors),
        warnings: convert(Severity::Warning, out.warnings),
    }
}
