//! Execution: a parsed tree walked against a root value, within a budget of [`MAX_STEPS`]
//! steps and [`MAX_OUTPUT`] bytes of output, every function result bounded by [`MAX_OUTPUT`]
//! too (a value doubled under nested `with`s would otherwise grow exponentially).

use serde_json::Value;

use super::builtins::{call, Func};
use super::html::escape_value;
use super::parse::{Command, Node, Operand, Pipeline};
use super::value::{Object, Val};
use super::{err, MAX_OUTPUT, MAX_STEPS, R};

/// Executes `nodes` with `root` as both `.` and `$`.
pub(super) fn execute<O: Object>(nodes: &[Node], root: &Val<O>) -> R<String> {
    let mut out = String::new();
    exec_nodes(nodes, root, root, &mut out, &mut Budget::new())?;
    Ok(out)
}

/// The steps left to one execution ([`MAX_STEPS`]).
struct Budget {
    steps: usize,
}

impl Budget {
    fn new() -> Self {
        Budget { steps: MAX_STEPS }
    }

    fn step(&mut self) -> R<()> {
        match self.steps.checked_sub(1) {
            Some(left) => {
                self.steps = left;
                Ok(())
            }
            None => err(format!(
                "template execution exceeded {MAX_STEPS} steps (actions, commands and range \
                 iterations)"
            )),
        }
    }
}

fn check_output(out: &str) -> R<()> {
    if out.len() > MAX_OUTPUT {
        return err(format!("template output exceeded {MAX_OUTPUT} bytes"));
    }
    Ok(())
}

/// Whether `v` stays within [`MAX_OUTPUT`] (strings by bytes, other scalars as 8; stops
/// counting at the limit).
fn value_within_limit<O>(v: &Val<O>) -> bool {
    fn walk(v: &Value, left: &mut usize) -> bool {
        let cost = match v {
            Value::String(s) => s.len().max(1),
            _ => 8,
        };
        let Some(rest) = left.checked_sub(cost) else {
            return false;
        };
        *left = rest;
        match v {
            Value::Array(a) => a.iter().all(|x| walk(x, left)),
            Value::Object(o) => o.iter().all(|(k, x)| {
                match left.checked_sub(k.len()) {
                    Some(rest) => *left = rest,
                    None => return false,
                }
                walk(x, left)
            }),
            _ => true,
        }
    }
    match v {
        Val::Json(j) => {
            let mut left = MAX_OUTPUT;
            walk(j, &mut left)
        }
        _ => true,
    }
}

fn exec_nodes<O: Object>(
    nodes: &[Node],
    dot: &Val<O>,
    root: &Val<O>,
    out: &mut String,
    b: &mut Budget,
) -> R<()> {
    for node in nodes {
        b.step()?;
        match node {
            Node::Text(t) => {
                out.push_str(t);
                check_output(out)?;
            }
            Node::Action(p) => {
                match eval_pipeline(p, dot, root, b)? {
                    Val::Nil => out.push_str("<no value>"),
                    v => out.push_str(&v.go_string()),
                }
                check_output(out)?;
            }
            Node::Escaped(p, escapers) => {
                let v = eval_pipeline(p, dot, root, b)?;
                out.push_str(&escape_value(escapers, &v)?);
                check_output(out)?;
            }
            Node::If(branches, otherwise) => {
                let mut done = false;
                for (cond, body) in branches {
                    if eval_pipeline(cond, dot, root, b)?.truthy() {
                        exec_nodes(body, dot, root, out, b)?;
                        done = true;
                        break;
                    }
                }
                if !done {
                    exec_nodes(otherwise, dot, root, out, b)?;
                }
            }
            Node::With(p, body, otherwise) => {
                let v = eval_pipeline(p, dot, root, b)?;
                if v.truthy() {
                    exec_nodes(body, &v, root, out, b)?;
                } else {
                    exec_nodes(otherwise, dot, root, out, b)?;
                }
            }
            Node::Range(p, body, otherwise) => {
                let v = eval_pipeline(p, dot, root, b)?;
                let items = range_items(&v)?;
                if items.is_empty() {
                    exec_nodes(otherwise, dot, root, out, b)?;
                }
                for item in &items {
                    b.step()?;
                    exec_nodes(body, item, root, out, b)?;
                }
            }
        }
    }
    Ok(())
}

