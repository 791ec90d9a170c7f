//! parser: what is the shape of the query?
//!
//! A recursive-descent parser with precedence climbing, over the tokens of
//! [`crate::lexer`]. It builds the AST and reports syntax errors; types and
//! semantics are checked afterwards by [`crate::validate`].

use crate::ast::*;
use crate::error::Error;
use crate::lexer::{Tok, Token, lex};

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

/// The value a pipeline-level expression produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Val {
    Spanset,
    Scalar,
    Metrics,
    Static,
}

pub(crate) fn value_of(e: &Expr) -> Val {
    match &e.kind {
        ExprKind::Filter(_) | ExprKind::Spanset { .. } => Val::Spanset,
        ExprKind::Pipeline(p) => match p.stages.last().map(|s| &s.kind) {
            Some(StageKind::Scalar(_)) => Val::Scalar,
            Some(
                StageKind::Metrics(_)
                | StageKind::SecondStage { .. }
                | StageKind::MetricsFilter { .. },
            ) => Val::Metrics,
            _ => Val::Spanset,
        },
        ExprKind::Binary { op, lhs, rhs } => {
            let metrics = value_of(lhs) == Val::Metrics || value_of(rhs) == Val::Metrics;
            if metrics {
                Val::Metrics
            } else if op.is_arithmetic() {
                Val::Scalar
            } else {
                Val::Spanset
            }
        }
        ExprKind::Static(_) => Val::Static,
    }
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

/// `lhs op rhs` at the pipeline level.
#[inline(never)]
fn join_pipe_op(op: PipeOp, lhs: Expr, rhs: Expr) -> Expr {
    let span = lhs.span.to(rhs.span);
    let (lhs, rhs) = (Box::new(lhs), Box::new(rhs));
    let kind = match op {
        PipeOp::Spanset(op) => ExprKind::Spanset { op, lhs, rhs },
        PipeOp::Binary(op) => ExprKind::Binary { op, lhs, rhs },
        PipeOp::Either(sop, bop) => {
            if value_of(&lhs) == Val::Spanset && value_of(&rhs) == Val::Spanset {
                ExprKind::Spanset { op: sop, lhs, rhs }
            } else {
                ExprKind::Binary { op: bop, lhs, rhs }
            }
        }
    };
    Expr { kind, span }
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

    /// A pipeline-level expression. `min_bp` 0 allows `|`.
    ///
    /// On the path of every recursion: its frame is kept small, with the building of nodes
    /// in functions of their own.
    pub(crate) fn pexpr(&mut self, min_bp: u8) -> PResult<(Expr, usize)> {
        self.enter()?;
        let (mut lhs, mut depth) = self.pprefix()?;
        while let Some((op, prec)) = self.pipe_op_or_pipe() {
            let Some(op) = op else {
                // `|`: stages follow, and nothing else at this level.
                if min_bp == 0 {
                    (lhs, depth) = self.pipeline(lhs, depth)?;
                }
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
            if let PipeOp::Spanset(sop @ (SpansetOp::And | SpansetOp::Or)) = op {
                (lhs, depth) = self.spanset_chain(sop, r_bp, lhs, depth)?;
                continue;
            }
            let op_span = self.bump().span;
            let (rhs, rd) = self.pexpr(r_bp)?;
            depth = self.check_depth(depth.max(rd) + 1, op_span)?;
            lhs = join_pipe_op(op, lhs, rhs);
        }
        self.leave();
        Ok((lhs, depth))
    }

    /// The operator at the current token: `Some((None, 0))` for `|`.
    fn pipe_op_or_pipe(&self) -> Option<(Option<PipeOp>, u8)> {
        if *self.peek() == Tok::Pipe {
            return Some((None, 0));
        }
        self.pipe_op().map(|(op, prec)| (Some(op), prec))
    }

    /// The stages after `head`, from its first `|` on. The stages of a pipeline sit side by
    /// side: the pipeline is one level deeper than its head or its deepest stage, however
    /// many stages it has.
    #[inline(never)]
    fn pipeline(&mut self, head: Expr, head_depth: usize) -> PResult<(Expr, usize)> {
        let mut lhs = head;
        let mut depth = head_depth;
        let mut stages_depth = 0;
        while *self.peek() == Tok::Pipe {
            let pipe = self.bump().span;
            let (stages, sd) = self.stage()?;
            let span = lhs.span.to(self.prev_span());
            stages_depth = stages_depth.max(sd);
            depth = self.check_depth(head_depth.max(stages_depth) + 1, pipe)?;
            lhs = match lhs.kind {
                ExprKind::Pipeline(mut p) => {
                    p.stages.extend(stages);
                    Expr {
                        kind: ExprKind::Pipeline(p),
                        span,
                    }
                }
                _ => Expr {
                    kind: ExprKind::Pipeline(Pipeline {
                        head: Box::new(lhs),
                        stages,
                    }),
                    span,
                },
            };
        }
        Ok((lhs, depth))
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
            let (rhs, rd) = self.pexpr(r_bp)?;
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
                let (fields, d) = self.field_list()?;
                if fields.is_empty() {
                    return Err(Error::validation(
                        start.to(self.prev_span()),
                        "`select()` needs at least one field",
                    )
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
                self.metrics_filter(&mut stages)?;
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
                        return Err(Error::validation(span, "`count()` takes no argument")
                            .with_hint("write `count()`"));
                    }
                    (AggregateFn::Count, None) | (_, Some(_)) => {}
                    (f, None) => {
                        return Err(Error::validation(
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

    fn metrics_filter(&mut self, stages: &mut Vec<Stage>) -> PResult<()> {
        if let Some(op) = self.cmp_op() {
            let start = self.bump().span;
            let value = match self.literal()? {
                Some(v) => v,
                None => return Err(self.unexpected(&["a number"])),
            };
            stages.push(self.mk_stage(StageKind::MetricsFilter { op, value }, start));
        }
        Ok(())
    }

    /// Comma-separated field expressions up to `)` (consumed).
    fn field_list(&mut self) -> PResult<(Vec<FieldExpr>, usize)> {
        let mut fields = Vec::new();
        let mut depth = 1;
        if *self.peek() == Tok::RParen {
            self.bump();
            return Ok((fields, depth));
        }
        loop {
            let (f, d) = self.fexpr(0)?;
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

    fn metrics_stage(&mut self) -> PResult<(Vec<Stage>, usize)> {
        let start = self.span();
        let name = self.cur_text();
        self.bump();
        self.expect(Tok::LParen, "`(`")?;
        let mut depth = 1;
        let needs_field = |p: &Parser<'_>| {
            Error::validation(start.to(p.prev_span()), format!("`{name}()` needs a field"))
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
                    return Err(Error::validation(
                        arg_start.to(self.prev_span()),
                        format!("`{name}()` takes no arguments"),
                    )
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
                let (f, d) = self.fexpr(0)?;
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
                let (field, d) = self.fexpr(0)?;
                depth = d + 1;
                let mut quantiles = Vec::new();
                while *self.peek() == Tok::Comma {
                    self.bump();
                    let span = self.span();
                    match self.literal()? {
                        Some(Static::Float(q)) => quantiles.push(q),
                        Some(Static::Int(q)) => quantiles.push(q as f64),
                        Some(_) => {
                            return Err(Error::parse(
                                span.to(self.prev_span()),
                                "a quantile must be a number between 0 and 1",
                            )
                            .with_expected(["a number such as `0.99`"]));
                        }
                        None => return Err(self.unexpected(&["a quantile such as `0.99`"])),
                    }
                }
                self.expect(Tok::RParen, "`,` or `)`")?;
                if quantiles.is_empty() {
                    return Err(Error::validation(
                        start.to(self.prev_span()),
                        "`quantile_over_time()` needs at least one quantile",
                    )
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
                    match self.literal()? {
                        Some(Static::Int(v)) => ints.push(v),
                        _ => {
                            return Err(Error::parse(span, "expected an integer")
                                .with_expected(["an integer"]));
                        }
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
            let (fields, d) = self.field_list()?;
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
        self.metrics_filter(&mut stages)?;
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
