//! Values during evaluation, and how TraceQL compares and computes them.

use std::borrow::Cow;
use std::cmp::Ordering;

use regex::Regex;
use tempo_traceql::{BinaryOp, Kind, Static, Status};

use crate::model::{AnyValue, Value};

/// A value of a field on one span, or a literal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val<'a> {
    /// No such attribute.
    Nil,
    /// A string.
    Str(Cow<'a, str>),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A duration, in nanoseconds.
    Dur(i64),
    /// A span status.
    Status(Status),
    /// A span kind.
    Kind(Kind),
    /// An array attribute: comparisons hold for any element (`=`, `=~`, ...) or none (`!=`,
    /// `!~`).
    Array(&'a [AnyValue]),
}

impl<'a> Val<'a> {
    /// A literal's value.
    pub(crate) fn from_static(s: &'a Static) -> Val<'a> {
        match s {
            Static::String(s) => Val::Str(Cow::Borrowed(s)),
            Static::Int(i) => Val::Int(*i),
            Static::Float(f) => Val::Float(*f),
            Static::Bool(b) => Val::Bool(*b),
            Static::Nil => Val::Nil,
            Static::Duration(d) => Val::Dur(*d),
            Static::Status(s) => Val::Status(*s),
            Static::Kind(k) => Val::Kind(*k),
        }
    }

    /// An attribute's value; `Nil` for an empty value, key-value lists and bytes.
    pub(crate) fn from_any(v: &'a AnyValue) -> Val<'a> {
        match &v.value {
            Some(Value::StringValue(s)) => Val::Str(Cow::Borrowed(s)),
            Some(Value::IntValue(i)) => Val::Int(*i),
            Some(Value::DoubleValue(f)) => Val::Float(*f),
            Some(Value::BoolValue(b)) => Val::Bool(*b),
            Some(Value::ArrayValue(a)) => Val::Array(&a.values),
            _ => Val::Nil,
        }
    }

    /// Whether the value is missing.
    pub(crate) fn is_nil(&self) -> bool {
        matches!(self, Val::Nil)
    }

    /// Whether a condition holds: only `true` does (a missing boolean attribute does not).
    pub(crate) fn truthy(&self) -> bool {
        matches!(self, Val::Bool(true))
    }

    /// An integer, float or duration (in nanoseconds) as a float.
    fn number(&self) -> Option<f64> {
        match self {
            Val::Int(i) | Val::Dur(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// As an OTLP value, for results; `None` for nil.
    pub(crate) fn to_any(&self) -> Option<AnyValue> {
        let v = match self {
            Val::Nil => return None,
            Val::Str(s) => Value::StringValue(s.to_string()),
            Val::Int(i) => Value::IntValue(*i),
            Val::Float(f) => Value::DoubleValue(*f),
            Val::Bool(b) => Value::BoolValue(*b),
            Val::Dur(d) => Value::StringValue(format_duration(*d)),
            Val::Status(s) => Value::StringValue(s.as_str().to_owned()),
            Val::Kind(k) => Value::StringValue(k.as_str().to_owned()),
            Val::Array(a) => Value::ArrayValue(crate::model::ArrayValue { values: a.to_vec() }),
        };
        Some(AnyValue { value: Some(v) })
    }

    /// As a search result shows it, as Tempo does: a duration in Go's notation at full
    /// precision (`1.234567ms`), a missing value as the string `nil`.
    pub(crate) fn to_shown(&self) -> AnyValue {
        match self {
            Val::Nil => AnyValue {
                value: Some(Value::StringValue("nil".to_owned())),
            },
            Val::Dur(d) => {
                let sign = if *d < 0 { "-" } else { "" };
                AnyValue {
                    value: Some(Value::StringValue(format!(
                        "{sign}{}",
                        go_duration(d.unsigned_abs())
                    ))),
                }
            }
            other => other.to_any().unwrap_or_default(),
        }
    }

    /// A key for grouping (`by()`): equal values, equal keys.
    pub(crate) fn group_key(&self) -> Option<String> {
        Some(match self {
            Val::Nil => return None,
            Val::Str(s) => format!("s{s}"),
            Val::Int(i) => format!("i{i}"),
            Val::Float(f) => format!("f{f}"),
            Val::Bool(b) => format!("b{b}"),
            Val::Dur(d) => format!("d{d}"),
            Val::Status(s) => format!("t{}", s.as_str()),
            Val::Kind(k) => format!("k{}", k.as_str()),
            Val::Array(a) => format!("a{a:?}"),
        })
    }

    /// The value as a number, for aggregates: integers, floats and durations (nanoseconds).
    pub(crate) fn as_f64(&self) -> Option<f64> {
        self.number()
    }

    /// The value without borrows; an array (which only attributes hold) becomes nil.
    pub(crate) fn into_owned(self) -> Val<'static> {
        match self {
            Val::Nil => Val::Nil,
            Val::Str(s) => Val::Str(Cow::Owned(s.into_owned())),
            Val::Int(i) => Val::Int(i),
            Val::Float(f) => Val::Float(f),
            Val::Bool(b) => Val::Bool(b),
            Val::Dur(d) => Val::Dur(d),
            Val::Status(s) => Val::Status(s),
            Val::Kind(k) => Val::Kind(k),
            // Arrays only appear as attribute values, never as owned results.
            Val::Array(_) => Val::Nil,
        }
    }
}

/// A duration as Tempo prints one: `1.5s`, `250ms`, `12µs`, `100ns`.
pub(crate) fn format_duration(ns: i64) -> String {
    let d = ns.unsigned_abs();
    let sign = if ns < 0 { "-" } else { "" };
    let (unit, scale) = if d >= 3_600_000_000_000 {
        ("h", 3_600_000_000_000f64)
    } else if d >= 60_000_000_000 {
        ("m", 60_000_000_000f64)
    } else if d >= 1_000_000_000 {
        ("s", 1_000_000_000f64)
    } else if d >= 1_000_000 {
        ("ms", 1_000_000f64)
    } else if d >= 1_000 {
        ("µs", 1_000f64)
    } else {
        ("ns", 1f64)
    };
    let v = d as f64 / scale;
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{sign}{text}{unit}")
}

/// A duration as Go prints one (`24h0m0s`, `1m30s`, `1.5s`, `250ms`), for messages that
/// match Tempo's.
pub(crate) fn go_duration(ns: u64) -> String {
    fn fraction(v: u64, unit: u64, digits: usize) -> String {
        let (whole, part) = (v / unit, v % unit);
        if part == 0 {
            return whole.to_string();
        }
        let part = format!("{part:0digits$}");
        format!("{whole}.{}", part.trim_end_matches('0'))
    }
    const S: u64 = 1_000_000_000;
    match ns {
        0 => "0s".to_owned(),
        1..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{}µs", fraction(ns, 1_000, 3)),
        1_000_000..S => format!("{}ms", fraction(ns, 1_000_000, 6)),
        _ => {
            let secs = ns / S;
            let (h, m) = (secs / 3600, secs % 3600 / 60);
            let s = fraction(ns % (60 * S), S, 9);
            if h > 0 {
                format!("{h}h{m}m{s}s")
            } else if m > 0 {
                format!("{m}m{s}s")
            } else {
                format!("{s}s")
            }
        }
    }
}

/// Compares two scalar values; `None` when they cannot be compared (different types, nil).
fn order(a: &Val<'_>, b: &Val<'_>) -> Option<Ordering> {
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => Some(x.as_ref().cmp(y.as_ref())),
        (Val::Int(x), Val::Int(y)) | (Val::Dur(x), Val::Dur(y)) => Some(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        (Val::Status(x), Val::Status(y)) => (x == y).then_some(Ordering::Equal),
        (Val::Kind(x), Val::Kind(y)) => (x == y).then_some(Ordering::Equal),
        _ => {
            let (x, y) = (a.number()?, b.number()?);
            x.partial_cmp(&y)
        }
    }
}

/// `a op b` for two values that are not arrays: ordered types with every operator;
/// booleans, statuses and kinds with `=` and `!=` only.
fn compare_scalar(op: BinaryOp, a: &Val<'_>, b: &Val<'_>) -> bool {
    // Status and kind only have equality; `!=` between comparable values.
    let equal_only = matches!(
        (a, b),
        (Val::Status(_), _) | (Val::Kind(_), _) | (Val::Bool(_), _)
    );
    let Some(o) = order(a, b) else {
        // Different statuses or kinds are comparable for `!=`.
        return op == BinaryOp::Neq
            && matches!(
                (a, b),
                (Val::Status(_), Val::Status(_)) | (Val::Kind(_), Val::Kind(_))
            );
    };
    match op {
        BinaryOp::Eq => o == Ordering::Equal,
        BinaryOp::Neq => o != Ordering::Equal,
        BinaryOp::Lt if !equal_only => o == Ordering::Less,
        BinaryOp::Lte if !equal_only => o != Ordering::Greater,
        BinaryOp::Gt if !equal_only => o == Ordering::Greater,
        BinaryOp::Gte if !equal_only => o != Ordering::Less,
        _ => false,
    }
}

/// `a op b` for the comparison operators (`= != < <= > >=`), with TraceQL's rules: a missing
/// value (`Nil`) compares with nothing, so `span.x != "a"` does not match a span without `x`
/// (the tests against the `nil` literal, `= nil` and `!= nil`, are presence tests that the
/// evaluator makes before calling this); values of different types are never equal (and never
/// unequal either: `span.x != 1` needs an integer `x`); integers, floats and durations compare
/// as numbers; an array matches `=` when an element does, and `!=` when none is equal.
pub(crate) fn compare(op: BinaryOp, a: &Val<'_>, b: &Val<'_>) -> bool {
    match (a, b) {
        (Val::Nil, _) | (_, Val::Nil) => false,
        (Val::Array(items), other) | (other, Val::Array(items)) => {
            let swapped = matches!(b, Val::Array(_)) && !matches!(a, Val::Array(_));
            let test = |item: &AnyValue, op: BinaryOp| {
                let v = Val::from_any(item);
                if swapped {
                    compare_scalar(op, other, &v)
                } else {
                    compare_scalar(op, &v, other)
                }
            };
            if op == BinaryOp::Neq {
                let typed = items.iter().any(|i| {
                    let v = Val::from_any(i);
                    order(&v, other).is_some()
                });
                typed && !items.iter().any(|i| test(i, BinaryOp::Eq))
            } else {
                items.iter().any(|i| test(i, op))
            }
        }
        _ => compare_scalar(op, a, b),
    }
}

/// `a =~ re` (or `!~` with `negate`): the whole string value matches; arrays match when an
/// element does (`!~`: when none does).
pub(crate) fn regex_match(a: &Val<'_>, re: &Regex, negate: bool) -> bool {
    match a {
        Val::Str(s) => re.is_match(s) != negate,
        Val::Array(items) => {
            let mut strings = items.iter().filter_map(|i| match &i.value {
                Some(Value::StringValue(s)) => Some(s.as_str()),
                _ => None,
            });
            if negate {
                let all: Vec<&str> = strings.collect();
                !all.is_empty() && !all.iter().any(|s| re.is_match(s))
            } else {
                strings.any(|s| re.is_match(s))
            }
        }
        _ => false,
    }
}

/// Arithmetic: `+ - * / % ^` on numbers. Sums, differences, products and remainders of
/// integers stay integers; division is exact, as in Tempo (`3 / 2` is 1.5, a float), and `^`
/// gives a float. A duration with an integer, or two durations added, subtracted or taken
/// modulo, stay a duration (in nanoseconds); a duration divided by a duration is their ratio.
/// Overflow, division by zero and anything that is not a number give nil.
pub(crate) fn arithmetic(op: BinaryOp, a: &Val<'_>, b: &Val<'_>) -> Val<'static> {
    use BinaryOp::{Add, Div, Mod, Mul, Sub};
    let int_op = |x: i64, y: i64| -> Option<i64> {
        match op {
            BinaryOp::Add => x.checked_add(y),
            BinaryOp::Sub => x.checked_sub(y),
            BinaryOp::Mul => x.checked_mul(y),
            BinaryOp::Div => x.checked_div(y),
            BinaryOp::Mod => x.checked_rem(y),
            _ => None,
        }
    };
    let float_op = |x: f64, y: f64| -> f64 {
        match op {
            BinaryOp::Add => x + y,
            BinaryOp::Sub => x - y,
            BinaryOp::Mul => x * y,
            BinaryOp::Div => x / y,
            BinaryOp::Mod => x % y,
            _ => x.powf(y),
        }
    };
    match (a, b) {
        (Val::Int(x), Val::Int(y)) if matches!(op, Add | Sub | Mul | Mod) => {
            int_op(*x, *y).map_or(Val::Nil, Val::Int)
        }
        (Val::Dur(x), Val::Int(y)) if matches!(op, Add | Sub | Mul | Div | Mod) => {
            int_op(*x, *y).map_or(Val::Nil, Val::Dur)
        }
        (Val::Int(x), Val::Dur(y)) if matches!(op, Add | Sub | Mul) => {
            int_op(*x, *y).map_or(Val::Nil, Val::Dur)
        }
        (Val::Dur(x), Val::Dur(y)) if matches!(op, Add | Sub | Mod) => {
            int_op(*x, *y).map_or(Val::Nil, Val::Dur)
        }
        _ => match (a.number(), b.number()) {
            (Some(x), Some(y)) => {
                let r = float_op(x, y);
                if r.is_finite() {
                    Val::Float(r)
                } else {
                    Val::Nil
                }
            }
            _ => Val::Nil,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(s: &str) -> AnyValue {
        AnyValue {
            value: Some(Value::StringValue(s.into())),
        }
    }

    #[test]
    fn durations_print_as_go_prints_them() {
        const S: u64 = 1_000_000_000;
        for (ns, text) in [
            (0, "0s"),
            (5, "5ns"),
            (1_500, "1.5µs"),
            (250_000_000, "250ms"),
            (1_500_000_000, "1.5s"),
            (90 * S, "1m30s"),
            (24 * 3600 * S, "24h0m0s"),
            (3600 * S + 5 * S / 10, "1h0m0.5s"),
        ] {
            assert_eq!(go_duration(ns), text);
        }
    }

    #[test]
    fn a_missing_value_compares_with_nothing() {
        let x = Val::Str(Cow::Borrowed("x"));
        for op in [BinaryOp::Eq, BinaryOp::Neq, BinaryOp::Lt, BinaryOp::Gte] {
            assert!(!compare(op, &Val::Nil, &x), "{op:?}");
            assert!(!compare(op, &x, &Val::Nil), "{op:?}");
            assert!(!compare(op, &Val::Nil, &Val::Nil), "{op:?}");
        }
    }

    #[test]
    fn values_of_different_types_are_neither_equal_nor_unequal() {
        let (s, i) = (Val::Str(Cow::Borrowed("1")), Val::Int(1));
        assert!(!compare(BinaryOp::Eq, &s, &i));
        assert!(!compare(BinaryOp::Neq, &s, &i));
        assert!(compare(BinaryOp::Eq, &Val::Float(1.0), &i));
        assert!(compare(
            BinaryOp::Neq,
            &Val::Status(Status::Ok),
            &Val::Status(Status::Error)
        ));
    }

    #[test]
    fn arrays_match_any_element_and_unequal_none() {
        let items = [string("a"), string("b")];
        let arr = Val::Array(&items);
        let a = Val::Str(Cow::Borrowed("a"));
        let c = Val::Str(Cow::Borrowed("c"));
        assert!(compare(BinaryOp::Eq, &arr, &a));
        assert!(compare(BinaryOp::Eq, &a, &arr));
        assert!(!compare(BinaryOp::Neq, &arr, &a));
        assert!(compare(BinaryOp::Neq, &arr, &c));
        assert!(
            !compare(BinaryOp::Neq, &arr, &Val::Int(1)),
            "no element is typed alike"
        );
        let re = regex::Regex::new("^(?:b)$").unwrap_or_else(|e| panic!("{e}"));
        assert!(regex_match(&arr, &re, false));
        assert!(!regex_match(&arr, &re, true));
    }

    #[test]
    fn division_is_exact_and_durations_stay_durations() {
        let div = |a, b| arithmetic(BinaryOp::Div, &a, &b);
        assert_eq!(div(Val::Int(3), Val::Int(2)), Val::Float(1.5));
        assert_eq!(div(Val::Int(1), Val::Int(0)), Val::Nil);
        assert_eq!(div(Val::Dur(190), Val::Dur(100)), Val::Float(1.9));
        assert_eq!(div(Val::Dur(100), Val::Int(4)), Val::Dur(25));
        let mul = |a, b| arithmetic(BinaryOp::Mul, &a, &b);
        assert_eq!(mul(Val::Int(2), Val::Dur(25)), Val::Dur(50));
        assert_eq!(mul(Val::Int(i64::MAX), Val::Int(2)), Val::Nil);
        assert_eq!(
            arithmetic(BinaryOp::Mod, &Val::Int(7), &Val::Int(2)),
            Val::Int(1)
        );
        assert_eq!(
            arithmetic(BinaryOp::Pow, &Val::Int(3), &Val::Int(2)),
            Val::Float(9.0)
        );
    }
}
