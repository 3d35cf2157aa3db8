//! Subset `Filter` expressions: the go-bexpr language of Consul's health endpoint
//! filters (`Service.Meta.version == v1 and "canary" in Service.Tags`), parsed so a bad
//! filter is refused when the file is read and Pilot can evaluate the tree later.

use std::fmt;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Match(MatchExpr),
}

/// One comparison: `Selector Op Value`, `Value in Selector` or `Selector is empty`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchExpr {
    /// The field path, such as `["Service", "Meta", "version"]`.
    pub selector: Vec<String>,
    pub op: MatchOp,
    /// `None` for `is empty` / `is not empty`.
    pub value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    IsEmpty,
    IsNotEmpty,
    In,
    NotIn,
    Contains,
    NotContains,
    Matches,
    NotMatches,
}

/// Why a filter does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at character {offset}")]
pub struct FilterError {
    pub message: String,
    /// 1-based character offset in the filter.
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    LParen,
    RParen,
    Eq,
    Ne,
    Word(String),
    Quoted(String),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LParen => f.write_str("'('"),
            Self::RParen => f.write_str("')'"),
            Self::Eq => f.write_str("'=='"),
            Self::Ne => f.write_str("'!='"),
            Self::Word(w) => write!(f, "{w:?}"),
            Self::Quoted(q) => write!(f, "the string {q:?}"),
        }
    }
}

/// Parses a filter expression.
pub fn parse_filter(text: &str) -> Result<Filter, FilterError> {
    let toks = lex(text)?;
    let end = text.chars().count() + 1;
    let mut p = Parser { toks, pos: 0, end };
    let f = p.or()?;
    match p.toks.get(p.pos) {
        None => Ok(f),
        Some((t, at)) => Err(FilterError {
            message: format!("unexpected {t}; expected 'and', 'or' or the end"),
            offset: *at,
        }),
    }
}

fn lex(text: &str) -> Result<Vec<(Tok, usize)>, FilterError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i + 1;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((Tok::LParen, at));
                i += 1;
            }
            ')' => {
                out.push((Tok::RParen, at));
                i += 1;
            }
            '=' | '!' if chars.get(i + 1) == Some(&'=') => {
                out.push((if c == '=' { Tok::Eq } else { Tok::Ne }, at));
                i += 2;
            }
            '"' | '`' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(FilterError {
                                message: "unterminated string".to_owned(),
                                offset: at,
                            });
                        }
                        Some(&q) if q == c => break,
                        Some('\\') if c == '"' => {
                            if let Some(&n) = chars.get(i + 1) {
                                s.push(n);
                            }
                            i += 2;
                            continue;
                        }
                        Some(&ch) => s.push(ch),
                    }
                    i += 1;
                }
                i += 1;
                out.push((Tok::Quoted(s), at));
            }
            _ => {
                let start = i;
                let ends_word = |k: usize| {
                    let c = chars[k];
                    c.is_whitespace()
                        || matches!(c, '(' | ')' | '"' | '`')
                        || (matches!(c, '=' | '!') && chars.get(k + 1) == Some(&'='))
                };
                while i < chars.len() && !ends_word(i) {
                    i += 1;
                }
                if i == start {
                    return Err(FilterError {
                        message: format!("unexpected character {c:?}"),
                        offset: at,
                    });
                }
                out.push((Tok::Word(chars[start..i].iter().collect()), at));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    /// The offset just past the text, where "the end" is reported.
    end: usize,
}

