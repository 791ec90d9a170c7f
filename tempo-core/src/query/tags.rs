//! Tag names and values: what can I search for?
//!
//! Tag names and values are read from every source of the tenant on the query pool. A source
//! that can list them without reading spans does (a row group: every span and resource
//! attribute key has its own column, the event, link and scope attributes small columns of
//! their own, values come from dictionaries and value columns); the others (the head) are
//! read span by span. With a TraceQL filter, names and values come from the spans that meet
//! the filter's complete conditions.

use std::collections::BTreeSet;
use std::sync::Arc;

use parking_lot::Mutex;
use tempo_traceql::{Attribute, FieldExpr, FieldExprKind, Intrinsic, Scope};

use super::QueryError;
use super::eval::{Compiled, TraceView};
use super::pool;
use super::source::{AttrScope, AttrTable, Fields, SourceError, SpanSource};
use super::stop::Stop;
use super::value::Val;
use crate::model::{TimeRange, Value};
use crate::spans::StoredSpan;

/// Where a tag lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TagScope {
    /// Resource attributes.
    Resource,
    /// Span attributes.
    Span,
    /// Intrinsic fields (`name`, `status`, ...).
    Intrinsic,
    /// Event attributes.
    Event,
    /// Link attributes.
    Link,
    /// Instrumentation scope attributes.
    Instrumentation,
}

impl TagScope {
    /// Every scope, in the order Tempo lists them.
    pub const ALL: [TagScope; 6] = [
        TagScope::Resource,
        TagScope::Span,
        TagScope::Intrinsic,
        TagScope::Event,
        TagScope::Link,
        TagScope::Instrumentation,
    ];

    /// The scope's name in Tempo's API: `resource`, `span`, `intrinsic`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            TagScope::Resource => "resource",
            TagScope::Span => "span",
            TagScope::Intrinsic => "intrinsic",
            TagScope::Event => "event",
            TagScope::Link => "link",
            TagScope::Instrumentation => "instrumentation",
        }
    }

    /// Where the attributes of this scope live; `None` for intrinsics.
    fn attributes(self) -> Option<AttrScope> {
        Some(match self {
            TagScope::Resource => AttrScope::Resource,
            TagScope::Span => AttrScope::Span,
            TagScope::Event => AttrScope::Event,
            TagScope::Link => AttrScope::Link,
            TagScope::Instrumentation => AttrScope::Instrumentation,
            TagScope::Intrinsic => return None,
        })
    }

    /// Parses a scope name as Tempo's `scope` parameter takes it.
    pub fn parse(name: &str) -> Option<TagScope> {
        TagScope::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// The type of a tag value, as Tempo's v2 tag values API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TagValueType {
    /// A string.
    String,
    /// An integer.
    Int,
    /// A float.
    Float,
    /// A boolean.
    Bool,
    /// A duration.
    Duration,
    /// A keyword: a status or a kind.
    Keyword,
}

impl TagValueType {
    /// `string`, `int`, `float`, `bool`, `duration` or `keyword`.
    pub fn as_str(self) -> &'static str {
        match self {
            TagValueType::String => "string",
            TagValueType::Int => "int",
            TagValueType::Float => "float",
            TagValueType::Bool => "bool",
            TagValueType::Duration => "duration",
            TagValueType::Keyword => "keyword",
        }
    }
}

/// One value of a tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TagValue {
    /// Its type.
    pub kind: TagValueType,
    /// Its text.
    pub value: String,
}

/// The intrinsics Tempo lists as tag names: those of its autocompletion, legacy and scoped
/// spellings both. IDs, `span:childCount` and the nested-set positions can be queried but are
/// not listed, as in Tempo.
pub(crate) const INTRINSIC_TAGS: &[&str] = &[
    "duration",
    "event:name",
    "event:timeSinceStart",
    "instrumentation:name",
    "instrumentation:version",
    "kind",
    "name",
    "rootName",
    "rootServiceName",
    "span:duration",
    "span:kind",
    "span:name",
    "span:status",
    "span:statusMessage",
    "status",
    "statusMessage",
    "trace:duration",
    "trace:rootName",
    "trace:rootService",
    "traceDuration",
];

/// Whether Tempo lists no values for an intrinsic: durations and IDs, whose values are
/// as many as the spans and of no use to pick from.
fn lists_no_values(x: Intrinsic) -> bool {
    matches!(
        x,
        Intrinsic::SpanDuration
            | Intrinsic::TraceDuration
            | Intrinsic::SpanId
            | Intrinsic::SpanParentId
            | Intrinsic::TraceId
            | Intrinsic::LinkTraceId
            | Intrinsic::LinkSpanId
    )
}

