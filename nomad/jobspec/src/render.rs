//! The job tree as HCL2 text: two-space indents, aligned `=` in runs of attributes, a blank
//! line around blocks, strings quoted (heredocs become `\n` escapes). The output is a pure
//! function of the tree, and parsing it gives the same tree back, so rendering is stable.

use crate::Value;
use crate::tree::{Block, Item};

/// Lists longer than this on one line are written one element per line.
const MAX_INLINE_LIST: usize = 72;

/// Renders a block (usually the `job` block) and everything in it.
pub fn render_block(block: &Block) -> String {
    let mut out = String::new();
    block_into(&mut out, block, 0);
    out
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn block_into(out: &mut String, block: &Block, depth: usize) {
    indent(out, depth);
    out.push_str(&block.ident);
    for l in &block.labels {
        out.push(' ');
        out.push_str(&quote(l));
    }
    if block.body.items.is_empty() {
        out.push_str(" {}\n");
        return;
    }
    out.push_str(" {\n");
    body_into(out, &block.body.items, depth + 1);
    indent(out, depth);
    out.push_str("}\n");
}

fn body_into(out: &mut String, items: &[Item], depth: usize) {
    let mut i = 0;
    while i < items.len() {
        if i > 0 && (matches!(items[i], Item::Block(_)) || matches!(items[i - 1], Item::Block(_))) {
            out.push('\n');
        }
        match &items[i] {
            Item::Block(b) if needs_object_form(b) => {
                let v = Value::Object(
                    b.attributes()
                        .map(|a| (a.key.clone(), a.value.clone()))
                        .collect(),
                );
                attr_into(out, &b.ident, &v, b.ident.len(), depth);
                i += 1;
            }
            Item::Block(b) => {
                block_into(out, b, depth);
                i += 1;
            }
            Item::Attribute(_) => {
                // a run of attributes, `=` aligned over the single-line ones
                let end = items[i..]
                    .iter()
                    .position(|x| matches!(x, Item::Block(_)))
                    .map_or(items.len(), |p| i + p);
                let width = items[i..end]
                    .iter()
                    .filter_map(|x| match x {
                        Item::Attribute(a) if is_inline(&a.value) => Some(key_text(&a.key).len()),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                for x in &items[i..end] {
                    if let Item::Attribute(a) = x {
                        attr_into(out, &a.key, &a.value, width, depth);
                    }
                }
                i = end;
            }
        }
    }
}

/// A block whose attribute names are not identifiers (env keys from JSON, say) can only be
/// written as an object attribute, `env = { "a.b" = "x" }`.
fn needs_object_form(b: &Block) -> bool {
    b.labels.is_empty()
        && b.all_blocks().next().is_none()
        && b.attributes().any(|a| !is_ident(&a.key))
}

fn attr_into(out: &mut String, key: &str, value: &Value, width: usize, depth: usize) {
    indent(out, depth);
    let key = key_text(key);
    out.push_str(&key);
    if is_inline(value) {
        for _ in key.len()..width {
            out.push(' ');
        }
    }
    out.push_str(" = ");
    value_into(out, value, depth);
    out.push('\n');
}

/// Whether a value is written on one line.
fn is_inline(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.is_empty(),
        Value::List(l) => {
            l.iter()
                .all(|x| !matches!(x, Value::List(_) | Value::Object(_)))
                && inline_value(v).len() <= MAX_INLINE_LIST
        }
        _ => true,
    }
}

fn value_into(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::List(l) if !is_inline(v) => {
            out.push_str("[\n");
            for x in l {
                indent(out, depth + 1);
                value_into(out, x, depth + 1);
                out.push_str(",\n");
            }
            indent(out, depth);
            out.push(']');
        }
        Value::Object(o) if !o.is_empty() => {
            out.push_str("{\n");
            let width = o
                .iter()
                .filter(|(_, v)| is_inline(v))
                .map(|(k, _)| key_text(k).len())
                .max()
                .unwrap_or(0);
            for (k, x) in o {
                attr_into(out, k, x, width, depth + 1);
            }
            indent(out, depth);
            out.push('}');
        }
        other => out.push_str(&inline_value(other)),
    }
}

/// A value as a one-line HCL expression.
pub(crate) fn inline_value(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::List(l) => {
            let parts: Vec<String> = l.iter().map(inline_value).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(o) => {
            let parts: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{} = {}", key_text(k), inline_value(v)))
                .collect();
            if parts.is_empty() {
                "{}".to_owned()
            } else {
                format!("{{ {} }}", parts.join(", "))
            }
        }
    }
}

/// An identifier as HCL spells one (ASCII subset): a letter or `_`, then letters, digits,
/// `_` and `-`.
pub(crate) fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn key_text(k: &str) -> String {
    if is_ident(k) && !matches!(k, "true" | "false" | "null") {
        k.to_owned()
    } else {
        quote(k)
    }
}

/// Whether `inner` (the text between `${` and `}`) is a runtime placeholder that parses back
/// to itself: a reference whose root is not `var` or `local`.
fn is_placeholder(inner: &str) -> bool {
    let root_end = inner.find(['.', '[']).unwrap_or(inner.len());
    let (root, mut rest) = inner.split_at(root_end);
    if !is_ident(root) || matches!(root, "var" | "local" | "true" | "false" | "null") {
        return false;
    }
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let seg = &r[..end];
            let numeric = !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit());
            if !(is_ident(seg) || numeric) {
                return false;
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else { return false };
            let idx = &r[..end];
            if idx.is_empty()
                || !idx.chars().all(|c| c.is_ascii_digit())
                || idx.starts_with('0') && idx.len() > 1
            {
                return false;
            }
            rest = &r[end + 1..];
        } else {
            return false;
        }
    }
    true
}

/// A string as a quoted HCL string: escapes for quotes, backslashes and control characters;
/// `${` kept for runtime placeholders and escaped as `$${` otherwise; `%{` escaped as `%%{`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut prev = None;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let next_is_brace = iter.peek().is_some_and(|(_, n)| *n == '{');
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if next_is_brace => {
                let inner = s[i + 2..].split('}').next().unwrap_or("");
                let closed = s[i + 2..].contains('}');
                if !(closed && is_placeholder(inner)) || prev == Some('$') {
                    out.push('$');
                }
                out.push('$');
            }
            '%' if next_is_brace => out.push_str("%%"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
        prev = Some(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_placeholders_and_escapes_the_rest() {
        let cases = [
            ("${attr.kernel.name}", "\"${attr.kernel.name}\""),
            (
                "http://${NOMAD_UPSTREAM_ADDR_count_api}",
                "\"http://${NOMAD_UPSTREAM_ADDR_count_api}\"",
            ),
            (
                "${NOMAD_UPSTREAM_ADDR_count_api-z}",
                "\"${NOMAD_UPSTREAM_ADDR_count_api-z}\"",
            ),
            ("${var.x}", "\"$${var.x}\""),
            ("${upper(x)}", "\"$${upper(x)}\""),
            ("$${attr.x}", "\"$$${attr.x}\""),
            ("%{if}", "\"%%{if}\""),
            ("a\"b\\c\nd", "\"a\\\"b\\\\c\\nd\""),
            ("${meta[0]}", "\"${meta[0]}\""),
            ("${", "\"$${\""),
        ];
        for (input, want) in cases {
            assert_eq!(quote(input), want, "{input:?}");
        }
    }
}
