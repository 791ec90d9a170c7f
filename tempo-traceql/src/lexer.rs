//! lexer: which words and symbols does the query contain?

use crate::ast::{Scope, Span};
use crate::error::Error;

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Pipe,
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `=~`
    Re,
    /// `!~`: not-regex or not-sibling, by context.
    NotRe,
    /// `&&`
    AndAnd,
    /// `||`
    OrOr,
    /// `!`
    Bang,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    /// `>>`
    Desc,
    /// `<<`
    Anc,
    /// `~`
    Tilde,
    /// `!>`
    NotChild,
    /// `!>>`
    NotDesc,
    /// `!<`
    NotParent,
    /// `!<<`
    NotAnc,
    /// `&>`
    UChild,
    /// `&>>`
    UDesc,
    /// `&<`
    UParent,
    /// `&<<`
    UAnc,
    /// `&~`
    USibling,
    /// A string literal, escapes resolved.
    Str(String),
    /// An integer literal's magnitude.
    Int(u64),
    /// A float literal's magnitude (finite).
    Float(f64),
    /// A duration literal's magnitude, in nanoseconds (at most 2^63).
    Duration(u64),
    /// A bare word; its text is the token's span.
    Ident,
    /// `scope:name`; its text is the token's span.
    Scoped,
    /// An attribute reference.
    Attr(Scope, String),
    Eof,
}

/// A token and where it is.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) span: Span,
}

/// Tokenise `src`. Returns the tokens up to the first error, always ending
/// with `Eof`, and that error if there was one.
pub(crate) fn lex(src: &str) -> (Vec<Token>, Option<Error>) {
    let mut lx = Lexer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        out: Vec::with_capacity(src.len() / 3 + 2),
    };
    let err = lx.run().err();
    let end = if err.is_some() { lx.pos } else { src.len() };
    lx.out.push(Token {
        tok: Tok::Eof,
        span: Span::new(end, end),
    });
    (lx.out, err)
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    out: Vec<Token>,
}

/// Characters that end a bare attribute name.
pub(crate) fn ends_attribute_name(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '{' | '}'
                | '('
                | ')'
                | '='
                | '!'
                | '<'
                | '>'
                | '&'
                | '|'
                | '~'
                | '^'
                | ','
                | '"'
                | '\''
                | '`'
                | '+'
                | '*'
                | '/'
                | '%'
        )
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_continue(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

const SCOPES: [(&str, Scope); 5] = [
    ("span", Scope::Span),
    ("resource", Scope::Resource),
    ("event", Scope::Event),
    ("link", Scope::Link),
    ("instrumentation", Scope::Instrumentation),
];

/// Duration units, longest first where one is a prefix of another.
const UNITS: [(&str, u128); 11] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
    ("y", 31_536_000_000_000_000),
];