/// Whether the empty string is one of a field's values where spans carry it: an attribute
/// whose value is `""`, an empty span or event name, the empty root names of a trace whose
/// root span never arrived. A span without a status message or an instrumentation scope
/// without a name or version carries none.
fn lists_empty(field: &FieldExpr) -> bool {
    !matches!(
        field.kind,
        FieldExprKind::Intrinsic(
            Intrinsic::SpanStatusMessage
                | Intrinsic::InstrumentationName
                | Intrinsic::InstrumentationVersion
        )
    )
}

/// The tag names of each scope, each list sorted and at most `limit` long: from what each
/// source lists without reading spans (a row group's columns), else from its spans; with
/// `filter`, from the spans that meet it.
pub(crate) fn names(
    scopes: &[TagScope],
    filter: Option<&Compiled>,
    sources: &[Arc<dyn SpanSource>],
    range: TimeRange,
    limit: usize,
    parallelism: usize,
    stop: &Stop,
) -> Vec<(TagScope, Vec<String>)> {
    type Sets = Vec<(TagScope, BTreeSet<String>)>;
    let empty = || -> Sets { scopes.iter().map(|s| (*s, BTreeSet::new())).collect() };
    let want = |scope: TagScope| scopes.contains(&scope);
    let add = |sets: &mut Sets, scope: TagScope, key: &str| {
        if let Some((_, set)) = sets.iter_mut().find(|(s, _)| *s == scope)
            && !set.contains(key)
        {
            set.insert(key.to_owned());
        }
    };
    let total = Mutex::new(empty());
    if want(TagScope::Intrinsic) {
        for k in INTRINSIC_TAGS {
            add(&mut total.lock(), TagScope::Intrinsic, k);
        }
    }
    let read = |source: &Arc<dyn SpanSource>, sets: &mut Sets| -> Result<(), SourceError> {
        let mut from_spans = filter.is_some();
        if !from_spans {
            for scope in scopes.iter().copied() {
                let Some(attr_scope) = scope.attributes() else {
                    continue;
                };
                if !source.attribute_keys(attr_scope, &mut |key| add(sets, scope, key))? {
                    from_spans = true;
                    break;
                }
            }
        }
        if from_spans {
            let traces = source.traces(&Fields::all(), &range)?;
            for t in 0..traces.len() {
                if stop.should_stop() {
                    break;
                }
                if traces.end(t) < range.start || traces.start(t) > range.end {
                    continue;
                }
                let (id, spans) = traces.get(t)?;
                for hs in matching_spans(filter, id, &spans, stop) {
                    span_names(hs, &want, &mut |scope, key| add(sets, scope, key));
                }
            }
        }
        Ok(())
    };
    pool::run(
        sources,
        parallelism,
        empty,
        |source, sets| {
            if stop.should_stop() || !source.overlaps(&range) {
                return;
            }
            if let Err(e) = read(source, sets) {
                tracing::debug!(source = source.describe(), error = %e, "source skipped");
            }
        },
        |sets| {
            let mut total = total.lock();
            for (scope, names) in sets {
                if let Some((_, set)) = total.iter_mut().find(|(s, _)| *s == scope) {
                    set.extend(names);
                }
            }
        },
    );
    // The first `limit` names in sort order, whatever order they were found in.
    total
        .into_inner()
        .into_iter()
        .map(|(s, set)| (s, set.into_iter().take(limit).collect()))
        .collect()
}

/// The spans of a trace that meet `filter` (all of them without one).
fn matching_spans<'s>(
    filter: Option<&Compiled>,
    id: crate::model::TraceId,
    spans: &'s [StoredSpan],
    stop: &Stop,
) -> Vec<&'s StoredSpan> {
    let Some(c) = filter else {
        return spans.iter().collect();
    };
    let view = TraceView::new(id, spans);
    let mut idx: Vec<u32> = match c.run(&view, stop) {
        Ok(sets) => sets.into_iter().flat_map(|s| s.spans).collect(),
        Err(_) => Vec::new(),
    };
    idx.sort_unstable();
    idx.dedup();
    idx.into_iter().map(|i| &spans[i as usize]).collect()
}

