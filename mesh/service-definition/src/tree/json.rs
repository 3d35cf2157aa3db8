//! JSON into the value tree: serde_json checks the syntax (its errors carry a line and a
//! column), then the located reader of `rigging-mesh-hcl` records where each key and
//! value is written, which serde_json does not keep.

use std::path::Path;
use std::sync::Arc;

use rigging_mesh_hcl::tree::{self, JsonError};
use rigging_mesh_hcl::{HclError, Location};

use super::Node;
use crate::LocatedError;

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
    // serde_json has checked neither the depth nor what each `\u` escape names (a lone
    // UTF-16 surrogate is refused only now); those faults keep their plain messages
    tree::from_json(&file, text).map_err(|e| match e {
        JsonError::TooDeep(e) => LocatedError::new(e.location, "JSON nested too deeply"),
        e => LocatedError::new(
            after_string(text, HclError::from(e).location),
            "invalid JSON",
        ),
    })
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
    let offset = offset(text, line, column)?;
    let closer = text.get(offset..)?.chars().next()?;
    let before = text.get(..offset)?.trim_end().chars().last()?;
    (before == ',' && matches!(closer, '}' | ']'))
        .then(|| format!("invalid JSON: trailing comma before {closer:?}; JSON allows none"))
}

/// The byte offset of `line`:`column` (1-based, column in characters) in `text`.
fn offset(text: &str, line: usize, column: usize) -> Option<usize> {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.checked_sub(1)?)
        .map(str::len)
        .sum();
    Some(
        start
            + text
                .get(start..)?
                .chars()
                .take(column.checked_sub(1)?)
                .map(char::len_utf8)
                .sum::<usize>(),
    )
}

/// Just past the closing quote of the string that `at` (a fault inside it) is in.
fn after_string(text: &str, at: Location) -> Location {
    let Some(from) = offset(text, at.line, at.column) else {
        return at;
    };
    let bytes = text.as_bytes();
    let mut end = from;
    while let Some(b) = bytes.get(end) {
        end += if *b == b'\\' { 2 } else { 1 };
        if *b == b'"' {
            break;
        }
    }
    let chars = text.get(from..end).map_or(0, |s| s.chars().count());
    Location::new(at.file, at.line, at.column + chars)
}

#[cfg(test)]
mod tests {
    use super::super::Val;
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
        assert!(matches!(&items[0].val, Val::Number(n) if n.int.is_none()));
        assert!(matches!(&items[1].val, Val::Number(n) if n.int == Some(-2)));
        assert!(matches!(&items[2].val, Val::String(s) if s == "é\"x"));
        assert_eq!((items[2].at.line, items[2].at.column), (2, 18));
    }
}