impl Lexer<'_> {
    fn peek_at(&self, i: usize) -> Option<u8> {
        self.bytes.get(i).copied()
    }

    fn push(&mut self, tok: Tok, start: usize) {
        self.out.push(Token {
            tok,
            span: Span::new(start, self.pos),
        });
    }

    fn run(&mut self) -> Result<(), Error> {
        while self.pos < self.bytes.len() {
            let start = self.pos;
            let b = self.bytes[start];
            if b.is_ascii_whitespace() {
                self.pos += 1;
                continue;
            }
            if b >= 0x80 {
                let c = self.src[start..].chars().next().unwrap_or('\u{fffd}');
                if c.is_whitespace() {
                    self.pos += c.len_utf8();
                    continue;
                }
                return Err(Error::parse(
                    Span::new(start, start + c.len_utf8()),
                    format!("unexpected character `{c}`"),
                ));
            }
            let next = self.peek_at(start + 1);
            let next2 = self.peek_at(start + 2);
            let (tok, len) = match b {
                b'{' => (Tok::LBrace, 1),
                b'}' => (Tok::RBrace, 1),
                b'(' => (Tok::LParen, 1),
                b')' => (Tok::RParen, 1),
                b',' => (Tok::Comma, 1),
                b'|' if next == Some(b'|') => (Tok::OrOr, 2),
                b'|' => (Tok::Pipe, 1),
                b'&' => match (next, next2) {
                    (Some(b'&'), _) => (Tok::AndAnd, 2),
                    (Some(b'>'), Some(b'>')) => (Tok::UDesc, 3),
                    (Some(b'>'), _) => (Tok::UChild, 2),
                    (Some(b'<'), Some(b'<')) => (Tok::UAnc, 3),
                    (Some(b'<'), _) => (Tok::UParent, 2),
                    (Some(b'~'), _) => (Tok::USibling, 2),
                    _ => {
                        return Err(Error::parse(Span::new(start, start + 1), "unexpected `&`")
                            .with_expected(["`&&`", "`&>`", "`&>>`", "`&<`", "`&<<`", "`&~`"]));
                    }
                },
                b'=' => match next {
                    Some(b'~') => (Tok::Re, 2),
                    Some(b'=') => {
                        return Err(Error::parse(
                            Span::new(start, start + 2),
                            "`==` is not a TraceQL operator",
                        )
                        .with_hint("use `=` to test equality"));
                    }
                    _ => (Tok::Eq, 1),
                },
                b'!' => match (next, next2) {
                    (Some(b'='), _) => (Tok::Neq, 2),
                    (Some(b'~'), _) => (Tok::NotRe, 2),
                    (Some(b'>'), Some(b'>')) => (Tok::NotDesc, 3),
                    (Some(b'>'), _) => (Tok::NotChild, 2),
                    (Some(b'<'), Some(b'<')) => (Tok::NotAnc, 3),
                    (Some(b'<'), _) => (Tok::NotParent, 2),
                    _ => (Tok::Bang, 1),
                },
                b'<' => match next {
                    Some(b'<') => (Tok::Anc, 2),
                    Some(b'=') => (Tok::Lte, 2),
                    _ => (Tok::Lt, 1),
                },
                b'>' => match next {
                    Some(b'>') => (Tok::Desc, 2),
                    Some(b'=') => (Tok::Gte, 2),
                    _ => (Tok::Gt, 1),
                },
                b'~' => (Tok::Tilde, 1),
                b'+' => (Tok::Plus, 1),
                b'-' => (Tok::Minus, 1),
                b'*' => (Tok::Star, 1),
                b'/' => (Tok::Slash, 1),
                b'%' => (Tok::Percent, 1),
                b'^' => (Tok::Caret, 1),
                b'"' => {
                    let s = self.quoted(start)?;
                    self.push(Tok::Str(s), start);
                    continue;
                }
                b'`' => {
                    let s = self.backtick(start)?;
                    self.push(Tok::Str(s), start);
                    continue;
                }
                b'0'..=b'9' => {
                    let tok = self.number(start)?;
                    self.push(tok, start);
                    continue;
                }
                b'.' => {
                    match next {
                        Some(b'0'..=b'9') => {
                            let tok = self.number(start)?;
                            self.push(tok, start);
                        }
                        _ => {
                            self.pos += 1;
                            let name = self.attribute_name(start)?;
                            self.push(Tok::Attr(Scope::None, name), start);
                        }
                    }
                    continue;
                }
                b if is_ident_start(b) => {
                    self.word(start)?;
                    continue;
                }
                b'\'' => {
                    return Err(Error::parse(
                        Span::new(start, start + 1),
                        "single quotes do not delimit strings in TraceQL",
                    )
                    .with_hint("use double quotes or backticks"));
                }
                _ => {
                    let c = b as char;
                    return Err(Error::parse(
                        Span::new(start, start + 1),
                        format!("unexpected character `{}`", c.escape_default()),
                    ));
                }
            };
            self.pos += len;
            self.push(tok, start);
        }
        Ok(())
    }

    /// A word: keyword, identifier, `scope.attribute` or `scope:intrinsic`.
    fn word(&mut self, start: usize) -> Result<(), Error> {
        let mut end = start;
        while end < self.bytes.len() && is_ident_continue(self.bytes[end]) {
            end += 1;
        }
        let word = &self.src[start..end];
        self.pos = end;
        match self.peek_at(end) {
            Some(b'.') => {
                if let Some(&(_, scope)) = SCOPES.iter().find(|(w, _)| *w == word) {
                    self.pos = end + 1;
                    let name = self.attribute_name(start)?;
                    self.push(Tok::Attr(scope, name), start);
                    return Ok(());
                }
                if word == "parent" {
                    return Err(Error::unsupported(
                        Span::new(start, end + 1),
                        "the `parent.` scope is not supported",
                    )
                    .with_hint("use a structural operator, for example `{ ... } > { ... }`"));
                }
                // `http.status_code` without a scope.
                let mut tail_end = end + 1;
                while let Some(c) = self.src[tail_end..].chars().next() {
                    if ends_attribute_name(c) {
                        break;
                    }
                    tail_end += c.len_utf8();
                }
                let full = &self.src[start..tail_end];
                return Err(Error::parse(
                    Span::new(start, tail_end),
                    format!("unknown scope `{word}` in `{full}`"),
                )
                .with_expected([
                    "`span.`",
                    "`resource.`",
                    "`event.`",
                    "`link.`",
                    "`instrumentation.`",
                    "`.`",
                ])
                .with_hint(format!(
                    "did you mean `span.{full}`, `resource.{full}` or `.{full}`?"
                )));
            }
            Some(b':') if self.peek_at(end + 1).is_some_and(is_ident_start) => {
                let mut e2 = end + 1;
                while e2 < self.bytes.len() && is_ident_continue(self.bytes[e2]) {
                    e2 += 1;
                }
                self.pos = e2;
                self.push(Tok::Scoped, start);
            }
            _ => self.push(Tok::Ident, start),
        }
        Ok(())
    }

    /// The name after a scope's dot; `self.pos` is just after the dot.
    fn attribute_name(&mut self, start: usize) -> Result<String, Error> {
        if self.peek_at(self.pos) == Some(b'"') {
            let q = self.pos;
            return self.quoted(q).and_then(|s| {
                if s.is_empty() {
                    Err(Error::parse(
                        Span::new(start, self.pos),
                        "attribute name is empty",
                    ))
                } else {
                    Ok(s)
                }
            });
        }
        let name_start = self.pos;
        let mut end = self.pos;
        while let Some(c) = self.src[end..].chars().next() {
            if ends_attribute_name(c) {
                break;
            }
            end += c.len_utf8();
        }
        if end == name_start {
            return Err(Error::parse(
                Span::new(start, name_start),
                "expected an attribute name after the scope",
            )
            .with_expected(["a name", "a quoted name"]));
        }
        self.pos = end;
        Ok(self.src[name_start..end].to_string())
    }

    /// A double-quoted string starting at `start`.
    fn quoted(&mut self, start: usize) -> Result<String, Error> {
        let mut out = String::new();
        let mut i = start + 1;
        loop {
            let Some(c) = self.src[i..].chars().next() else {
                return Err(
                    Error::parse(Span::new(start, self.src.len()), "unterminated string")
                        .with_expected(["`\"`"]),
                );
            };
            match c {
                '"' => {
                    self.pos = i + 1;
                    return Ok(out);
                }
                '\\' => {
                    let Some(e) = self.src[i + 1..].chars().next() else {
                        return Err(Error::parse(
                            Span::new(start, self.src.len()),
                            "unterminated string",
                        ));
                    };
                    let (ch, used) = match e {
                        '"' => ('"', 1),
                        '\\' => ('\\', 1),
                        'n' => ('\n', 1),
                        't' => ('\t', 1),
                        'r' => ('\r', 1),
                        'u' => {
                            let hex = self.src.get(i + 2..i + 6).unwrap_or("");
                            let code = (hex.len() == 4
                                && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                            .then(|| u32::from_str_radix(hex, 16).ok())
                            .flatten()
                            .and_then(char::from_u32);
                            match code {
                                Some(ch) => (ch, 5),
                                None => {
                                    return Err(Error::parse(
                                        Span::new(i, (i + 2).min(self.src.len())),
                                        "invalid `\\u` escape",
                                    )
                                    .with_hint("write four hex digits, for example `\\u00e9`"));
                                }
                            }
                        }
                        other => {
                            return Err(Error::parse(
                                Span::new(i, i + 1 + other.len_utf8()),
                                format!("unknown escape sequence `\\{other}`"),
                            )
                            .with_expected(["`\\\"`", "`\\\\`", "`\\n`", "`\\t`", "`\\r`", "`\\uXXXX`"])
                            .with_hint(
                                "write `\\\\` for a backslash, or use a backtick string for regular expressions",
                            ));
                        }
                    };
                    out.push(ch);
                    i += 1 + used;
                }
                c => {
                    out.push(c);
                    i += c.len_utf8();
                }
            }
        }
    }

    /// A backtick string: no escapes.
    fn backtick(&mut self, start: usize) -> Result<String, Error> {
        match self.src[start + 1..].find('`') {
            Some(off) => {
                self.pos = start + 1 + off + 1;
                Ok(self.src[start + 1..start + 1 + off].to_string())
            }
            None => Err(
                Error::parse(Span::new(start, self.src.len()), "unterminated string")
                    .with_expected(["`` ` ``"]),
            ),
        }
    }

    fn digits(&self, mut i: usize) -> usize {
        while i < self.bytes.len() && self.bytes[i].is_ascii_digit() {
            i += 1;
        }
        i
    }

    /// An integer, float or duration.
    fn number(&mut self, start: usize) -> Result<Tok, Error> {
        let int_end = self.digits(start);
        let mut end = int_end;
        let mut is_float = false;
        if self.peek_at(end) == Some(b'.')
            && self.peek_at(end + 1).is_some_and(|b| b.is_ascii_digit())
        {
            end = self.digits(end + 1);
            is_float = true;
        }
        // Exponent.
        if matches!(self.peek_at(end), Some(b'e' | b'E')) {
            let mut e = end + 1;
            if matches!(self.peek_at(e), Some(b'+' | b'-')) {
                e += 1;
            }
            if self.peek_at(e).is_some_and(|b| b.is_ascii_digit()) {
                end = self.digits(e);
                self.pos = end;
                self.check_number_end(start)?;
                return self.float(start, end);
            }
        }
        if self.unit_at(end).is_some() {
            return self.duration(start);
        }
        self.pos = end;
        self.check_number_end(start)?;
        if is_float {
            return self.float(start, end);
        }
        let text = &self.src[start..end];
        text.parse::<u64>().map(Tok::Int).map_err(|_| {
            Error::parse(Span::new(start, end), "integer literal is too large")
                .with_hint("integers are 64-bit; write a float such as `1e20` for larger values")
        })
    }

    fn float(&self, start: usize, end: usize) -> Result<Tok, Error> {
        match self.src[start..end].parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Tok::Float(f)),
            _ => Err(Error::parse(
                Span::new(start, end),
                "float literal is out of range",
            )),
        }
    }

    /// After a number: a letter here is a bad suffix.
    fn check_number_end(&self, start: usize) -> Result<(), Error> {
        let end = self.pos;
        let Some(b) = self.peek_at(end) else {
            return Ok(());
        };
        if !is_ident_continue(b) && b != b'.' && b < 0x80 {
            return Ok(());
        }
        let mut e = end;
        while let Some(c) = self.src[e..].chars().next() {
            if !(c.is_alphanumeric() || c == '_' || c == '.') {
                break;
            }
            e += c.len_utf8();
        }
        if e == end {
            return Ok(());
        }
        let suffix = &self.src[end..e];
        let mut err = Error::parse(
            Span::new(start, e),
            format!("invalid number `{}`", &self.src[start..e]),
        )
        .with_expected(["a duration unit: ns, us, µs, ms, s, m, h, d, w or y"]);
        if suffix.starts_with("mo") {
            err = err.with_hint("there is no month unit: write `30d`");
        }
        Err(err)
    }

    fn unit_at(&self, i: usize) -> Option<(usize, u128)> {
        let rest = self.src.get(i..)?;
        UNITS
            .iter()
            .find(|(u, _)| rest.starts_with(u))
            .map(|(u, n)| (u.len(), *n))
    }

    /// A duration such as `1.5s` or `1h30m`.
    fn duration(&mut self, start: usize) -> Result<Tok, Error> {
        let too_large = |end: usize| {
            Error::parse(Span::new(start, end), "duration is too large")
                .with_hint("durations are limited to about 292 years")
        };
        let mut total: u128 = 0;
        let mut i = start;
        loop {
            let int_end = self.digits(i);
            let int_text = &self.src[i..int_end];
            let mut frac_text = "";
            let mut end = int_end;
            if self.peek_at(end) == Some(b'.')
                && self.peek_at(end + 1).is_some_and(|b| b.is_ascii_digit())
            {
                let fe = self.digits(end + 1);
                frac_text = &self.src[end + 1..fe];
                end = fe;
            }
            let Some((ulen, unit)) = self.unit_at(end) else {
                self.pos = end;
                return Err(
                    Error::parse(Span::new(start, end), "expected a duration unit")
                        .with_expected(["ns", "us", "µs", "ms", "s", "m", "h"]),
                );
            };
            let int: u128 = if int_text.is_empty() {
                0
            } else if int_text.len() > 30 {
                return Err(too_large(end + ulen));
            } else {
                int_text.parse().map_err(|_| too_large(end + ulen))?
            };
            let frac_digits = &frac_text[..frac_text.len().min(18)];
            let frac: u128 = if frac_digits.is_empty() {
                0
            } else {
                frac_digits.parse().map_err(|_| too_large(end + ulen))?
            };
            let scale = 10u128.pow(frac_digits.len() as u32);
            total = int
                .checked_mul(unit)
                .and_then(|v| v.checked_add(frac * unit / scale))
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| too_large(end + ulen))?;
            i = end + ulen;
            // Another component (`1h30m`)?
            if self.peek_at(i).is_some_and(|b| b.is_ascii_digit()) {
                continue;
            }
            break;
        }
        self.pos = i;
        self.check_number_end(start)?;
        if total > 1u128 << 63 {
            return Err(too_large(i));
        }
        Ok(Tok::Duration(total as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        let (t, e) = lex(s);
        assert!(e.is_none(), "{s}: {e:?}");
        t.into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn durations() {
        assert_eq!(toks("1h30m")[0], Tok::Duration(5_400_000_000_000));
        assert_eq!(toks("1.5s")[0], Tok::Duration(1_500_000_000));
        assert_eq!(toks("10µs")[0], Tok::Duration(10_000));
        assert_eq!(toks("10μs")[0], Tok::Duration(10_000));
        assert_eq!(toks("3ms")[0], Tok::Duration(3_000_000));
        assert_eq!(toks("2m")[0], Tok::Duration(120_000_000_000));
        assert_eq!(toks("1d")[0], Tok::Duration(86_400_000_000_000));
        assert_eq!(toks("2w")[0], Tok::Duration(1_209_600_000_000_000));
        assert_eq!(toks("1y")[0], Tok::Duration(31_536_000_000_000_000));
        assert_eq!(toks("1d12h")[0], Tok::Duration(129_600_000_000_000));
        assert!(lex("1mo").1.is_some());
    }

    #[test]
    fn attributes() {
        assert_eq!(
            toks("span.http.status_code")[0],
            Tok::Attr(Scope::Span, "http.status_code".into())
        );
        assert_eq!(toks(".foo")[0], Tok::Attr(Scope::None, "foo".into()));
        assert_eq!(
            toks(r#"span."a \"b\"""#)[0],
            Tok::Attr(Scope::Span, "a \"b\"".into())
        );
        assert_eq!(toks(".99")[0], Tok::Float(0.99));
    }
}
