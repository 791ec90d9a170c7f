//! columns: a row group's spans as flat columns, for scans that need no trace trees.
//!
//! A metrics query such as `{ status = error } | rate() by (resource.service.name)` reads a
//! handful of values per span. Here only those columns are decoded, into arrays indexed by
//! span row; nothing is materialized per span, and strings are borrowed from dictionaries.

use std::sync::Arc;

use tempo_traceql::Scope;

use super::BlockError;
use super::encoding::{Bitmap, DictValues, FixedValues, unzigzag};
use super::reader::{RowGroupData, prefix_sums};
use super::writer::AttrType;
use crate::model::{AnyValue, KeyValue, TraceId};
use crate::query::source::{ColumnWant, SpanColumns};
use crate::query::value::Val;
use crate::spans::SharedResource;

/// No value at this row.
const ABSENT: u32 = u32::MAX;

/// One typed column of a span attribute, dense by row.
enum Dense {
    /// Strings: per row, a dictionary code or [`ABSENT`].
    Str { dict: DictValues, at: Vec<u32> },
    /// Integers (zigzag): per row, a value index or [`ABSENT`].
    Int { values: Vec<u64>, at: Vec<u32> },
    /// Floats.
    Float { values: Vec<f64>, at: Vec<u32> },
    /// Booleans.
    Bool { values: Bitmap, at: Vec<u32> },
}

impl Dense {
    #[inline]
    fn get(&self, row: usize) -> Option<Val<'_>> {
        let at = match self {
            Dense::Str { at, .. }
            | Dense::Int { at, .. }
            | Dense::Float { at, .. }
            | Dense::Bool { at, .. } => *at.get(row)?,
        };
        if at == ABSENT {
            return None;
        }
        self.value(at as usize)
    }

    /// Value `i` of the column (a dictionary entry for strings).
    #[inline]
    fn value(&self, i: usize) -> Option<Val<'_>> {
        Some(match self {
            Dense::Str { dict, .. } => {
                Val::Str(std::borrow::Cow::Borrowed(dict.dict.get(i)?.as_str()))
            }
            Dense::Int { values, .. } => Val::Int(unzigzag(*values.get(i)?)),
            Dense::Float { values, .. } => Val::Float(*values.get(i)?),
            Dense::Bool { values, .. } => Val::Bool(values.get(i)),
        })
    }
}

/// One attribute asked for: its span columns (one per value type) and, per resource, its
/// resource value.
struct Attr {
    key: String,
    span: Vec<Dense>,
    resource: Vec<Option<AnyValue>>,
    scope: Scope,
}

/// The columns of one row group.
pub(crate) struct GroupSpanColumns {
    /// Per span: its absolute start.
    start: Vec<u64>,
    duration: Vec<u64>,
    status_present: Option<Bitmap>,
    status_code: Vec<u64>,
    kind: Vec<u64>,
    name: Option<DictValues>,
    status_message: Option<DictValues>,
    /// First row of each trace, and the span count at the end.
    first: Vec<usize>,
    ids: Option<FixedValues>,
    span_ids: Option<FixedValues>,
    /// Per span: its resource.
    resource: Vec<u64>,
    attrs: Vec<Attr>,
    /// With every attribute asked for: the columns past those asked for by name, one per
    /// span attribute key.
    all_span: std::ops::Range<usize>,
    /// With every attribute asked for: each resource's attributes.
    resources: Vec<Arc<SharedResource>>,
    bytes: u64,
}

