//! The functions a job file may call: the part of the cty standard library Nomad offers that
//! the mesh's users reach for. File functions (`file`, `fileset`, …) are left out on purpose:
//! parsing is pure and reads nothing from disk.

mod collections;
mod strings;

use crate::Value;

/// Calls function `name`; the error says what was wrong with the arguments.
pub(crate) fn call(name: &str, args: Vec<Value>) -> Result<Value, String> {
    match name {
        "upper" | "lower" | "title" | "trimspace" | "chomp" | "trim" | "trimprefix"
        | "trimsuffix" | "replace" | "split" | "join" | "format" | "formatlist" | "substr"
        | "strrev" | "startswith" | "endswith" | "indent" => strings::call(name, args),
        "tostring" => one(args).and_then(|v| match v {
            Value::Null => Ok(Value::Null),
            v => v
                .to_string_lossless()
                .map(Value::String)
                .ok_or_else(|| format!("cannot convert a {} to a string", v.type_name())),
        }),
        "tonumber" => one(args).and_then(|v| match v {
            Value::Null => Ok(Value::Null),
            v => v
                .as_f64()
                .and_then(Value::from_f64)
                .ok_or_else(|| format!("cannot convert {v} to a number")),
        }),
        "tobool" => one(args).and_then(|v| match v {
            Value::Null => Ok(Value::Null),
            v => v
                .as_bool()
                .map(Value::Bool)
                .ok_or_else(|| format!("cannot convert {v} to a bool")),
        }),
        "jsonencode" => one(args).and_then(|v| {
            serde_json::to_string(&v.to_json())
                .map(Value::String)
                .map_err(|e| e.to_string())
        }),
        "jsondecode" => one(args).and_then(|v| {
            let s = v.as_str().ok_or("expected a string")?;
            serde_json::from_str::<serde_json::Value>(s)
                .map(|j| Value::from_json(&j))
                .map_err(|e| format!("invalid JSON: {e}"))
        }),
        "min" | "max" | "abs" | "ceil" | "floor" => numbers(name, args),
        _ => collections::call(name, args),
    }
}

/// The single argument of a one-argument function.
pub(crate) fn one(args: Vec<Value>) -> Result<Value, String> {
    let n = args.len();
    let mut it = args.into_iter();
    match (it.next(), it.next()) {
        (Some(v), None) => Ok(v),
        _ => Err(format!("expected 1 argument, found {n}")),
    }
}

/// The arguments, checked to be exactly `n`.
pub(crate) fn exactly<const N: usize>(args: Vec<Value>) -> Result<[Value; N], String> {
    let n = args.len();
    args.try_into()
        .map_err(|_| format!("expected {N} arguments, found {n}"))
}

fn numbers(name: &str, args: Vec<Value>) -> Result<Value, String> {
    let nums = args
        .iter()
        .map(|a| {
            a.as_f64()
                .ok_or_else(|| format!("expected numbers, found a {}", a.type_name()))
        })
        .collect::<Result<Vec<f64>, String>>()?;
    let out = match name {
        "min" | "max" if nums.is_empty() => return Err("expected at least one number".into()),
        "min" => nums.iter().copied().fold(f64::INFINITY, f64::min),
        "max" => nums.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        _ => {
            let [x] = <[f64; 1]>::try_from(nums)
                .map_err(|n| format!("expected 1 argument, found {}", n.len()))?;
            match name {
                "abs" => x.abs(),
                "ceil" => x.ceil(),
                _ => x.floor(),
            }
        }
    };
    Value::from_f64(out).ok_or_else(|| "number out of range".to_owned())
}
