//! Search finds the same spans whether the data is in the head or in blocks, and the same as a
//! deliberately simple reference evaluator.
//!
//! Random small traces (trees of 1 to 12 spans with random names, kinds, statuses, durations and
//! a few attributes of a few types on spans and resources) are ingested into two stores: one
//! keeps them in its head, the other cuts them into blocks. Random queries from a small
//! generator (comparisons on those attributes and intrinsics joined by `&&` and `||`, regular
//! expressions, `nil` tests, spanset `&&` and `||`, every structural operator, `| count()`) run
//! on both. For each, the matching traces and their matched span IDs must equal those the
//! reference computes: it has its own tiny syntax tree for the generated queries and evaluates
//! it span by span on the OTLP data, without any of the engine's code. Half of the cases
//! deliver the data twice, as an exporter retrying a batch does: repeated spans count once.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use tempo_core::backend::MemoryBackend;
use tempo_core::model::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, Resource, ResourceSpans, ScopeSpans,
    Span, Status, Value,
};
use tempo_core::{Batch, SearchRequest, Store};

const TENANT: &str = "reference";
const MS: u64 = 1_000_000;

// ---- data ----

/// Span names; two of them share a prefix, for the regular expressions.
const NAMES: [&str; 4] = ["get", "get /x", "put", "db"];
/// String attribute values.
const STRS: [&str; 4] = ["x", "y", "xy", "get"];
/// Attribute keys, shared by spans and resources, of no fixed type.
const KEYS: [&str; 3] = ["a", "b", "c"];
const SERVICES: [&str; 2] = ["svc1", "svc2"];

/// A generated attribute value.
#[derive(Debug, Clone)]
enum GenVal {
    Str(usize),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// An array of strings (never empty).
    Arr(Vec<usize>),
}

impl GenVal {
    fn otlp(&self) -> Value {
        match self {
            GenVal::Str(i) => Value::StringValue(STRS[*i].into()),
            GenVal::Int(i) => Value::IntValue(*i),
            GenVal::Float(f) => Value::DoubleValue(*f),
            GenVal::Bool(b) => Value::BoolValue(*b),
            GenVal::Arr(items) => Value::ArrayValue(ArrayValue {
                values: items
                    .iter()
                    .map(|i| AnyValue {
                        value: Some(Value::StringValue(STRS[*i].into())),
                    })
                    .collect(),
            }),
        }
    }
}

fn gen_val() -> impl Strategy<Value = GenVal> {
    prop_oneof![
        (0..STRS.len()).prop_map(GenVal::Str),
        (-1i64..4).prop_map(GenVal::Int),
        prop::sample::select(vec![0.5, 1.0, 2.5]).prop_map(GenVal::Float),
        any::<bool>().prop_map(GenVal::Bool),
        prop::collection::vec(0..STRS.len(), 1..4).prop_map(GenVal::Arr),
    ]
}

/// Attributes with distinct keys.
fn gen_attrs() -> impl Strategy<Value = Vec<(usize, GenVal)>> {
    prop::collection::btree_map(0..KEYS.len(), gen_val(), 0..3)
        .prop_map(|m| m.into_iter().collect())
}

#[derive(Debug, Clone)]
struct GenSpan {
    /// Index of the parent among the trace's earlier spans; `None` for the root.
    parent: Option<usize>,
    name: usize,
    kind: i32,
    status: i32,
    start_ms: u64,
    duration_ms: u64,
    /// Which of the trace's two resources.
    resource: usize,
    attrs: Vec<(usize, GenVal)>,
}

#[derive(Debug, Clone)]
struct GenResource {
    service: usize,
    attrs: Vec<(usize, GenVal)>,
}

#[derive(Debug, Clone)]
struct GenTrace {
    spans: Vec<GenSpan>,
    resources: Vec<GenResource>,
}

fn gen_trace() -> impl Strategy<Value = GenTrace> {
    let span = (
        any::<prop::sample::Index>(),
        0..NAMES.len(),
        0i32..6,
        0i32..3,
        0u64..50,
        0u64..100,
        0usize..2,
        gen_attrs(),
    );
    let resource = (0..SERVICES.len(), gen_attrs())
        .prop_map(|(service, attrs)| GenResource { service, attrs });
    (
        prop::collection::vec(span, 1..=12),
        prop::collection::vec(resource, 2),
    )
        .prop_map(|(spans, resources)| GenTrace {
            spans: spans
                .into_iter()
                .enumerate()
                .map(
                    |(i, (parent, name, kind, status, start_ms, duration_ms, resource, attrs))| {
                        GenSpan {
                            parent: (i > 0).then(|| parent.index(i)),
                            name,
                            kind,
                            status,
                            start_ms,
                            duration_ms,
                            resource,
                            attrs,
                        }
                    },
                )
                .collect(),
            resources,
        })
}

