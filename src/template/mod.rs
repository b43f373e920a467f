//! Go's `text/template`, the subset Ory's configs use: actions, pipes, parenthesised
//! pipelines, `if`/`else if`/`with`/`range` with `else`, `.` and `$` field chains, comments and
//! trim markers; Go's builtins and sprig's common functions; `missingkey=zero`. A kernel
//! module: the proxy's mutators and authorizers (Oathkeeper) execute templates on a session,
//! and the identity role's courier (Kratos' mail templates) on plain JSON data such as
//! `{"To": "…", "RecoveryURL": "…"}`.
//!
//! Pure: a template is parsed once ([`Template::parse`]; unknown functions and syntax are
//! parse-time errors) and executed against a root [`Val`] — JSON, or a caller's [`Object`]
//! (a value with fields and methods, such as the proxy's header map with `.Get`). The object
//! type is a type parameter, so execution is monomorphised: no boxing, no dynamic dispatch.
//! [`Template::parse_html`] is Go's `html/template` on the same engine: a pass at parse time
//! gives every action the escapers of its HTML context (`html`); execution is the same.
//! In an HTML template a nil value renders "", as in Go.
//!
//! Go semantics kept on purpose: `{{ .missing }}` renders `<no value>`, `print` of a missing
//! key renders "", and a field of a missing key (`.a.b` when `a` is absent) is an execution
//! error.
//!
//! The parts: `lex` (actions and their tokens), `parse` (the tree), `value` (Go's value
//! semantics: truth, `%v`, fields), `exec` (execution within a budget), `builtins` (the
//! function table, by family), `printf` (Go's `fmt.Sprintf` verbs), `html` (contextual
//! escaping). Bounds: [`MAX_NESTING`], [`MAX_STEPS`], [`MAX_OUTPUT`], [`MAX_ESCAPE_WORK`].

mod builtins;
mod exec;
mod html;
mod lex;
mod parse;
mod printf;
mod value;

#[cfg(test)]
mod html_tests;
#[cfg(test)]
pub(crate) mod tests;

pub use html::MAX_ESCAPE_WORK;
pub use value::{go_json_string, no_args, string_arg, NoObject, Object, Val};

/// A parse or execution error, with the template text's position where known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

type R<T> = Result<T, TemplateError>;

fn err<T>(msg: impl Into<String>) -> R<T> {
    Err(TemplateError(msg.into()))
}

/// How deep `{{if}}`/`{{with}}`/`{{range}}` blocks and parenthesised pipelines may nest in one
/// template (a parse error beyond; Go's parser allows 10 000 parentheses).
pub const MAX_NESTING: usize = 100;
/// Work one execution may do: actions, pipeline commands and range iterations together.
pub const MAX_STEPS: usize = 100_000;
/// Bytes one execution may output, and the largest value (string, or JSON counted by its
/// scalars and string bytes) one function may produce.
pub const MAX_OUTPUT: usize = 1 << 20;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parses `text`; unknown functions and unsupported syntax are errors here, not later.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        parse::parse(text).map(|nodes| Template { nodes })
    }

    /// Parses `text` as an HTML template, as Go's `html/template` does: every action's output
    /// is escaped for where it stands — HTML text, an attribute value (quoted or not), a URL
    /// (`javascript:` and other schemes than http, https and mailto become `#ZgotmplZ`)… —
    /// and HTML comments are dropped. An action inside `<script>`, `<style>`, an event
    /// handler or a `style` attribute is refused here, as is a template whose branches end in
    /// different contexts or that ends inside a tag. The rules: `html.rs`.
    pub fn parse_html(text: &str) -> Result<Template, TemplateError> {
        let nodes = parse::parse(text)?;
        html::escape(&nodes).map(|nodes| Template { nodes })
    }

    /// Executes with `root` as both `.` and `$`.
    pub fn execute<O: Object>(&self, root: &Val<O>) -> Result<String, TemplateError> {
        exec::execute(&self.nodes, root)
    }

    /// Executes against plain JSON data (a JSON `null` is Go's nil).
    pub fn execute_json(&self, data: &serde_json::Value) -> Result<String, TemplateError> {
        self.execute(&Val::<NoObject>::from_json(data.clone()))
    }
}
