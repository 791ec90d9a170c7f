//! Tag names and values: what can I search for?
//!
//! Names come from the row groups' footers (every span and resource attribute key has its
//! own column there), from the small event, link and scope attribute columns, and from the
//! head. Values come from the dictionaries and value columns of the one attribute asked for;
//! with a TraceQL filter, from the spans that meet the filter's complete conditions.

use std::collections::BTreeSet;
use std::sync::Arc;

use tempo_traceql::{Attribute, FieldExpr, FieldExprKind, Intrinsic, Scope};

use super::QueryError;
use super::eval::{Compiled, TraceView};
use super::stop::Stop;
use super::value::Val;
use crate::block::BlockError;
use crate::block::reader::BlockReader;
use crate::head::TenantHead;
use crate::model::TimeRange;
use crate::model::Value;
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

/// The intrinsics Tempo lists as tag names.
pub(crate) const INTRINSIC_TAGS: &[&str] = &[
    "duration",
    "event:name",
    "event:timeSinceStart",
    "instrumentation:name",
    "instrumentation:version",
    "kind",
    "link:spanID",
    "link:traceID",
    "name",
    "rootName",
    "rootServiceName",
    "span:childCount",
    "span:duration",
    "span:id",
    "span:kind",
    "span:name",
    "span:parentID",
    "span:status",
    "span:statusMessage",
    "status",
    "statusMessage",
    "trace:duration",
    "trace:id",
    "trace:rootName",
    "trace:rootService",
    "traceDuration",
];

