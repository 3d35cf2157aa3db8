//! A strict JSON (RFC 8259) reader that keeps where every key and value is written.
//!
//! serde_json reports syntax errors with a line and column but drops positions once
//! parsed; decode errors also need the position of the key that is wrong, so this
//! small reader builds the located tree directly.

use std::path::Path;
use std::sync::Arc;

use super::{JsonError, Member, Node, Num, Val};
use crate::{HclError, Location};

/// How deep values may nest: deeper than any Consul file needs; guards the recursion.
pub const MAX_JSON_DEPTH: usize = 128;

/// Parses `text` (read from `file`) into the located tree, or the first place where it is
/// not strict JSON (RFC 8259) or nests too deeply.
pub fn from_json(file: &Path, text: &str) -> Result<Node, JsonError> {
    let mut p = Parser {
        file: Arc::from(file),
        text,
        bytes: text.as_bytes(),
        pos: 0,
        line: 1,
        line_start: 0,
    };
    p.skip_ws();
    let node = p.value(0)?;
    p.skip_ws();
    if p.pos < p.bytes.len() {
        return Err(p.error("expected the end of the file after the JSON value"));
    }
    Ok(node)
}

struct Parser<'t> {
    file: Arc<Path>,
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    line: usize,
    line_start: usize,
}