/// Calls `add` with the scope and key of every attribute of a span that `want` asks for.
fn span_names(
    hs: &StoredSpan,
    want: &dyn Fn(TagScope) -> bool,
    add: &mut dyn FnMut(TagScope, &str),
) {
    let s = &hs.span;
    if want(TagScope::Span) {
        s.attributes
            .iter()
            .for_each(|kv| add(TagScope::Span, &kv.key));
    }
    if want(TagScope::Resource)
        && let Some(r) = &hs.resource.resource
    {
        r.attributes
            .iter()
            .for_each(|kv| add(TagScope::Resource, &kv.key));
    }
    if want(TagScope::Event) {
        for e in &s.events {
            e.attributes
                .iter()
                .for_each(|kv| add(TagScope::Event, &kv.key));
        }
    }
    if want(TagScope::Link) {
        for l in &s.links {
            l.attributes
                .iter()
                .for_each(|kv| add(TagScope::Link, &kv.key));
        }
    }
    if want(TagScope::Instrumentation)
        && let Some(sc) = &hs.scope.scope
    {
        sc.attributes
            .iter()
            .for_each(|kv| add(TagScope::Instrumentation, &kv.key));
    }
}

/// A tag as Tempo's first tag values API takes it: its name literally, an attribute of the
/// span or of its resource (`span.x` is an attribute named `span.x`), but for `name` (span
/// names) and `status.code` (statuses), which that API has always mapped to those fields.
pub(crate) fn literal_tag(tag: &str) -> FieldExpr {
    let kind = match tag {
        "name" => FieldExprKind::Intrinsic(Intrinsic::SpanName),
        "status.code" => FieldExprKind::Intrinsic(Intrinsic::SpanStatus),
        _ => FieldExprKind::Attribute(Attribute::new(Scope::None, tag)),
    };
    FieldExpr {
        kind,
        span: tempo_traceql::Span::default(),
    }
}

/// Parses a tag as the v2 API takes it: a TraceQL identifier (`resource.service.name`,
/// `span.http.method`, `.x`, `name`, `status`, `span:kind`...). A bare name with no scope
/// (`http.method`) is an unscoped attribute.
pub(crate) fn parse_tag(tag: &str) -> Result<FieldExpr, QueryError> {
    let text = if tag.starts_with('.')
        || tag.contains(':')
        || Intrinsic::from_legacy(tag).is_some()
        || ["span.", "resource.", "event.", "link.", "instrumentation."]
            .iter()
            .any(|p| tag.starts_with(p))
    {
        tag.to_owned()
    } else {
        format!(".{tag}")
    };
    let q = tempo_traceql::parse(&format!("{{ {text} != nil }}")).or_else(|_| {
        // Intrinsics cannot be compared with nil: any comparison tells the field.
        tempo_traceql::parse_unchecked(&format!("{{ {text} = 0 }}"))
    });
    let q = q.map_err(|_| {
        QueryError::Invalid(format!("{tag:?} is not a TraceQL attribute or intrinsic"))
    })?;
    let tempo_traceql::ExprKind::Filter(f) = q.expr.kind else {
        return Err(QueryError::Invalid(format!("{tag:?} is not a tag")));
    };
    match f.expr.map(|e| e.kind) {
        Some(FieldExprKind::Binary { lhs, .. })
            if matches!(
                lhs.kind,
                FieldExprKind::Attribute(_) | FieldExprKind::Intrinsic(_)
            ) =>
        {
            Ok(*lhs)
        }
        _ => Err(QueryError::Invalid(format!("{tag:?} is not a tag"))),
    }
}

fn tag_value(v: &Val<'_>) -> Option<TagValue> {
    let (kind, value) = match v {
        Val::Str(s) => (TagValueType::String, s.to_string()),
        Val::Int(i) => (TagValueType::Int, i.to_string()),
        Val::Float(f) => (TagValueType::Float, f.to_string()),
        Val::Bool(b) => (TagValueType::Bool, b.to_string()),
        Val::Dur(d) => (TagValueType::Duration, super::value::format_duration(*d)),
        Val::Status(s) => (TagValueType::Keyword, s.as_str().to_owned()),
        Val::Kind(k) => (TagValueType::Keyword, k.as_str().to_owned()),
        Val::Nil | Val::Array(_) => return None,
    };
    Some(TagValue { kind, value })
}

fn value_of(v: &Value) -> Option<TagValue> {
    let (kind, value) = match v {
        Value::StringValue(s) => (TagValueType::String, s.clone()),
        Value::IntValue(i) => (TagValueType::Int, i.to_string()),
        Value::DoubleValue(f) => (TagValueType::Float, f.to_string()),
        Value::BoolValue(b) => (TagValueType::Bool, b.to_string()),
        _ => return None,
    };
    Some(TagValue { kind, value })
}

