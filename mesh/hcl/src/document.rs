//! A parsed HCL file that knows its name and how to turn byte offsets into lines and columns.

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use crate::{Body, HclError, Location};

/// One parsed HCL file: its name, its text and its syntax tree.
pub struct Document {
    file: Arc<Path>,
    text: String,
    /// Byte offset where each line starts; `line_starts[0] == 0`.
    line_starts: Vec<usize>,
    body: hcl_edit::structure::Body,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("file", &self.file)
            .field("len", &self.text.len())
            .finish_non_exhaustive()
    }
}

impl Document {
    /// Parses `text`, read from `file` (used only to name locations).
    ///
    /// A syntax error comes back located, with hcl-edit's description of what was expected.
    pub fn parse(file: impl AsRef<Path>, text: impl Into<String>) -> Result<Self, HclError> {
        let text = text.into();
        let body = hcl_edit::parser::parse_body(&text);
        Self::finish(file.as_ref(), text, body)
    }

    /// Like [`Document::parse`], but also accepts HCL1's nested blocks inside objects,
    /// such as `Routes = [{ Match { HTTP { … } } }]`, as Consul's config entries and
    /// service definitions are written (Consul reads them with HCL1). Such a
    /// `Key { … }` reads as `Key = { … }`; locations are those of the original text.
    pub fn parse_hcl1_compat(
        file: impl AsRef<Path>,
        text: impl Into<String>,
    ) -> Result<Self, HclError> {
        let text = text.into();
        let body = match crate::compat::nested_blocks_in_objects(&text) {
            Some(rewritten) => hcl_edit::parser::parse_body(&rewritten),
            None => hcl_edit::parser::parse_body(&text),
        };
        Self::finish(file.as_ref(), text, body)
    }

    fn finish(
        file: &Path,
        text: String,
        body: Result<hcl_edit::structure::Body, hcl_edit::parser::Error>,
    ) -> Result<Self, HclError> {
        let file: Arc<Path> = Arc::from(file);
        let body = body.map_err(|e| {
            let at = e.location();
            HclError::new(
                Location::new(file.clone(), at.line(), at.column()),
                e.message().to_owned(),
            )
        })?;
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Ok(Self {
            file,
            text,
            line_starts,
            body,
        })
    }

    /// The top-level body, to walk with the cursor API.
    pub fn body(&self) -> Body<'_> {
        Body::top(self, &self.body)
    }

    pub fn file(&self) -> &Arc<Path> {
        &self.file
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The line and column (in characters) of a byte offset; offsets past the end
    /// land just after the last character.
    pub fn location(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = match self.text.get(start..offset) {
            Some(s) => s.chars().count() + 1,
            None => offset - start + 1,
        };
        Location::new(self.file.clone(), line, column)
    }

    /// An error at the start of `span`, or at `fallback` when the node has no span.
    pub(crate) fn error_at(
        &self,
        span: Option<Range<usize>>,
        fallback: usize,
        message: impl Into<String>,
    ) -> HclError {
        let offset = span.map_or(fallback, |s| s.start);
        HclError::new(self.location(offset), message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_to_lines_and_columns() {
        let doc = Document::parse("f.hcl", "a = 1\n  é = \"ü\"\n").unwrap();
        let at = |o| {
            let l = doc.location(o);
            (l.line, l.column)
        };
        assert_eq!(at(0), (1, 1));
        assert_eq!(at(4), (1, 5));
        assert_eq!(at(6), (2, 1));
        assert_eq!(at(8), (2, 3));
        // after the two-byte 'é': column counts characters, not bytes
        assert_eq!(at(10), (2, 4));
        assert_eq!(at(1000), (3, 1));
    }

    #[test]
    fn syntax_errors_are_located() {
        let cases: &[(&str, usize, usize)] = &[
            ("a = \n", 1, 5),
            ("x {\n  a = 1\n", 2, 9),
            ("a = 1\nb = = 2\n", 2, 5),
            ("service \"x\" {\n  port = 80 80\n}\n", 2, 13),
        ];
        for (text, line, column) in cases {
            let err = Document::parse("bad.hcl", *text).unwrap_err();
            assert_eq!(
                (err.location.line, err.location.column),
                (*line, *column),
                "{text:?}: {err}"
            );
            assert!(
                err.to_string()
                    .starts_with(&format!("bad.hcl:{line}:{column}: "))
            );
        }
    }
}
