//! error: why was the query refused, and where?

use std::fmt;

use crate::ast::Span;

/// The three ways a query can be refused, as Tempo distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not TraceQL: unknown token, missing bracket, wrong
    /// number of arguments to a function...
    Parse,
    /// The text is TraceQL but the query is wrong: mismatched types, an
    /// invalid regular expression, `nil` compared to an intrinsic, an
    /// aggregate missing its field...
    Validation,
    /// The query is well-formed and well-typed but cannot be executed.
    /// See the crate documentation for the list.
    Unsupported,
}

impl ErrorKind {
    /// A short name: `parse`, `validation` or `unsupported`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Parse => "parse",
            ErrorKind::Validation => "validation",
            ErrorKind::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused query: what is wrong, where, and what would have been right.
///
/// `Display` renders the query with a caret under the position, followed by
/// what was expected and a hint when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render_with_source())]
pub struct Error {
    // Boxed: results stay small, which keeps the parser's frames small.
    inner: Box<Inner>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    message: String,
    span: Span,
    expected: Vec<String>,
    hint: Option<String>,
    source_text: String,
}

impl Error {
    #[cold]
    #[inline(never)]
    pub(crate) fn new(kind: ErrorKind, span: Span, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                span,
                expected: Vec::new(),
                hint: None,
                source_text: String::new(),
            }),
        }
    }

    pub(crate) fn parse(span: Span, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Parse, span, message)
    }

    pub(crate) fn validation(span: Span, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Validation, span, message)
    }

    pub(crate) fn unsupported(span: Span, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unsupported, span, message)
    }

    pub(crate) fn with_expected<I, S>(mut self, expected: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.inner.expected = expected.into_iter().map(Into::into).collect();
        self
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.inner.hint = Some(hint.into());
        self
    }

    pub(crate) fn with_source(mut self, source: &str) -> Self {
        self.inner.source_text = source.to_string();
        self
    }

    /// Parse, validation or unsupported.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// What is wrong, in one line.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Where, as a byte range in the query.
    pub fn span(&self) -> Span {
        self.inner.span
    }

    /// What would have been accepted at that position (parse errors).
    pub fn expected(&self) -> &[String] {
        &self.inner.expected
    }

    /// A suggestion, for example ``did you mean `span.http.status_code`?``.
    pub fn hint(&self) -> Option<&str> {
        self.inner.hint.as_deref()
    }

    /// The 1-based line and column (in characters) of the error's start.
    pub fn line_col(&self, query: &str) -> (usize, usize) {
        let start = floor_char_boundary(query, self.inner.span.start);
        let before = &query[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    /// Render the error against `query`: the message, the line of the
    /// query with a caret under the position, what was expected, the hint.
    ///
    /// A line longer than 200 characters is cut to the 60 characters on either side of
    /// the position, with `…` where text is left out, so that the message of a long query
    /// stays short.
    pub fn render(&self, query: &str) -> String {
        let (line_no, col) = self.line_col(query);
        let mut out = format!(
            "{} error at line {line_no}, column {col}: {}\n",
            self.inner.kind, self.inner.message
        );
        let line = query.lines().nth(line_no - 1).unwrap_or("");
        let start = floor_char_boundary(query, self.inner.span.start);
        let end = floor_char_boundary(query, self.inner.span.end.max(self.inner.span.start));
        let mut width = query[start..end]
            .split('\n')
            .next()
            .map_or(0, |s| s.chars().count())
            .max(1);
        let line_chars = line.chars().count();
        // The characters of the line shown: all of them, or a window around the caret.
        let (mut from, mut to) = (0, line_chars);
        if line_chars > RENDERED_LINE_CHARS {
            width = width.min(CONTEXT_CHARS);
            from = (col - 1).saturating_sub(CONTEXT_CHARS);
            to = (col - 1 + width + CONTEXT_CHARS).min(line_chars);
        }
        out.push_str("  ");
        if from > 0 {
            out.push('…');
        }
        out.extend(line.chars().skip(from).take(to - from));
        if to < line_chars {
            out.push('…');
        }
        out.push_str("\n  ");
        if from > 0 {
            out.push(' ');
        }
        // Reproduce tabs so the caret lines up.
        for c in line.chars().skip(from).take((col - 1).saturating_sub(from)) {
            out.push(if c == '\t' { '\t' } else { ' ' });
        }
        for _ in 0..width {
            out.push('^');
        }
        if !self.inner.expected.is_empty() {
            out.push_str("\n  expected ");
            out.push_str(&join_alternatives(&self.inner.expected));
        }
        if let Some(hint) = &self.inner.hint {
            out.push_str("\n  hint: ");
            out.push_str(hint);
        }
        out
    }

    fn render_with_source(&self) -> String {
        self.render(&self.inner.source_text)
    }
}

/// Lines of a query up to this many characters are shown whole under an error.
const RENDERED_LINE_CHARS: usize = 200;

/// Characters shown on either side of the error's position in a longer line.
const CONTEXT_CHARS: usize = 60;

fn join_alternatives(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The largest char boundary not after `i` (and not past the end).
pub(crate) fn floor_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
