//! Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %q %+q %t %f %%`, with Go's
//! `%!v(MISSING)` and `%!(NOVERB)` markers.

use std::fmt::Write as _;

use serde_json::Value;

use super::value::{go_json_string, Object, Val};
use super::R;

/// `format` with `args` substituted.
pub(super) fn printf<O: Object>(format: &str, args: &[Val<O>]) -> R<String> {
    let mut out = String::new();
    let mut it = format.chars().peekable();
    let mut argi = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let plus = it.peek() == Some(&'+');
        if plus {
            it.next();
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        argi += 1;
        match verb {
            's' | 'v' => out.push_str(&match arg {
                Val::Nil => "%!s(<nil>)".to_string(),
                a => a.go_string(),
            }),
            'd' => out.push_str(&arg.to_i64().to_string()),
            'f' => {
                let _ = write!(out, "{:.6}", arg.as_f64().unwrap_or(0.0));
            }
            't' => out.push_str(&arg.truthy().to_string()),
            'q' => match arg {
                Val::Json(Value::Array(a)) => {
                    let parts: Vec<String> =
                        a.iter().map(|v| quote(&go_json_string(v), plus)).collect();
                    let _ = write!(out, "[{}]", parts.join(" "));
                }
                a => out.push_str(&quote(&a.text(), plus)),
            },
            other => {
                let _ = write!(out, "%!{other}({})", arg.go_string());
            }
        }
    }
    Ok(out)
}

/// `%q` (and with `plus`, `%+q`: non-ASCII as `\uXXXX`).
fn quote(x: &str, plus: bool) -> String {
    let q = serde_json::to_string(x).unwrap_or_default();
    if plus {
        q.chars()
            .flat_map(|c| {
                if c.is_ascii() {
                    vec![c]
                } else {
                    format!("\\u{:04x}", c as u32).chars().collect()
                }
            })
            .collect::<String>()
    } else {
        q
    }
}