fn trace_id(t: usize) -> Vec<u8> {
    vec![t as u8 + 1; 16]
}

fn span_id(t: usize, s: usize) -> Vec<u8> {
    vec![t as u8 + 1, 0, 0, 0, 0, 0, 0, s as u8 + 1]
}

fn kvs(attrs: &[(usize, GenVal)]) -> Vec<KeyValue> {
    attrs
        .iter()
        .map(|(k, v)| KeyValue {
            key: KEYS[*k].into(),
            value: Some(AnyValue {
                value: Some(v.otlp()),
            }),
        })
        .collect()
}

/// The traces as OTLP: per trace, one `ResourceSpans` per resource.
fn otlp(traces: &[GenTrace], t0: u64) -> Vec<ResourceSpans> {
    let mut out = Vec::new();
    for (t, trace) in traces.iter().enumerate() {
        let base = t0 + t as u64 * 1_000_000_000;
        for (r, res) in trace.resources.iter().enumerate() {
            let spans: Vec<Span> = trace
                .spans
                .iter()
                .enumerate()
                .filter(|(_, s)| s.resource == r)
                .map(|(i, s)| Span {
                    trace_id: trace_id(t),
                    span_id: span_id(t, i),
                    parent_span_id: s.parent.map(|p| span_id(t, p)).unwrap_or_default(),
                    name: NAMES[s.name].into(),
                    kind: s.kind,
                    start_time_unix_nano: base + s.start_ms * MS,
                    end_time_unix_nano: base + (s.start_ms + s.duration_ms) * MS,
                    attributes: kvs(&s.attrs),
                    status: (s.status != 0).then(|| Status {
                        code: s.status,
                        message: String::new(),
                    }),
                    ..Default::default()
                })
                .collect();
            if spans.is_empty() {
                continue;
            }
            let mut attributes = vec![KeyValue::string("service.name", SERVICES[res.service])];
            attributes.extend(kvs(&res.attrs));
            out.push(ResourceSpans {
                resource: Some(Resource {
                    attributes,
                    dropped_attributes_count: 0,
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "gen".into(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            });
        }
    }
    out
}

// ---- queries ----

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Cmp {
    fn text(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Neq => "!=",
            Cmp::Lt => "<",
            Cmp::Lte => "<=",
            Cmp::Gt => ">",
            Cmp::Gte => ">=",
        }
    }

    fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Neq => a != b,
            Cmp::Lt => a < b,
            Cmp::Lte => a <= b,
            Cmp::Gt => a > b,
            Cmp::Gte => a >= b,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Scope {
    Span,
    Resource,
    Unscoped,
}

#[derive(Debug, Clone)]
enum Field {
    Name,
    Status,
    Kind,
    Duration,
    ChildCount,
    Attr(Scope, usize),
}

#[derive(Debug, Clone)]
enum Lit {
    Str(usize),
    Int(i64),
    Float(f64),
    Bool(bool),
    Status(i32),
    Kind(i32),
    DurationMs(u64),
    Nil,
}

/// A condition inside `{ }`.
#[derive(Debug, Clone)]
enum Cond {
    True,
    Cmp(Field, Cmp, Lit),
    Regex(Field, bool, &'static str),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SOp {
    And,
    Or,
    Child,
    Descendant,
    Parent,
    Ancestor,
    Sibling,
    NotChild,
    NotDescendant,
    NotParent,
    NotAncestor,
    NotSibling,
    UnionChild,
    UnionDescendant,
    UnionParent,
    UnionAncestor,
    UnionSibling,
}

const SOPS: [SOp; 17] = [
    SOp::And,
    SOp::Or,
    SOp::Child,
    SOp::Descendant,
    SOp::Parent,
    SOp::Ancestor,
    SOp::Sibling,
    SOp::NotChild,
    SOp::NotDescendant,
    SOp::NotParent,
    SOp::NotAncestor,
    SOp::NotSibling,
    SOp::UnionChild,
    SOp::UnionDescendant,
    SOp::UnionParent,
    SOp::UnionAncestor,
    SOp::UnionSibling,
];

impl SOp {
    fn text(self) -> &'static str {
        match self {
            SOp::And => "&&",
            SOp::Or => "||",
            SOp::Child => ">",
            SOp::Descendant => ">>",
            SOp::Parent => "<",
            SOp::Ancestor => "<<",
            SOp::Sibling => "~",
            SOp::NotChild => "!>",
            SOp::NotDescendant => "!>>",
            SOp::NotParent => "!<",
            SOp::NotAncestor => "!<<",
            SOp::NotSibling => "!~",
            SOp::UnionChild => "&>",
            SOp::UnionDescendant => "&>>",
            SOp::UnionParent => "&<",
            SOp::UnionAncestor => "&<<",
            SOp::UnionSibling => "&~",
        }
    }
}

/// A spanset expression.
#[derive(Debug, Clone)]
enum Query {
    Filter(Cond),
    Op(SOp, Box<Query>, Box<Query>),
    /// `head | count() op n`; the head is never itself a `Count`.
    Count(Box<Query>, Cmp, i64),
}

const PATTERNS: [&str; 6] = ["get", "get.*", "x|y", ".*y", "[a-z]+", "g"];
const CMPS: [Cmp; 6] = [Cmp::Eq, Cmp::Neq, Cmp::Lt, Cmp::Lte, Cmp::Gt, Cmp::Gte];

fn gen_cmp() -> impl Strategy<Value = Cmp> {
    prop::sample::select(CMPS.to_vec())
}

fn gen_eq() -> impl Strategy<Value = Cmp> {
    prop::sample::select(vec![Cmp::Eq, Cmp::Neq])
}

fn gen_attr_field() -> impl Strategy<Value = Field> {
    (
        prop::sample::select(vec![Scope::Span, Scope::Resource, Scope::Unscoped]),
        0..KEYS.len(),
    )
        .prop_map(|(s, k)| Field::Attr(s, k))
}

/// One comparison, well typed for TraceQL's validation.
fn gen_leaf() -> impl Strategy<Value = Cond> {
    prop_oneof![
        (gen_cmp(), 0..NAMES.len()).prop_map(|(op, n)| Cond::Cmp(
            Field::Name,
            op,
            Lit::Str(n + STRS.len())
        )),
        (gen_eq(), 0i32..3).prop_map(|(op, s)| Cond::Cmp(Field::Status, op, Lit::Status(s))),
        (gen_eq(), 0i32..6).prop_map(|(op, k)| Cond::Cmp(Field::Kind, op, Lit::Kind(k))),
        (gen_cmp(), 0u64..120).prop_map(|(op, d)| Cond::Cmp(
            Field::Duration,
            op,
            Lit::DurationMs(d)
        )),
        (gen_cmp(), 0i64..4).prop_map(|(op, n)| Cond::Cmp(Field::ChildCount, op, Lit::Int(n))),
        (gen_attr_field(), gen_cmp(), 0..STRS.len()).prop_map(|(f, op, s)| Cond::Cmp(
            f,
            op,
            Lit::Str(s)
        )),
        (gen_attr_field(), gen_cmp(), -1i64..4).prop_map(|(f, op, i)| Cond::Cmp(
            f,
            op,
            Lit::Int(i)
        )),
        (
            gen_attr_field(),
            gen_cmp(),
            prop::sample::select(vec![0.5, 1.0, 2.5])
        )
            .prop_map(|(f, op, x)| Cond::Cmp(f, op, Lit::Float(x))),
        (gen_attr_field(), gen_eq(), any::<bool>()).prop_map(|(f, op, b)| Cond::Cmp(
            f,
            op,
            Lit::Bool(b)
        )),
        (gen_attr_field(), gen_eq()).prop_map(|(f, op)| Cond::Cmp(f, op, Lit::Nil)),
        (
            prop_oneof![Just(Field::Name), gen_attr_field()],
            any::<bool>(),
            prop::sample::select(PATTERNS.to_vec())
        )
            .prop_map(|(f, neg, p)| Cond::Regex(f, neg, p)),
    ]
}

fn gen_cond() -> impl Strategy<Value = Cond> {
    let leaf = prop_oneof![1 => Just(Cond::True), 8 => gen_leaf()];
    leaf.prop_recursive(2, 4, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Cond::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn gen_query() -> impl Strategy<Value = Query> {
    gen_cond()
        .prop_map(Query::Filter)
        .prop_recursive(3, 6, 2, |inner| {
            prop_oneof![
                3 => (prop::sample::select(SOPS.to_vec()), inner.clone(), inner.clone())
                    .prop_map(|(op, a, b)| Query::Op(op, Box::new(a), Box::new(b))),
                1 => (inner, gen_cmp(), 0i64..4).prop_filter_map("count of a count", |(q, op, n)| {
                    (!matches!(q, Query::Count(..))).then(|| Query::Count(Box::new(q), op, n))
                }),
            ]
        })
}

// ---- formatting ----

fn lit_text(l: &Lit) -> String {
    match l {
        Lit::Str(i) => format!("{:?}", all_strings()[*i]),
        Lit::Int(i) => i.to_string(),
        Lit::Float(f) => format!("{f:?}"),
        Lit::Bool(b) => b.to_string(),
        Lit::Status(s) => ["unset", "ok", "error"][*s as usize].into(),
        Lit::Kind(k) => [
            "unspecified",
            "internal",
            "server",
            "client",
            "producer",
            "consumer",
        ][*k as usize]
            .into(),
        Lit::DurationMs(d) => format!("{d}ms"),
        Lit::Nil => "nil".into(),
    }
}

/// Attribute values, then span names: `Lit::Str` indexes both.
fn all_strings() -> Vec<&'static str> {
    STRS.iter().chain(NAMES.iter()).copied().collect()
}

fn field_text(f: &Field) -> String {
    match f {
        Field::Name => "name".into(),
        Field::Status => "status".into(),
        Field::Kind => "kind".into(),
        Field::Duration => "duration".into(),
        Field::ChildCount => "span:childCount".into(),
        Field::Attr(Scope::Span, k) => format!("span.{}", KEYS[*k]),
        Field::Attr(Scope::Resource, k) => format!("resource.{}", KEYS[*k]),
        Field::Attr(Scope::Unscoped, k) => format!(".{}", KEYS[*k]),
    }
}

fn cond_text(c: &Cond, out: &mut String) {
    match c {
        Cond::True => out.push_str("true"),
        Cond::Cmp(f, op, l) => {
            let _ = write!(out, "{} {} {}", field_text(f), op.text(), lit_text(l));
        }
        Cond::Regex(f, neg, p) => {
            let op = if *neg { "!~" } else { "=~" };
            let _ = write!(out, "{} {op} {p:?}", field_text(f));
        }
        Cond::And(a, b) | Cond::Or(a, b) => {
            let op = if matches!(c, Cond::And(..)) {
                "&&"
            } else {
                "||"
            };
            out.push('(');
            cond_text(a, out);
            let _ = write!(out, " {op} ");
            cond_text(b, out);
            out.push(')');
        }
    }
}

fn query_text(q: &Query) -> String {
    match q {
        Query::Filter(Cond::True) => "{ }".into(),
        Query::Filter(c) => {
            let mut s = String::from("{ ");
            cond_text(c, &mut s);
            s.push_str(" }");
            s
        }
        Query::Op(op, a, b) => format!("{} {} {}", operand(a), op.text(), operand(b)),
        Query::Count(head, op, n) => format!("{} | count() {} {n}", operand(head), op.text()),
    }
}

/// A query as the operand of an operator or the head of a pipeline: bracketed unless a filter.
fn operand(q: &Query) -> String {
    match q {
        Query::Filter(_) => query_text(q),
        _ => format!("({})", query_text(q)),
    }
}

// ---- the reference evaluator ----

/// A trace as the reference sees it: spans with their tree.
struct RefTrace<'a> {
    data: &'a GenTrace,
    children: Vec<usize>,
}

impl<'a> RefTrace<'a> {
    fn new(data: &'a GenTrace) -> RefTrace<'a> {
        let mut children = vec![0; data.spans.len()];
        for s in &data.spans {
            if let Some(p) = s.parent {
                children[p] += 1;
            }
        }
        RefTrace { data, children }
    }

    fn parent(&self, i: usize) -> Option<usize> {
        self.data.spans[i].parent
    }

    /// Whether `a` is a proper ancestor of `d`.
    fn ancestor(&self, a: usize, d: usize) -> bool {
        let mut p = self.parent(d);
        while let Some(x) = p {
            if x == a {
                return true;
            }
            p = self.parent(x);
        }
        false
    }

    fn related(&self, op: SOp, l: usize, r: usize) -> bool {
        use SOp::*;
        match op {
            Child | NotChild | UnionChild => self.parent(r) == Some(l),
            Parent | NotParent | UnionParent => self.parent(l) == Some(r),
            Descendant | NotDescendant | UnionDescendant => self.ancestor(l, r),
            Ancestor | NotAncestor | UnionAncestor => self.ancestor(r, l),
            Sibling | NotSibling | UnionSibling => {
                l != r && self.parent(l).is_some() && self.parent(l) == self.parent(r)
            }
            And | Or => false,
        }
    }

    fn attr(&self, i: usize, scope: Scope, key: usize) -> Option<&'a GenVal> {
        let s = &self.data.spans[i];
        let find = |attrs: &'a [(usize, GenVal)]| attrs.iter().find(|(k, _)| *k == key);
        let span = || find(&s.attrs).map(|(_, v)| v);
        let res = || find(&self.data.resources[s.resource].attrs).map(|(_, v)| v);
        match scope {
            Scope::Span => span(),
            Scope::Resource => res(),
            Scope::Unscoped => span().or_else(res),
        }
    }

    fn cond(&self, c: &Cond, i: usize) -> bool {
        let s = &self.data.spans[i];
        match c {
            Cond::True => true,
            Cond::And(a, b) => self.cond(a, i) && self.cond(b, i),
            Cond::Or(a, b) => self.cond(a, i) || self.cond(b, i),
            Cond::Regex(f, neg, p) => {
                let re = regex::Regex::new(&format!("^(?:{p})$")).unwrap();
                match f {
                    Field::Name => re.is_match(NAMES[s.name]) != *neg,
                    Field::Attr(scope, key) => match self.attr(i, *scope, *key) {
                        Some(GenVal::Str(v)) => re.is_match(STRS[*v]) != *neg,
                        // Any element matches; `!~`: none does.
                        Some(GenVal::Arr(items)) => {
                            items.iter().any(|v| re.is_match(STRS[*v])) != *neg
                        }
                        _ => false,
                    },
                    _ => unreachable!(),
                }
            }
            Cond::Cmp(f, op, lit) => match f {
                Field::Name => match lit {
                    Lit::Str(n) => op.holds(NAMES[s.name], all_strings()[*n]),
                    _ => unreachable!(),
                },
                Field::Status => match lit {
                    Lit::Status(x) => op.holds(s.status, *x),
                    _ => unreachable!(),
                },
                Field::Kind => match lit {
                    Lit::Kind(x) => op.holds(s.kind, *x),
                    _ => unreachable!(),
                },
                Field::Duration => match lit {
                    Lit::DurationMs(d) => op.holds(s.duration_ms, *d),
                    _ => unreachable!(),
                },
                Field::ChildCount => match lit {
                    Lit::Int(n) => op.holds(self.children[i] as i64, *n),
                    _ => unreachable!(),
                },
                Field::Attr(scope, key) => {
                    let v = self.attr(i, *scope, *key);
                    match (v, lit) {
                        (v, Lit::Nil) => (*op == Cmp::Eq) == v.is_none(),
                        (None, _) => false,
                        (Some(GenVal::Arr(items)), Lit::Str(x)) => {
                            let x = all_strings()[*x];
                            if *op == Cmp::Neq {
                                !items.iter().any(|v| STRS[*v] == x)
                            } else {
                                items.iter().any(|v| op.holds(STRS[*v], x))
                            }
                        }
                        // Elements of another type compare with nothing.
                        (Some(GenVal::Arr(_)), _) => false,
                        (Some(v), lit) => scalar(v, *op, lit),
                    }
                }
            },
        }
    }

    /// The spans of the one spanset `q` yields, empty for none.
    fn eval(&self, q: &Query) -> BTreeSet<usize> {
        let all = 0..self.data.spans.len();
        match q {
            Query::Filter(c) => all.filter(|&i| self.cond(c, i)).collect(),
            Query::Count(head, op, n) => {
                let set = self.eval(head);
                if !set.is_empty() && op.holds(set.len() as i64, *n) {
                    set
                } else {
                    BTreeSet::new()
                }
            }
            Query::Op(op, a, b) => {
                let (l, r) = (self.eval(a), self.eval(b));
                let related_any = |x: usize| l.iter().any(|&y| self.related(*op, y, x));
                use SOp::*;
                match op {
                    And if l.is_empty() || r.is_empty() => BTreeSet::new(),
                    And | Or => l.union(&r).copied().collect(),
                    Child | Descendant | Parent | Ancestor | Sibling => {
                        r.iter().copied().filter(|&x| related_any(x)).collect()
                    }
                    NotChild | NotDescendant | NotParent | NotAncestor | NotSibling => {
                        r.iter().copied().filter(|&x| !related_any(x)).collect()
                    }
                    UnionChild | UnionDescendant | UnionParent | UnionAncestor | UnionSibling => {
                        let mut out = BTreeSet::new();
                        for &x in &r {
                            for &y in &l {
                                if self.related(*op, y, x) {
                                    out.insert(x);
                                    out.insert(y);
                                }
                            }
                        }
                        out
                    }
                }
            }
        }
    }
}

/// A scalar attribute against a literal: strings with strings, numbers with numbers, booleans
/// with booleans (`=` and `!=` only); anything else is false, `!=` included.
fn scalar(v: &GenVal, op: Cmp, lit: &Lit) -> bool {
    let num = |v: &GenVal| match v {
        GenVal::Int(i) => Some(*i as f64),
        GenVal::Float(f) => Some(*f),
        _ => None,
    };
    match (v, lit) {
        (GenVal::Str(s), Lit::Str(x)) => op.holds(STRS[*s], all_strings()[*x]),
        (GenVal::Int(a), Lit::Int(b)) => op.holds(*a, *b),
        (GenVal::Bool(a), Lit::Bool(b)) => op.holds(*a, *b),
        (v, Lit::Int(b)) => num(v).is_some_and(|a| op.holds(a, *b as f64)),
        (v, Lit::Float(b)) => num(v).is_some_and(|a| op.holds(a, *b)),
        _ => false,
    }
}

/// Per trace ID, the matched span IDs.
type Answer = BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>>;

fn reference(traces: &[GenTrace], q: &Query) -> Answer {
    traces
        .iter()
        .enumerate()
        .filter_map(|(t, trace)| {
            let set = RefTrace::new(trace).eval(q);
            (!set.is_empty()).then(|| (trace_id(t), set.iter().map(|&i| span_id(t, i)).collect()))
        })
        .collect()
}

fn engine(store: &Store, q: &str) -> Result<Answer, String> {
    let req = SearchRequest::new(q).limit(1000).spans_per_spanset(1000);
    let r = store.search(TENANT, &req).map_err(|e| e.to_string())?;
    let mut out = Answer::new();
    for t in r.traces {
        let spans = out.entry(t.trace_id.0.to_vec()).or_default();
        for ss in t.span_sets {
            assert_eq!(
                ss.matched as usize,
                ss.spans.len(),
                "{q}: every span returned"
            );
            spans.extend(ss.spans.into_iter().map(|s| s.span_id));
        }
    }
    Ok(out)
}

fn t0() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (now.as_secs() - 600) * 1_000_000_000
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn head_blocks_and_reference_agree(
        traces in prop::collection::vec(gen_trace(), 1..=3),
        queries in prop::collection::vec(gen_query(), 8),
        delivered_twice in any::<bool>(),
    ) {
        let t0 = t0();
        let head = Store::in_memory();
        let blocks = Store::builder()
            .blocks(Arc::new(MemoryBackend::new()))
            .flush_check_period(Duration::from_secs(3600))
            .open()
            .unwrap();
        // A batch delivered twice (an exporter's retry) changes nothing.
        for _ in 0..1 + usize::from(delivered_twice) {
            head.ingest(TENANT, Batch::new(otlp(&traces, t0))).unwrap();
            blocks.ingest(TENANT, Batch::new(otlp(&traces, t0))).unwrap();
        }
        blocks.flush_blocks().unwrap();
        prop_assert_eq!(blocks.stats().head_traces, 0);

        for q in &queries {
            let text = query_text(q);
            let want = reference(&traces, q);
            let in_head = engine(&head, &text);
            let in_blocks = engine(&blocks, &text);
            prop_assert_eq!(in_head.as_ref(), Ok(&want), "head: {}", text);
            prop_assert_eq!(in_blocks.as_ref(), Ok(&want), "blocks: {}", text);
        }
    }
}
