//! The functions templates may call: Go's builtins (`print`, `printf`, `index`, `len`, `eq`…,
//! `and`/`or`/`not`, `html`, `js`, `urlquery`), Oathkeeper's `printIndex` and sprig's common
//! ones. [`FUNCTIONS`] names each [`Func`]; the parser resolves names against it (an unknown
//! name is a parse error), and [`call`] hands a call to the small function of its family:
//! printing, comparison and logic, defaults, encoding, strings, math, lists and maps.

use std::cmp::Ordering;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::printf::printf;
use super::value::{go_json_string, sorted, Object, Val};
use super::{err, TemplateError, R};

/// A builtin function, resolved when the template is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    // printing
    Print,
    Printf,
    Println,
    PrintIndex,
    Cat,
    // comparison and logic
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Not,
    // defaults
    Default,
    Empty,
    Coalesce,
    Ternary,
    Required,
    // encoding and conversion
    ToJson,
    ToPrettyJson,
    FromJson,
    ToString,
    ToStrings,
    Quote,
    Squote,
    B64enc,
    B64dec,
    Urlquery,
    Html,
    Js,
    // strings
    Upper,
    Lower,
    Title,
    Trim,
    Nospace,
    TrimPrefix,
    TrimSuffix,
    TrimAll,
    Replace,
    Contains,
    HasPrefix,
    HasSuffix,
    Repeat,
    Substr,
    Trunc,
    // math
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Add1,
    Int,
    Int64,
    Float64,
    // lists and maps
    Index,
    Len,
    Join,
    SplitList,
    List,
    Dict,
    First,
    Last,
    Has,
    Get,
    Keys,
}

/// Every function by its template name.
pub(super) const FUNCTIONS: &[(&str, Func)] = &[
    ("print", Func::Print),
    ("printf", Func::Printf),
    ("println", Func::Println),
    ("printIndex", Func::PrintIndex),
    ("cat", Func::Cat),
    ("eq", Func::Eq),
    ("ne", Func::Ne),
    ("lt", Func::Lt),
    ("le", Func::Le),
    ("gt", Func::Gt),
    ("ge", Func::Ge),
    ("and", Func::And),
    ("or", Func::Or),
    ("not", Func::Not),
    ("default", Func::Default),
    ("empty", Func::Empty),
    ("coalesce", Func::Coalesce),
    ("ternary", Func::Ternary),
    ("required", Func::Required),
    ("toJson", Func::ToJson),
    ("toPrettyJson", Func::ToPrettyJson),
    ("fromJson", Func::FromJson),
    ("toString", Func::ToString),
    ("toStrings", Func::ToStrings),
    ("quote", Func::Quote),
    ("squote", Func::Squote),
    ("b64enc", Func::B64enc),
    ("b64dec", Func::B64dec),
    ("urlquery", Func::Urlquery),
    ("html", Func::Html),
    ("js", Func::Js),
    ("upper", Func::Upper),
    ("lower", Func::Lower),
    ("title", Func::Title),
    ("trim", Func::Trim),
    ("nospace", Func::Nospace),
    ("trimPrefix", Func::TrimPrefix),
    ("trimSuffix", Func::TrimSuffix),
    ("trimAll", Func::TrimAll),
    ("replace", Func::Replace),
    ("contains", Func::Contains),
    ("hasPrefix", Func::HasPrefix),
    ("hasSuffix", Func::HasSuffix),
    ("repeat", Func::Repeat),
    ("substr", Func::Substr),
    ("trunc", Func::Trunc),
    ("add", Func::Add),
    ("sub", Func::Sub),
    ("mul", Func::Mul),
    ("div", Func::Div),
    ("mod", Func::Mod),
    ("add1", Func::Add1),
    ("int", Func::Int),
    ("int64", Func::Int64),
    ("float64", Func::Float64),
    ("index", Func::Index),
    ("len", Func::Len),
    ("join", Func::Join),
    ("splitList", Func::SplitList),
    ("list", Func::List),
    ("dict", Func::Dict),
    ("first", Func::First),
    ("last", Func::Last),
    ("has", Func::Has),
    ("get", Func::Get),
    ("keys", Func::Keys),
];

