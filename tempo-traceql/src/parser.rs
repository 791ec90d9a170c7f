//! parser: what is the shape of the query?
//!
//! A recursive-descent parser with precedence climbing, over the tokens of
//! [`crate::lexer`]. It builds the AST and reports syntax errors; types and
//! semantics are checked afterwards by [`crate::validate`].

use crate::ast::*;
use crate::error::Error;
use crate::lexer::{Tok, Token, lex};
use crate::shape::*;

/// How deeply expressions may nest: brackets, unary and binary operators, pipelines. A
/// run of `&&` or `||` counts by the logarithm of its length; the stages of one pipeline
/// count once.
pub const MAX_DEPTH: usize = 128;

/// The longest query accepted, in bytes: 128 KiB.
pub const MAX_QUERY_BYTES: usize = 128 * 1024;

type PResult<T> = Result<T, Error>;

/// Refuses a query longer than [`MAX_QUERY_BYTES`].
pub(crate) fn check_length(src: &str) -> PResult<()> {
    if src.len() <= MAX_QUERY_BYTES {
        return Ok(());
    }
    let start = crate::error::floor_char_boundary(src, MAX_QUERY_BYTES);
    Err(Error::parse(
        Span::new(start, src.len()),
        format!(
            "the query is too long: {} bytes, more than the limit of {MAX_QUERY_BYTES}",
            src.len()
        ),
    )
    .with_hint(
        "shorten the query: a regular expression (`=~ \"a|b|c\"`) can replace many conditions",
    ))
}

/// Parse `src` into a query without validating it.
pub(crate) fn parse_query(src: &str) -> PResult<Query> {
    check_length(src)?;
    let (toks, err) = lex(src);
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        depth: 0,
        lex_error: err,
    };
    p.query()
}

/// Parse a field expression alone (used by the lenient entry point).
pub(crate) fn parse_field_expr_tokens(src: &str, toks: Vec<Token>) -> PResult<FieldExpr> {
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        depth: 0,
        lex_error: None,
    };
    let (e, _) = p.fexpr(0)?;
    p.expect_eof()?;
    Ok(e)
}

pub(crate) struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    /// A lexing error, reported when the parser reaches it.
    lex_error: Option<Error>,
}

const METRICS_FNS: [&str; 9] = [
    "rate",
    "count_over_time",
    "sum_over_time",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "quantile_over_time",
    "histogram_over_time",
    "compare",
];

const STAGE_WORDS: [&str; 16] = [
    "count",
    "avg",
    "min",
    "max",
    "sum",
    "by",
    "coalesce",
    "select",
    "rate",
    "count_over_time",
    "sum_over_time",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "quantile_over_time",
    "histogram_over_time",
];

/// The error to report when two readings of ambiguous text both fail: the one that got
/// further, the second on a tie.
#[cold]
#[inline(never)]
fn either(first: Option<Error>, second: Error) -> Error {
    match first {
        Some(first) if first.span().start > second.span().start => first,
        _ => second,
    }
}

/// How a pipeline starts.
enum Start {
    /// With a stage: the whole pipeline, its head an implicit `{ }`.
    Headless(Box<(Expr, usize)>),
    /// With an operand, to parse next; the error of the scalar filter reading, if tried.
    Operand(Option<Error>),
}

/// A node joining two pipeline-level operands; its span covers both.
#[inline(never)]
fn join(kind: ExprKind) -> Expr {
    let span = match &kind {
        ExprKind::Spanset { lhs, rhs, .. } | ExprKind::Binary { lhs, rhs, .. } => {
            lhs.span.to(rhs.span)
        }
        _ => Span::default(),
    };
    Expr { kind, span }
}

/// Parser state saved before trying one reading of ambiguous text.
struct Checkpoint {
    pos: usize,
    depth: usize,
    lex_error: Option<Error>,
}

enum PipeOp {
    Spanset(SpansetOp),
    Binary(BinaryOp),
    /// `>` or `<`: structural between spansets, a comparison otherwise.
    Either(SpansetOp, BinaryOp),
}

fn keyword_static(word: &str) -> Option<Static> {
    Some(match word {
        "true" => Static::Bool(true),
        "false" => Static::Bool(false),
        "nil" => Static::Nil,
        "error" => Static::Status(Status::Error),
        "ok" => Static::Status(Status::Ok),
        "unset" => Static::Status(Status::Unset),
        "unspecified" => Static::Kind(Kind::Unspecified),
        "internal" => Static::Kind(Kind::Internal),
        "server" => Static::Kind(Kind::Server),
        "client" => Static::Kind(Kind::Client),
        "producer" => Static::Kind(Kind::Producer),
        "consumer" => Static::Kind(Kind::Consumer),
        _ => return None,
    })
}

/// Levenshtein distance, for suggestions.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest of `candidates` to `word`, if reasonably close.
pub(crate) fn closest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn describe(tok: &Tok, text: &str) -> String {
    match tok {
        Tok::Eof => "end of query".into(),
        Tok::Str(_) => format!("string {text}"),
        Tok::Int(_) | Tok::Float(_) => format!("number `{text}`"),
        Tok::Duration(_) => format!("duration `{text}`"),
        Tok::Ident | Tok::Scoped => format!("`{text}`"),
        Tok::Attr(..) => format!("attribute `{text}`"),
        _ => format!("`{text}`"),
    }
}

/// Runs of `&&` or `||` up to this many operands are built left-deep, as written.
const LEFT_DEEP_RUN: usize = 8;

/// Joins the operands of a run of one associative operator (`&&` or `||`, in a field
/// expression or between spansets) into one tree: left-deep, as written, up to
/// [`LEFT_DEEP_RUN`] operands; beyond, two balanced halves. The tree's height grows with the
/// logarithm of the number of operands, so a chain of thousands of conditions nests no deeper
/// than a few levels, and every walk over the tree stays shallow. The operators are
/// associative, so the grouping changes no result; [`crate::format()`] writes the run flat,
/// and parsing its text gives this same tree back.
fn balanced<T>(mut operands: Vec<T>, join: &impl Fn(T, T) -> T) -> Option<T> {
    if operands.len() > LEFT_DEEP_RUN {
        let rhs = operands.split_off(operands.len().div_ceil(2));
        let lhs = balanced(operands, join)?;
        return Some(join(lhs, balanced(rhs, join)?));
    }
    let mut operands = operands.into_iter();
    let first = operands.next()?;
    Some(operands.fold(first, join))
}

/// The height added by joining `n` operands with [`balanced`].
fn chain_height(n: usize) -> usize {
    if n > LEFT_DEEP_RUN {
        1 + chain_height(n.div_ceil(2))
    } else {
        n.saturating_sub(1)
    }
}

/// Adds an operand to a run of one associative operator. An operand that is itself such a
/// run (written in brackets: `a || (b || c)`) adds its own operands, in order, so that the
/// run has one shape however it was bracketed; `split` gives the two sides of a node of the
/// run's operator and returns anything else unchanged.
fn push_operand<T>(out: &mut Vec<T>, e: T, split: &impl Fn(T) -> Result<(T, T), T>) {
    let mut pending = vec![e];
    while let Some(e) = pending.pop() {
        match split(e) {
            Ok((lhs, rhs)) => {
                pending.push(rhs);
                pending.push(lhs);
            }
            Err(e) => out.push(e),
        }
    }
}

impl<'a> Parser<'a> {
    // ---- token helpers ----

    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    fn span(&self) -> Span {
        self.toks[self.pos.min(self.toks.len() - 1)].span
    }

    fn prev_span(&self) -> Span {
        if self.pos == 0 {
            Span::new(0, 0)
        } else {
            self.toks[(self.pos - 1).min(self.toks.len() - 1)].span
        }
    }