/// What `range` iterates over: a list's items, a map's values in key order, nothing for nil.
fn range_items<O: Object>(v: &Val<O>) -> R<Vec<Val<O>>> {
    Ok(match v {
        Val::Json(Value::Array(a)) => a.iter().cloned().map(Val::from_json).collect(),
        Val::Json(Value::Object(o)) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            keys.into_iter()
                .map(|k| Val::from_json(o[k].clone()))
                .collect()
        }
        Val::Nil => Vec::new(),
        other => return err(format!("range can't iterate over {}", other.go_string())),
    })
}

fn eval_pipeline<O: Object>(
    p: &Pipeline,
    dot: &Val<O>,
    root: &Val<O>,
    b: &mut Budget,
) -> R<Val<O>> {
    let mut piped: Option<Val<O>> = None;
    for cmd in &p.0 {
        b.step()?;
        piped = Some(eval_command(cmd, dot, root, piped, b)?);
    }
    Ok(piped.unwrap_or(Val::Nil))
}

fn eval_command<O: Object>(
    cmd: &Command,
    dot: &Val<O>,
    root: &Val<O>,
    piped: Option<Val<O>>,
    b: &mut Budget,
) -> R<Val<O>> {
    let (first, rest) = match cmd.0.split_first() {
        Some(x) => x,
        None => return err("empty command"),
    };
    let mut args = Vec::with_capacity(rest.len() + 1);
    for op in rest {
        args.push(eval_operand(op, dot, root, b)?);
    }
    if let Some(p) = piped {
        args.push(p);
    }
    match first {
        Operand::Func(f) => bounded_call(*f, args),
        Operand::Field(fields) | Operand::Var(fields) if !args.is_empty() || !fields.is_empty() => {
            let base = if matches!(first, Operand::Field(_)) {
                dot
            } else {
                root
            };
            if args.is_empty() {
                // a bare chain such as `{{ if .Extra.identity }}`: walked at once where the
                // object can
                return base.field_path(fields);
            }
            let Some((last, init)) = fields.split_last() else {
                return err("can't give argument to non-function $");
            };
            base.field_path(init)?.field(last, &args)
        }
        _ if !args.is_empty() => err("can't give argument to non-function"),
        op => eval_operand(op, dot, root, b),
    }
}

fn eval_operand<O: Object>(op: &Operand, dot: &Val<O>, root: &Val<O>, b: &mut Budget) -> R<Val<O>> {
    match op {
        Operand::Dot => Ok(dot.clone()),
        Operand::Field(fs) => dot.field_path(fs),
        Operand::Var(fs) => root.field_path(fs),
        Operand::Func(f) => bounded_call(*f, Vec::new()),
        Operand::Str(s) => Ok(Val::str(s.clone())),
        Operand::Num(n) => Ok(Val::Json(Value::Number(n.clone()))),
        Operand::Bool(b) => Ok(Val::bool(*b)),
        Operand::Nil => Ok(Val::Nil),
        Operand::Sub(p, fs) => {
            let v = eval_pipeline(p, dot, root, b)?;
            fs.iter().try_fold(v, |v, f| v.field(f, &[]))
        }
    }
}

/// [`call`], refusing a result larger than [`MAX_OUTPUT`] (`repeat`, or `cat . .` under
/// nested `with`s, would otherwise grow a value exponentially).
fn bounded_call<O: Object>(f: Func, args: Vec<Val<O>>) -> R<Val<O>> {
    if f == Func::Repeat {
        if let [n, x] = args.as_slice() {
            let n = usize::try_from(n.to_i64().clamp(0, 10_000)).unwrap_or(0);
            if x.text().len().saturating_mul(n) > MAX_OUTPUT {
                return err(format!("repeat would produce more than {MAX_OUTPUT} bytes"));
            }
        }
    }
    let v = call(f, args)?;
    if !value_within_limit(&v) {
        return err(format!(
            "{} produced a value larger than {MAX_OUTPUT} bytes",
            f.name()
        ));
    }
    Ok(v)
}
