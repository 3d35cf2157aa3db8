//! JSON into the value tree: serde_json checks the syntax (its errors carry a line and a
//! column), then a small scanner over the now known-good text records where each key and
//! value is written, which serde_json does not keep.

use std::path::Path;
use std::sync::Arc;

use rigging_mesh_hcl::Location;

use super::{Member, Node, Val};
use crate::LocatedError;

/// Deeper nesting than any service definition needs; guards the recursion.
const MAX_DEPTH: usize = 128;

/// Parses `text` (read from `file`) into the located tree, or the first syntax error.
pub(crate) fn from_json(file: &Path, text: &str) -> Result<Node, LocatedError> {
    let file: Arc<Path> = Arc::from(file);
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        let message =
            trailing_comma(text, e.line(), e.column()).unwrap_or_else(|| syntax_message(&e));
        return Err(LocatedError::new(
            Location::new(file, e.line().max(1), e.column().max(1)),
            message,
        ));
    }
    let mut s = Scanner {
        file,
        text,
        bytes: text.as_bytes(),
        pos: 0,
        line: 1,
        line_start: 0,
    };
    s.skip_ws();
    s.value(0)
}

/// serde_json's message without its own " at line L column C" suffix.
fn syntax_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let msg = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(m, _)| m);
    format!("invalid JSON: {msg}")
}

/// "trailing comma" when the fault at `line`:`column` is a `}` or `]` right after a comma,
/// which serde_json reports as a missing key or value.
fn trailing_comma(text: &str, line: usize, column: usize) -> Option<String> {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.checked_sub(1)?)
        .map(str::len)
        .sum();
    let offset = start
        + text
            .get(start..)?
            .chars()
            .take(column.checked_sub(1)?)
            .map(char::len_utf8)
            .sum::<usize>();
    let closer = text.get(offset..)?.chars().next()?;
    let before = text.get(..offset)?.trim_end().chars().last()?;
    (before == ',' && matches!(closer, '}' | ']'))
        .then(|| format!("invalid JSON: trailing comma before {closer:?}; JSON allows none"))
}

struct Scanner<'t> {
    file: Arc<Path>,
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    line: usize,
    line_start: usize,
}

impl Scanner<'_> {
    fn here(&self) -> Location {
        let column = self
            .text
            .get(self.line_start..self.pos)
            .map_or(self.pos - self.line_start, |s| s.chars().count())
            + 1;
        Location::new(self.file.clone(), self.line, column)
    }

    /// Only reached if serde_json and the scanner disagree, which valid JSON rules out.
    fn broken(&self) -> LocatedError {
        LocatedError::new(self.here(), "invalid JSON")
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    self.line_start = self.pos;
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                _ => break,
            }
        }
    }

    fn eat(&mut self, b: u8) -> Result<(), LocatedError> {
        self.skip_ws();
        if self.peek() == Some(b) {
            self.pos += 1;
            self.skip_ws();
            Ok(())
        } else {
            Err(self.broken())
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, LocatedError> {
        if depth > MAX_DEPTH {
            return Err(LocatedError::new(self.here(), "JSON nested too deeply"));
        }
        let at = self.here();
        let val = match self.peek() {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Val::String(self.string()?),
            _ => self.scalar()?,
        };
        Ok(Node { at, val })
    }

    fn object(&mut self, depth: usize) -> Result<Val, LocatedError> {
        self.eat(b'{')?;
        let mut members = Vec::new();
        while self.peek() != Some(b'}') {
            let key_at = self.here();
            let key = self.string()?;
            self.eat(b':')?;
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                key_at,
                value,
                block: false,
            });
            self.skip_ws();
            if self.peek() == Some(b',') {
                self.eat(b',')?;
            }
        }
        self.pos += 1;
        Ok(Val::Object(members))
    }

    fn array(&mut self, depth: usize) -> Result<Val, LocatedError> {
        self.eat(b'[')?;
        let mut items = Vec::new();
        while self.peek() != Some(b']') {
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            if self.peek() == Some(b',') {
                self.eat(b',')?;
            }
        }
        self.pos += 1;
        Ok(Val::List(items))
    }

    /// A string token, unescaped by serde_json.
    fn string(&mut self) -> Result<String, LocatedError> {
        let start = self.pos;
        self.pos += 1;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'\\' => self.pos += 1,
                b'"' => break,
                _ => {}
            }
        }
        let raw = self
            .text
            .get(start..self.pos)
            .ok_or_else(|| self.broken())?;
        serde_json::from_str(raw).map_err(|_| self.broken())
    }

    /// `true`, `false`, `null` or a number.
    fn scalar(&mut self) -> Result<Val, LocatedError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.'))
        {
            self.pos += 1;
        }
        let token = self
            .text
            .get(start..self.pos)
            .ok_or_else(|| self.broken())?;
        Ok(match token {
            "true" => Val::Bool(true),
            "false" => Val::Bool(false),
            "null" => Val::Null,
            "" => return Err(self.broken()),
            number => Val::Number {
                text: number.to_owned(),
                int: number.parse().ok(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_are_located_by_serde_json() {
        let cases: &[(&str, (usize, usize))] = &[
            ("{\"a\": 1,}", (1, 9)),
            ("{\n  \"a\": 1 // c\n}", (2, 10)),
            ("{\n  \"a\": {}\n  \"b\": 2\n}", (3, 3)),
        ];
        for (text, want) in cases {
            let err = from_json(Path::new("f.json"), text).expect_err(text);
            assert_eq!((err.location.line, err.location.column), *want, "{err}");
            assert!(err.message.starts_with("invalid JSON: "), "{err}");
        }
    }

    #[test]
    fn values_keep_their_locations() {
        let node = from_json(
            Path::new("f.json"),
            "{\n  \"k\": [1.5, -2, \"\\u00e9\\\"x\"]\n}",
        )
        .expect("valid");
        let Val::Object(members) = &node.val else {
            panic!("not an object")
        };
        assert_eq!((members[0].key_at.line, members[0].key_at.column), (2, 3));
        let Val::List(items) = &members[0].value.val else {
            panic!("not a list")
        };
        assert!(matches!(&items[0].val, Val::Number { int: None, .. }));
        assert!(matches!(&items[1].val, Val::Number { int: Some(-2), .. }));
        assert!(matches!(&items[2].val, Val::String(s) if s == "é\"x"));
        assert_eq!((items[2].at.line, items[2].at.column), (2, 18));
    }
}
