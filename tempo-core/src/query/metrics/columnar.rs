//! columnar: metrics straight from span columns, when no trace tree is needed.
//!
//! Most metrics queries filter on the fields of each span alone (`{ status = error }`,
//! `{ resource.service.name = "api" && duration > 1s }`), group by such fields and aggregate
//! one of them. Those are evaluated here row by row over the columns a source decodes for
//! them ([`SpanColumns`]): no trace is materialized, no tree is built, strings are borrowed
//! from dictionaries, and a series is found from borrowed values without building its key.
//! Anything else (structural operators, pipelines, trace-level intrinsics, events and links,
//! `compare()`) goes through the trace evaluator.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use regex::Regex;
use tempo_traceql::{BinaryOp, ExprKind, FieldExpr, FieldExprKind, Intrinsic, Scope, UnaryOp};

use super::Exemplar;
use super::acc::{Kind, LeafAcc, Mix};
use super::plan::{Func, Plan};
use crate::query::eval::{Compiled, kind_of, status_of};
use crate::query::source::{ColumnWant, SpanColumns};
use crate::query::value::{Val, arithmetic, compare, regex_match};

/// A field expression compiled against the columns a scan reads.
enum CExpr {
    Static(Val<'static>),
    /// Attribute `.0` of the scan's [`ColumnWant::attrs`].
    Attr(usize),
    Name,
    Status,
    StatusMessage,
    Kind,
    Duration,
    Not(Box<CExpr>),
    Neg(Box<CExpr>),
    And(Box<CExpr>, Box<CExpr>),
    Or(Box<CExpr>, Box<CExpr>),
    /// `=~` or `!~`; `None` when the pattern did not compile (never matches, as in the
    /// trace evaluator).
    Regex {
        lhs: Box<CExpr>,
        re: Option<Regex>,
        negate: bool,
    },
    /// `x != nil` (`present`) or `x = nil`.
    Present {
        expr: Box<CExpr>,
        present: bool,
    },
    Compare(BinaryOp, Box<CExpr>, Box<CExpr>),
    Arith(BinaryOp, Box<CExpr>, Box<CExpr>),
}

/// One leaf, compiled for columns.
struct CLeaf {
    filter: Option<CExpr>,
    by: Vec<CExpr>,
    field: Option<CExpr>,
    /// For `compare()`: its selection.
    compare: Option<CCompare>,
}

/// `compare()`'s selection, compiled.
struct CCompare {
    /// The selection's condition; `None` for `{ }`.
    selection: Option<CExpr>,
    /// The selection's time window, unix nanoseconds, `[from, to)`.
    window: Option<(u64, u64)>,
}

/// A metrics query whose every leaf can run on columns.
pub(crate) struct ColumnarPlan {
    /// What to decode.
    pub(crate) want: ColumnWant,
    leaves: Vec<CLeaf>,
}

impl ColumnarPlan {
    /// The columnar form of `plan`, if every leaf has one; `ids` when exemplars or sampling
    /// need trace and span IDs.
    pub(crate) fn new(plan: &Plan, ids: bool) -> Option<ColumnarPlan> {
        let mut want = ColumnWant {
            ids,
            ..ColumnWant::default()
        };
        let mut leaves = Vec::with_capacity(plan.leaves.len());
        for leaf in &plan.leaves {
            let ExprKind::Filter(f) = &leaf.filter.query.expr.kind else {
                return None;
            };
            let compare = match &leaf.func {
                Func::Compare {
                    selection, window, ..
                } => {
                    let ExprKind::Filter(sel) = &selection.query.expr.kind else {
                        return None;
                    };
                    let condition = match &sel.expr {
                        None => None,
                        Some(e) => Some(compile(e, selection, &mut want)?),
                    };
                    want.all_attrs = true;
                    want.name = true;
                    want.status = true;
                    want.kind = true;
                    Some(CCompare {
                        selection: condition,
                        window: *window,
                    })
                }
                _ => None,
            };
            let filter = match &f.expr {
                None => None,
                Some(e) => Some(compile(e, &leaf.filter, &mut want)?),
            };
            let by = leaf
                .by
                .iter()
                .map(|(_, e)| compile(e, &leaf.filter, &mut want))
                .collect::<Option<Vec<_>>>()?;
            let field = match leaf.func.field() {
                None => None,
                Some(e) => Some(compile(e, &leaf.filter, &mut want)?),
            };
            leaves.push(CLeaf {
                filter,
                by,
                field,
                compare,
            });
        }
        Some(ColumnarPlan { want, leaves })
    }
}

/// Compiles a field expression, noting what it reads; `None` for what columns do not hold.
fn compile(e: &FieldExpr, compiled: &Compiled, want: &mut ColumnWant) -> Option<CExpr> {
    let boxed = |e: &FieldExpr, want: &mut ColumnWant| compile(e, compiled, want).map(Box::new);
    Some(match &e.kind {
        FieldExprKind::Static(s) => CExpr::Static(Val::from_static(s).into_owned()),
        FieldExprKind::Attribute(a) => {
            if !matches!(a.scope, Scope::Span | Scope::Resource | Scope::None) {
                return None;
            }
            let key = (a.scope, a.name.clone());
            let i = match want.attrs.iter().position(|k| *k == key) {
                Some(i) => i,
                None => {
                    want.attrs.push(key);
                    want.attrs.len() - 1
                }
            };
            CExpr::Attr(i)
        }
        FieldExprKind::Intrinsic(x) => match x {
            Intrinsic::SpanName => {
                want.name = true;
                CExpr::Name
            }
            Intrinsic::SpanStatus => {
                want.status = true;
                CExpr::Status
            }
            Intrinsic::SpanStatusMessage => {
                want.status = true;
                want.status_message = true;
                CExpr::StatusMessage
            }
            Intrinsic::SpanKind => {
                want.kind = true;
                CExpr::Kind
            }
            Intrinsic::SpanDuration => {
                want.duration = true;
                CExpr::Duration
            }
            _ => return None,
        },
        FieldExprKind::Unary { op, expr } => match op {
            UnaryOp::Not => CExpr::Not(boxed(expr, want)?),
            UnaryOp::Neg => CExpr::Neg(boxed(expr, want)?),
        },
        FieldExprKind::Binary { op, lhs, rhs } => match op {
            BinaryOp::And => CExpr::And(boxed(lhs, want)?, boxed(rhs, want)?),
            BinaryOp::Or => CExpr::Or(boxed(lhs, want)?, boxed(rhs, want)?),
            BinaryOp::Regex | BinaryOp::NotRegex => {
                let re = match &rhs.kind {
                    FieldExprKind::Static(tempo_traceql::Static::String(p)) => {
                        compiled.regex(p).cloned()
                    }
                    _ => None,
                };
                CExpr::Regex {
                    lhs: boxed(lhs, want)?,
                    re,
                    negate: *op == BinaryOp::NotRegex,
                }
            }
            BinaryOp::Eq | BinaryOp::Neq if is_nil(lhs) && is_nil(rhs) => {
                CExpr::Static(Val::Bool(false))
            }
            BinaryOp::Eq | BinaryOp::Neq if is_nil(lhs) || is_nil(rhs) => {
                let other = if is_nil(rhs) { lhs } else { rhs };
                CExpr::Present {
                    expr: boxed(other, want)?,
                    present: *op == BinaryOp::Neq,
                }
            }
            BinaryOp::Eq
            | BinaryOp::Neq
            | BinaryOp::Lt
            | BinaryOp::Lte
            | BinaryOp::Gt
            | BinaryOp::Gte => CExpr::Compare(*op, boxed(lhs, want)?, boxed(rhs, want)?),
            _ => CExpr::Arith(*op, boxed(lhs, want)?, boxed(rhs, want)?),
        },
    })
}

fn is_nil(e: &FieldExpr) -> bool {
    matches!(e.kind, FieldExprKind::Static(tempo_traceql::Static::Nil))
}

/// The value of a compiled expression on span `row`, as the trace evaluator computes it.
fn eval<'c>(e: &CExpr, c: &'c dyn SpanColumns, row: usize) -> Val<'c> {
    match e {
        CExpr::Static(v) => v.clone(),
        CExpr::Attr(i) => c.attr(*i, row),
        CExpr::Name => Val::Str(std::borrow::Cow::Borrowed(c.name(row))),
        CExpr::Status => Val::Status(status_of(c.status(row))),
        CExpr::StatusMessage => Val::Str(std::borrow::Cow::Borrowed(c.status_message(row))),
        CExpr::Kind => Val::Kind(kind_of(c.kind(row))),
        CExpr::Duration => Val::Dur(c.duration(row) as i64),
        CExpr::Not(x) => match eval(x, c, row) {
            Val::Bool(b) => Val::Bool(!b),
            _ => Val::Nil,
        },
        CExpr::Neg(x) => match eval(x, c, row) {
            Val::Int(i) => Val::Int(i.wrapping_neg()),
            Val::Float(f) => Val::Float(-f),
            Val::Dur(d) => Val::Dur(d.wrapping_neg()),
            _ => Val::Nil,
        },
        CExpr::And(a, b) => Val::Bool(eval(a, c, row).truthy() && eval(b, c, row).truthy()),
        CExpr::Or(a, b) => Val::Bool(eval(a, c, row).truthy() || eval(b, c, row).truthy()),
        CExpr::Regex { lhs, re, negate } => match re {
            Some(re) => Val::Bool(regex_match(&eval(lhs, c, row), re, *negate)),
            None => Val::Bool(false),
        },
        CExpr::Present { expr, present } => Val::Bool(eval(expr, c, row).is_nil() != *present),
        CExpr::Compare(op, a, b) => Val::Bool(compare(*op, &eval(a, c, row), &eval(b, c, row))),
        CExpr::Arith(op, a, b) => arithmetic(*op, &eval(a, c, row), &eval(b, c, row)),
    }
}

