//! Pruning: can this row group hold a match at all?
//!
//! From a query, [`Need`] keeps what every matching trace must contain: a span or resource
//! attribute of some type, a dictionary value, an integer within a chunk's min/max, an
//! intrinsic's value. A row group whose footer, statistics or dictionaries rule that out is
//! skipped without decoding. The analysis is conservative: whatever it cannot reason about
//! needs nothing.

use tempo_traceql::{
    Attribute, BinaryOp, Expr, ExprKind, FieldExpr, FieldExprKind, Intrinsic, Kind, Scope,
    SpansetOp, StageKind, Static, Status,
};

use crate::block::BlockError;
use crate::block::encoding::zigzag;
use crate::block::reader::RowGroupData;

/// What every match needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Need {
    /// Nothing known.
    Nothing,
    /// All of these.
    All(Vec<Need>),
    /// One of these.
    Any(Vec<Need>),
    /// A `span` or `resource` attribute with this key, of one of these column types.
    Present {
        table: &'static str,
        key: String,
        types: &'static [&'static str],
    },
    /// A string attribute equal to this value (or an array attribute that may hold it).
    StrEq {
        table: &'static str,
        key: String,
        value: String,
    },
    /// An integer attribute equal to this value (or a float or array attribute).
    IntEq {
        table: &'static str,
        key: String,
        value: i64,
    },
    /// A dictionary column (an intrinsic) holding this value.
    Dict { column: &'static str, value: String },
    /// A varint column (an intrinsic) whose min/max allow this (zigzag-mapped) value.
    Varint { column: &'static str, value: u64 },
}

const STR_TYPES: &[&str] = &["str", "any"];
const NUM_TYPES: &[&str] = &["int", "float", "any"];
const BOOL_TYPES: &[&str] = &["bool", "any"];
const ANY_TYPES: &[&str] = &["str", "int", "float", "bool", "any"];

impl Need {
    /// What a whole query needs.
    pub(crate) fn of_query(e: &Expr) -> Need {
        simplify(expr_need(e))
    }

    /// Whether a row group may hold a match. Errors are damage in the row group.
    pub(crate) fn may_match(&self, g: &RowGroupData) -> Result<bool, BlockError> {
        Ok(match self {
            Need::Nothing => true,
            Need::All(v) => {
                for n in v {
                    if !n.may_match(g)? {
                        return Ok(false);
                    }
                }
                true
            }
            Need::Any(v) => {
                for n in v {
                    if n.may_match(g)? {
                        return Ok(true);
                    }
                }
                false
            }
            Need::Present { table, key, types } => types
                .iter()
                .any(|t| g.has_column(&format!("{table}.attr.{t}.{key}#present"))),
            Need::StrEq { table, key, value } => {
                g.has_column(&format!("{table}.attr.any.{key}#present"))
                    || g.dict_contains(&format!("{table}.attr.str.{key}#values"), value)?
            }
            Need::IntEq { table, key, value } => {
                if g.has_column(&format!("{table}.attr.any.{key}#present"))
                    || g.has_column(&format!("{table}.attr.float.{key}#present"))
                {
                    return Ok(true);
                }
                let z = zigzag(*value);
                match g.column_stats(&format!("{table}.attr.int.{key}#values"))? {
                    Some((min, max)) => (min as u64) <= z && z <= (max as u64),
                    None => false,
                }
            }
            Need::Dict { column, value } => {
                // A missing dictionary column means every row is empty.
                if g.has_column(column) {
                    g.dict_contains(column, value)?
                } else {
                    value.is_empty()
                }
            }
            Need::Varint { column, value } => match g.column_stats(column)? {
                Some((min, max)) => (min as u64) <= *value && *value <= (max as u64),
                None => *value == 0,
            },
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

fn tables(scope: Scope) -> &'static [&'static str] {
    match scope {
        Scope::Span => &["span"],
        Scope::Resource => &["resource"],
        Scope::None => &["span", "resource"],
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
    let per_table = |table: &'static str| -> Need {
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
                types: ANY_TYPES,
            },
            (BinaryOp::Neq | BinaryOp::NotRegex, _) | (_, Static::Nil) => Need::Nothing,
            (BinaryOp::Regex, _) | (_, Static::String(_)) => Need::Present {
                table,
                key,
                types: STR_TYPES,
            },
            (_, Static::Int(_) | Static::Float(_) | Static::Duration(_)) => Need::Present {
                table,
                key,
                types: NUM_TYPES,
            },
            (_, Static::Bool(_)) => Need::Present {
                table,
                key,
                types: BOOL_TYPES,
            },
            _ => Need::Nothing,
        }
    };
    Need::Any(tables.iter().map(|t| per_table(t)).collect())
}

fn intrinsic_need(x: Intrinsic, value: &Static) -> Need {
    match (x, value) {
        (Intrinsic::SpanName, Static::String(s)) => Need::Dict {
            column: "span.name",
            value: s.clone(),
        },
        (Intrinsic::SpanStatus, Static::Status(s)) => Need::Varint {
            column: "span.status_code",
            value: zigzag(match s {
                Status::Unset => 0,
                Status::Ok => 1,
                Status::Error => 2,
            }),
        },
        (Intrinsic::SpanKind, Static::Kind(k)) => Need::Varint {
            column: "span.kind",
            value: zigzag(match k {
                Kind::Unspecified => 0,
                Kind::Internal => 1,
                Kind::Server => 2,
                Kind::Client => 3,
                Kind::Producer => 4,
                Kind::Consumer => 5,
            }),
        },
        _ => Need::Nothing,
    }
}