    fn text(&self, span: Span) -> &'a str {
        self.src.get(span.start..span.end).unwrap_or("")
    }

    fn cur_text(&self) -> &'a str {
        self.text(self.span())
    }

    fn bump(&mut self) -> Token {
        let t = self.toks[self.pos.min(self.toks.len() - 1)].clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn at_ident(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident) && self.cur_text() == word
    }

    /// An error for the current token; a lexing error takes precedence
    /// when the parser has reached it.
    #[cold]
    #[inline(never)]
    fn unexpected(&mut self, expected: &[&str]) -> Error {
        if matches!(self.peek(), Tok::Eof)
            && let Some(e) = self.lex_error.take()
        {
            return e;
        }
        let span = self.span();
        let tok = self.peek().clone();
        Error::parse(
            span,
            format!("unexpected {}", describe(&tok, self.text(span))),
        )
        .with_expected(expected.iter().copied())
    }

    fn expect(&mut self, tok: Tok, what: &str) -> PResult<Span> {
        if *self.peek() == tok {
            Ok(self.bump().span)
        } else {
            Err(self.unexpected(&[what]))
        }
    }

    fn expect_eof(&mut self) -> PResult<()> {
        if matches!(self.peek(), Tok::Eof) {
            if let Some(e) = self.lex_error.take() {
                return Err(e);
            }
            Ok(())
        } else {
            Err(self.unexpected(&["end of query"]))
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.too_deep(self.span()));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    #[cold]
    #[inline(never)]
    fn too_deep(&self, span: Span) -> Error {
        Error::parse(
            span,
            format!("the query is nested too deeply (more than {MAX_DEPTH} levels)"),
        )
        .with_hint("simplify the query or split it")
    }

    fn check_depth(&self, d: usize, span: Span) -> PResult<usize> {
        if d > MAX_DEPTH {
            Err(self.too_deep(span))
        } else {
            Ok(d)
        }
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            pos: self.pos,
            depth: self.depth,
            lex_error: self.lex_error.clone(),
        }
    }

    fn rewind(&mut self, c: Checkpoint) {
        self.pos = c.pos;
        self.depth = c.depth;
        self.lex_error = c.lex_error;
    }

    // ---- query ----

    fn query(&mut self) -> PResult<Query> {
        if matches!(self.peek(), Tok::Eof) && self.lex_error.is_none() {
            return Err(
                Error::parse(Span::new(0, self.src.len()), "the query is empty")
                    .with_expected(["`{`"])
                    .with_hint("`{}` matches every span"),
            );
        }
        let (expr, _) = self.pexpr(0)?;
        check_root(&expr)?;
        let mut hints = Vec::new();
        if self.at_ident("with") {
            self.bump();
            self.expect(Tok::LParen, "`(`")?;
            loop {
                hints.push(self.hint()?);
                if *self.peek() == Tok::Comma {
                    self.bump();
                    continue;
                }
                self.expect(Tok::RParen, "`)`")?;
                break;
            }
        }
        if !matches!(self.peek(), Tok::Eof) {
            let mut err = self.unexpected(&["`|`", "`with(...)`", "end of query"]);
            if matches!(self.peek(), Tok::Attr(..) | Tok::Scoped) {
                err = err.with_hint("conditions go inside braces: `{ span.foo = \"bar\" }`");
            }
            return Err(err);
        }
        self.expect_eof()?;
        Ok(Query {
            expr,
            hints,
            span: Span::new(0, self.src.len()),
        })
    }

    fn hint(&mut self) -> PResult<Hint> {
        let start = self.span();
        if !matches!(self.peek(), Tok::Ident) {
            return Err(self.unexpected(&["a hint name"]));
        }
        let key = self.cur_text().to_string();
        self.bump();
        self.expect(Tok::Eq, "`=`")?;
        let value = match self.literal()? {
            Some(Static::Nil) => {
                return Err(Error::parse(self.prev_span(), "`nil` is not a hint value")
                    .with_hint("hint values are strings, numbers, durations or booleans"));
            }
            Some(v) => v,
            None => return Err(self.unexpected(&["a value"])),
        };
        Ok(Hint {
            key,
            value,
            span: start.to(self.prev_span()),
        })
    }

    /// A literal value, with an optional leading minus on numbers.
    fn literal(&mut self) -> PResult<Option<Static>> {
        let neg = *self.peek() == Tok::Minus
            && matches!(
                self.peek_at(1),
                Tok::Int(_) | Tok::Float(_) | Tok::Duration(_)
            );
        if neg {
            self.bump();
        }
        let span = self.span();
        let v = match self.peek().clone() {
            Tok::Int(u) => Static::Int(self.int_value(u, neg, span)?),
            Tok::Float(f) => Static::Float(if neg { -f } else { f }),
            Tok::Duration(u) => Static::Duration(self.int_value(u, neg, span)?),
            Tok::Str(s) => Static::String(s),
            Tok::Ident => match keyword_static(self.cur_text()) {
                Some(v) => v,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        self.bump();
        Ok(Some(v))
    }

    fn int_value(&self, u: u64, neg: bool, span: Span) -> PResult<i64> {
        if neg {
            if u <= 1u64 << 63 {
                Ok((u as i128).wrapping_neg() as i64)
            } else {
                Err(Error::parse(span, "number is too large for 64 bits"))
            }
        } else {
            i64::try_from(u).map_err(|_| Error::parse(span, "number is too large for 64 bits"))
        }
    }

    // ---- pipeline level ----

    fn pipe_op(&self) -> Option<(PipeOp, u8)> {
        Some(match self.peek() {
            Tok::OrOr => (PipeOp::Spanset(SpansetOp::Or), 1),
            Tok::AndAnd => (PipeOp::Spanset(SpansetOp::And), 2),
            Tok::Gt => (PipeOp::Either(SpansetOp::Child, BinaryOp::Gt), 3),
            Tok::Lt => (PipeOp::Either(SpansetOp::Parent, BinaryOp::Lt), 3),
            Tok::Desc => (PipeOp::Spanset(SpansetOp::Descendant), 3),
            Tok::Anc => (PipeOp::Spanset(SpansetOp::Ancestor), 3),
            Tok::Tilde => (PipeOp::Spanset(SpansetOp::Sibling), 3),
            Tok::NotChild => (PipeOp::Spanset(SpansetOp::NotChild), 3),
            Tok::NotDesc => (PipeOp::Spanset(SpansetOp::NotDescendant), 3),
            Tok::NotParent => (PipeOp::Spanset(SpansetOp::NotParent), 3),
            Tok::NotAnc => (PipeOp::Spanset(SpansetOp::NotAncestor), 3),
            Tok::NotRe => (PipeOp::Spanset(SpansetOp::NotSibling), 3),
            Tok::UChild => (PipeOp::Spanset(SpansetOp::UnionChild), 3),
            Tok::UDesc => (PipeOp::Spanset(SpansetOp::UnionDescendant), 3),
            Tok::UParent => (PipeOp::Spanset(SpansetOp::UnionParent), 3),
            Tok::UAnc => (PipeOp::Spanset(SpansetOp::UnionAncestor), 3),
            Tok::USibling => (PipeOp::Spanset(SpansetOp::UnionSibling), 3),
            Tok::Eq => (PipeOp::Binary(BinaryOp::Eq), 3),
            Tok::Neq => (PipeOp::Binary(BinaryOp::Neq), 3),
            Tok::Gte => (PipeOp::Binary(BinaryOp::Gte), 3),
            Tok::Lte => (PipeOp::Binary(BinaryOp::Lte), 3),
            Tok::Plus => (PipeOp::Binary(BinaryOp::Add), 4),
            Tok::Minus => (PipeOp::Binary(BinaryOp::Sub), 4),
            Tok::Star => (PipeOp::Binary(BinaryOp::Mul), 5),
            Tok::Slash => (PipeOp::Binary(BinaryOp::Div), 5),
            Tok::Percent => (PipeOp::Binary(BinaryOp::Mod), 5),
            Tok::Caret => (PipeOp::Binary(BinaryOp::Pow), 6),
            _ => return None,
        })
    }

    /// A pipeline-level expression. `min_bp` 0 is where a pipeline may start: `|` may
    /// follow, and the pipeline may start with a stage instead of spans (see
    /// [`Parser::pipeline_start`]).
    ///
    /// On the path of every recursion: its frame is kept small, with the building of nodes
    /// in functions of their own.
    pub(crate) fn pexpr(&mut self, min_bp: u8) -> PResult<(Expr, usize)> {
        self.enter()?;
        // The error of another reading of the start, to report if this one fails earlier.
        let mut other = None;
        if min_bp == 0 {
            match self.pipeline_start()? {
                Start::Headless(pipeline) => {
                    self.leave();
                    return Ok(*pipeline);
                }
                Start::Operand(e) => other = e,
            }
        }
        let (mut lhs, mut depth) = match self.pprefix() {
            Ok(first) => first,
            Err(e) => return Err(either(other, e)),
        };
        // Set once a series filter follows at this level: no arithmetic after it.
        let mut filtered = false;
        loop {
            if *self.peek() == Tok::Pipe {
                // `|`: stages follow, and nothing else at this level.
                if min_bp == 0 {
                    match self.pipeline(lhs, depth) {
                        Ok(p) => (lhs, depth) = p,
                        Err(e) => return Err(either(other, e)),
                    }
                }
                break;
            }
            let Some((op, prec)) = self.pipe_op() else {
                break;
            };
            let right = matches!(op, PipeOp::Binary(BinaryOp::Pow));
            let (l_bp, r_bp) = if right {
                (prec * 2 + 1, prec * 2)
            } else {
                (prec * 2, prec * 2 + 1)
            };
            if l_bp < min_bp {
                break;
            }
            match self.operation(op, r_bp, lhs, depth, &mut filtered) {
                Ok(next) => (lhs, depth) = next,
                Err(e) => return Err(either(other, e)),
            }
        }
        self.leave();
        Ok((lhs, depth))
    }

    /// The start of a pipeline. As in Tempo, a pipeline may start with a scalar filter,
    /// `by()` or `select()`, which then apply to all the spans of each trace:
    /// `count() > 1 | { .a }` is `{ } | count() > 1 | { .a }`, and is parsed as that, with
    /// an implicit `{ }` head whose span is empty.
    ///
    /// A number or a bracket may start a scalar filter (`1 < count()`,
    /// `(count() + 1) * 2 > 10`) or a pipeline-level expression (`2 * ({ } | rate())`,
    /// `({ } | count()) > 2`): the scalar filter is tried first; if it fails, the
    /// position is rewound for the other reading, and its error kept in case that fails
    /// earlier.
    #[inline(never)]
    fn pipeline_start(&mut self) -> PResult<Start> {
        match self.peek() {
            Tok::Ident => match self.cur_text() {
                "count" | "avg" | "min" | "max" | "sum" | "by" | "select" => {
                    return Ok(Start::Headless(Box::new(self.headless()?)));
                }
                "coalesce" => {
                    return Err(Error::parse(
                        self.span(),
                        "a pipeline cannot start with `coalesce()`",
                    )
                    .with_hint("coalesce the groups of `by()`: `{ } | by(span.a) | coalesce()`"));
                }
                _ => {}
            },
            Tok::Int(_) | Tok::Float(_) | Tok::Duration(_) | Tok::Minus | Tok::LParen => {
                let start = self.span();
                let saved = self.checkpoint();
                match self.scalar_filter() {
                    Ok(Some((stage, d))) => {
                        return Ok(Start::Headless(Box::new(
                            self.headless_rest(start, stage, d)?,
                        )));
                    }
                    Ok(None) => self.rewind(saved),
                    Err(e) => {
                        self.rewind(saved);
                        return Ok(Start::Operand(Some(e)));
                    }
                }
            }
            _ => {}
        }
        Ok(Start::Operand(None))
    }

    /// A scalar filter at the start of a pipeline, or `None` if the text is a scalar
    /// expression without a comparison.
    fn scalar_filter(&mut self) -> PResult<Option<(Stage, usize)>> {
        let start = self.span();
        let (lhs, ld) = self.sexpr(0)?;
        let Some(op) = self.cmp_op() else {
            return Ok(None);
        };
        self.bump();
        let (rhs, rd) = self.sexpr(0)?;
        let stage = self.mk_stage(StageKind::ScalarFilter { op, lhs, rhs }, start);
        Ok(Some((stage, ld.max(rd) + 1)))
    }

    /// A pipeline that starts with a stage: an aggregate compared, `by()` or `select()`.
    fn headless(&mut self) -> PResult<(Expr, usize)> {
        let start = self.span();
        let (mut stages, d) = match self.cur_text() {
            "by" | "select" => self.word_stage()?,
            _ => self.scalar_stage()?,
        };
        let Some(stage) = stages.pop() else {
            return Err(self.unexpected(&["`{`"]));
        };
        if let StageKind::Scalar(agg) = &stage.kind {
            let mut example = String::new();
            crate::format::scalar_text(&mut example, agg);
            return Err(Error::parse(
                stage.span,
                "an aggregate alone computes a number, not spans",
            )
            .with_hint(format!("compare it, for example `{example} > 2`")));
        }
        self.headless_rest(start, stage, d)
    }

    /// The pipeline `{ } | first | ...`, `{ }` being implicit.
    fn headless_rest(&mut self, start: Span, first: Stage, d: usize) -> PResult<(Expr, usize)> {
        let at = Span::new(start.start, start.start);
        let head = Expr {
            kind: ExprKind::Filter(SpansetFilter {
                expr: None,
                span: at,
            }),
            span: at,
        };
        let span = start.to(first.span);
        let pipeline = Expr {
            kind: ExprKind::Pipeline(Pipeline {
                head: Box::new(head),
                stages: vec![first],
            }),
            span,
        };
        let d = self.check_depth(d + 1, start)?;
        self.pipeline(pipeline, d)
    }

    /// `lhs op ...`: a spanset operator between spansets, or an arithmetic or comparison
    /// operator, by what `lhs` is.
    #[inline(never)]
    fn operation(
        &mut self,
        op: PipeOp,
        r_bp: u8,
        lhs: Expr,
        depth: usize,
        filtered: &mut bool,
    ) -> PResult<(Expr, usize)> {
        let spans = value_of(&lhs) == Val::Spanset && !is_comparison(&lhs);
        match op {
            PipeOp::Spanset(sop @ (SpansetOp::And | SpansetOp::Or)) if spans => {
                self.spanset_chain(sop, r_bp, lhs, depth)
            }
            PipeOp::Spanset(sop) | PipeOp::Either(sop, _) if spans => {
                self.spanset_operation(sop, r_bp, lhs, depth)
            }
            PipeOp::Spanset(sop) => Err(misplaced_spanset_op(sop, &lhs, self.span())),
            PipeOp::Binary(bop) | PipeOp::Either(_, bop) => {
                self.binary_operation(bop, r_bp, lhs, depth, filtered)
            }
        }
    }

    /// `lhs op rhs` between spansets, for a structural operator `op`.
    #[inline(never)]
    fn spanset_operation(
        &mut self,
        op: SpansetOp,
        r_bp: u8,
        lhs: Expr,
        depth: usize,
    ) -> PResult<(Expr, usize)> {
        let op_span = self.bump().span;
        let (rhs, rd) = self.spanset_operand(op, r_bp)?;
        let depth = self.check_depth(depth.max(rd) + 1, op_span)?;
        Ok((
            join(ExprKind::Spanset {
                op,
                lhs: lhs.into(),
                rhs: rhs.into(),
            }),
            depth,
        ))
    }

    /// `lhs op ...` for an arithmetic or comparison operator: what may follow `lhs` is
    /// decided by what `lhs` is, as in Tempo's grammar.
    ///
    /// - Spansets take no arithmetic and no comparison: `{ } + { }`, `{ } = 10` are not
    ///   TraceQL (`>` and `<` between spansets are structural operators).
    /// - Metrics queries combine with metrics queries and numbers by `+ - * /`
    ///   (`({ } | rate()) * 100`); a comparison with a number after one is a series filter,
    ///   appended as a stage.
    /// - Wrapped scalar pipelines combine with each other by arithmetic, and compare with
    ///   each other or with a number on the right.
    /// - Numbers combine with each other and with metrics queries, by `+ - * /`.
    #[inline(never)]
    fn binary_operation(
        &mut self,
        op: BinaryOp,
        r_bp: u8,
        lhs: Expr,
        depth: usize,
        filtered: &mut bool,
    ) -> PResult<(Expr, usize)> {
        let op_span = self.span();
        let lv = value_of(&lhs);
        if lv == Val::Spanset {
            return Err(misplaced_binary_op(op, &lhs, op_span));
        }
        if op.is_comparison() {
            if lv == Val::Metrics {
                *filtered = true;
                return self.series_filter_after(op, lhs, depth);
            }
            if lv == Val::Static {
                return Err(misplaced_binary_op(op, &lhs, op_span));
            }
        } else {
            let metrics_op = matches!(
                op,
                BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div
            );
            let after_filter = *filtered || is_filtered_arithmetic(&lhs);
            if after_filter || (lv != Val::Scalar && !metrics_op) {
                return Err(misplaced_arithmetic(op, lv, after_filter, op_span));
            }
        }
        self.bump();
        let (rhs, rd) = self.pexpr(r_bp)?;
        if !operands_fit(op, &lhs, &rhs) {
            return Err(operand_misfit(op, &lhs, &rhs));
        }
        let depth = self.check_depth(depth.max(rd) + 1, op_span)?;
        Ok((
            join(ExprKind::Binary {
                op,
                lhs: lhs.into(),
                rhs: rhs.into(),
            }),
            depth,
        ))
    }

    /// A series filter after a metrics query `lhs`: a stage of its pipeline, or of a new
    /// pipeline whose head is `lhs` when it is arithmetic.
    fn series_filter_after(
        &mut self,
        op: BinaryOp,
        lhs: Expr,
        depth: usize,
    ) -> PResult<(Expr, usize)> {
        let stage = self.series_filter(op)?;
        let span = lhs.span.to(stage.span);
        let (kind, depth) = match lhs.kind {
            ExprKind::Pipeline(mut p) => {
                p.stages.push(stage);
                (ExprKind::Pipeline(p), depth)
            }
            kind => (
                ExprKind::Pipeline(Pipeline {
                    head: Box::new(Expr {
                        kind,
                        span: lhs.span,
                    }),
                    stages: vec![stage],
                }),
                self.check_depth(depth + 1, span)?,
            ),
        };
        Ok((Expr { kind, span }, depth))
    }

    /// The stages after `head`, from its first `|` on. The stages of a pipeline sit side by
    /// side: the pipeline is one level deeper than its head or its deepest stage, however
    /// many stages it has.
    ///
    /// A pipeline written in brackets and followed by more stages is one pipeline. Stages
    /// must come in an order Tempo's grammar allows: spanset stages, then an aggregate (the
    /// end of a wrapped scalar pipeline) or a metrics function, then `topk`/`bottomk` and
    /// series filters.
    #[inline(never)]
    fn pipeline(&mut self, head: Expr, head_depth: usize) -> PResult<(Expr, usize)> {
        let mut span = head.span;
        let (mut pipeline, mut state) = match head.kind {
            ExprKind::Pipeline(p) => {
                let state = state_after(&p);
                (p, state)
            }
            kind => {
                let head = Expr { kind, span };
                let state = match value_of(&head) {
                    Val::Spanset if !is_comparison(&head) => PipeState::Spans,
                    Val::Metrics => PipeState::Metrics,
                    _ => {
                        return Err(Error::parse(
                            self.span(),
                            format!("`|` cannot follow {}", describe_expr(&head)),
                        )
                        .with_hint("a pipeline starts with spans, for example `{ } | ...`"));
                    }
                };
                (
                    Pipeline {
                        head: Box::new(head),
                        stages: Vec::new(),
                    },
                    state,
                )
            }
        };
        let mut depth = head_depth;
        let mut stages_depth = 0;
        while *self.peek() == Tok::Pipe {
            let pipe = self.bump().span;
            let (stages, sd) = self.stage()?;
            for s in &stages {
                state = next_state(state, s)?;
            }
            span = span.to(self.prev_span());
            stages_depth = stages_depth.max(sd);
            depth = self.check_depth(head_depth.max(stages_depth) + 1, pipe)?;
            pipeline.stages.extend(stages);
        }
        Ok((
            Expr {
                kind: ExprKind::Pipeline(pipeline),
                span,
            },
            depth,
        ))
    }

    /// A run of one spanset `&&` (or `||`) after `first`: its operands joined into one
    /// balanced tree (see [`balanced`]).
    fn spanset_chain(
        &mut self,
        op: SpansetOp,
        r_bp: u8,
        first: Expr,
        first_depth: usize,
    ) -> PResult<(Expr, usize)> {
        let split = |e: Expr| match e.kind {
            ExprKind::Spanset { op: o, lhs, rhs } if o == op => Ok((*lhs, *rhs)),
            kind => Err(Expr { kind, span: e.span }),
        };
        let mut operands = Vec::new();
        let mut depth = first_depth;
        push_operand(&mut operands, first, &split);
        let mut last_op = self.span();
        while matches!(self.pipe_op(), Some((PipeOp::Spanset(o), _)) if o == op) {
            last_op = self.bump().span;
            let (rhs, rd) = self.spanset_operand(op, r_bp)?;
            depth = depth.max(rd);
            push_operand(&mut operands, rhs, &split);
        }
        let depth = self.check_depth(depth + chain_height(operands.len()), last_op)?;
        let joined = balanced(operands, &|lhs: Expr, rhs: Expr| Expr {
            span: lhs.span.to(rhs.span),
            kind: ExprKind::Spanset {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            },
        });
        match joined {
            Some(e) => Ok((e, depth)),
            None => Err(self.unexpected(&["`{`", "`(`"])),
        }
    }

    /// The right operand of spanset operator `op`: a spanset, which starts with `{` or `(`.
    fn spanset_operand(&mut self, op: SpansetOp, r_bp: u8) -> PResult<(Expr, usize)> {
        if !matches!(self.peek(), Tok::LBrace | Tok::LParen) {
            return Err(self.not_a_spanset_operand(op));
        }
        let (rhs, rd) = self.pexpr(r_bp)?;
        if value_of(&rhs) != Val::Spanset || is_comparison(&rhs) {
            return Err(not_a_spanset(op, &rhs));
        }
        Ok((rhs, rd))
    }

    #[cold]
    #[inline(never)]
    fn not_a_spanset_operand(&mut self, op: SpansetOp) -> Error {
        let number = matches!(self.peek(), Tok::Int(_) | Tok::Float(_) | Tok::Duration(_));
        let err = self.unexpected(&["`{`", "`(`"]);
        if number && matches!(op, SpansetOp::Child | SpansetOp::Parent) {
            return err.with_hint(format!(
                "`{}` between spansets is structural; to compare a count, write `{{ }} | count() {} 10`",
                op.as_str(),
                op.as_str()
            ));
        }
        err
    }

    fn pprefix(&mut self) -> PResult<(Expr, usize)> {
        if *self.peek() == Tok::LParen {
            let open = self.bump().span;
            let (mut e, d) = self.pexpr(0)?;
            let close = self.expect(Tok::RParen, "`)`")?;
            e.span = open.to(close);
            return Ok((e, d));
        }
        self.pleaf()
    }

    /// A pipeline-level operand other than a bracketed expression.
    #[inline(never)]
    fn pleaf(&mut self) -> PResult<(Expr, usize)> {
        match self.peek() {
            Tok::LBrace => {
                let (f, d) = self.spanset_filter_d()?;
                let span = f.span;
                Ok((
                    Expr {
                        kind: ExprKind::Filter(f),
                        span,
                    },
                    d,
                ))
            }
            _ => {
                let span = self.span();
                if let Some(v) = self.literal()? {
                    if matches!(v, Static::Int(_) | Static::Float(_) | Static::Duration(_)) {
                        return Ok((
                            Expr {
                                kind: ExprKind::Static(v),
                                span: span.to(self.prev_span()),
                            },
                            1,
                        ));
                    }
                    self.pos -= 1;
                }
                let mut err = self.unexpected(&["`{`", "`(`"]);
                match self.peek() {
                    Tok::Attr(..) | Tok::Scoped => {
                        err = err.with_hint(format!(
                            "conditions go inside braces: `{{ {} = ... }}`",
                            self.cur_text()
                        ));
                    }
                    Tok::Ident
                        if matches!(
                            self.cur_text(),
                            "count" | "avg" | "min" | "max" | "sum" | "by" | "select" | "coalesce"
                        ) =>
                    {
                        err = err.with_hint(format!(
                            "`{}()` is a pipeline stage: `{{ }} | {}(...)`",
                            self.cur_text(),
                            self.cur_text()
                        ));
                    }
                    Tok::Ident if METRICS_FNS.contains(&self.cur_text()) => {
                        err = err.with_hint(format!(
                            "metrics functions follow a spanset and a pipe: `{{}} | {}(...)`",
                            self.cur_text()
                        ));
                    }
                    Tok::Ident
                        if Intrinsic::from_legacy(self.cur_text()).is_some()
                            || keyword_static(self.cur_text()).is_some() =>
                    {
                        err = err.with_hint("conditions go inside braces: `{ duration > 1s }`");
                    }
                    _ => {}
                }
                Err(err)
            }
        }
    }

    /// `{ }` or `{ expr }`, and its depth.
    fn spanset_filter_d(&mut self) -> PResult<(SpansetFilter, usize)> {
        let open = self.expect(Tok::LBrace, "`{`")?;
        if *self.peek() == Tok::RBrace {
            let close = self.bump().span;
            return Ok((
                SpansetFilter {
                    expr: None,
                    span: open.to(close),
                },
                1,
            ));
        }
        let (e, d) = self.fexpr(0)?;
        if *self.peek() != Tok::RBrace {
            let mut err = self.unexpected(&["`}`", "`&&`", "`||`", "an operator"]);
            if matches!(self.peek(), Tok::Attr(..) | Tok::Scoped | Tok::Ident) {
                err = err.with_hint("join conditions with `&&` or `||`");
            } else if *self.peek() == Tok::Pipe {
                err = err.with_hint("close the braces before the pipe: `{ ... } | ...`");
            }
            return Err(err);
        }
        let close = self.bump().span;
        Ok((
            SpansetFilter {
                expr: Some(e),
                span: open.to(close),
            },
            d + 1,
        ))
    }

    // ---- stages ----

    /// One stage after `|`; a metrics stage may bring a filter with it.
    ///
    /// On the path of the recursion through nested pipelines: the stages named by a word
    /// are parsed in [`Parser::word_stage`], to keep this frame small.
    fn stage(&mut self) -> PResult<(Vec<Stage>, usize)> {
        match self.peek() {
            Tok::LBrace => self.spanset_stage(),
            Tok::LParen => {
                let mut i = 0;
                while *self.peek_at(i) == Tok::LParen {
                    i += 1;
                }
                if matches!(self.peek_at(i), Tok::LBrace) {
                    self.spanset_stage()
                } else {
                    self.scalar_stage()
                }
            }
            Tok::Int(_) | Tok::Float(_) | Tok::Duration(_) | Tok::Minus | Tok::Str(_) => {
                self.scalar_stage()
            }
            Tok::Ident => self.word_stage(),
            _ => Err(self.unexpected(&[
                "`{`",
                "an aggregate",
                "`by()`",
                "`coalesce()`",
                "`select()`",
                "a metrics function",
            ])),
        }
    }

    /// A stage that starts with a word: an aggregate, `by()`, `coalesce()`, `select()`,
    /// `topk()`/`bottomk()` or a metrics function.
    #[inline(never)]
    fn word_stage(&mut self) -> PResult<(Vec<Stage>, usize)> {
        let start = self.span();
        let word = self.cur_text();
        match word {
            "count" | "avg" | "min" | "max" | "sum" => self.scalar_stage(),
            w if keyword_static(w).is_some() => self.scalar_stage(),
            "by" => {
                self.bump();
                self.expect(Tok::LParen, "`(`")?;
                let (f, d) = self.fexpr(0)?;
                if *self.peek() == Tok::Comma {
                    return Err(self
                        .unexpected(&["`)`"])
                        .with_hint("`by()` groups by one field expression"));
                }
                self.expect(Tok::RParen, "`)`")?;
                Ok((vec![self.mk_stage(StageKind::By(f), start)], d))
            }
            "coalesce" => {
                self.bump();
                self.expect(Tok::LParen, "`(`")?;
                if *self.peek() != Tok::RParen {
                    return Err(self
                        .unexpected(&["`)`"])
                        .with_hint("`coalesce()` takes no arguments"));
                }
                self.bump();
                Ok((vec![self.mk_stage(StageKind::Coalesce, start)], 1))
            }
            "select" => {
                self.bump();
                self.expect(Tok::LParen, "`(`")?;
                let (fields, d) = self.attribute_list("select()")?;
                if fields.is_empty() {
                    return Err(Error::parse(
                        start.to(self.prev_span()),
                        "`select()` needs at least one field",
                    )
                    .with_expected(["an attribute", "an intrinsic"])
                    .with_hint("for example `select(span.http.route)`"));
                }
                Ok((vec![self.mk_stage(StageKind::Select(fields), start)], d))
            }
            "topk" | "bottomk" => {
                let func = if word == "topk" {
                    SecondStageFn::TopK
                } else {
                    SecondStageFn::BottomK
                };
                self.bump();
                self.expect(Tok::LParen, "`(`")?;
                let span = self.span();
                let limit = match self.peek().clone() {
                    Tok::Int(u) => {
                        self.bump();
                        self.int_value(u, false, span)?
                    }
                    _ => {
                        return Err(self
                            .unexpected(&["an integer"])
                            .with_hint(format!("for example `{word}(10)`")));
                    }
                };
                self.expect(Tok::RParen, "`)`")?;
                let mut stages = vec![self.mk_stage(StageKind::SecondStage { func, limit }, start)];
                self.series_filters(&mut stages)?;
                Ok((stages, 1))
            }
            w if METRICS_FNS.contains(&w) => self.metrics_stage(),
            w => {
                let mut err = self.unexpected(&[
                    "`{`",
                    "an aggregate (`count()`, `avg()`, `min()`, `max()`, `sum()`)",
                    "`by()`",
                    "`coalesce()`",
                    "`select()`",
                    "a metrics function",
                ]);
                let candidates = STAGE_WORDS
                    .iter()
                    .copied()
                    .chain(["compare", "topk", "bottomk"]);
                if let Some(c) = closest(w, candidates) {
                    err = err.with_hint(format!("did you mean `{c}`?"));
                }
                Err(err)
            }
        }
    }

    fn mk_stage(&self, kind: StageKind, start: Span) -> Stage {
        Stage {
            kind,
            span: start.to(self.prev_span()),
        }
    }

    fn spanset_stage(&mut self) -> PResult<(Vec<Stage>, usize)> {
        let (e, d) = self.pexpr(1)?;
        if value_of(&e) != Val::Spanset || is_comparison(&e) {
            return Err(Error::parse(
                e.span,
                format!(
                    "a pipeline stage must select spans, but this is {}",
                    describe_expr(&e)
                ),
            ));
        }
        let span = e.span;
        Ok((
            vec![Stage {
                kind: StageKind::Spanset(e),
                span,
            }],
            d,
        ))
    }

    fn cmp_op(&self) -> Option<BinaryOp> {
        Some(match self.peek() {
            Tok::Eq => BinaryOp::Eq,
            Tok::Neq => BinaryOp::Neq,
            Tok::Lt => BinaryOp::Lt,
            Tok::Lte => BinaryOp::Lte,
            Tok::Gt => BinaryOp::Gt,
            Tok::Gte => BinaryOp::Gte,
            _ => return None,
        })
    }

    fn scalar_stage(&mut self) -> PResult<(Vec<Stage>, usize)> {
        let start = self.span();
        let (lhs, ld) = self.sexpr(0)?;
        if let Some(op) = self.cmp_op() {
            self.bump();
            let (rhs, rd) = self.sexpr(0)?;
            let d = ld.max(rd) + 1;
            let stage = self.mk_stage(StageKind::ScalarFilter { op, lhs, rhs }, start);
            return Ok((vec![stage], d));
        }
        if matches!(self.peek(), Tok::Re | Tok::NotRe) {
            return Err(self
                .unexpected(&["`=`", "`!=`", "`<`", "`<=`", "`>`", "`>=`"])
                .with_hint("aggregates are numbers: regular expressions do not apply"));
        }
        Ok((vec![self.mk_stage(StageKind::Scalar(lhs), start)], ld))
    }

    /// Scalar expressions: aggregates, literals, arithmetic.
    fn sexpr(&mut self, min_bp: u8) -> PResult<(ScalarExpr, usize)> {
        self.enter()?;
        let (mut lhs, mut depth) = self.sprefix()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => BinaryOp::Add,
                Tok::Minus => BinaryOp::Sub,
                Tok::Star => BinaryOp::Mul,
                Tok::Slash => BinaryOp::Div,
                Tok::Percent => BinaryOp::Mod,
                Tok::Caret => BinaryOp::Pow,
                _ => break,
            };
            let prec = op.precedence();
            let (l_bp, r_bp) = if op.right_assoc() {
                (prec * 2 + 1, prec * 2)
            } else {
                (prec * 2, prec * 2 + 1)
            };
            if l_bp < min_bp {
                break;
            }
            let op_span = self.bump().span;
            let (rhs, rd) = self.sexpr(r_bp)?;
            let span = lhs.span.to(rhs.span);
            depth = self.check_depth(depth.max(rd) + 1, op_span)?;
            lhs = ScalarExpr {
                kind: ScalarExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            };
        }
        self.leave();
        Ok((lhs, depth))
    }

    fn sprefix(&mut self) -> PResult<(ScalarExpr, usize)> {
        let start = self.span();
        if *self.peek() == Tok::LParen {
            self.bump();
            let (mut e, d) = self.sexpr(0)?;
            let close = self.expect(Tok::RParen, "`)`")?;
            e.span = start.to(close);
            return Ok((e, d));
        }
        self.sleaf()
    }

    /// An aggregate or a literal.
    #[inline(never)]
    fn sleaf(&mut self) -> PResult<(ScalarExpr, usize)> {
        let start = self.span();
        if let Some(v) = self.literal()? {
            if !matches!(v, Static::Int(_) | Static::Float(_) | Static::Duration(_)) {
                return Err(Error::parse(
                    start.to(self.prev_span()),
                    format!(
                        "aggregates are compared with numbers, not {}",
                        v.value_type().a_name()
                    ),
                )
                .with_expected(["a number", "an aggregate"]));
            }
            return Ok((
                ScalarExpr {
                    kind: ScalarExprKind::Static(v),
                    span: start.to(self.prev_span()),
                },
                1,
            ));
        }
        if matches!(self.peek(), Tok::Ident) {
            let func = match self.cur_text() {
                "count" => Some(AggregateFn::Count),
                "avg" => Some(AggregateFn::Avg),
                "min" => Some(AggregateFn::Min),
                "max" => Some(AggregateFn::Max),
                "sum" => Some(AggregateFn::Sum),
                _ => None,
            };
            if let Some(func) = func {
                self.bump();
                self.expect(Tok::LParen, "`(`")?;
                let mut field = None;
                let mut d = 1;
                if *self.peek() != Tok::RParen {
                    let (f, fd) = self.fexpr(0)?;
                    d = fd + 1;
                    field = Some(Box::new(f));
                }
                if *self.peek() == Tok::Comma {
                    return Err(self
                        .unexpected(&["`)`"])
                        .with_hint(format!("`{}()` takes at most one field", func.as_str())));
                }
                self.expect(Tok::RParen, "`)`")?;
                let span = start.to(self.prev_span());
                match (func, &field) {
                    (AggregateFn::Count, Some(_)) => {
                        return Err(Error::parse(span, "`count()` takes no argument")
                            .with_hint("write `count()`"));
                    }
                    (AggregateFn::Count, None) | (_, Some(_)) => {}
                    (f, None) => {
                        return Err(Error::parse(
                            span,
                            format!("`{}()` needs a field to aggregate", f.as_str()),
                        )
                        .with_hint(format!("for example `{}(duration)`", f.as_str())));
                    }
                }
                return Ok((
                    ScalarExpr {
                        kind: ScalarExprKind::Aggregate { func, field },
                        span,
                    },
                    d,
                ));
            }
        }
        Err(self.unexpected(&["an aggregate", "a number"]))
    }

    /// A series filter, `> 10`, at a comparison operator.
    fn series_filter(&mut self, op: BinaryOp) -> PResult<Stage> {
        let start = self.bump().span;
        let value = self.number("series values are compared with numbers")?;
        Ok(self.mk_stage(StageKind::MetricsFilter { op, value }, start))
    }

    /// The series filters after a metrics function or `topk`/`bottomk`.
    fn series_filters(&mut self, stages: &mut Vec<Stage>) -> PResult<()> {
        while let Some(op) = self.cmp_op() {
            stages.push(self.series_filter(op)?);
        }
        Ok(())
    }

    /// A number literal, with an optional minus; anything else is a parse error saying
    /// `what`.
    fn number(&mut self, what: &str) -> PResult<Static> {
        let start = self.span();
        match self.literal()? {
            Some(v @ (Static::Int(_) | Static::Float(_) | Static::Duration(_))) => Ok(v),
            Some(v) => Err(Error::parse(
                start.to(self.prev_span()),
                format!("{what}, not {}", v.value_type().a_name()),
            )
            .with_expected(["a number"])),
            None => Err(self.unexpected(&["a number"])),
        }
    }

    /// Comma-separated attributes and intrinsics up to `)` (consumed), the arguments of
    /// `what`: `select()` or `by (...)` after a metrics function.
    fn attribute_list(&mut self, what: &str) -> PResult<(Vec<FieldExpr>, usize)> {
        let mut fields = Vec::new();
        let mut depth = 1;
        if *self.peek() == Tok::RParen {
            self.bump();
            return Ok((fields, depth));
        }
        loop {
            let (f, d) = self.attribute_arg(what)?;
            depth = depth.max(d + 1);
            fields.push(f);
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RParen => {
                    self.bump();
                    return Ok((fields, depth));
                }
                _ => return Err(self.unexpected(&["`,`", "`)`"])),
            }
        }
    }

    /// An attribute or intrinsic, the argument of `what`. A value or an expression there
    /// is a parse error, as in Tempo's grammar, pointing at it.
    fn attribute_arg(&mut self, what: &str) -> PResult<(FieldExpr, usize)> {
        let (f, d) = self.fexpr(0)?;
        match f.kind {
            FieldExprKind::Attribute(_) | FieldExprKind::Intrinsic(_) => Ok((f, d)),
            _ => {
                let this = match &f.kind {
                    FieldExprKind::Static(v) => v.value_type().a_name(),
                    _ => "an expression",
                };
                Err(Error::parse(
                    f.span,
                    format!("`{what}` takes attributes and intrinsics, not {this}"),
                )
                .with_expected(["an attribute", "an intrinsic"])
                .with_hint("for example `resource.service.name` or `span:name`"))
            }
        }
    }

    fn metrics_stage(&mut self) -> PResult<(Vec<Stage>, usize)> {
        let start = self.span();
        let name = self.cur_text();
        self.bump();
        self.expect(Tok::LParen, "`(`")?;
        let mut depth = 1;
        let needs_field = |p: &Parser<'_>| {
            Error::parse(start.to(p.prev_span()), format!("`{name}()` needs a field"))
                .with_expected(["an attribute", "an intrinsic"])
                .with_hint(format!("for example `{name}(span:duration)`"))
        };
        let func = match name {
            "rate" | "count_over_time" => {
                if *self.peek() != Tok::RParen {
                    if *self.peek() == Tok::Eof {
                        return Err(self.unexpected(&["`)`"]));
                    }
                    let arg_start = self.span();
                    self.fexpr(0)?;
                    return Err(Error::parse(
                        arg_start.to(self.prev_span()),
                        format!("`{name}()` takes no arguments"),
                    )
                    .with_expected(["`)`"])
                    .with_hint(format!("write `{name}()`")));
                }
                self.bump();
                if name == "rate" {
                    MetricsFn::Rate
                } else {
                    MetricsFn::CountOverTime
                }
            }
            "sum_over_time"
            | "min_over_time"
            | "max_over_time"
            | "avg_over_time"
            | "histogram_over_time" => {
                if *self.peek() == Tok::RParen {
                    self.bump();
                    return Err(needs_field(self));
                }
                let (f, d) = self.attribute_arg(&format!("{name}()"))?;
                depth = d + 1;
                if *self.peek() == Tok::Comma {
                    return Err(self
                        .unexpected(&["`)`"])
                        .with_hint(format!("`{name}()` takes one field")));
                }
                self.expect(Tok::RParen, "`)`")?;
                match name {
                    "sum_over_time" => MetricsFn::SumOverTime(f),
                    "min_over_time" => MetricsFn::MinOverTime(f),
                    "max_over_time" => MetricsFn::MaxOverTime(f),
                    "avg_over_time" => MetricsFn::AvgOverTime(f),
                    _ => MetricsFn::HistogramOverTime(f),
                }
            }
            "quantile_over_time" => {
                if *self.peek() == Tok::RParen {
                    self.bump();
                    return Err(needs_field(self));
                }
                let (field, d) = self.attribute_arg("quantile_over_time()")?;
                depth = d + 1;
                let mut quantiles = Vec::new();
                while *self.peek() == Tok::Comma {
                    self.bump();
                    let span = self.span();
                    match self.peek().clone() {
                        Tok::Float(q) => quantiles.push(q),
                        Tok::Int(q) => quantiles.push(q as f64),
                        _ => {
                            return Err(Error::parse(
                                span,
                                "a quantile is a number between 0 and 1",
                            )
                            .with_expected(["a number such as `0.99`"]));
                        }
                    }
                    self.bump();
                }
                self.expect(Tok::RParen, "`,` or `)`")?;
                if quantiles.is_empty() {
                    return Err(Error::parse(
                        start.to(self.prev_span()),
                        "`quantile_over_time()` needs at least one quantile",
                    )
                    .with_expected(["`,`"])
                    .with_hint("for example `quantile_over_time(duration, .99, .5)`"));
                }
                MetricsFn::QuantileOverTime { field, quantiles }
            }
            _ => {
                // compare
                if *self.peek() != Tok::LBrace {
                    return Err(self
                        .unexpected(&["`{`"])
                        .with_hint("for example `compare({ status = error })`"));
                }
                let (selection, d) = self.spanset_filter_d()?;
                depth = d + 1;
                let mut ints = Vec::new();
                while *self.peek() == Tok::Comma {
                    self.bump();
                    let span = self.span();
                    match self.peek().clone() {
                        Tok::Int(u) => {
                            ints.push(self.int_value(u, false, span)?);
                            self.bump();
                        }
                        _ => return Err(self.unexpected(&["an integer"])),
                    }
                }
                self.expect(Tok::RParen, "`,` or `)`")?;
                let (top_n, range) = match ints[..] {
                    [] => (None, None),
                    [n] => (Some(n), None),
                    [n, s, e] => (Some(n), Some((s, e))),
                    _ => {
                        return Err(Error::parse(
                            start.to(self.prev_span()),
                            "`compare()` takes a spanset, then optionally a count, then optionally a start and an end",
                        )
                        .with_hint("for example `compare({ status = error }, 10)`"));
                    }
                };
                if self.at_ident("by") {
                    return Err(Error::parse(self.span(), "`compare()` takes no `by()`")
                        .with_hint(
                            "`compare()` already breaks its results down by every attribute",
                        ));
                }
                MetricsFn::Compare {
                    selection,
                    top_n,
                    range,
                }
            }
        };
        let mut by = Vec::new();
        if self.at_ident("by") {
            self.bump();
            self.expect(Tok::LParen, "`(`")?;
            let (fields, d) = self.attribute_list("by()")?;
            if fields.is_empty() {
                return Err(
                    Error::parse(self.prev_span(), "`by()` needs at least one field")
                        .with_expected(["an attribute", "an intrinsic"]),
                );
            }
            depth = depth.max(d);
            by = fields;
        }
        let mut stages =
            vec![self.mk_stage(StageKind::Metrics(MetricsAggregate { func, by }), start)];
        self.series_filters(&mut stages)?;
        Ok((stages, depth + 1))
    }

    // ---- field expressions ----

    fn field_op(&self) -> Option<BinaryOp> {
        Some(match self.peek() {
            Tok::OrOr => BinaryOp::Or,
            Tok::AndAnd => BinaryOp::And,
            Tok::Eq => BinaryOp::Eq,
            Tok::Neq => BinaryOp::Neq,
            Tok::Lt => BinaryOp::Lt,
            Tok::Lte => BinaryOp::Lte,
            Tok::Gt => BinaryOp::Gt,
            Tok::Gte => BinaryOp::Gte,
            Tok::Re => BinaryOp::Regex,
            Tok::NotRe => BinaryOp::NotRegex,
            Tok::Plus => BinaryOp::Add,
            Tok::Minus => BinaryOp::Sub,
            Tok::Star => BinaryOp::Mul,
            Tok::Slash => BinaryOp::Div,
            Tok::Percent => BinaryOp::Mod,
            Tok::Caret => BinaryOp::Pow,
            _ => return None,
        })
    }

    /// A field expression.
    pub(crate) fn fexpr(&mut self, min_bp: u8) -> PResult<(FieldExpr, usize)> {
        self.enter()?;
        let (mut lhs, mut depth) = self.fprefix()?;
        while let Some(op) = self.field_op() {
            let prec = op.precedence();
            let (l_bp, r_bp) = if op.right_assoc() {
                (prec * 2 + 1, prec * 2)
            } else {
                (prec * 2, prec * 2 + 1)
            };
            if l_bp < min_bp {
                break;
            }
            if op.is_logical() {
                (lhs, depth) = self.field_chain(op, r_bp, lhs, depth)?;
                continue;
            }
            let op_span = self.bump().span;
            let (rhs, rd) = self.fexpr(r_bp)?;
            let span = lhs.span.to(rhs.span);
            depth = self.check_depth(depth.max(rd) + 1, op_span)?;
            lhs = FieldExpr {
                kind: FieldExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            };
        }
        self.leave();
        Ok((lhs, depth))
    }

    /// A run of one `&&` (or `||`) after `first`: its operands joined into one balanced
    /// tree (see [`balanced`]).
    fn field_chain(
        &mut self,
        op: BinaryOp,
        r_bp: u8,
        first: FieldExpr,
        first_depth: usize,
    ) -> PResult<(FieldExpr, usize)> {
        let split = |e: FieldExpr| match e.kind {
            FieldExprKind::Binary { op: o, lhs, rhs } if o == op => Ok((*lhs, *rhs)),
            kind => Err(FieldExpr { kind, span: e.span }),
        };
        let mut operands = Vec::new();
        let mut depth = first_depth;
        push_operand(&mut operands, first, &split);
        let mut last_op = self.span();
        while self.field_op() == Some(op) {
            last_op = self.bump().span;
            let (rhs, rd) = self.fexpr(r_bp)?;
            depth = depth.max(rd);
            push_operand(&mut operands, rhs, &split);
        }
        let depth = self.check_depth(depth + chain_height(operands.len()), last_op)?;
        let joined = balanced(operands, &|lhs: FieldExpr, rhs: FieldExpr| FieldExpr {
            span: lhs.span.to(rhs.span),
            kind: FieldExprKind::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            },
        });
        match joined {
            Some(e) => Ok((e, depth)),
            None => Err(self.unexpected(&["an attribute", "an intrinsic", "a value", "`(`"])),
        }
    }

    const UNARY_BP: u8 = 14;

    fn fprefix(&mut self) -> PResult<(FieldExpr, usize)> {
        let start = self.span();
        let op = match self.peek() {
            Tok::LParen => {
                self.bump();
                let (mut e, d) = self.fexpr(0)?;
                let close = self.expect(Tok::RParen, "`)`")?;
                e.span = start.to(close);
                return Ok((e, d));
            }
            Tok::Bang => UnaryOp::Not,
            Tok::Minus
                if !matches!(
                    self.peek_at(1),
                    Tok::Int(_) | Tok::Float(_) | Tok::Duration(_)
                ) =>
            {
                UnaryOp::Neg
            }
            _ => return self.fleaf(),
        };
        self.bump();
        let (e, d) = self.fexpr(Self::UNARY_BP)?;
        let span = start.to(e.span);
        let d = self.check_depth(d + 1, start)?;
        Ok((
            FieldExpr {
                kind: FieldExprKind::Unary {
                    op,
                    expr: Box::new(e),
                },
                span,
            },
            d,
        ))
    }

    /// A field expression without brackets or unary operators.
    #[inline(never)]
    fn fleaf(&mut self) -> PResult<(FieldExpr, usize)> {
        let start = self.span();
        let leaf = |kind, span| Ok((FieldExpr { kind, span }, 1));
        match self.peek().clone() {
            Tok::Attr(scope, name) => {
                self.bump();
                leaf(FieldExprKind::Attribute(Attribute { scope, name }), start)
            }
            Tok::Scoped => {
                let text = self.cur_text();
                match Intrinsic::from_scoped(text) {
                    Some(i) => {
                        self.bump();
                        leaf(FieldExprKind::Intrinsic(i), start)
                    }
                    None => Err(self.unknown_intrinsic(text, start)),
                }
            }
            Tok::Ident => {
                let word = self.cur_text();
                if let Some(i) = Intrinsic::from_legacy(word) {
                    self.bump();
                    return leaf(FieldExprKind::Intrinsic(i), start);
                }
                if let Some(v) = keyword_static(word) {
                    self.bump();
                    return leaf(FieldExprKind::Static(v), start);
                }
                Err(self.unknown_word(word, start))
            }
            _ => match self.literal()? {
                Some(v) => leaf(FieldExprKind::Static(v), start.to(self.prev_span())),
                None => {
                    let mut err =
                        self.unexpected(&["an attribute", "an intrinsic", "a value", "`(`"]);
                    if *self.peek() == Tok::RBrace {
                        err = err.with_hint("the condition is incomplete");
                    }
                    Err(err)
                }
            },
        }
    }

    #[cold]
    #[inline(never)]
    fn unknown_intrinsic(&self, text: &str, span: Span) -> Error {
        let mut err = Error::parse(span, format!("unknown intrinsic `{text}`")).with_expected(
            Intrinsic::ALL
                .iter()
                .filter(|i| i.as_str().contains(':'))
                .map(|i| format!("`{}`", i.as_str())),
        );
        let all = Intrinsic::ALL.iter().map(|i| i.as_str());
        if let Some(c) = closest(text, all) {
            err = err.with_hint(format!("did you mean `{c}`?"));
        } else if let Some((scope, name)) = text.split_once(':') {
            err = err.with_hint(format!("for an attribute, write `{scope}.{name}`"));
        }
        err
    }

    #[cold]
    #[inline(never)]
    fn unknown_word(&self, word: &str, span: Span) -> Error {
        let mut err = Error::parse(span, format!("unknown identifier `{word}`")).with_expected([
            "an attribute",
            "an intrinsic",
            "a value",
        ]);
        let mut candidates: Vec<&str> = Intrinsic::ALL
            .iter()
            .filter_map(|i| i.legacy_name())
            .collect();
        candidates.extend([
            "true",
            "false",
            "nil",
            "error",
            "ok",
            "unset",
            "unspecified",
            "internal",
            "server",
            "client",
            "producer",
            "consumer",
        ]);
        let hint = if matches!(
            word,
            "span" | "resource" | "event" | "link" | "instrumentation" | "trace"
        ) {
            format!(
                "write `{word}.<attribute>` for an attribute or `{word}:<intrinsic>` for an intrinsic"
            )
        } else if let Some(c) = closest(word, candidates) {
            format!("did you mean `{c}`?")
        } else if word.eq_ignore_ascii_case("and") {
            "use `&&`".to_string()
        } else if word.eq_ignore_ascii_case("or") {
            "use `||`".to_string()
        } else if word.eq_ignore_ascii_case("not") {
            "use `!`".to_string()
        } else {
            format!(
                "did you mean the attribute `.{word}` or `span.{word}`, or the string \"{word}\"?"
            )
        };
        err = err.with_hint(hint);
        err
    }
}