impl Parser {
    fn word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.pos), Some((Tok::Word(x), _)) if x == w)
    }

    fn err<T>(&self, expected: &str) -> Result<T, FilterError> {
        let (found, offset) = match self.toks.get(self.pos) {
            Some((t, at)) => (t.to_string(), *at),
            None => ("the end".to_owned(), self.end),
        };
        Err(FilterError {
            message: format!("expected {expected}, found {found}"),
            offset,
        })
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.word("or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.not()?;
        while self.word("and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Filter, FilterError> {
        if self.word("not") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.not()?)));
        }
        if matches!(self.toks.get(self.pos), Some((Tok::LParen, _))) {
            self.pos += 1;
            let inner = self.or()?;
            if !matches!(self.toks.get(self.pos), Some((Tok::RParen, _))) {
                return self.err("')'");
            }
            self.pos += 1;
            return Ok(inner);
        }
        self.comparison().map(Filter::Match)
    }

    /// A value: a quoted string or a bare word.
    fn value(&mut self) -> Result<String, FilterError> {
        match self.toks.get(self.pos) {
            Some((Tok::Quoted(s) | Tok::Word(s), _)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => self.err("a value"),
        }
    }

    fn selector(&mut self) -> Result<Vec<String>, FilterError> {
        match self.toks.get(self.pos) {
            Some((Tok::Word(w), _)) if is_selector(w) => {
                let parts = w.split('.').map(str::to_owned).collect();
                self.pos += 1;
                Ok(parts)
            }
            _ => self.err("a selector such as Service.Meta.version"),
        }
    }

    fn comparison(&mut self) -> Result<MatchExpr, FilterError> {
        // `Value in Selector` / `Value not in Selector`
        let ahead = |p: &Self, k: usize| p.toks.get(p.pos + k).map(|(t, _)| t.clone());
        let is = |t: Option<Tok>, w: &str| matches!(t, Some(Tok::Word(x)) if x == w);
        let in_at = if is(ahead(self, 1), "in") {
            Some((1, MatchOp::In))
        } else if is(ahead(self, 1), "not") && is(ahead(self, 2), "in") {
            Some((2, MatchOp::NotIn))
        } else {
            None
        };
        if let Some((skip, op)) = in_at {
            let value = self.value()?;
            self.pos += skip;
            let selector = self.selector()?;
            return Ok(MatchExpr {
                selector,
                op,
                value: Some(value),
            });
        }
        let selector = self.selector()?;
        let op = match self.toks.get(self.pos).map(|(t, _)| t.clone()) {
            Some(Tok::Eq) => MatchOp::Equal,
            Some(Tok::Ne) => MatchOp::NotEqual,
            Some(Tok::Word(w)) if w == "is" => {
                self.pos += 1;
                let negated = self.word("not");
                if negated {
                    self.pos += 1;
                }
                if !self.word("empty") {
                    return self.err("'empty'");
                }
                self.pos += 1;
                let op = if negated {
                    MatchOp::IsNotEmpty
                } else {
                    MatchOp::IsEmpty
                };
                return Ok(MatchExpr {
                    selector,
                    op,
                    value: None,
                });
            }
            Some(Tok::Word(w)) if w == "contains" => MatchOp::Contains,
            Some(Tok::Word(w)) if w == "matches" => MatchOp::Matches,
            Some(Tok::Word(w)) if w == "not" => {
                self.pos += 1;
                if self.word("contains") {
                    MatchOp::NotContains
                } else if self.word("matches") {
                    MatchOp::NotMatches
                } else {
                    return self.err("'contains' or 'matches' after 'not'");
                }
            }
            _ => {
                return self.err("an operator (==, !=, is empty, contains, matches, in)");
            }
        };
        self.pos += 1;
        let value = self.value()?;
        Ok(MatchExpr {
            selector,
            op,
            value: Some(value),
        })
    }
}

/// `Service.Meta.version`: dot-separated identifiers (a map key may hold `-`).
fn is_selector(w: &str) -> bool {
    w.split('.').all(|p| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '/'))
    }) && w.chars().next().is_some_and(char::is_alphabetic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_table() {
        let ok = [
            "Service.Meta.version == v1",
            "Service.Meta.version == \"v1\"",
            "\"canary\" in Service.Tags and Service.Meta.env != prod",
            "not (Service.Tags is empty or Node.Meta.rack matches `r[0-9]+`)",
            "v2 not in Service.Tags",
            "Service.Meta.version is not empty",
            "Service.Tags not contains legacy",
        ];
        for f in ok {
            assert!(parse_filter(f).is_ok(), "{f}: {:?}", parse_filter(f));
        }
        let bad = [
            (
                "",
                "expected a selector such as Service.Meta.version, found the end at character 1",
            ),
            (
                "Service.Meta.version ==",
                "expected a value, found the end at character 24",
            ),
            (
                "Service.Meta.version = v1",
                "expected an operator (==, !=, is empty, contains, matches, in), found \"=\" at character 22",
            ),
            (
                "(Service.ID == a",
                "expected ')', found the end at character 17",
            ),
            (
                "Service.ID == a and",
                "expected a selector such as Service.Meta.version, found the end at character 20",
            ),
            ("Service.ID == \"a", "unterminated string at character 15"),
            (
                "Service.ID == a b",
                "unexpected \"b\"; expected 'and', 'or' or the end at character 17",
            ),
            (
                "Service.ID is full",
                "expected 'empty', found \"full\" at character 15",
            ),
        ];
        for (f, want) in bad {
            assert_eq!(parse_filter(f).unwrap_err().to_string(), want, "{f}");
        }
    }
}