/// The tag names of each scope, each list sorted.
#[allow(clippy::too_many_arguments)]
pub(crate) fn names(
    scopes: &[TagScope],
    filter: Option<&Compiled>,
    head: Option<Arc<TenantHead>>,
    blocks: &[Arc<BlockReader>],
    range: TimeRange,
    limit: usize,
    stop: &Stop,
    on_block_error: &dyn Fn(&Arc<BlockReader>, &BlockError),
) -> Vec<(TagScope, Vec<String>)> {
    let mut sets: Vec<(TagScope, BTreeSet<String>)> =
        scopes.iter().map(|s| (*s, BTreeSet::new())).collect();
    let want = |scope: TagScope| scopes.contains(&scope);
    let add = |sets: &mut Vec<(TagScope, BTreeSet<String>)>, scope: TagScope, key: &str| {
        if let Some((_, set)) = sets.iter_mut().find(|(s, _)| *s == scope)
            && !set.contains(key)
        {
            set.insert(key.to_owned());
        }
    };
    if want(TagScope::Intrinsic) {
        for k in INTRINSIC_TAGS {
            add(&mut sets, TagScope::Intrinsic, k);
        }
    }
    if let Some(head) = head {
        let mut spans = Vec::new();
        head.for_each_trace(range.start, range.end, |parts| {
            parts.unpack(&mut spans);
            for hs in matching_spans(filter, parts.id, &spans, stop) {
                span_names(hs, &want, &mut |scope, key| add(&mut sets, scope, key));
            }
            !stop.should_stop()
        });
    }
    for block in blocks.iter().filter(|b| b.overlaps(range.start, range.end)) {
        let result = (|| -> Result<(), BlockError> {
            for rg in 0..block.index.len() {
                let e = &block.index[rg];
                if e.end < range.start || e.start > range.end {
                    continue;
                }
                if stop.should_stop() {
                    break;
                }
                let g = block.row_group(rg)?;
                if filter.is_some() {
                    for (id, spans) in g.all()? {
                        for hs in matching_spans(filter, id, &spans, stop) {
                            span_names(hs, &want, &mut |scope, key| add(&mut sets, scope, key));
                        }
                    }
                    continue;
                }
                for name in g.column_names() {
                    for (prefix, scope) in [
                        ("span.attr.", TagScope::Span),
                        ("resource.attr.", TagScope::Resource),
                    ] {
                        if !want(scope) {
                            continue;
                        }
                        if let Some(key) = name
                            .strip_prefix(prefix)
                            .and_then(|r| r.strip_suffix("#present"))
                            .and_then(|r| r.split_once('.'))
                            .map(|(_, key)| key)
                        {
                            add(&mut sets, scope, key);
                        }
                    }
                }
                for (column, scope) in [
                    ("event.attributes", TagScope::Event),
                    ("link.attributes", TagScope::Link),
                    ("scope.attributes", TagScope::Instrumentation),
                ] {
                    if want(scope) {
                        for list in g.attribute_lists(column)? {
                            list.iter().for_each(|kv| add(&mut sets, scope, &kv.key));
                        }
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            on_block_error(block, &e.in_block(block.name()));
        }
    }
    // The first `limit` names in sort order, whatever order they were found in.
    sets.into_iter()
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

/// The values of one tag, sorted, at most `limit`. With `filter` (a compiled query of
/// complete conditions), only values of spans that meet it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn values(
    field: &FieldExpr,
    filter: Option<&Compiled>,
    head: Option<Arc<TenantHead>>,
    blocks: &[Arc<BlockReader>],
    range: TimeRange,
    limit: usize,
    stop: &Stop,
    on_block_error: &dyn Fn(&Arc<BlockReader>, &BlockError),
) -> Result<Vec<TagValue>, QueryError> {
    let mut out: BTreeSet<TagValue> = BTreeSet::new();
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
                if let Some(t) = tag_value(&v) {
                    out.insert(t);
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
    if let Some(head) = head {
        let mut spans = Vec::new();
        head.for_each_trace(range.start, range.end, |parts| {
            parts.unpack(&mut spans);
            from_trace(parts.id, &spans, &mut out);
            out.len() < limit && !stop.should_stop()
        });
    }
    for block in blocks.iter().filter(|b| b.overlaps(range.start, range.end)) {
        if out.len() >= limit {
            break;
        }
        let result = (|| -> Result<(), BlockError> {
            for rg in 0..block.index.len() {
                let e = &block.index[rg];
                if e.end < range.start || e.start > range.end || out.len() >= limit {
                    continue;
                }
                if stop.should_stop() {
                    break;
                }
                let g = block.row_group(rg)?;
                match (&field.kind, filter) {
                    (FieldExprKind::Attribute(a), None)
                        if matches!(a.scope, Scope::Span | Scope::Resource | Scope::None) =>
                    {
                        for table in tables(a) {
                            for t in ["str", "int", "float", "bool"] {
                                let base = format!("{table}.attr.{t}.{}", a.name);
                                for v in g.attribute_values(&base, limit)? {
                                    if let Some(tv) = value_of(&v) {
                                        out.insert(tv);
                                    }
                                }
                            }
                        }
                    }
                    (FieldExprKind::Intrinsic(x), None) if dict_column(*x).is_some() => {
                        for s in g.dict_entries(dict_column(*x).unwrap_or_default())? {
                            if !s.is_empty() {
                                out.insert(TagValue {
                                    kind: TagValueType::String,
                                    value: s,
                                });
                            }
                        }
                    }
                    _ => {
                        for (id, spans) in g.all()? {
                            from_trace(id, &spans, &mut out);
                        }
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            on_block_error(block, &e.in_block(block.name()));
        }
    }
    Ok(out.into_iter().take(limit).collect())
}

fn tables(a: &Attribute) -> &'static [&'static str] {
    match a.scope {
        Scope::Span => &["span"],
        Scope::Resource => &["resource"],
        _ => &["span", "resource"],
    }
}

fn dict_column(x: Intrinsic) -> Option<&'static str> {
    match x {
        Intrinsic::SpanName => Some("span.name"),
        Intrinsic::SpanStatusMessage => Some("span.status_message"),
        Intrinsic::TraceRootName => Some("trace.root_name"),
        Intrinsic::TraceRootService => Some("trace.root_service"),
        Intrinsic::EventName => Some("event.name"),
        Intrinsic::InstrumentationName => Some("scope.name"),
        Intrinsic::InstrumentationVersion => Some("scope.version"),
        _ => None,
    }
}