impl GroupSpanColumns {
    /// Decodes what `want` asks for; `None` when an attribute asked for has values that
    /// are not scalars here (arrays, lists), which only the trace evaluator compares.
    pub(crate) fn new(
        g: &RowGroupData,
        want: &ColumnWant,
        bytes: u64,
    ) -> Result<Option<GroupSpanColumns>, BlockError> {
        let (t, s) = (g.traces, g.spans);
        for (scope, key) in &want.attrs {
            let tables: &[&str] = match scope {
                Scope::Span => &["span"],
                Scope::Resource => &["resource"],
                _ => &["span", "resource"],
            };
            if tables
                .iter()
                .any(|table| g.has_column(&format!("{table}.attr.any.{key}#present")))
            {
                return Ok(None);
            }
        }
        let counts = g.varints("trace.span_count", t)?;
        let first = prefix_sums(&counts, s, "trace span")?;
        let starts = g.varints("trace.start", t)?;
        let deltas = g.varints("span.start", s)?;
        let mut start = Vec::with_capacity(s);
        for (tr, trace_start) in starts.iter().enumerate() {
            let rows = deltas.get(first[tr]..first[tr + 1]).unwrap_or(&[]);
            start.extend(rows.iter().map(|d| trace_start.wrapping_add(*d)));
        }
        let when = |yes: bool, name: &str| -> Result<Vec<u64>, BlockError> {
            if yes {
                g.varints(name, s)
            } else {
                Ok(Vec::new())
            }
        };
        let needs_resource = want.all_attrs
            || want
                .attrs
                .iter()
                .any(|(scope, _)| matches!(scope, Scope::Resource | Scope::None));
        let mut attrs = Vec::with_capacity(want.attrs.len());
        let resources = if needs_resource {
            let keep = |table: &str, key: &str| {
                table == "resource" && (want.all_attrs || want.attrs.iter().any(|(_, k)| k == key))
            };
            g.resources(Some(&keep))?
        } else {
            Vec::new()
        };
        let mut wanted: Vec<(Scope, String)> = want.attrs.clone();
        let named = wanted.len();
        if want.all_attrs {
            let mut keys: Vec<&str> = g
                .column_names()
                .filter_map(|name| {
                    let (ty, key) = name
                        .strip_prefix("span.attr.")?
                        .strip_suffix("#present")?
                        .split_once('.')?;
                    (ty != "any").then_some(key)
                })
                .collect();
            keys.sort_unstable();
            keys.dedup();
            wanted.extend(keys.into_iter().map(|k| (Scope::Span, k.to_owned())));
        }
        for (scope, key) in &wanted {
            let mut span = Vec::new();
            if matches!(scope, Scope::Span | Scope::None) {
                for ty in [
                    AttrType::Str,
                    AttrType::Int,
                    AttrType::Float,
                    AttrType::Bool,
                ] {
                    let base = format!("span.attr.{}.{key}", ty.name());
                    let present_name = format!("{base}#present");
                    if !g.has_column(&present_name) {
                        continue;
                    }
                    let present = g.bitmap(&present_name, s)?;
                    let count = present.ones(s);
                    let mut at = Vec::with_capacity(s);
                    let mut next = 0u32;
                    for row in 0..s {
                        if present.get(row) {
                            at.push(next);
                            next += 1;
                        } else {
                            at.push(ABSENT);
                        }
                    }
                    let values = format!("{base}#values");
                    span.push(match ty {
                        AttrType::Str => {
                            let dict = g.dict(&values, count)?;
                            // Rows point straight at dictionary entries.
                            for a in &mut at {
                                if *a != ABSENT {
                                    *a = dict.codes.get(*a as usize).copied().ok_or_else(|| {
                                        BlockError::corrupt(format!(
                                            "column {values}: fewer values than present rows"
                                        ))
                                    })?;
                                }
                            }
                            Dense::Str { dict, at }
                        }
                        AttrType::Int => Dense::Int {
                            values: g.varints(&values, count)?,
                            at,
                        },
                        AttrType::Float => Dense::Float {
                            values: g.f64s(&values, count)?,
                            at,
                        },
                        _ => Dense::Bool {
                            values: g.bitmap(&values, count)?,
                            at,
                        },
                    });
                }
            }
            let resource = if matches!(scope, Scope::Resource | Scope::None) {
                resources.iter().map(|r| resource_value(r, key)).collect()
            } else {
                Vec::new()
            };
            attrs.push(Attr {
                key: key.clone(),
                span,
                resource,
                scope: *scope,
            });
        }
        Ok(Some(GroupSpanColumns {
            start,
            duration: when(want.duration, "span.duration")?,
            status_present: if want.status {
                Some(g.bitmap("span.status_present", s)?)
            } else {
                None
            },
            status_code: when(want.status, "span.status_code")?,
            kind: when(want.kind, "span.kind")?,
            name: if want.name {
                Some(g.dict("span.name", s)?)
            } else {
                None
            },
            status_message: if want.status_message {
                Some(g.dict("span.status_message", s)?)
            } else {
                None
            },
            ids: if want.ids {
                Some(g.fixed("trace.id", t)?)
            } else {
                None
            },
            span_ids: if want.ids {
                Some(g.fixed("span.id", s)?)
            } else {
                None
            },
            resource: if needs_resource {
                g.varints("span.resource", s)?
            } else {
                Vec::new()
            },
            first,
            all_span: named..attrs.len(),
            attrs,
            resources: if want.all_attrs {
                resources
            } else {
                Vec::new()
            },
            bytes,
        }))
    }
}