impl Func {
    /// The function a template names, if there is one.
    pub(super) fn parse(name: &str) -> Option<Func> {
        FUNCTIONS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// Its template name.
    pub(super) fn name(self) -> &'static str {
        FUNCTIONS
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| *n)
    }
}

/// Calls `f` with `args` (the piped value last).
pub(super) fn call<O: Object>(f: Func, args: Vec<Val<O>>) -> R<Val<O>> {
    use Func::*;
    match f {
        Print | Printf | Println | PrintIndex | Cat => printing(f, args),
        Eq | Ne | Lt | Le | Gt | Ge | And | Or | Not => logic(f, args),
        Default | Empty | Coalesce | Ternary | Required => defaults(f, args),
        ToJson | ToPrettyJson | FromJson | ToString | ToStrings => conversion(f, args),
        Quote | Squote | B64enc | B64dec | Urlquery | Html | Js | Upper | Lower | Title | Trim
        | Nospace => one_string(f, args),
        TrimPrefix | TrimSuffix | TrimAll | Contains | HasPrefix | HasSuffix | Repeat | Trunc => {
            two_strings(f, args)
        }
        Replace | Substr => three_strings(f, args),
        Add | Sub | Mul | Div | Mod | Add1 | Int | Int64 | Float64 => math(f, args),
        Index | Len | First | Last | Has | Get | Keys => lookups(f, args),
        Join | SplitList | List | Dict => builders(f, args),
    }
}

fn arity<O>(f: Func, args: &[Val<O>], n: usize) -> R<()> {
    if args.len() == n {
        Ok(())
    } else {
        err(format!(
            "wrong number of args for {}: want {n} got {}",
            f.name(),
            args.len()
        ))
    }
}

/// `print`, `printf`, `println`, `printIndex`, `cat`.
fn printing<O: Object>(f: Func, args: Vec<Val<O>>) -> R<Val<O>> {
    Ok(match f {
        Func::Cat => Val::str(
            args.iter()
                .map(Val::text)
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Func::Println => Val::str(format!(
            "{}\n",
            args.iter().map(Val::text).collect::<Vec<_>>().join(" ")
        )),
        Func::Printf => {
            let Some((fmt, rest)) = args.split_first() else {
                return err("printf needs a format");
            };
            Val::str(printf(&fmt.text(), rest)?)
        }
        Func::PrintIndex => {
            arity(f, &args, 2)?;
            let i = args[1].to_i64();
            match &args[0] {
                Val::Json(Value::Array(a)) if i >= 0 && (i as usize) < a.len() => {
                    Val::str(go_json_string(&a[i as usize]))
                }
                _ => Val::str(""),
            }
        }
        _ => Val::str(sprint(&args)),
    })
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
fn sprint<O: Object>(args: &[Val<O>]) -> String {
    let is_str = |v: &Val<O>| matches!(v, Val::Json(Value::String(_)));
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        out.push_str(&a.text());
    }
    out
}

/// Go's `eq`: strings by text, numbers by value, anything else by its JSON.
fn go_eq<O: Object>(a: &Val<O>, b: &Val<O>) -> bool {
    match (a.as_f64(), b.as_f64(), a, b) {
        (_, _, Val::Json(Value::String(x)), Val::Json(Value::String(y))) => x == y,
        (Some(x), Some(y), Val::Json(Value::Number(_)), Val::Json(Value::Number(_))) => x == y,
        _ => a.to_json() == b.to_json(),
    }
}

fn compare<O: Object>(a: &Val<O>, b: &Val<O>) -> R<Ordering> {
    match (a, b) {
        (Val::Json(Value::String(x)), Val::Json(Value::String(y))) => Ok(x.cmp(y)),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x
                .partial_cmp(&y)
                .ok_or_else(|| TemplateError("incomparable".into())),
            _ => err("incompatible types for comparison"),
        },
    }
}