/// What a scan of one source needs from the query's run.
pub(crate) struct Scan<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) columnar: &'a ColumnarPlan,
    pub(crate) grid: &'a super::Grid,
    pub(crate) stop: &'a crate::query::stop::Stop,
    pub(crate) exemplars: usize,
    pub(crate) sample_below: u64,
}

/// Adds the spans of one source's columns to the worker's series.
pub(crate) fn scan(
    s: &Scan<'_>,
    c: &dyn SpanColumns,
    leaves: &mut [super::acc::LeafAcc],
    metrics: &mut crate::query::SearchMetrics,
    held: &mut usize,
) {
    let n = c.len();
    metrics.inspected_spans += n as u64;
    if n > 0 {
        metrics.inspected_traces += c.trace_of(n - 1) as u64 + 1;
    }
    let mut parts: Vec<Val<'_>> = Vec::new();
    let mut compares: Vec<CompareCounts<'_>> = s
        .columnar
        .leaves
        .iter()
        .map(|_| CompareCounts::new(c))
        .collect();
    let mut last_exemplar_trace = vec![usize::MAX; s.columnar.leaves.len()];
    let mut sampled_trace: (usize, bool) = (usize::MAX, true);
    for row in 0..n {
        if row % crate::query::stop::CHECK_EVERY == 0
            && row > 0
            && (s.stop.should_stop() || !super::acc::hold_series(s.stop, s.grid.len, leaves, held))
        {
            break;
        }
        let start = c.start(row);
        let Some(interval) = s.grid.interval_of(start) else {
            continue;
        };
        if s.sample_below != u64::MAX {
            let t = c.trace_of(row);
            if sampled_trace.0 != t {
                sampled_trace = (t, super::plan::sampled(&c.trace_id(t), s.sample_below));
            }
            if !sampled_trace.1 {
                continue;
            }
        }
        for (i, (cl, leaf)) in s.columnar.leaves.iter().zip(&s.plan.leaves).enumerate() {
            if let Some(f) = &cl.filter
                && !eval(f, c, row).truthy()
            {
                continue;
            }
            if let Some(cc) = &cl.compare {
                let selected = cc
                    .selection
                    .as_ref()
                    .is_none_or(|e| eval(e, c, row).truthy())
                    && cc
                        .window
                        .is_none_or(|(from, to)| from <= start && start < to);
                compares[i].count_row(c, row, interval, selected, s.grid.len);
                continue;
            }
            let value = match &cl.field {
                None => 0.0,
                Some(f) => match super::plan::value_of(&eval(f, c, row), leaf) {
                    Some(v) => v,
                    None => continue,
                },
            };
            parts.clear();
            parts.extend(cl.by.iter().map(|b| eval(b, c, row)));
            let series = leaves[i].slot_of(&parts, leaf.kind, s.grid.len);
            series.values.add(interval, value, 1.0);
            if s.exemplars > 0 && series.wants_exemplar(interval, s.exemplars) {
                let t = c.trace_of(row);
                if last_exemplar_trace[i] != t {
                    last_exemplar_trace[i] = t;
                    series.keep_exemplar(
                        interval,
                        Exemplar {
                            trace_id: c.trace_id(t),
                            span_id: c.span_id(row).to_vec(),
                            value: super::plan::exemplar_value(leaf, value),
                            timestamp_ms: (start / 1_000_000) as i64,
                        },
                    );
                }
            }
        }
    }
    for (mut counts, acc) in compares.into_iter().zip(leaves.iter_mut()) {
        counts.count_columns(c, s.grid.len);
        counts.fold_into(acc, s.grid.len);
    }
}

