//! lenient: which conditions of a query being typed are already complete?
//!
//! Editors and tag-value look-ups see partial queries such as
//! `{ resource.cluster = "x" && span.foo = }`. This module keeps the
//! conditions of the first spanset filter that are complete and joined by
//! `&&`, and drops the rest.

use crate::ast::*;
use crate::lexer::{Tok, Token, lex};
use crate::parser::parse_field_expr_tokens;
use crate::validate::field_type;

/// Which field a [`Condition`] tests.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldRef {
    /// An attribute.
    Attribute(Attribute),
    /// An intrinsic.
    Intrinsic(Intrinsic),
}

/// A complete `field op value` condition found by [`parse_lenient`].
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The field tested.
    pub field: FieldRef,
    /// The comparison (`=`, `!=`, `<`, `<=`, `>`, `>=`, `=~`, `!~`).
    pub op: BinaryOp,
    /// The value compared with.
    pub value: Static,
    /// Where the condition is in the query.
    pub span: Span,
}

/// The complete conditions of the first spanset filter of a possibly
/// incomplete query, when they are joined by `&&` (conditions under `||`
/// cannot narrow anything and are skipped). Never fails: a query with no
/// usable condition, or longer than [`crate::MAX_QUERY_BYTES`], yields an
/// empty list.
///
/// ```
/// use tempo_traceql::{parse_lenient, FieldRef, Static};
///
/// let c = parse_lenient(r#"{ resource.cluster = "x" && span.foo = "#);
/// assert_eq!(c.len(), 1);
/// assert!(matches!(&c[0].field, FieldRef::Attribute(a) if a.name == "cluster"));
/// assert_eq!(c[0].value, Static::String("x".into()));
/// ```
pub fn parse_lenient(src: &str) -> Vec<Condition> {
    let mut out = Vec::new();
    if crate::parser::check_length(src).is_err() {
        return out;
    }
    let (toks, _) = lex(src);
    let Some(open) = toks.iter().position(|t| t.tok == Tok::LBrace) else {
        return out;
    };
    // Split the filter's body at `&&` outside brackets.
    let mut segments: Vec<Vec<Token>> = vec![Vec::new()];
    let mut depth = 0usize;
    for t in &toks[open + 1..] {
        match t.tok {
            Tok::RBrace | Tok::Eof if depth == 0 => break,
            Tok::LBrace | Tok::RBrace | Tok::Pipe => break,
            Tok::LParen => depth += 1,
            Tok::RParen => depth = depth.saturating_sub(1),
            Tok::OrOr if depth == 0 => return out,
            Tok::AndAnd if depth == 0 => {
                segments.push(Vec::new());
                continue;
            }
            _ => {}
        }
        if let Some(seg) = segments.last_mut() {
            seg.push(t.clone());
        }
    }
    for mut seg in segments {
        let end = seg.last().map_or(0, |t| t.span.end);
        if seg.is_empty() {
            continue;
        }
        seg.push(Token {
            tok: Tok::Eof,
            span: Span::new(end, end),
        });
        if let Ok(e) = parse_field_expr_tokens(src, seg)
            && field_type(&e).is_ok()
        {
            collect(&e, &mut out);
        }
    }
    out
}

pub(crate) fn field_ref(e: &FieldExpr) -> Option<FieldRef> {
    match &e.kind {
        FieldExprKind::Attribute(a) => Some(FieldRef::Attribute(a.clone())),
        FieldExprKind::Intrinsic(i) => Some(FieldRef::Intrinsic(*i)),
        _ => None,
    }
}

fn collect(e: &FieldExpr, out: &mut Vec<Condition>) {
    if let FieldExprKind::Binary { op, lhs, rhs } = &e.kind {
        if *op == BinaryOp::And {
            collect(lhs, out);
            collect(rhs, out);
            return;
        }
        if !op.is_comparison() {
            return;
        }
        if let (Some(field), FieldExprKind::Static(value)) = (field_ref(lhs), &rhs.kind) {
            out.push(Condition {
                field,
                op: *op,
                value: value.clone(),
                span: e.span,
            });
        } else if let (FieldExprKind::Static(value), Some(field)) = (&lhs.kind, field_ref(rhs)) {
            // `"x" = span.foo`: turn it around.
            let flipped = match op {
                BinaryOp::Eq | BinaryOp::Neq => *op,
                BinaryOp::Lt => BinaryOp::Gt,
                BinaryOp::Lte => BinaryOp::Gte,
                BinaryOp::Gt => BinaryOp::Lt,
                BinaryOp::Gte => BinaryOp::Lte,
                _ => return,
            };
            out.push(Condition {
                field,
                op: flipped,
                value: value.clone(),
                span: e.span,
            });
        }
    }
}