/// `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `and`, `or`, `not`.
fn logic<O: Object>(f: Func, args: Vec<Val<O>>) -> R<Val<O>> {
    Ok(match f {
        Func::Eq => {
            let Some((first, rest)) = args.split_first() else {
                return err("missing argument for comparison");
            };
            Val::bool(rest.iter().any(|o| go_eq(first, o)))
        }
        Func::Ne => {
            arity(f, &args, 2)?;
            Val::bool(!go_eq(&args[0], &args[1]))
        }
        Func::Lt | Func::Le | Func::Gt | Func::Ge => {
            arity(f, &args, 2)?;
            let o = compare(&args[0], &args[1])?;
            Val::bool(match f {
                Func::Lt => o == Ordering::Less,
                Func::Le => o != Ordering::Greater,
                Func::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            })
        }
        Func::And => args
            .iter()
            .find(|a| !a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Val::Nil),
        Func::Or => args
            .iter()
            .find(|a| a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Val::Nil),
        _ => {
            arity(f, &args, 1)?;
            Val::bool(!args[0].truthy())
        }
    })
}

/// `default`, `empty`, `coalesce`, `ternary`, `required`.
fn defaults<O: Object>(f: Func, args: Vec<Val<O>>) -> R<Val<O>> {
    Ok(match f {
        Func::Default => match args.as_slice() {
            [d] => d.clone(),
            [d, given] => {
                if given.truthy() {
                    given.clone()
                } else {
                    d.clone()
                }
            }
            _ => return err("wrong number of args for default"),
        },
        Func::Empty => {
            arity(f, &args, 1)?;
            Val::bool(!args[0].truthy())
        }
        Func::Required => {
            arity(f, &args, 2)?;
            if !args[1].truthy() {
                return err(args[0].text());
            }
            args[1].clone()
        }
        Func::Coalesce => args
            .iter()
            .find(|a| a.truthy())
            .cloned()
            .unwrap_or(Val::Nil),
        _ => {
            arity(f, &args, 3)?;
            if args[2].truthy() {
                args[0].clone()
            } else {
                args[1].clone()
            }
        }
    })
}

/// `toJson`, `toPrettyJson`, `fromJson`, `toString`, `toStrings`.
fn conversion<O: Object>(f: Func, args: Vec<Val<O>>) -> R<Val<O>> {
    arity(f, &args, 1)?;
    let x = &args[0];
    Ok(match f {
        Func::ToJson | Func::ToPrettyJson => {
            let v = sorted(x.to_json());
            Val::str(
                if f == Func::ToJson {
                    serde_json::to_string(&v)
                } else {
                    serde_json::to_string_pretty(&v)
                }
                .unwrap_or_default(),
            )
        }
        Func::FromJson => Val::from_json(serde_json::from_str(&x.text()).unwrap_or(Value::Null)),
        Func::ToString => Val::str(x.text()),
        _ => Val::Json(Value::Array(
            x.list().iter().map(|v| Value::String(v.text())).collect(),
        )),
    })
}

/// The functions of one string: case, trimming, quoting and encodings.
fn one_string<O: Object>(f: Func, args: Vec<Val<O>>) -> R<Val<O>> {
    arity(f, &args, 1)?;
    let x = args[0].text();
    Ok(Val::str(match f {
        Func::Upper => x.to_uppercase(),
        Func::Lower => x.to_lowercase(),
        Func::Title => title(&x),
        Func::Trim => x.trim().to_string(),
        Func::Nospace => x.chars().filter(|c| !c.is_whitespace()).collect(),
        Func::Quote => serde_json::to_string(&x).unwrap_or_default(),
        Func::Squote => format!("'{x}'"),
        Func::B64enc => base64::engine::general_purpose::STANDARD.encode(x.as_bytes()),
        Func::B64dec => base64::engine::general_purpose::STANDARD
            .decode(x.as_bytes())
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_else(|e| e.to_string()),
        Func::Urlquery => url::form_urlencoded::byte_serialize(x.as_bytes()).collect(),
        Func::Html => x
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;"),
        _ => x
            .replace('\\', "\\\\")
            .replace('\'', "\\'")
            .replace('"', "\\\""),
    }))
}