/// `compare()`'s counts within one source, by (side, attribute, value), the values borrowed
/// from the source's columns: one hash of a few words a span attribute, no string hashed.
struct CompareCounts<'c> {
    /// Labels of the attributes seen, by id: `span.x`, `resource.x`, `name`, `status`, `kind`.
    labels: Vec<String>,
    /// Ids of the span attribute columns, by column.
    span_ids: Vec<u32>,
    /// Ids of resource attribute keys.
    resource_ids: HashMap<&'c str, u32>,
    /// The counts, by (side, attribute, value).
    index: HashMap<CountKey, usize, BuildHasherDefault<Mix>>,
    entries: Vec<(bool, u32, Val<'c>)>,
    /// The entries' counts, `len` per entry, in one allocation.
    counts: Vec<f64>,
    /// Per row of the source: `interval << 1 | selected` for the spans counted, else
    /// `u32::MAX`.
    rows: Vec<u32>,
    /// Spans counted per resource (by its attributes' address), side and interval
    /// (`[side * len + interval]`); the resource's attributes are counted once each at the
    /// end.
    resources: Vec<(&'c [crate::model::KeyValue], Vec<f64>)>,
    /// Where each resource is in `resources`.
    resource_at: HashMap<usize, usize, BuildHasherDefault<Mix>>,
    /// The resource of the last span counted: its address and place.
    last_resource: (usize, usize),
    /// Spans counted per status and kind, side and interval (`[(code * 2 + side) * len +
    /// interval]`).
    statuses: Vec<f64>,
    kinds: Vec<f64>,
}

/// What a count is of: a side, an attribute id and a value's identity (a string by its
/// address in the source, which holds each distinct string once per column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct CountKey {
    attr: u32,
    tag: u32,
    bits: u64,
}

