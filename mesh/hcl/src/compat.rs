//! HCL1 leniency for Consul files: `Key { … }` written inside an object, or inside a
//! block written on one line.
//!
//! Consul parses its config entries with HCL1, which accepts nested blocks inside
//! object expressions (`Routes = [{ Match { HTTP { … } } }]`) and inside single-line
//! blocks (`UpstreamConfig { Defaults { … } }`); HCL2, and so hcl-edit, needs
//! `Match = { … }` there. The rewrite below turns the blank
//! before such a `{` into `=`, byte for byte, so every span and so every error
//! location stays that of the original text.

/// What the scanner is inside of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Body,
    /// A block body whose `{` has no newline after it yet: HCL2 allows no nested
    /// block there.
    OneLineBody,
    Object,
    Array,
    Paren,
}

/// The last significant token seen, as far as the rewrite cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    Ident,
    Str,
    Other,
}

/// `text` with each HCL1 nested block inside an object turned into `Key={ … }`, or
/// `None` when there is none (or when the text is too broken to tell).
pub(crate) fn nested_blocks_in_objects(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let mut stack = vec![Ctx::Body];
    let mut last = Last::Other;
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\n' => multi_line(&mut stack),
            b' ' | b'\t' | b'\r' => {}
            b'#' => {
                i = line_end(bytes, i);
                multi_line(&mut stack);
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = line_end(bytes, i);
                multi_line(&mut stack);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = find(bytes, i + 2, b"*/")? + 1;
                if bytes[i..end].contains(&b'\n') {
                    multi_line(&mut stack);
                }
                i = end;
            }
            b'"' => {
                i = string_end(bytes, i)?;
                last = Last::Str;
                continue;
            }
            b'<' if bytes.get(i + 1) == Some(&b'<') => {
                i = heredoc_end(bytes, i)?;
                multi_line(&mut stack);
                last = Last::Other;
                continue;
            }
            b'{' => {
                let top = *stack.last()?;
                let blank_before = i > 0 && matches!(bytes[i - 1], b' ' | b'\t');
                let rewrite = matches!(top, Ctx::Object | Ctx::OneLineBody)
                    && last == Last::Ident
                    && blank_before;
                let opens_block = !rewrite
                    && matches!(top, Ctx::Body | Ctx::OneLineBody)
                    && matches!(last, Last::Ident | Last::Str);
                if rewrite {
                    out[i - 1] = b'=';
                    changed = true;
                }
                stack.push(if opens_block {
                    Ctx::OneLineBody
                } else {
                    Ctx::Object
                });
                last = Last::Other;
            }
            b'[' => {
                stack.push(Ctx::Array);
                last = Last::Other;
            }
            b'(' => {
                stack.push(Ctx::Paren);
                last = Last::Other;
            }
            b'}' | b']' | b')' => {
                stack.pop();
                if stack.is_empty() {
                    return None;
                }
                last = Last::Other;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'-'))
                {
                    i += 1;
                }
                last = Last::Ident;
                continue;
            }
            _ => last = Last::Other,
        }
        i += 1;
    }
    if !changed {
        return None;
    }
    String::from_utf8(out).ok()
}

/// A newline was crossed: the innermost one-line block body is one line no more.
fn multi_line(stack: &mut [Ctx]) {
    if let Some(top @ Ctx::OneLineBody) = stack.last_mut() {
        *top = Ctx::Body;
    }
}

/// The index of the newline ending the line at `i` (or the end).
fn line_end(bytes: &[u8], i: usize) -> usize {
    bytes[i..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| i + p)
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// The index just past the string starting at `i`; `${ … }` may hold strings and braces.
fn string_end(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            b'$' | b'%' if bytes.get(j + 1) == Some(&b'{') => {
                let mut depth = 0usize;
                j += 1;
                while j < bytes.len() {
                    match bytes[j] {
                        b'{' => depth += 1,
                        b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        b'"' => {
                            j = string_end(bytes, j)?;
                            continue;
                        }
                        _ => {}
                    }
                    j += 1;
                }
                j += 1;
            }
            b'\n' => return None,
            _ => j += 1,
        }
    }
    None
}

/// The index just past a heredoc `<<EOT` / `<<-EOT` starting at `i`: after its closing marker line.
fn heredoc_end(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 2;
    if bytes.get(j) == Some(&b'-') {
        j += 1;
    }
    let start = j;
    while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
        j += 1;
    }
    let marker = bytes.get(start..j)?;
    if marker.is_empty() {
        return Some(i + 2);
    }
    let mut line = line_end(bytes, j) + 1;
    while line < bytes.len() {
        let end = line_end(bytes, line);
        if bytes[line..end].trim_ascii() == marker {
            return Some(end);
        }
        line = end + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("a = 1\nb { c = 2 }\n", None),
            (
                "r = [{\n  Match { HTTP { P = \"/\" } }\n}]\n",
                Some("r = [{\n  Match={ HTTP={ P = \"/\" } }\n}]\n"),
            ),
            (
                "o = { k { x = \"{ y {\" } }\n",
                Some("o = { k={ x = \"{ y {\" } }\n"),
            ),
            (
                "b \"l\" {\n  o = { # k {\n    k { } }\n}\n",
                Some("b \"l\" {\n  o = { # k {\n    k={ } }\n}\n"),
            ),
            (
                "o = { t = \"${ {a = 1}.a }\" k { } }\n",
                Some("o = { t = \"${ {a = 1}.a }\" k={ } }\n"),
            ),
            (
                "o = { h = <<EOT\nk { }\nEOT\n k { } }\n",
                Some("o = { h = <<EOT\nk { }\nEOT\n k={ } }\n"),
            ),
            ("o = { k{ } }\n", None),
            (
                "u { d { l { m = -1 } } }\n",
                Some("u { d={ l={ m = -1 } } }\n"),
            ),
            ("u {\n  d { m = 1 }\n}\n", None),
            ("u { # c\n  d { m = 1 }\n}\n", None),
            ("u { /* c\n */ d { m = 1 }\n}\n", None),
            ("}}\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(nested_blocks_in_objects(text).as_deref(), *want, "{text:?}");
        }
    }
}