/// sprig's `title`: each space-separated word's first letter upper-cased.
fn title(x: &str) -> String {
    x.split(' ')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The functions of an argument and a string: prefixes, suffixes, `contains`, `repeat`,
/// `trunc`.
fn two_strings<O: Object>(f: Func, args: Vec<Val<O>>) -> R<Val<O>> {
    arity(f, &args, 2)?;
    let (a, x) = (args[0].text(), args[1].text());
    Ok(match f {
        Func::TrimPrefix => Val::str(x.strip_prefix(a.as_str()).unwrap_or(&x).to_string()),
        Func::TrimSuffix => Val::str(x.strip_suffix(a.as_str()).unwrap_or(&x).to_string()),
        Func::TrimAll => Val::str(x.trim_matches(|c| a.contains(c)).to_string()),
        Func::Contains => Val::bool(x.contains(a.as_str())),
        Func::HasPrefix => Val::bool(x.starts_with(a.as_str())),
        Func::HasSuffix => Val::bool(x.ends_with(a.as_str())),
        Func::Repeat => Val::str(x.repeat(args[0].to_i64().clamp(0, 10_000) as usize)),
        _ => Val::str(trunc(&x, args[0].to_i64())),
    })
}

/// sprig's `trunc`: the first `n` characters, or the last `-n`.
fn trunc(x: &str, n: i64) -> String {
    let chars: Vec<char> = x.chars().collect();
    let n = n.clamp(-(chars.len() as i64), chars.len() as i64);
    if n >= 0 {
        chars[..n as usize].iter().collect()
    } else {
        chars[chars.len() - (-n) as usize..].iter().collect()
    }
}

/// `replace old new s` and `substr start end s`.
fn three_strings<O: Object>(f: Func, args: Vec<Val<O>>) -> R<Val<O>> {
    arity(f, &args, 3)?;
    if f == Func::Replace {
        return Ok(Val::str(
            args[2].text().replace(&args[0].text(), &args[1].text()),
        ));
    }
    let x: Vec<char> = args[2].text().chars().collect();
    let start = args[0].to_i64().clamp(0, x.len() as i64) as usize;
    let end = match args[1].to_i64() {
        e if e < 0 || e as usize > x.len() => x.len(),
        e => (e as usize).max(start),
    };
    Ok(Val::str(x[start..end].iter().collect::<String>()))
}

/// Integer arithmetic as sprig does it (wrapping, on `toInt64` of the arguments), and the
/// conversions `int`, `int64`, `float64`.
fn math<O: Object>(f: Func, args: Vec<Val<O>>) -> R<Val<O>> {
    if matches!(f, Func::Add1 | Func::Int | Func::Int64 | Func::Float64) {
        arity(f, &args, 1)?;
        return Ok(match f {
            Func::Add1 => Val::int(args[0].to_i64().wrapping_add(1)),
            Func::Float64 => Val::float(args[0].as_f64().unwrap_or(0.0)),
            _ => Val::int(args[0].to_i64()),
        });
    }
    arity(f, &args, 2)?;
    let (x, y) = (args[0].to_i64(), args[1].to_i64());
    Ok(Val::int(match f {
        Func::Sub => x.wrapping_sub(y),
        Func::Add => x.wrapping_add(y),
        Func::Mul => x.wrapping_mul(y),
        _ if y == 0 => return err("integer divide by zero"),
        Func::Div => x / y,
        _ => x % y,
    }))
}

/// Reading lists and maps: `index`, `len`, `first`, `last`, `has`, `get`, `keys`.
fn lookups<O: Object>(f: Func, args: Vec<Val<O>>) -> R<Val<O>> {
    Ok(match f {
        Func::Index => index(args)?,
        Func::Len => {
            arity(f, &args, 1)?;
            let n = match &args[0] {
                Val::Json(Value::Array(a)) => a.len(),
                Val::Json(Value::Object(o)) => o.len(),
                Val::Json(Value::String(s)) => s.len(),
                other => match other {
                    Val::Object(o) => o.length(),
                    _ => None,
                }
                .ok_or_else(|| TemplateError(format!("len of type {}", other.type_name())))?,
            };
            Val::int(n as i64)
        }
        Func::First | Func::Last => {
            arity(f, &args, 1)?;
            let l = args[0].list();
            let item = if f == Func::First {
                l.first()
            } else {
                l.last()
            };
            item.cloned().unwrap_or(Val::Nil)
        }
        Func::Has => {
            arity(f, &args, 2)?;
            Val::bool(args[1].list().iter().any(|x| go_eq(x, &args[0])))
        }
        Func::Get => {
            arity(f, &args, 2)?;
            match &args[0] {
                Val::Json(Value::Object(m)) => Val::str(
                    m.get(&args[1].text())
                        .map(go_json_string)
                        .unwrap_or_default(),
                ),
                _ => Val::str(""),
            }
        }
        _ => {
            let mut keys: Vec<Value> = Vec::new();
            for a in &args {
                if let Val::Json(Value::Object(m)) = a {
                    keys.extend(m.keys().cloned().map(Value::String));
                }
            }
            Val::Json(Value::Array(keys))
        }
    })
}

/// Go's `index x k1 k2…`: list items by number, map values by key, object indexes.
fn index<O: Object>(args: Vec<Val<O>>) -> R<Val<O>> {
    let Some((mut v, keys)) = args.split_first().map(|(a, r)| (a.clone(), r)) else {
        return err("index needs arguments");
    };
    for k in keys {
        v = match &v {
            Val::Json(Value::Array(a)) => {
                let i = k.to_i64();
                if i < 0 || i as usize >= a.len() {
                    return err(format!("index out of range: {i}"));
                }
                Val::from_json(a[i as usize].clone())
            }
            Val::Json(Value::Object(m)) => m
                .get(&k.text())
                .cloned()
                .map(Val::from_json)
                .unwrap_or(Val::Nil),
            Val::Nil => return err("index of untyped nil"),
            other => match other {
                Val::Object(o) => o.index(k),
                _ => None,
            }
            .unwrap_or_else(|| err(format!("can't index item of type {}", other.type_name())))?,
        };
    }
    Ok(v)
}

/// Building lists, maps and strings from parts: `join`, `splitList`, `list`, `dict`.
fn builders<O: Object>(f: Func, args: Vec<Val<O>>) -> R<Val<O>> {
    Ok(match f {
        Func::Join => {
            arity(f, &args, 2)?;
            Val::str(
                args[1]
                    .list()
                    .iter()
                    .map(Val::text)
                    .collect::<Vec<_>>()
                    .join(&args[0].text()),
            )
        }
        Func::SplitList => {
            arity(f, &args, 2)?;
            Val::Json(Value::Array(
                args[1]
                    .text()
                    .split(&args[0].text())
                    .map(|p| Value::String(p.into()))
                    .collect(),
            ))
        }
        Func::List => Val::Json(Value::Array(args.iter().map(Val::to_json).collect())),
        _ => {
            let mut m = Map::new();
            for pair in args.chunks(2) {
                m.insert(
                    pair[0].text(),
                    pair.get(1).map(Val::to_json).unwrap_or(Value::Null),
                );
            }
            Val::Json(Value::Object(m))
        }
    })
}
