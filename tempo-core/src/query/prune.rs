//! Pruning: can this source hold a match at all?
//!
//! From a query, [`Need`] keeps what every matching trace must contain: a span or resource
//! attribute of some kind, an attribute's value, a span name, status or kind. A source checks
//! it against what it knows without decoding spans (a row group: its footer, statistics and
//! dictionaries) and is skipped when that rules a match out. The analysis is conservative:
//! whatever it cannot reason about needs nothing.

use tempo_traceql::{
    Attribute, BinaryOp, Expr, ExprKind, FieldExpr, FieldExprKind, Intrinsic, Kind, Scope,
    SpansetOp, StageKind, Static, Status,
};

use super::source::{AttrTable, Need, ValueKind};

const STR_KINDS: &[ValueKind] = &[ValueKind::Str, ValueKind::Other];
const NUM_KINDS: &[ValueKind] = &[ValueKind::Int, ValueKind::Float, ValueKind::Other];
const BOOL_KINDS: &[ValueKind] = &[ValueKind::Bool, ValueKind::Other];
const ANY_KINDS: &[ValueKind] = &[
    ValueKind::Str,
    ValueKind::Int,
    ValueKind::Float,
    ValueKind::Bool,
    ValueKind::Other,
];

impl Need {
    /// What a whole query needs.
    pub(crate) fn of_query(e: &Expr) -> Need {
        simplify(expr_need(e))
    }

    /// Whether a source may hold a match, by `leaf` deciding each condition; `All` and `Any`
    /// combine them.
    pub(crate) fn check<E>(
        &self,
        leaf: &mut impl FnMut(&Need) -> Result<bool, E>,
    ) -> Result<bool, E> {
        Ok(match self {
            Need::Nothing => true,
            Need::All(v) => {
                for n in v {
                    if !n.check(leaf)? {
                        return Ok(false);
                    }
                }
                true
            }
            Need::Any(v) => {
                for n in v {
                    if n.check(leaf)? {
                        return Ok(true);
                    }
                }
                false
            }
            leaf_need => leaf(leaf_need)?,
        })
    }
}

fn simplify(n: Need) -> Need {
    match n {
        Need::All(v) => {
            let mut v: Vec<Need> = v
                .into_iter()
                .map(simplify)
                .filter(|n| *n != Need::Nothing)
                .collect();
            match v.len() {
                0 => Need::Nothing,
                1 => v.pop().unwrap_or(Need::Nothing),
                _ => Need::All(v),
            }
        }
        Need::Any(v) => {
            let v: Vec<Need> = v.into_iter().map(simplify).collect();
            if v.is_empty() || v.contains(&Need::Nothing) {
                Need::Nothing
            } else {
                Need::Any(v)
            }
        }
        n => n,
    }
}

fn expr_need(e: &Expr) -> Need {
    match &e.kind {
        ExprKind::Filter(f) => f.expr.as_ref().map_or(Need::Nothing, field_need),
        ExprKind::Spanset { op, lhs, rhs } => match op {
            SpansetOp::Or => Need::Any(vec![expr_need(lhs), expr_need(rhs)]),
            SpansetOp::NotChild
            | SpansetOp::NotDescendant
            | SpansetOp::NotParent
            | SpansetOp::NotAncestor
            | SpansetOp::NotSibling => expr_need(rhs),
            _ => Need::All(vec![expr_need(lhs), expr_need(rhs)]),
        },
        ExprKind::Pipeline(p) => {
            let mut all = vec![expr_need(&p.head)];
            for s in &p.stages {
                if let StageKind::Spanset(e) = &s.kind {
                    all.push(expr_need(e));
                }
            }
            Need::All(all)
        }
        ExprKind::Binary { .. } | ExprKind::Static(_) => Need::Nothing,
    }
}

fn tables(scope: Scope) -> &'static [AttrTable] {
    match scope {
        Scope::Span => &[AttrTable::Span],
        Scope::Resource => &[AttrTable::Resource],
        Scope::None => &[AttrTable::Span, AttrTable::Resource],
        _ => &[],
    }
}

fn field_need(e: &FieldExpr) -> Need {
    let FieldExprKind::Binary { op, lhs, rhs } = &e.kind else {
        return match &e.kind {
            // `{ .flag }`: a boolean attribute.
            FieldExprKind::Attribute(a) => attr_need(a, BinaryOp::Eq, &Static::Bool(true)),
            _ => Need::Nothing,
        };
    };
    match op {
        BinaryOp::And => return Need::All(vec![field_need(lhs), field_need(rhs)]),
        BinaryOp::Or => return Need::Any(vec![field_need(lhs), field_need(rhs)]),
        _ => {}
    }
    let (field, value, op) = match (&lhs.kind, &rhs.kind) {
        (_, FieldExprKind::Static(v)) => (&lhs.kind, v, *op),
        (FieldExprKind::Static(v), _) => (&rhs.kind, v, flip(*op)),
        _ => return Need::Nothing,
    };
    match field {
        FieldExprKind::Attribute(a) => attr_need(a, op, value),
        FieldExprKind::Intrinsic(x) if op == BinaryOp::Eq => intrinsic_need(*x, value),
        _ => Need::Nothing,
    }
}

fn flip(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::Lte => BinaryOp::Gte,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::Gte => BinaryOp::Lte,
        o => o,
    }
}

fn attr_need(a: &Attribute, op: BinaryOp, value: &Static) -> Need {
    let tables = tables(a.scope);
    if tables.is_empty() {
        return Need::Nothing;
    }
    let per_table = |table: AttrTable| -> Need {
        let key = a.name.clone();
        match (op, value) {
            (BinaryOp::Eq, Static::String(s)) => Need::StrEq {
                table,
                key,
                value: s.clone(),
            },
            (BinaryOp::Eq, Static::Int(i)) => Need::IntEq {
                table,
                key,
                value: *i,
            },
            (BinaryOp::Neq, Static::Nil) => Need::Present {
                table,
                key,
                kinds: ANY_KINDS,
            },
            (BinaryOp::Neq | BinaryOp::NotRegex, _) | (_, Static::Nil) => Need::Nothing,
            (BinaryOp::Regex, _) | (_, Static::String(_)) => Need::Present {
                table,
                key,
                kinds: STR_KINDS,
            },
            (_, Static::Int(_) | Static::Float(_) | Static::Duration(_)) => Need::Present {
                table,
                key,
                kinds: NUM_KINDS,
            },
            (_, Static::Bool(_)) => Need::Present {
                table,
                key,
                kinds: BOOL_KINDS,
            },
            _ => Need::Nothing,
        }
    };
    Need::Any(tables.iter().map(|t| per_table(*t)).collect())
}

fn intrinsic_need(x: Intrinsic, value: &Static) -> Need {
    match (x, value) {
        (Intrinsic::SpanName, Static::String(s)) => Need::SpanName(s.clone()),
        (Intrinsic::SpanStatus, Static::Status(s)) => Need::StatusCode(match s {
            Status::Unset => 0,
            Status::Ok => 1,
            Status::Error => 2,
        }),
        (Intrinsic::SpanKind, Static::Kind(k)) => Need::SpanKind(match k {
            Kind::Unspecified => 0,
            Kind::Internal => 1,
            Kind::Server => 2,
            Kind::Client => 3,
            Kind::Producer => 4,
            Kind::Consumer => 5,
        }),
        _ => Need::Nothing,
    }
}
