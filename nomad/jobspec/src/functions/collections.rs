//! Collection functions.

use super::{exactly, one};
use crate::Value;
use crate::eval::equal;

fn list(v: &Value, what: &str) -> Result<Vec<Value>, String> {
    match v {
        Value::List(l) => Ok(l.clone()),
        other => Err(format!(
            "{what} must be a list, found a {}",
            other.type_name()
        )),
    }
}

fn object(v: &Value, what: &str) -> Result<Vec<(String, Value)>, String> {
    match v {
        Value::Object(o) => Ok(o.clone()),
        Value::Null => Ok(Vec::new()),
        other => Err(format!(
            "{what} must be a map, found a {}",
            other.type_name()
        )),
    }
}

fn index(v: &Value, len: usize) -> Result<usize, String> {
    let i = v.as_i64().ok_or("the index must be a whole number")?;
    usize::try_from(i)
        .ok()
        .filter(|i| *i < len)
        .ok_or_else(|| format!("index {i} is out of range for {len} elements"))
}

pub(super) fn call(name: &str, args: Vec<Value>) -> Result<Value, String> {
    match name {
        "length" => match one(args)? {
            Value::List(l) => Ok(Value::int(i64::try_from(l.len()).unwrap_or(i64::MAX))),
            Value::Object(o) => Ok(Value::int(i64::try_from(o.len()).unwrap_or(i64::MAX))),
            Value::String(s) => Ok(Value::int(
                i64::try_from(s.chars().count()).unwrap_or(i64::MAX),
            )),
            other => Err(format!("cannot take the length of a {}", other.type_name())),
        },
        "concat" => {
            let mut out = Vec::new();
            for a in &args {
                out.extend(list(a, "each argument")?);
            }
            Ok(Value::List(out))
        }
        "merge" => {
            let mut out = Value::Object(Vec::new());
            for a in &args {
                for (k, v) in object(a, "each argument")? {
                    out.insert(k, v);
                }
            }
            Ok(out)
        }
        "lookup" => {
            let (map, key, default) = match args.len() {
                2 => {
                    let [m, k] = exactly::<2>(args)?;
                    (m, k, None)
                }
                _ => {
                    let [m, k, d] = exactly::<3>(args)?;
                    (m, k, Some(d))
                }
            };
            let key = key.to_string_lossless().ok_or("the key must be a string")?;
            match (map.get(&key), default) {
                (Some(v), _) => Ok(v.clone()),
                (None, Some(d)) => Ok(d),
                (None, None) => Err(format!(
                    "the map has no key {key:?} and no default was given"
                )),
            }
        }
        "coalesce" => args
            .into_iter()
            .find(|v| !matches!(v, Value::Null) && v.as_str() != Some(""))
            .ok_or_else(|| "no non-null, non-empty argument".to_owned()),
        "coalescelist" => args
            .into_iter()
            .find(|v| v.as_list().is_some_and(|l| !l.is_empty()))
            .ok_or_else(|| "no non-empty list argument".to_owned()),
        "keys" | "values" => {
            let o = object(&one(args)?, "the argument")?;
            Ok(Value::List(
                o.into_iter()
                    .map(|(k, v)| if name == "keys" { Value::String(k) } else { v })
                    .collect(),
            ))
        }
        "contains" => {
            let [l, v] = exactly::<2>(args)?;
            Ok(Value::Bool(
                list(&l, "the first argument")?.iter().any(|x| equal(x, &v)),
            ))
        }
        "element" => {
            let [l, i] = exactly::<2>(args)?;
            let l = list(&l, "the first argument")?;
            if l.is_empty() {
                return Err("cannot take an element of an empty list".into());
            }
            let i = i.as_i64().ok_or("the index must be a whole number")?;
            let n = i64::try_from(l.len()).unwrap_or(i64::MAX);
            let at = usize::try_from(i.rem_euclid(n)).unwrap_or(0);
            Ok(l[at].clone())
        }
        "index" => {
            let [l, v] = exactly::<2>(args)?;
            list(&l, "the first argument")?
                .iter()
                .position(|x| equal(x, &v))
                .map(|i| Value::int(i64::try_from(i).unwrap_or(i64::MAX)))
                .ok_or_else(|| "the value is not in the list".to_owned())
        }
        "slice" => {
            let [l, a, b] = exactly::<3>(args)?;
            let l = list(&l, "the first argument")?;
            let (a, b) = (index(&a, l.len() + 1)?, index(&b, l.len() + 1)?);
            l.get(a..b)
                .map(|s| Value::List(s.to_vec()))
                .ok_or_else(|| "the start index is after the end index".to_owned())
        }
        "flatten" => {
            fn flat(v: Value, out: &mut Vec<Value>) {
                match v {
                    Value::List(l) => l.into_iter().for_each(|x| flat(x, out)),
                    other => out.push(other),
                }
            }
            let mut out = Vec::new();
            flat(one(args)?, &mut out);
            Ok(Value::List(out))
        }
        "compact" => Ok(Value::List(
            list(&one(args)?, "the argument")?
                .into_iter()
                .filter(|v| !matches!(v, Value::Null) && v.as_str() != Some(""))
                .collect(),
        )),
        "distinct" | "toset" => {
            let mut out: Vec<Value> = Vec::new();
            for v in list(&one(args)?, "the argument")? {
                if !out.iter().any(|x| equal(x, &v)) {
                    out.push(v);
                }
            }
            Ok(Value::List(out))
        }
        "reverse" => {
            let mut l = list(&one(args)?, "the argument")?;
            l.reverse();
            Ok(Value::List(l))
        }
        "sort" => {
            let mut l = list(&one(args)?, "the argument")?
                .iter()
                .map(|v| v.to_string_lossless().ok_or("sort needs a list of strings"))
                .collect::<Result<Vec<_>, _>>()?;
            l.sort();
            Ok(Value::List(l.into_iter().map(Value::String).collect()))
        }
        "tolist" => Ok(Value::List(list(&one(args)?, "the argument")?)),
        "tomap" => Ok(Value::Object(object(&one(args)?, "the argument")?)),
        "zipmap" => {
            let [k, v] = exactly::<2>(args)?;
            let (k, v) = (list(&k, "the keys")?, list(&v, "the values")?);
            if k.len() != v.len() {
                return Err("the key and value lists differ in length".into());
            }
            let mut out = Value::Object(Vec::new());
            for (k, v) in k.into_iter().zip(v) {
                out.insert(k.to_string_lossless().ok_or("keys must be strings")?, v);
            }
            Ok(out)
        }
        "range" => {
            let nums = args
                .iter()
                .map(|a| a.as_f64().ok_or("range needs numbers"))
                .collect::<Result<Vec<_>, _>>()?;
            let (start, end, step) = match nums.as_slice() {
                [e] => (0.0, *e, 1.0),
                [s, e] => (*s, *e, if s <= e { 1.0 } else { -1.0 }),
                [s, e, st] => (*s, *e, *st),
                _ => return Err("range takes 1 to 3 arguments".into()),
            };
            if step == 0.0 {
                return Err("the step must not be zero".into());
            }
            let mut out = Vec::new();
            let mut x = start;
            while (step > 0.0 && x < end) || (step < 0.0 && x > end) {
                out.push(Value::from_f64(x).ok_or("number out of range")?);
                x += step;
                if out.len() > 1024 {
                    return Err("range is limited to 1024 elements".into());
                }
            }
            Ok(Value::List(out))
        }
        _ => Err(format!("there is no function named {name:?}")),
    }
}
