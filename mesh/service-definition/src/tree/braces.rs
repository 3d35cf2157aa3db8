//! A sharper message for the commonest HCL syntax error, an unclosed or stray bracket.
//!
//! hcl-edit reports a file that ends inside an object as "unexpected token" at the start
//! of the enclosing attribute; pointing at the bracket that is never closed says more.

use std::path::Path;

use rigging_mesh_hcl::Location;

use crate::LocatedError;

/// The first bracket fault of `text` (one that is never closed, or a closer that matches
/// nothing), when there is one; strings, comments and heredocs are skipped.
pub(crate) fn unbalanced(file: &Path, text: &str) -> Option<LocatedError> {
    let mut stack: Vec<(char, usize, usize)> = Vec::new();
    let lines: Vec<&str> = text.split('\n').collect();
    let mut li = 0;
    let mut in_block_comment = false;
    while li < lines.len() {
        let line = lines[li];
        let chars: Vec<char> = line.chars().collect();
        let mut ci = 0;
        while ci < chars.len() {
            let c = chars[ci];
            let next = chars.get(ci + 1).copied();
            if in_block_comment {
                if c == '*' && next == Some('/') {
                    in_block_comment = false;
                    ci += 1;
                }
                ci += 1;
                continue;
            }
            match c {
                '#' => break,
                '/' if next == Some('/') => break,
                '/' if next == Some('*') => {
                    in_block_comment = true;
                    ci += 1;
                }
                '"' => {
                    ci += 1;
                    while ci < chars.len() && chars[ci] != '"' {
                        ci += if chars[ci] == '\\' { 2 } else { 1 };
                    }
                }
                '<' if next == Some('<') => {
                    let marker: String = chars[ci + 2..]
                        .iter()
                        .skip_while(|c| **c == '-')
                        .take_while(|c| c.is_alphanumeric() || **c == '_')
                        .collect();
                    if !marker.is_empty() {
                        li += 1;
                        while li < lines.len() && lines[li].trim() != marker {
                            li += 1;
                        }
                        break;
                    }
                }
                '{' | '[' | '(' => stack.push((c, li + 1, ci + 1)),
                '}' | ']' | ')' => {
                    let open = match c {
                        '}' => '{',
                        ']' => '[',
                        _ => '(',
                    };
                    match stack.pop() {
                        Some((o, ..)) if o == open => {}
                        _ => {
                            return Some(LocatedError::new(
                                Location::new(file, li + 1, ci + 1),
                                format!("unexpected {c:?}: it closes nothing that is open here"),
                            ));
                        }
                    }
                }
                _ => {}
            }
            ci += 1;
        }
        li += 1;
    }
    let (open, line, column) = stack.pop()?;
    let close = match open {
        '{' => '}',
        '[' => ']',
        _ => ')',
    };
    Some(LocatedError::new(
        Location::new(file, line, column),
        format!("this {open:?} is never closed; expected {close:?} before the end of the file"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracket_faults_table() {
        let cases: &[(&str, Option<(usize, usize)>)] = &[
            ("a = {\n  b = 1\n}\n", None),
            ("a = {\n  b = [1, 2]\n", Some((1, 5))),
            ("a = \"{\" # {\nb = 1\n", None),
            ("x {\n  y = <<EOT\n{\nEOT\n}\n", None),
            ("x {\n}\n}\n", Some((3, 1))),
            ("/* { */ a = 1\n", None),
        ];
        for (text, want) in cases {
            let got =
                unbalanced(Path::new("f.hcl"), text).map(|e| (e.location.line, e.location.column));
            assert_eq!(got, *want, "{text:?}");
        }
    }
}
