//! String functions.

use super::{exactly, one};
use crate::Value;

fn string(v: &Value, what: &str) -> Result<String, String> {
    v.to_string_lossless()
        .ok_or_else(|| format!("{what} must be a string, found a {}", v.type_name()))
}

pub(super) fn call(name: &str, args: Vec<Value>) -> Result<Value, String> {
    let s = |v: String| Ok(Value::String(v));
    match name {
        "upper" => s(string(&one(args)?, "argument")?.to_uppercase()),
        "lower" => s(string(&one(args)?, "argument")?.to_lowercase()),
        "title" => s(title(&string(&one(args)?, "argument")?)),
        "trimspace" => s(string(&one(args)?, "argument")?.trim().to_owned()),
        "chomp" => s(string(&one(args)?, "argument")?
            .trim_end_matches(['\n', '\r'])
            .to_owned()),
        "strrev" => s(string(&one(args)?, "argument")?.chars().rev().collect()),
        "trim" => {
            let [text, cut] = exactly::<2>(args)?;
            let cut: Vec<char> = string(&cut, "the characters")?.chars().collect();
            s(string(&text, "the string")?
                .trim_matches(cut.as_slice())
                .to_owned())
        }
        "trimprefix" | "trimsuffix" | "startswith" | "endswith" => {
            let [text, affix] = exactly::<2>(args)?;
            let (text, affix) = (string(&text, "the string")?, string(&affix, "the affix")?);
            match name {
                "trimprefix" => s(text.strip_prefix(&affix).unwrap_or(&text).to_owned()),
                "trimsuffix" => s(text.strip_suffix(&affix).unwrap_or(&text).to_owned()),
                "startswith" => Ok(Value::Bool(text.starts_with(&affix))),
                _ => Ok(Value::Bool(text.ends_with(&affix))),
            }
        }
        "replace" => {
            let [text, from, to] = exactly::<3>(args)?;
            let (text, from, to) = (
                string(&text, "the string")?,
                string(&from, "the substring")?,
                string(&to, "the replacement")?,
            );
            if from.is_empty() {
                return Err("the substring to replace must not be empty".into());
            }
            s(text.replace(&from, &to))
        }
        "split" => {
            let [sep, text] = exactly::<2>(args)?;
            let (sep, text) = (string(&sep, "the separator")?, string(&text, "the string")?);
            if text.is_empty() {
                return Ok(Value::List(Vec::new()));
            }
            Ok(Value::List(
                text.split(sep.as_str())
                    .map(|p| Value::String(p.to_owned()))
                    .collect(),
            ))
        }
        "join" => {
            let mut it = args.into_iter();
            let sep = string(
                &it.next().ok_or("expected a separator and lists")?,
                "the separator",
            )?;
            let mut parts = Vec::new();
            for list in it {
                let items = list
                    .as_list()
                    .ok_or_else(|| format!("join expects lists, found a {}", list.type_name()))?;
                for item in items {
                    parts.push(string(item, "each element")?);
                }
            }
            s(parts.join(&sep))
        }
        "substr" => {
            let [text, offset, length] = exactly::<3>(args)?;
            let chars: Vec<char> = string(&text, "the string")?.chars().collect();
            let len = i64::try_from(chars.len()).unwrap_or(i64::MAX);
            let offset = offset.as_i64().ok_or("offset must be a whole number")?;
            let length = length.as_i64().ok_or("length must be a whole number")?;
            let start = if offset < 0 { len + offset } else { offset }.clamp(0, len);
            let end = if length < 0 {
                len
            } else {
                (start + length).min(len)
            };
            let (start, end) = (
                usize::try_from(start).unwrap_or(0),
                usize::try_from(end).unwrap_or(0),
            );
            s(chars.get(start..end).unwrap_or_default().iter().collect())
        }
        "indent" => {
            let [n, text] = exactly::<2>(args)?;
            let n = usize::try_from(n.as_i64().ok_or("spaces must be a whole number")?)
                .map_err(|_| "spaces must not be negative")?;
            let pad = " ".repeat(n);
            s(string(&text, "the string")?.replace('\n', &format!("\n{pad}")))
        }
        "format" => {
            let mut it = args.into_iter();
            let spec = string(&it.next().ok_or("expected a format string")?, "the format")?;
            s(format(&spec, &it.collect::<Vec<_>>())?)
        }
        "formatlist" => formatlist(args),
        _ => Err(format!("there is no function named {name:?}")),
    }
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

/// `format`'s verbs: `%s %v %d %f %.Nf %q %t %%`, with an optional width.
pub(crate) fn format(spec: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = spec.chars().peekable();
    let mut next = args.iter();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() || d == '.' || d == '-' {
                flags.push(d);
                chars.next();
            } else {
                break;
            }
        }
        let verb = chars.next().ok_or("format string ends with %")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = next
            .next()
            .ok_or_else(|| format!("not enough arguments for %{verb}"))?;
        let (width, precision) = match flags.split_once('.') {
            Some((w, p)) => (w.to_owned(), p.parse::<usize>().ok()),
            None => (flags.clone(), None),
        };
        let text = match verb {
            's' | 'v' => match arg {
                Value::List(_) | Value::Object(_) if verb == 'v' => {
                    serde_json::to_string(&arg.to_json()).map_err(|e| e.to_string())?
                }
                _ => string(arg, "%s argument")?,
            },
            'd' => {
                let n = arg.as_f64().ok_or("%d needs a number")?;
                if n.fract() != 0.0 {
                    return Err(format!("%d needs a whole number, found {n}"));
                }
                format!("{n:.0}")
            }
            'f' => {
                let n = arg.as_f64().ok_or("%f needs a number")?;
                format!("{n:.*}", precision.unwrap_or(6))
            }
            'q' => {
                serde_json::to_string(&string(arg, "%q argument")?).map_err(|e| e.to_string())?
            }
            't' => arg.as_bool().ok_or("%t needs a bool")?.to_string(),
            other => return Err(format!("unsupported format verb %{other}")),
        };
        let zero = width.starts_with('0');
        let width: usize = width.trim_start_matches('-').parse().unwrap_or(0);
        let pad = width.saturating_sub(text.chars().count());
        if zero && matches!(verb, 'd' | 'f') {
            let (sign, digits) = text.split_at(usize::from(text.starts_with('-')));
            out.push_str(sign);
            out.push_str(&"0".repeat(pad));
            out.push_str(digits);
        } else if flags.starts_with('-') {
            out.push_str(&text);
            out.push_str(&" ".repeat(pad));
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(&text);
        }
    }
    Ok(out)
}

fn formatlist(args: Vec<Value>) -> Result<Value, String> {
    let mut it = args.into_iter();
    let spec = string(&it.next().ok_or("expected a format string")?, "the format")?;
    let rest: Vec<Value> = it.collect();
    let n = rest
        .iter()
        .filter_map(|v| v.as_list().map(<[Value]>::len))
        .max()
        .unwrap_or(1);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let row: Vec<Value> = rest
            .iter()
            .map(|v| match v {
                Value::List(l) => l.get(i).cloned().unwrap_or(Value::Null),
                other => other.clone(),
            })
            .collect();
        out.push(Value::String(format(&spec, &row)?));
    }
    Ok(Value::List(out))
}