/// The key of a value's count; `None` for what is not counted (nil, arrays, owned strings).
#[inline]
fn count_key(attr: u32, v: &Val<'_>, selected: bool) -> Option<CountKey> {
    let (tag, bits) = match v {
        Val::Str(std::borrow::Cow::Borrowed(s)) => {
            (1, s.as_ptr() as u64 ^ ((s.len() as u64) << 48))
        }
        Val::Int(i) => (2, *i as u64),
        Val::Float(f) => (3, f.to_bits()),
        Val::Bool(b) => (4, u64::from(*b)),
        Val::Status(st) => (5, *st as u64),
        Val::Kind(k) => (6, *k as u64),
        _ => return None,
    };
    Some(CountKey {
        attr: attr << 1 | u32::from(selected),
        tag,
        bits,
    })
}

impl<'c> CompareCounts<'c> {
    fn new(c: &'c dyn SpanColumns) -> CompareCounts<'c> {
        let mut labels = vec!["name".to_owned(), "status".to_owned(), "kind".to_owned()];
        let mut span_ids = vec![u32::MAX; c.all_span_attrs().end];
        for column in c.all_span_attrs() {
            span_ids[column] = labels.len() as u32;
            labels.push(format!("span.{}", c.attr_key(column)));
        }
        CompareCounts {
            labels,
            span_ids,
            resource_ids: HashMap::new(),
            index: HashMap::default(),
            entries: Vec::new(),
            counts: Vec::new(),
            rows: Vec::new(),
            resources: Vec::new(),
            resource_at: HashMap::default(),
            last_resource: (usize::MAX, 0),
            statuses: Vec::new(),
            kinds: Vec::new(),
        }
    }

    /// Marks span `row` for [`CompareCounts::count_columns`], and counts it for its
    /// resource, status and kind.
    fn count_row(
        &mut self,
        c: &'c dyn SpanColumns,
        row: usize,
        interval: usize,
        selected: bool,
        len: usize,
    ) {
        if self.rows.is_empty() {
            self.rows = vec![u32::MAX; c.len()];
            self.statuses = vec![0.0; 3 * 2 * len];
            self.kinds = vec![0.0; 6 * 2 * len];
        }
        self.rows[row] = (interval as u32) << 1 | u32::from(selected);
        let side = usize::from(selected);
        // Unknown codes are unset and unspecified, as the trace evaluator reads them.
        let status = match c.status(row) {
            code @ 1..=2 => code as usize,
            _ => 0,
        };
        self.statuses[(status * 2 + side) * len + interval] += 1.0;
        let kind = match c.kind(row) {
            code @ 1..=5 => code as usize,
            _ => 0,
        };
        self.kinds[(kind * 2 + side) * len + interval] += 1.0;
        let attrs = c.resource_attrs(row);
        let address = attrs.as_ptr() as usize;
        if self.last_resource.0 != address {
            let at = match self.resource_at.get(&address) {
                Some(&at) => at,
                None => {
                    self.resources.push((attrs, vec![0.0; 2 * len]));
                    self.resource_at.insert(address, self.resources.len() - 1);
                    self.resources.len() - 1
                }
            };
            self.last_resource = (address, at);
        }
        self.resources[self.last_resource.1].1[side * len + interval] += 1.0;
    }

    /// Adds `counts` (per interval) to the count of one value.
    fn add_counts(&mut self, attr: u32, v: Val<'c>, selected: bool, counts: &[f64]) {
        let Some(key) = count_key(attr, &v, selected) else {
            return;
        };
        let len = counts.len();
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                self.entries.push((selected, attr, v));
                self.counts.resize(self.counts.len() + len, 0.0);
                self.index.insert(key, self.entries.len() - 1);
                self.entries.len() - 1
            }
        };
        for (x, y) in self.counts[i * len..(i + 1) * len].iter_mut().zip(counts) {
            *x += y;
        }
    }

    /// Counts what was counted per resource, status and kind into their attributes.
    fn count_resources(&mut self, len: usize) {
        for (attrs, counts) in std::mem::take(&mut self.resources) {
            for kv in attrs {
                let v = kv.value.as_ref().map_or(Val::Nil, Val::from_any);
                if v.is_nil() || matches!(v, Val::Array(_)) {
                    continue;
                }
                let id = match self.resource_ids.get(kv.key.as_str()) {
                    Some(id) => *id,
                    None => {
                        let id = self.labels.len() as u32;
                        self.labels.push(format!("resource.{}", kv.key));
                        self.resource_ids.insert(kv.key.as_str(), id);
                        id
                    }
                };
                for side in [false, true] {
                    let part = &counts[usize::from(side) * len..(usize::from(side) + 1) * len];
                    if part.iter().any(|n| *n != 0.0) {
                        self.add_counts(id, v.clone(), side, part);
                    }
                }
            }
        }
        let statuses = std::mem::take(&mut self.statuses);
        for (k, part) in statuses.chunks(len.max(1)).enumerate() {
            if part.iter().any(|n| *n != 0.0) {
                let v = Val::Status(status_of((k / 2) as i32));
                self.add_counts(1, v, k % 2 == 1, part);
            }
        }
        let kinds = std::mem::take(&mut self.kinds);
        for (k, part) in kinds.chunks(len.max(1)).enumerate() {
            if part.iter().any(|n| *n != 0.0) {
                let v = Val::Kind(kind_of((k / 2) as i32));
                self.add_counts(2, v, k % 2 == 1, part);
            }
        }
    }

    /// Counts the span attributes of the marked rows, column by column: each column's
    /// present values only; strings by their dictionary codes, in an array, where the
    /// dictionary is small enough for one.
    fn count_columns(&mut self, c: &'c dyn SpanColumns, len: usize) {
        /// The most counters a column's array may hold.
        const MAX_DENSE: usize = 1 << 20;
        if self.rows.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut self.rows);
        self.count_resources(len);
        match c.name_codes() {
            Some((dict, codes)) if dict.len().saturating_mul(2 * len) <= MAX_DENSE => {
                self.count_codes(0, dict, codes, &rows, len);
            }
            _ => {
                for (row, &mark) in rows.iter().enumerate() {
                    if mark != u32::MAX {
                        let name = Val::Str(std::borrow::Cow::Borrowed(c.name(row)));
                        self.add(0, name, (mark >> 1) as usize, mark & 1 == 1, len);
                    }
                }
            }
        }
        for column in c.all_span_attrs() {
            let id = self.span_ids[column];
            let mut strings = true;
            if let Some((dict, codes)) = c.str_codes(column)
                && dict.len().saturating_mul(2 * len) <= MAX_DENSE
            {
                strings = false;
                self.count_codes(id, dict, codes, &rows, len);
            }
            c.for_each_present(column, strings, &mut |row, v| {
                let mark = rows[row];
                if mark != u32::MAX {
                    self.add(id, v, (mark >> 1) as usize, mark & 1 == 1, len);
                }
            });
        }
    }

    /// Counts the strings of a dictionary-coded column (`codes`: per row, an entry of
    /// `dict` or `u32::MAX`) of the marked rows, in an array.
    fn count_codes(
        &mut self,
        id: u32,
        dict: &'c [String],
        codes: &[u32],
        rows: &[u32],
        len: usize,
    ) {
        let mut dense = vec![0.0f64; dict.len() * 2 * len];
        for (&code, &mark) in codes.iter().zip(rows) {
            // A code past the dictionary (damage the decoder let through) counts nothing.
            if (code as usize) < dict.len() && mark != u32::MAX {
                let side = (mark & 1) as usize;
                dense[((code as usize) * 2 + side) * len + (mark >> 1) as usize] += 1.0;
            }
        }
        for (k, counts) in dense.chunks(len.max(1)).enumerate() {
            if counts.iter().all(|n| *n == 0.0) {
                continue;
            }
            let value = Val::Str(std::borrow::Cow::Borrowed(dict[k / 2].as_str()));
            self.entries.push((k % 2 == 1, id, value));
            self.counts.extend_from_slice(counts);
        }
    }

    #[inline]
    fn add(&mut self, attr: u32, v: Val<'c>, interval: usize, selected: bool, len: usize) {
        let Some(key) = count_key(attr, &v, selected) else {
            return;
        };
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                self.entries.push((selected, attr, v));
                self.counts.resize(self.counts.len() + len, 0.0);
                self.index.insert(key, self.entries.len() - 1);
                self.entries.len() - 1
            }
        };
        self.counts[i * len + interval] += 1.0;
    }

    /// Adds the counts to the leaf's series, as the trace evaluator names them.
    fn fold_into(self, acc: &mut LeafAcc, len: usize) {
        let side = |selected: bool| if selected { "selection" } else { "baseline" };
        // Totals per attribute and side: `[id * 2 + side]`.
        let mut totals: Vec<Vec<f64>> = vec![Vec::new(); self.labels.len() * 2];
        for (e, (selected, attr, v)) in self.entries.into_iter().enumerate() {
            let counts = &self.counts[e * len..(e + 1) * len];
            let t = &mut totals[attr as usize * 2 + usize::from(selected)];
            if t.is_empty() {
                *t = vec![0.0; len];
            }
            for (x, y) in t.iter_mut().zip(counts) {
                *x += y;
            }
            let parts = [
                Val::Str(std::borrow::Cow::Borrowed(side(selected))),
                Val::Str(std::borrow::Cow::Borrowed(
                    self.labels[attr as usize].as_str(),
                )),
                v,
            ];
            acc.slot_of(&parts, Kind::Count, len).values.add_all(counts);
        }
        for (t, counts) in totals.into_iter().enumerate() {
            if counts.is_empty() {
                continue;
            }
            let total = if t % 2 == 1 {
                "selection_total"
            } else {
                "baseline_total"
            };
            let parts = [
                Val::Str(std::borrow::Cow::Borrowed(total)),
                Val::Str(std::borrow::Cow::Borrowed(self.labels[t / 2].as_str())),
                Val::Nil,
            ];
            acc.slot_of(&parts, Kind::Count, len)
                .values
                .add_all(&counts);
        }
    }
}