/// The values of one tag, sorted, at most `limit`: from what each source lists without
/// reading spans (a row group's dictionaries and value columns), else from its spans; with
/// `filter` (a compiled query of complete conditions), only values of spans that meet it.
pub(crate) fn values(
    field: &FieldExpr,
    filter: Option<&Compiled>,
    sources: &[Arc<dyn SpanSource>],
    range: TimeRange,
    limit: usize,
    parallelism: usize,
    stop: &Stop,
) -> Result<Vec<TagValue>, QueryError> {
    if let FieldExprKind::Intrinsic(x) = &field.kind
        && lists_no_values(*x)
    {
        return Ok(Vec::new());
    }
    let empty_too = lists_empty(field);
    // Keywords are known without reading anything.
    if filter.is_none()
        && let FieldExprKind::Intrinsic(x) = &field.kind
    {
        let words: &[&str] = match x {
            Intrinsic::SpanStatus => &["error", "ok", "unset"],
            Intrinsic::SpanKind => &[
                "client",
                "consumer",
                "internal",
                "producer",
                "server",
                "unspecified",
            ],
            _ => &[],
        };
        if !words.is_empty() {
            return Ok(words
                .iter()
                .take(limit)
                .map(|w| TagValue {
                    kind: TagValueType::Keyword,
                    value: (*w).to_owned(),
                })
                .collect());
        }
    }
    let plain = Compiled::new("{}")?;
    let compiled = filter.unwrap_or(&plain);
    let from_trace = |id, spans: &[StoredSpan], out: &mut BTreeSet<TagValue>| {
        let view = TraceView::new(id, spans);
        let matching: Vec<u32> = match filter {
            Some(c) => match c.run(&view, stop) {
                Ok(sets) => {
                    let mut v: Vec<u32> = sets.into_iter().flat_map(|s| s.spans).collect();
                    v.sort_unstable();
                    v.dedup();
                    v
                }
                Err(_) => Vec::new(),
            },
            None => (0..spans.len() as u32).collect(),
        };
        for i in matching {
            if out.len() >= limit {
                return;
            }
            let span = &spans[i as usize].span;
            let mut push = |v: Val<'_>| {
                let mut one = |v: &Val<'_>| {
                    if let Some(t) = tag_value(v)
                        && (empty_too || !t.value.is_empty())
                    {
                        out.insert(t);
                    }
                };
                match v {
                    // An array's values are its elements.
                    Val::Array(items) => items.iter().for_each(|item| one(&Val::from_any(item))),
                    v => one(&v),
                }
            };
            push(compiled.field(field, &view, i as usize, None, None));
            for ev in &span.events {
                push(compiled.field(field, &view, i as usize, Some(ev), None));
            }
            for l in &span.links {
                push(compiled.field(field, &view, i as usize, None, Some(l)));
            }
        }
    };
    let total: Mutex<BTreeSet<TagValue>> = Mutex::new(BTreeSet::new());
    let full = || total.lock().len() >= limit;
    let read =
        |source: &Arc<dyn SpanSource>, out: &mut BTreeSet<TagValue>| -> Result<(), SourceError> {
            if filter.is_none() {
                let listed = match &field.kind {
                    FieldExprKind::Attribute(a)
                        if matches!(a.scope, Scope::Span | Scope::Resource | Scope::None) =>
                    {
                        let mut all = true;
                        for table in tables(a) {
                            all &= source.attribute_values(*table, &a.name, limit, &mut |v| {
                                if let Some(tv) = value_of(v) {
                                    out.insert(tv);
                                }
                            })?;
                        }
                        all
                    }
                    FieldExprKind::Intrinsic(x) => source.intrinsic_values(*x, &mut |s| {
                        if empty_too || !s.is_empty() {
                            out.insert(TagValue {
                                kind: TagValueType::String,
                                value: s.to_owned(),
                            });
                        }
                    })?,
                    _ => false,
                };
                if listed {
                    return Ok(());
                }
            }
            let traces = source.traces(&Fields::all(), &range)?;
            for t in 0..traces.len() {
                if out.len() >= limit || stop.should_stop() || full() {
                    break;
                }
                if traces.end(t) < range.start || traces.start(t) > range.end {
                    continue;
                }
                let (id, spans) = traces.get(t)?;
                from_trace(id, &spans, out);
            }
            Ok(())
        };
    pool::run(
        sources,
        parallelism,
        BTreeSet::new,
        |source, out| {
            if stop.should_stop() || full() || !source.overlaps(&range) {
                return;
            }
            if let Err(e) = read(source, out) {
                tracing::debug!(source = source.describe(), error = %e, "source skipped");
            }
            // Shared as it goes, so that other threads stop once the limit is reached.
            total.lock().append(out);
        },
        |_| {},
    );
    Ok(total.into_inner().into_iter().take(limit).collect())
}

fn tables(a: &Attribute) -> &'static [AttrTable] {
    match a.scope {
        Scope::Span => &[AttrTable::Span],
        Scope::Resource => &[AttrTable::Resource],
        _ => &[AttrTable::Span, AttrTable::Resource],
    }
}