impl Parser<'_> {
    fn here(&self) -> Location {
        let column = self
            .text
            .get(self.line_start..self.pos)
            .map_or(self.pos - self.line_start, |s| s.chars().count())
            + 1;
        Location::new(self.file.clone(), self.line, column)
    }

    fn error(&self, message: &str) -> JsonError {
        JsonError::Syntax(self.located(message))
    }

    fn located(&self, message: &str) -> HclError {
        let found = match self.text.get(self.pos..).and_then(|s| s.chars().next()) {
            None => "the end of the file".to_owned(),
            Some(c) => format!("{c:?}"),
        };
        HclError::new(self.here(), format!("{message}, found {found}"))
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

    fn value(&mut self, depth: usize) -> Result<Node, JsonError> {
        if depth > MAX_JSON_DEPTH {
            return Err(JsonError::TooDeep(self.located("JSON nested too deeply")));
        }
        let at = self.here();
        let val = match self.peek() {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Val::String(self.string()?),
            Some(b't') => self.keyword("true", Val::Bool(true))?,
            Some(b'f') => self.keyword("false", Val::Bool(false))?,
            Some(b'n') => self.keyword("null", Val::Null)?,
            Some(b'-' | b'0'..=b'9') => Val::Number(self.number()?),
            _ => return Err(self.error("expected a JSON value")),
        };
        Ok(Node { at, val })
    }

    fn keyword(&mut self, word: &str, val: Val) -> Result<Val, JsonError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(val)
        } else {
            Err(self.error("expected a JSON value"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Val, JsonError> {
        let mut members = Vec::new();
        if self.open(b'}') {
            return Ok(Val::Object(members));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a quoted object key"));
            }
            let key_at = self.here();
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':' after the object key"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                key_at,
                value,
                block: false,
            });
            if self.closed(b'}', "expected ',' or '}' after an object member")? {
                return Ok(Val::Object(members));
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Val, JsonError> {
        let mut items = Vec::new();
        if self.open(b']') {
            return Ok(Val::List(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            if self.closed(b']', "expected ',' or ']' after a list element")? {
                return Ok(Val::List(items));
            }
        }
    }

    /// Steps over an object's or list's opening bracket; whether `close` follows at once
    /// (the empty object or list, then stepped over too).
    fn open(&mut self, close: u8) -> bool {
        self.pos += 1;
        self.skip_ws();
        let empty = self.peek() == Some(close);
        if empty {
            self.pos += 1;
        }
        empty
    }

    /// After an element: a `,` (more follow, `false`) or `close` (the end, `true`), each
    /// stepped over; anything else is the error `expected`.
    fn closed(&mut self, close: u8, expected: &str) -> Result<bool, JsonError> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                self.skip_ws();
                Ok(false)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(true)
            }
            _ => Err(self.error(expected)),
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(self.text.get(start..self.pos).unwrap_or_default());
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    out.push(self.escape()?);
                }
                Some(_) => return Err(self.error("control characters must be escaped in a string")),
                None => return Err(self.error("expected '\"' to close the string")),
            }
        }
    }

    fn escape(&mut self) -> Result<char, JsonError> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                let high = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&high) {
                    if !self.bytes[self.pos..].starts_with(b"\\u") {
                        return Err(self.error("expected the low half of a UTF-16 surrogate pair"));
                    }
                    self.pos += 2;
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(self.error("invalid low half of a UTF-16 surrogate pair"));
                    }
                    0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    high
                };
                return char::from_u32(code).ok_or_else(|| self.error("invalid unicode escape"));
            }
            _ => {
                return Err(self.error(
                    "invalid escape; expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u",
                ));
            }
        };
        self.pos += 1;
        Ok(c)
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.error("expected four hex digits after \\u"))?;
        let v = u32::from_str_radix(digits, 16)
            .map_err(|_| self.error("expected four hex digits after \\u"))?;
        self.pos += 4;
        Ok(v)
    }

    fn number(&mut self) -> Result<Num, JsonError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let s = p.pos;
            while p.peek().is_some_and(|b| b.is_ascii_digit()) {
                p.pos += 1;
            }
            p.pos - s
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        if digits(self) == 0 {
            return Err(self.error("expected a digit"));
        }
        if self.bytes[int_start] == b'0' && self.pos - int_start > 1 {
            self.pos = int_start + 1;
            return Err(self.error("a number must not start with 0"));
        }
        let mut whole = true;
        if self.peek() == Some(b'.') {
            whole = false;
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.error("expected a digit after the decimal point"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            whole = false;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("expected a digit in the exponent"));
            }
        }
        let text = self
            .text
            .get(start..self.pos)
            .unwrap_or_default()
            .to_owned();
        let float: f64 = text.parse().unwrap_or(f64::NAN);
        Ok(match text.parse::<i128>() {
            Ok(i) if whole => Num::whole(i, text),
            _ => Num::fraction(float, text),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        from_json(Path::new("f.json"), text)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn syntax_errors_are_located() {
        let cases: &[(&str, &str)] = &[
            (
                "{\"a\": 1,}",
                "f.json:1:9: expected a quoted object key, found '}'",
            ),
            (
                "{\n  \"a\" 1\n}",
                "f.json:2:7: expected ':' after the object key, found '1'",
            ),
            (
                "[1 2]",
                "f.json:1:4: expected ',' or ']' after a list element, found '2'",
            ),
            (
                "{\"a\": // c\n1}",
                "f.json:1:7: expected a JSON value, found '/'",
            ),
            (
                "{\"é\": tru}",
                "f.json:1:7: expected a JSON value, found 't'",
            ),
            (
                "01",
                "f.json:1:2: a number must not start with 0, found '1'",
            ),
            (
                "{} x",
                "f.json:1:4: expected the end of the file after the JSON value, found 'x'",
            ),
            (
                "\"a",
                "f.json:1:3: expected '\"' to close the string, found the end of the file",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(err(text), *want, "{text:?}");
        }
    }

    #[test]
    fn values_keep_their_locations() {
        let node = from_json(
            Path::new("f.json"),
            "{\n  \"k\": [1.5, -2, \"\\u00e9\\ud83d\\ude00\"]\n}",
        )
        .unwrap();
        let Val::Object(members) = &node.val else {
            panic!("not an object")
        };
        assert_eq!((members[0].key_at.line, members[0].key_at.column), (2, 3));
        let Val::List(items) = &members[0].value.val else {
            panic!("not a list")
        };
        assert!(matches!(&items[0].val, Val::Number(n) if n.int.is_none() && n.float == 1.5));
        assert!(matches!(&items[1].val, Val::Number(n) if n.int == Some(-2)));
        assert!(matches!(&items[2].val, Val::String(s) if s == "é😀"));
        assert_eq!((items[2].at.line, items[2].at.column), (2, 18));
    }
}