/// The value of resource attribute `key` (the first, if repeated).
fn resource_value(r: &Arc<SharedResource>, key: &str) -> Option<AnyValue> {
    r.resource
        .as_ref()?
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone())
}

impl SpanColumns for GroupSpanColumns {
    fn len(&self) -> usize {
        self.start.len()
    }

    #[inline]
    fn start(&self, row: usize) -> u64 {
        self.start[row]
    }

    #[inline]
    fn duration(&self, row: usize) -> u64 {
        self.duration.get(row).map_or(0, |d| unzigzag(*d) as u64)
    }

    #[inline]
    fn status(&self, row: usize) -> i32 {
        match &self.status_present {
            Some(p) if p.get(row) => self.status_code.get(row).map_or(0, |c| unzigzag(*c) as i32),
            _ => 0,
        }
    }

    #[inline]
    fn kind(&self, row: usize) -> i32 {
        self.kind.get(row).map_or(0, |k| unzigzag(*k) as i32)
    }

    #[inline]
    fn name(&self, row: usize) -> &str {
        self.name.as_ref().and_then(|d| d.get(row)).unwrap_or("")
    }

    #[inline]
    fn status_message(&self, row: usize) -> &str {
        self.status_message
            .as_ref()
            .and_then(|d| d.get(row))
            .unwrap_or("")
    }

    #[inline]
    fn attr(&self, column: usize, row: usize) -> Val<'_> {
        let Some(a) = self.attrs.get(column) else {
            return Val::Nil;
        };
        if !matches!(a.scope, Scope::Resource) {
            for d in &a.span {
                if let Some(v) = d.get(row) {
                    return v;
                }
            }
        }
        if matches!(a.scope, Scope::Resource | Scope::None) {
            let r = self.resource.get(row).copied().unwrap_or(u64::MAX) as usize;
            if let Some(Some(v)) = a.resource.get(r) {
                return Val::from_any(v);
            }
        }
        Val::Nil
    }

    fn all_span_attrs(&self) -> std::ops::Range<usize> {
        self.all_span.clone()
    }

    fn for_each_present<'a>(
        &'a self,
        column: usize,
        strings: bool,
        f: &mut dyn FnMut(usize, Val<'a>),
    ) {
        let Some(a) = self.attrs.get(column) else {
            return;
        };
        for d in &a.span {
            let at = match d {
                Dense::Str { .. } if !strings => continue,
                Dense::Str { at, .. }
                | Dense::Int { at, .. }
                | Dense::Float { at, .. }
                | Dense::Bool { at, .. } => at,
            };
            for (row, &i) in at.iter().enumerate() {
                if i != ABSENT
                    && let Some(v) = d.value(i as usize)
                {
                    f(row, v);
                }
            }
        }
    }

    fn name_codes(&self) -> Option<(&[String], &[u32])> {
        self.name
            .as_ref()
            .map(|d| (d.dict.as_slice(), d.codes.as_slice()))
    }

    fn str_codes(&self, column: usize) -> Option<(&[String], &[u32])> {
        self.attrs.get(column)?.span.iter().find_map(|d| match d {
            Dense::Str { dict, at } => Some((dict.dict.as_slice(), at.as_slice())),
            _ => None,
        })
    }

    fn attr_key(&self, column: usize) -> &str {
        self.attrs.get(column).map_or("", |a| a.key.as_str())
    }

    fn resource_attrs(&self, row: usize) -> &[KeyValue] {
        let r = self.resource.get(row).copied().unwrap_or(u64::MAX) as usize;
        self.resources
            .get(r)
            .and_then(|r| r.resource.as_ref())
            .map_or(&[], |r| r.attributes.as_slice())
    }

    fn trace_of(&self, row: usize) -> usize {
        self.first.partition_point(|&f| f <= row).saturating_sub(1)
    }

    fn trace_id(&self, trace: usize) -> TraceId {
        self.ids
            .as_ref()
            .and_then(|ids| ids.get(trace))
            .and_then(TraceId::from_slice)
            .unwrap_or_default()
    }

    fn span_id(&self, row: usize) -> &[u8] {
        self.span_ids
            .as_ref()
            .and_then(|ids| ids.get(row))
            .unwrap_or(&[])
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }
}
