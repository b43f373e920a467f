//! Parsing: the items of [`super::lex`] into a tree of nodes (text, actions, `if`/`with`/
//! `range` blocks) and an action's tokens into a pipeline of commands. Functions are resolved
//! against the builtin table here, so an unknown one is a parse error. Nesting is bounded by
//! [`MAX_NESTING`].

use serde_json::Number;

use super::builtins::Func;
use super::html::Escaper;
use super::lex::{lex, split_actions, Item, Tok};
use super::{err, MAX_NESTING, R};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Text(String),
    Action(Pipeline),
    /// An action of an HTML template, with the escapers of its context (`html.rs`).
    Escaped(Pipeline, Vec<Escaper>),
    If(Vec<(Pipeline, Vec<Node>)>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
}

/// Commands joined by `|`: each one's value is the last argument of the next.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Pipeline(pub(super) Vec<Command>);

/// A function, method or value with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Command(pub(super) Vec<Operand>);

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Operand {
    /// `.a.b` on the dot.
    Field(Vec<String>),
    /// `$.a.b` on the root.
    Var(Vec<String>),
    Dot,
    Func(Func),
    Str(String),
    Num(Number),
    Bool(bool),
    Nil,
    /// `(pipeline).a.b`
    Sub(Pipeline, Vec<String>),
}

/// The nodes of a whole template.
pub(super) fn parse(text: &str) -> R<Vec<Node>> {
    let mut p = Parser {
        items: split_actions(text)?,
        pos: 0,
        depth: 0,
    };
    let (nodes, end) = p.nodes()?;
    match end {
        None => Ok(nodes),
        Some(kw) => err(format!("unexpected {{{{{kw}}}}}")),
    }
}

struct Parser {
    items: Vec<Item>,
    pos: usize,
    /// Blocks open around the current position.
    depth: usize,
}

impl Parser {
    /// Parses nodes until the end or a control keyword (`end`, `else`, `else if …`), returned.
    fn nodes(&mut self) -> R<(Vec<Node>, Option<String>)> {
        if self.depth >= MAX_NESTING {
            return err(format!(
                "blocks ({{{{if}}}}, {{{{with}}}}, {{{{range}}}}) nest more than {MAX_NESTING} deep"
            ));
        }
        self.depth += 1;
        let r = self.nodes_inner();
        self.depth -= 1;
        r
    }

    fn nodes_inner(&mut self) -> R<(Vec<Node>, Option<String>)> {
        let mut nodes = Vec::new();
        while self.pos < self.items.len() {
            let idx = self.pos;
            self.pos += 1;
            let action = match &self.items[idx] {
                Item::Text(t) => {
                    nodes.push(Node::Text(t.clone()));
                    continue;
                }
                Item::Action(a) => a.clone(),
            };
            let (word, rest) = match action.split_once(char::is_whitespace) {
                Some((w, r)) => (w, r.trim()),
                None => (action.as_str(), ""),
            };
            match word {
                "end" | "else" => return Ok((nodes, Some(action.clone()))),
                "if" => nodes.push(self.if_node(rest)?),
                "with" | "range" => nodes.push(self.with_or_range(word, rest)?),
                "define" | "template" | "block" | "break" | "continue" => {
                    return err(format!(
                        "{{{{{word}}}}} is not supported by Quartet's templates"
                    ))
                }
                _ => nodes.push(Node::Action(parse_pipeline(&action)?)),
            }
        }
        Ok((nodes, None))
    }

    fn if_node(&mut self, cond: &str) -> R<Node> {
        let mut branches = vec![];
        let mut cond = parse_pipeline(cond)?;
        loop {
            let (body, end) = self.nodes()?;
            branches.push((cond, body));
            match end.as_deref() {
                Some("end") => return Ok(Node::If(branches, Vec::new())),
                Some("else") => {
                    let (otherwise, end) = self.nodes()?;
                    if end.as_deref() != Some("end") {
                        return err("missing {{end}} for if");
                    }
                    return Ok(Node::If(branches, otherwise));
                }
                Some(e) if e.starts_with("else if ") => {
                    cond = parse_pipeline(e["else if ".len()..].trim())?;
                }
                _ => return err("missing {{end}} for if"),
            }
        }
    }

    /// `{{with p}}…{{else}}…{{end}}` or the same with `range`.
    fn with_or_range(&mut self, word: &str, rest: &str) -> R<Node> {
        let pipe = parse_pipeline(rest)?;
        let (body, end) = self.nodes()?;
        let otherwise = match end.as_deref() {
            Some("end") => Vec::new(),
            Some("else") => {
                let (o, end) = self.nodes()?;
                if end.as_deref() != Some("end") {
                    return err(format!("missing {{{{end}}}} for {word}"));
                }
                o
            }
            _ => return err(format!("missing {{{{end}}}} for {word}")),
        };
        Ok(if word == "with" {
            Node::With(pipe, body, otherwise)
        } else {
            Node::Range(pipe, body, otherwise)
        })
    }
}

fn parse_pipeline(s: &str) -> R<Pipeline> {
    let toks = lex(s)?;
    let mut pos = 0;
    let p = pipeline(&toks, &mut pos, 0)?;
    if pos != toks.len() {
        return err(format!("unexpected {:?} in action {s:?}", toks[pos]));
    }
    Ok(p)
}

fn pipeline(toks: &[Tok], pos: &mut usize, depth: usize) -> R<Pipeline> {
    if depth >= MAX_NESTING {
        return err(format!("parentheses nest more than {MAX_NESTING} deep"));
    }
    let mut cmds = Vec::new();
    loop {
        let mut ops = Vec::new();
        while *pos < toks.len() && !matches!(toks[*pos], Tok::Pipe | Tok::RParen) {
            let t = toks[*pos].clone();
            *pos += 1;
            ops.push(operand(t, toks, pos, depth)?);
        }
        if ops.is_empty() {
            return err("missing value for command");
        }
        cmds.push(Command(ops));
        if toks.get(*pos) == Some(&Tok::Pipe) {
            *pos += 1;
        } else {
            return Ok(Pipeline(cmds));
        }
    }
}

/// The operand token `t` (already consumed; a `(` reads its pipeline from `toks` at `pos`).
fn operand(t: Tok, toks: &[Tok], pos: &mut usize, depth: usize) -> R<Operand> {
    Ok(match t {
        Tok::Field(f) => Operand::Field(f),
        Tok::Var(f) => Operand::Var(f),
        Tok::Dot => Operand::Dot,
        Tok::Str(s) => Operand::Str(s),
        Tok::Num(n) => Operand::Num(n),
        Tok::Ident(id) => match id.as_str() {
            "true" => Operand::Bool(true),
            "false" => Operand::Bool(false),
            "nil" => Operand::Nil,
            name => match Func::parse(name) {
                Some(f) => Operand::Func(f),
                None => return err(format!("function {id:?} not defined")),
            },
        },
        Tok::LParen => {
            let inner = pipeline(toks, pos, depth + 1)?;
            if toks.get(*pos) != Some(&Tok::RParen) {
                return err("unclosed parenthesis");
            }
            *pos += 1;
            let fields = match toks.get(*pos) {
                Some(Tok::Var(f)) if f.first().map(String::as_str) == Some("\u{0}") => {
                    *pos += 1;
                    f[1..].to_vec()
                }
                _ => Vec::new(),
            };
            Operand::Sub(inner, fields)
        }
        Tok::Pipe | Tok::RParen => return err("unexpected token"),
    })
}
