//! batch: which spans of a request may be stored?
//!
//! A [`Batch`] is a validated set of resource spans, ready for [`Store::ingest`]. Validation
//! drops spans whose IDs are malformed or whose attribute values nest deeper than
//! [`MAX_ANY_VALUE_DEPTH`], and counts them, as OTLP's partial success expects; the rest are
//! kept. A resource or scope nested too deep is dropped with the spans under it, which are
//! counted; one with no spans under it is dropped with nothing to count. A batch decoded from
//! protobuf keeps its bytes when nothing was dropped, so the write-ahead log stores them without
//! encoding the spans again.
//!
//! A protobuf body too deep to decode whole is decoded part by part instead (resource spans,
//! scope spans, spans), so that only its offending parts are dropped; that slower path runs only
//! after the one-pass decode failed.
//!
//! [`Store::ingest`]: crate::Store::ingest
//! [`MAX_ANY_VALUE_DEPTH`]: crate::MAX_ANY_VALUE_DEPTH

use bytes::Bytes;
use prost::Message;

use std::collections::HashMap;

use crate::model::{ResourceSpans, ScopeSpans, Span, TraceId, TracesData};
use crate::nesting::{self, WireFields};

/// How many rejection reasons a batch keeps for its message.
const MAX_REASONS: usize = 3;

/// Spans validated and ready to store.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    data: TracesData,
    /// The protobuf encoding of `data`, when it is known without encoding again.
    encoded: Option<Bytes>,
    spans: usize,
    rejected: usize,
    reasons: Vec<String>,
}

/// A protobuf body that is not a valid OTLP trace message.
#[derive(Debug, thiserror::Error)]
#[error("malformed OTLP protobuf: {0}")]
pub struct DecodeError(#[from] prost::DecodeError);

impl Batch {
    /// Validates resource spans, dropping and counting spans with malformed IDs.
    pub fn new(resource_spans: Vec<ResourceSpans>) -> Batch {
        let mut batch = Batch {
            data: TracesData { resource_spans },
            ..Batch::default()
        };
        batch.validate();
        batch
    }

    /// Decodes and validates an OTLP `ExportTraceServiceRequest` (or `TracesData`) body.
    ///
    /// A body that decodes whole only once its parts nested too deep are left out yields the
    /// rest, with those parts' spans counted as rejected.
    pub fn decode(bytes: Bytes) -> Result<Batch, DecodeError> {
        let data = match TracesData::decode(bytes.clone()) {
            Ok(data) => data,
            Err(whole) => return decode_in_parts(&bytes)?.ok_or(DecodeError(whole)),
        };
        let mut batch = Batch {
            data,
            ..Batch::default()
        };
        if !batch.validate() {
            batch.encoded = Some(bytes);
        }
        Ok(batch)
    }

    /// Counts spans a decoder already dropped before building the batch (one reason each),
    /// so that they appear in [`Batch::rejected_spans`] and [`Batch::rejection_message`].
    pub fn with_rejected(mut self, reasons: Vec<String>) -> Batch {
        if reasons.is_empty() {
            return self;
        }
        self.rejected += reasons.len();
        self.encoded = None;
        let mut kept: Vec<String> = reasons.into_iter().take(MAX_REASONS).collect();
        kept.append(&mut self.reasons);
        kept.truncate(MAX_REASONS);
        self.reasons = kept;
        self
    }

    /// Number of spans kept.
    pub fn span_count(&self) -> usize {
        self.spans
    }

    /// Number of spans dropped by validation.
    pub fn rejected_spans(&self) -> usize {
        self.rejected
    }

    /// Why spans were dropped: the first few reasons, or `None` when none was.
    pub fn rejection_message(&self) -> Option<String> {
        if self.rejected == 0 {
            return None;
        }
        let mut message = format!(
            "{} spans rejected: {}",
            self.rejected,
            self.reasons.join("; ")
        );
        if self.rejected > self.reasons.len() {
            message.push_str("; ...");
        }
        Some(message)
    }

    /// The kept spans.
    pub fn resource_spans(&self) -> &[ResourceSpans] {
        &self.data.resource_spans
    }

    /// The kept spans, by value.
    pub fn into_resource_spans(self) -> Vec<ResourceSpans> {
        self.data.resource_spans
    }

    /// The kept spans, and their protobuf encoding when it came with them.
    pub(crate) fn into_parts(self) -> (Vec<ResourceSpans>, Option<Bytes>) {
        (self.data.resource_spans, self.encoded)
    }

    /// The protobuf encoding of the kept spans (`TracesData`).
    pub(crate) fn encoded(&self) -> Bytes {
        match &self.encoded {
            Some(bytes) => bytes.clone(),
            None => Bytes::from(self.data.encode_to_vec()),
        }
    }

    /// Truncates every attribute key and string value of its resources, spans, events and
    /// links longer than `limit` bytes to at most `limit` bytes (on a character boundary), as
    /// Tempo's `max_attribute_bytes` does at ingest; returns how many were truncated.
    pub(crate) fn truncate_attributes(&mut self, limit: u64) -> u64 {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut count = 0u64;
        let mut cut = |text: &mut String| {
            if text.len() > limit {
                let mut end = limit;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.truncate(end);
                count += 1;
            }
        };
        let mut attributes = |list: &mut Vec<crate::model::KeyValue>| {
            for kv in list {
                cut(&mut kv.key);
                if let Some(crate::model::AnyValue {
                    value: Some(crate::model::Value::StringValue(v)),
                }) = kv.value.as_mut()
                {
                    cut(v);
                }
            }
        };
        for rs in &mut self.data.resource_spans {
            if let Some(r) = rs.resource.as_mut() {
                attributes(&mut r.attributes);
            }
            for ss in &mut rs.scope_spans {
                for span in &mut ss.spans {
                    attributes(&mut span.attributes);
                    for e in &mut span.events {
                        attributes(&mut e.attributes);
                    }
                    for l in &mut span.links {
                        attributes(&mut l.attributes);
                    }
                }
            }
        }
        if count > 0 {
            // The bytes received no longer say what is stored.
            self.encoded = None;
        }
        count
    }

    /// Drops and counts what may not be stored; `true` if anything was dropped.
    fn validate(&mut self) -> bool {
        let mut spans = 0;
        let mut rejected = 0;
        let mut reasons = Vec::new();
        let mut dropped = false;
        for (r, resource_spans) in self.data.resource_spans.iter_mut().enumerate() {
            let resource_reason = resource_spans
                .resource
                .as_ref()
                .and_then(nesting::resource_too_deep);
            for (s, scope_spans) in resource_spans.scope_spans.iter_mut().enumerate() {
                // A resource or scope nested too deep takes its spans with it.
                let outer = resource_reason
                    .clone()
                    .or_else(|| scope_spans.scope.as_ref().and_then(nesting::scope_too_deep));
                if outer.is_some() {
                    dropped = true;
                }
                let mut index = 0;
                scope_spans.spans.retain(|span| {
                    let verdict = match &outer {
                        Some(reason) => Err(reason.clone()),
                        None => check_span(span),
                    };
                    if let Err(reason) = &verdict {
                        rejected += 1;
                        if reasons.len() < MAX_REASONS {
                            reasons.push(format!(
                                "resourceSpans[{r}].scopeSpans[{s}].spans[{index}]: {reason}"
                            ));
                        }
                    }
                    index += 1;
                    verdict.is_ok()
                });
                spans += scope_spans.spans.len();
            }
            if resource_reason.is_some() {
                // Dropped below even when it has no spans: the limit holds for all that is kept.
                resource_spans.scope_spans.clear();
                dropped = true;
            }
        }
        let dropped = dropped || rejected > 0;
        if dropped {
            prune_empty(&mut self.data);
        }
        self.spans = spans;
        self.rejected = rejected;
        self.reasons = reasons;
        dropped
    }
}

/// Removes the scope spans left without spans, then the resource spans left without scope
/// spans.
fn prune_empty(data: &mut TracesData) {
    for resource_spans in &mut data.resource_spans {
        resource_spans.scope_spans.retain(|s| !s.spans.is_empty());
    }
    data.resource_spans.retain(|r| !r.scope_spans.is_empty());
}

fn check_span(span: &Span) -> Result<(), String> {
    if let Some(reason) = nesting::span_too_deep(span) {
        return Err(reason);
    }
    check_id("trace ID", &span.trace_id, 16)?;
    check_id("span ID", &span.span_id, 8)?;
    if !span.parent_span_id.is_empty() && span.parent_span_id.len() != 8 {
        return Err(format!(
            "parent span ID must be empty or 8 bytes, got {}",
            span.parent_span_id.len()
        ));
    }
    Ok(())
}

fn check_id(what: &str, id: &[u8], len: usize) -> Result<(), String> {
    if id.len() != len {
        return Err(format!("{what} must be {len} bytes, got {}", id.len()));
    }
    if id.iter().all(|&b| b == 0) {
        return Err(format!("{what} must not be all zeros"));
    }
    Ok(())
}

/// The encoded bytes of each span of an encoded `TracesData`, by resource spans and scope spans,
/// sliced without copying; `None` if the bytes are not well-formed protobuf. Spans are fields 2
/// of `ScopeSpans`, which are fields 2 of `ResourceSpans`, which are fields 1 of `TracesData`.
pub(crate) fn span_slices(encoded: &Bytes) -> Option<Vec<Vec<Vec<Bytes>>>> {
    let mut out = Vec::new();
    for_each_len_field(encoded, 1, &mut |resource_spans| {
        let mut scopes = Vec::new();
        for_each_len_field(&resource_spans, 2, &mut |scope_spans| {
            let mut spans = Vec::new();
            for_each_len_field(&scope_spans, 2, &mut |span| {
                spans.push(span);
                Some(())
            })?;
            scopes.push(spans);
            Some(())
        })?;
        out.push(scopes);
        Some(())
    })?;
    Some(out)
}

/// Calls `f` with the value of every length-delimited field `wanted` of a message, skipping
/// the other fields; `None` on malformed bytes.
fn for_each_len_field(
    buf: &Bytes,
    wanted: u64,
    f: &mut dyn FnMut(Bytes) -> Option<()>,
) -> Option<()> {
    let mut at = 0usize;
    let varint = |at: &mut usize| -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *buf.get(*at)?;
            *at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    };
    while at < buf.len() {
        let key = varint(&mut at)?;
        match key & 7 {
            0 => {
                varint(&mut at)?;
            }
            1 => at = at.checked_add(8)?,
            5 => at = at.checked_add(4)?,
            2 => {
                let len = usize::try_from(varint(&mut at)?).ok()?;
                let end = at.checked_add(len).filter(|&e| e <= buf.len())?;
                if key >> 3 == wanted {
                    f(buf.slice(at..end))?;
                }
                at = end;
            }
            _ => return None,
        }
    }
    (at == buf.len()).then_some(())
}

/// Trace size limits (`max_bytes_per_trace`).
impl Batch {
    /// Each trace of the batch with the encoded bytes and the number of its spans here, in
    /// the order the traces first appear.
    pub(crate) fn trace_sizes(&self) -> Vec<(TraceId, u64, usize)> {
        trace_sizes(&self.data.resource_spans)
    }

    /// Drops every span of the traces in `refused` (sorted), counting them as rejected with
    /// `reason` for each trace; the batch's encoded bytes are dropped with them.
    pub(crate) fn refuse_traces(
        &mut self,
        refused: &[TraceId],
        reason: impl Fn(&TraceId) -> String,
    ) -> usize {
        let mut dropped = 0usize;
        let mut named: Vec<TraceId> = Vec::new();
        for resource_spans in &mut self.data.resource_spans {
            for scope_spans in &mut resource_spans.scope_spans {
                scope_spans.spans.retain(|span| {
                    let hit = TraceId::from_slice(&span.trace_id)
                        .filter(|id| refused.binary_search(id).is_ok());
                    if let Some(id) = hit {
                        dropped += 1;
                        if !named.contains(&id) {
                            named.push(id);
                        }
                    }
                    hit.is_none()
                });
            }
            resource_spans.scope_spans.retain(|s| !s.spans.is_empty());
        }
        self.data
            .resource_spans
            .retain(|r| !r.scope_spans.is_empty());
        if dropped == 0 {
            return 0;
        }
        self.spans -= dropped;
        self.rejected += dropped;
        self.encoded = None;
        for id in named {
            if self.reasons.len() < MAX_REASONS {
                self.reasons.push(reason(&id));
            }
        }
        dropped
    }
}

/// Each trace of `resource_spans` with the encoded bytes and the number of its spans there, in
/// the order the traces first appear.
pub(crate) fn trace_sizes(resource_spans: &[ResourceSpans]) -> Vec<(TraceId, u64, usize)> {
    let mut out: Vec<(TraceId, u64, usize)> = Vec::new();
    let mut at: HashMap<TraceId, usize> = HashMap::new();
    for span in resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
    {
        let Some(id) = TraceId::from_slice(&span.trace_id) else {
            continue;
        };
        let bytes = span.encoded_len() as u64;
        // Spans of one trace usually come together: check the last one first.
        let i = match out.last() {
            Some((last, _, _)) if *last == id => out.len() - 1,
            _ => *at.entry(id).or_insert_with(|| {
                out.push((id, 0, 0));
                out.len() - 1
            }),
        };
        out[i].1 += bytes;
        out[i].2 += 1;
    }
    out
}

/// Decodes, part by part, a body whose one-pass decode failed: each resource and scope with
/// what surrounds it, then each span on its own, leaving out (and counting) the parts nested
/// deeper than [`MAX_ANY_VALUE_DEPTH`](crate::MAX_ANY_VALUE_DEPTH) before prost sees them.
///
/// `Ok(None)` when no part is too deep, or the bytes are not protobuf this walk can follow
/// (the one-pass error then stands); `Err` when a part that is not too deep fails to decode.
/// The batch keeps no encoded bytes: they hold what was left out.
fn decode_in_parts(bytes: &Bytes) -> Result<Option<Batch>, DecodeError> {
    const RESOURCE_SPANS: u32 = 1; // TracesData.resource_spans
    const SCOPE_SPANS: u32 = 2; // ResourceSpans.scope_spans
    const SPANS: u32 = 2; // ScopeSpans.spans
    let mut batch = Batch::default();
    let mut too_deep = false;
    let Some((resource_list, rest)) = split_field(bytes, RESOURCE_SPANS) else {
        return Ok(None);
    };
    // The rest of the envelope (unknown fields, if any) must decode as before.
    TracesData::decode(rest.as_slice())?;
    for (r, resource_bytes) in resource_list.iter().enumerate() {
        let Some((scope_list, rest)) = split_field(resource_bytes, SCOPE_SPANS) else {
            return Ok(None);
        };
        if let Some(reason) = nesting::wire_resource_too_deep(&rest) {
            too_deep = true;
            for (s, scope_bytes) in scope_list.iter().enumerate() {
                let Some((spans, _)) = split_field(scope_bytes, SPANS) else {
                    return Ok(None);
                };
                for k in 0..spans.len() {
                    reject(&mut batch, r, s, k, &reason);
                }
            }
            continue;
        }
        let mut resource_spans = ResourceSpans::decode(rest.as_slice())?;
        for (s, scope_bytes) in scope_list.iter().enumerate() {
            let Some((span_list, rest)) = split_field(scope_bytes, SPANS) else {
                return Ok(None);
            };
            if let Some(reason) = nesting::wire_scope_too_deep(&rest) {
                too_deep = true;
                for k in 0..span_list.len() {
                    reject(&mut batch, r, s, k, &reason);
                }
                continue;
            }
            let mut scope_spans = ScopeSpans::decode(rest.as_slice())?;
            for (k, span_bytes) in span_list.into_iter().enumerate() {
                if let Some(reason) = nesting::wire_span_too_deep(&span_bytes) {
                    too_deep = true;
                    reject(&mut batch, r, s, k, &reason);
                    continue;
                }
                let span = Span::decode(span_bytes)?;
                match check_span(&span) {
                    Ok(()) => scope_spans.spans.push(span),
                    Err(reason) => reject(&mut batch, r, s, k, &reason),
                }
            }
            batch.spans += scope_spans.spans.len();
            resource_spans.scope_spans.push(scope_spans);
        }
        batch.data.resource_spans.push(resource_spans);
    }
    if !too_deep {
        return Ok(None);
    }
    prune_empty(&mut batch.data);
    Ok(Some(batch))
}

/// Counts span `k` of scope spans `s` of resource spans `r` as rejected, for `reason`.
fn reject(batch: &mut Batch, r: usize, s: usize, k: usize, reason: &str) {
    batch.rejected += 1;
    if batch.reasons.len() < MAX_REASONS {
        batch.reasons.push(format!(
            "resourceSpans[{r}].scopeSpans[{s}].spans[{k}]: {reason}"
        ));
    }
}

/// Splits an encoded message into the values of its length-delimited fields `number`
/// (slices of `buf`, in order) and the encoding of everything else; `None` if `buf` is not
/// well-formed protobuf.
fn split_field(buf: &Bytes, number: u32) -> Option<(Vec<Bytes>, Vec<u8>)> {
    let mut values = Vec::new();
    let mut rest = Vec::new();
    for field in WireFields::new(buf) {
        let field = field.ok()?;
        if field.number == number && field.is_length_delimited() {
            values.push(buf.slice(field.value));
        } else {
            rest.extend_from_slice(buf.get(field.raw)?);
        }
    }
    Some((values, rest))
}

#[cfg(test)]
#[expect(clippy::expect_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;
    use crate::model::ScopeSpans;

    #[test]
    fn span_slices_are_each_spans_own_bytes() {
        // The workload builds the model of `tempo_core` as its dependency, a crate distinct
        // from this test build's: the two meet in bytes.
        let workload = tempo_workload::Workload::new(3).batch(20, None);
        let encoded = Bytes::from(tempo_workload::encode_batch(&workload));
        let data = TracesData::decode(encoded.clone()).expect("decodes");
        let slices = span_slices(&encoded).expect("well-formed");
        assert_eq!(slices.len(), data.resource_spans.len());
        for (rs, s) in data.resource_spans.iter().zip(&slices) {
            assert_eq!(s.len(), rs.scope_spans.len());
            for (ss, s) in rs.scope_spans.iter().zip(s) {
                assert_eq!(s.len(), ss.spans.len());
                for (span, bytes) in ss.spans.iter().zip(s) {
                    assert_eq!(&Span::decode(bytes.clone()).expect("decodes"), span);
                }
            }
        }
        // Truncated or garbled bytes are refused, not misread.
        assert!(span_slices(&encoded.slice(..encoded.len() - 1)).is_none());
        assert!(span_slices(&Bytes::from_static(&[0x0a, 0xff, 0xff, 0xff])).is_none());
    }

    fn span(trace: &[u8], id: &[u8]) -> Span {
        Span {
            trace_id: trace.to_vec(),
            span_id: id.to_vec(),
            name: "op".into(),
            ..Span::default()
        }
    }

    #[test]
    fn long_attributes_are_truncated_on_a_character_boundary() {
        use crate::model::{Event, KeyValue, Resource};
        let mut s = span(&[1; 16], &[2; 8]);
        s.attributes = vec![
            KeyValue::string("short", "ok"),
            KeyValue::string("long", "ab\u{e9}cd"),
            KeyValue::int("number", 123_456),
            KeyValue::string("key-too-long", "x"),
        ];
        s.events = vec![Event {
            attributes: vec![KeyValue::string("e", "12345")],
            ..Event::default()
        }];
        let mut batch = Batch::new(vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue::string("service.name", "checkout")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![s],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }]);
        // "ab\u{e9}" is four bytes: a cut at three would split the é.
        assert_eq!(batch.truncate_attributes(3), 8);
        let rs = &batch.resource_spans()[0];
        let value = |kv: &KeyValue| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(crate::model::Value::StringValue(s)) => s.clone(),
            other => format!("{other:?}"),
        };
        let resource = &rs.resource.as_ref().expect("a resource").attributes[0];
        assert_eq!(
            (resource.key.as_str(), value(resource)),
            ("ser", "che".into())
        );
        let span = &rs.scope_spans[0].spans[0];
        let got: Vec<(String, String)> = span
            .attributes
            .iter()
            .map(|kv| (kv.key.clone(), value(kv)))
            .collect();
        assert_eq!(
            got,
            [
                ("sho".to_owned(), "ok".to_owned()),
                ("lon".to_owned(), "ab".to_owned()),
                ("num".to_owned(), "Some(IntValue(123456))".to_owned()),
                ("key".to_owned(), "x".to_owned()),
            ]
        );
        assert_eq!(value(&span.events[0].attributes[0]), "123");
        // What is stored is encoded from what was kept.
        let decoded = TracesData::decode(batch.encoded()).expect("decodes");
        assert_eq!(decoded.resource_spans, batch.resource_spans());
        assert_eq!(batch.truncate_attributes(3), 0, "nothing left to cut");
    }

    #[test]
    fn malformed_ids_are_dropped_and_counted() {
        let batch = Batch::new(vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![
                    span(&[1; 16], &[2; 8]),
                    span(&[0; 16], &[2; 8]),
                    span(&[1; 15], &[2; 8]),
                    span(&[1; 16], &[0; 8]),
                ],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }]);
        assert_eq!(batch.span_count(), 1);
        assert_eq!(batch.rejected_spans(), 3);
        let message = batch.rejection_message().unwrap_or_default();
        assert!(message.contains("3 spans rejected"), "{message}");
        assert!(
            message.contains("trace ID must not be all zeros"),
            "{message}"
        );
        assert!(
            message.contains("trace ID must be 16 bytes, got 15"),
            "{message}"
        );
    }

    #[test]
    fn decoding_keeps_bytes_only_when_nothing_was_dropped() {
        let data = TracesData {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span(&[1; 16], &[2; 8])],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        let bytes = Bytes::from(data.encode_to_vec());
        let batch = Batch::decode(bytes.clone()).unwrap_or_default();
        assert_eq!(batch.encoded(), bytes);
        assert!(Batch::decode(Bytes::from_static(b"\x0a\xff")).is_err());
    }

    use crate::MAX_ANY_VALUE_DEPTH;
    use crate::model::{Event, InstrumentationScope, KeyValue, Resource};
    use crate::nesting::tests::{attribute, deep_array_value};

    fn good(n: u8) -> Span {
        span(&[n; 16], &[n; 8])
    }

    /// A span with a value `depth` levels deep in an event's attribute.
    fn deep(n: u8, depth: usize, kvlist: bool) -> Span {
        Span {
            events: vec![Event {
                attributes: vec![KeyValue::string("ok", "v"), attribute(depth, kvlist)],
                ..Event::default()
            }],
            ..good(n)
        }
    }

    fn resource_spans(
        resource: Vec<KeyValue>,
        scope: Vec<KeyValue>,
        spans: Vec<Span>,
    ) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "s".into(),
                    attributes: scope,
                    ..InstrumentationScope::default()
                }),
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }
    }

    /// Decodes `data`'s encoding and checks that it agrees with validating `data` itself.
    fn decode_both(data: &TracesData) -> Batch {
        let bytes = Bytes::from(data.encode_to_vec());
        let decoded = Batch::decode(bytes.clone()).expect("decodes in parts");
        let built = Batch::new(data.resource_spans.clone());
        assert_eq!(decoded.resource_spans(), built.resource_spans());
        assert_eq!(decoded.span_count(), built.span_count());
        assert_eq!(decoded.rejected_spans(), built.rejected_spans());
        assert_eq!(decoded.rejection_message(), built.rejection_message());
        if decoded.resource_spans() != data.resource_spans.as_slice() {
            // What the log stores is what was kept, never the request's bytes.
            assert_ne!(decoded.encoded(), bytes);
            let kept = TracesData::decode(decoded.encoded()).expect("kept spans decode");
            assert_eq!(kept.resource_spans, decoded.resource_spans());
        }
        decoded
    }

    #[test]
    fn a_span_nested_too_deep_is_dropped_alone() {
        // Too deep for a one-pass decode: the request is decoded part by part.
        let data = TracesData {
            resource_spans: vec![resource_spans(
                vec![],
                vec![],
                vec![good(1), deep(2, MAX_ANY_VALUE_DEPTH + 8, true), good(3)],
            )],
        };
        assert!(TracesData::decode(data.encode_to_vec().as_slice()).is_err());
        let batch = decode_both(&data);
        assert_eq!(batch.span_count(), 2);
        assert_eq!(batch.rejected_spans(), 1);
        assert_eq!(
            batch.rejection_message().unwrap_or_default(),
            "1 spans rejected: resourceSpans[0].scopeSpans[0].spans[1]: \
             events[0].attributes[1]: value nested more than 32 levels deep"
        );
        let kept = &batch.resource_spans()[0].scope_spans[0].spans;
        assert_eq!(kept, &vec![good(1), good(3)]);
    }

    #[test]
    fn the_limit_holds_where_prost_alone_would_accept() {
        // Arrays cost prost fewer levels: this decodes in one pass, and is still too deep.
        let data = TracesData {
            resource_spans: vec![resource_spans(
                vec![],
                vec![],
                vec![good(1), deep(2, MAX_ANY_VALUE_DEPTH + 1, false)],
            )],
        };
        assert!(TracesData::decode(data.encode_to_vec().as_slice()).is_ok());
        let batch = decode_both(&data);
        assert_eq!((batch.span_count(), batch.rejected_spans()), (1, 1));
        // At the limit, everything is kept with the request's own bytes.
        let data = TracesData {
            resource_spans: vec![resource_spans(
                vec![attribute(MAX_ANY_VALUE_DEPTH, true)],
                vec![attribute(MAX_ANY_VALUE_DEPTH, true)],
                vec![good(1), deep(2, MAX_ANY_VALUE_DEPTH, true)],
            )],
        };
        let bytes = Bytes::from(data.encode_to_vec());
        let batch = Batch::decode(bytes.clone()).expect("decodes");
        assert_eq!((batch.span_count(), batch.rejected_spans()), (2, 0));
        assert_eq!(batch.encoded(), bytes);
    }

    #[test]
    fn a_resource_or_scope_nested_too_deep_takes_its_spans() {
        for (resource, scope, what) in [
            (true, false, "resource.attributes[0]"),
            (false, true, "scope.attributes[0]"),
        ] {
            let too_deep = || vec![attribute(MAX_ANY_VALUE_DEPTH + 20, true)];
            let data = TracesData {
                resource_spans: vec![
                    resource_spans(vec![], vec![], vec![good(1)]),
                    resource_spans(
                        if resource { too_deep() } else { vec![] },
                        if scope { too_deep() } else { vec![] },
                        vec![good(2), good(3), span(&[0; 16], &[4; 8])],
                    ),
                    resource_spans(vec![], vec![], vec![good(5)]),
                ],
            };
            let batch = decode_both(&data);
            assert_eq!((batch.span_count(), batch.rejected_spans()), (2, 3));
            let message = batch.rejection_message().unwrap_or_default();
            assert!(
                message.starts_with(&format!(
                    "3 spans rejected: resourceSpans[1].scopeSpans[0].spans[0]: {what}: value \
                     nested more than 32 levels deep; resourceSpans[1].scopeSpans[0].spans[1]"
                )),
                "{message}"
            );
            assert_eq!(batch.resource_spans().len(), 2);
        }
    }

    #[test]
    fn a_resource_too_deep_with_no_spans_is_left_out() {
        let mut empty = resource_spans(
            vec![attribute(MAX_ANY_VALUE_DEPTH + 20, true)],
            vec![],
            vec![],
        );
        empty.scope_spans.clear();
        let data = TracesData {
            resource_spans: vec![empty, resource_spans(vec![], vec![], vec![good(1)])],
        };
        let batch = decode_both(&data);
        assert_eq!((batch.span_count(), batch.rejected_spans()), (1, 0));
        assert_eq!(batch.resource_spans().len(), 1);
        assert_eq!(batch.rejection_message(), None);
    }

    #[test]
    fn other_faults_still_fail_the_whole_request() {
        let deep_span = deep(2, MAX_ANY_VALUE_DEPTH + 8, true);
        let mut bad_name = good(3);
        bad_name.name = "placeholder".into();
        let data = TracesData {
            resource_spans: vec![resource_spans(
                vec![],
                vec![],
                vec![good(1), deep_span, bad_name],
            )],
        };
        let mut bytes = data.encode_to_vec();
        // Make the third span's name invalid UTF-8.
        let at = bytes
            .windows(11)
            .position(|w| w == b"placeholder")
            .expect("name in the encoding");
        bytes[at] = 0xff;
        let err = Batch::decode(Bytes::from(bytes)).expect_err("invalid UTF-8");
        assert!(err.to_string().contains("malformed OTLP protobuf"), "{err}");

        // A mistyped field beside a span too deep: refused as a one-pass decode refuses it.
        let data = TracesData {
            resource_spans: vec![resource_spans(vec![], vec![], vec![deep(2, 40, true)])],
        };
        let mut bytes = data.encode_to_vec();
        bytes.extend_from_slice(b"\x08\x01"); // TracesData.resource_spans as a varint
        assert!(Batch::decode(Bytes::from(bytes)).is_err());
    }

    #[test]
    fn nothing_but_deep_nesting_is_refused_without_overflowing() {
        // Nested groups, a megabyte of them.
        // Start markers of field 2, then as many end markers.
        let mut groups = vec![0x13; 1 << 19];
        groups.extend(std::iter::repeat_n(0x14, 1 << 19));
        let err = Batch::decode(Bytes::from(groups)).expect_err("too deep");
        assert!(err.to_string().contains("recursion limit"), "{err}");
        // Nested messages: a megabyte of fields 1 in fields 1, around a byte that is not UTF-8.
        let mut rev = vec![0xff];
        while rev.len() < 1 << 20 {
            let mut len = Vec::new();
            push_varint(&mut len, rev.len());
            rev.extend(len.iter().rev());
            rev.push(0x0a);
        }
        rev.reverse();
        assert!(Batch::decode(Bytes::from(rev)).is_err());
        // A megabyte-deep value in a span among good ones: that span alone is dropped.
        let mut data = TracesData {
            resource_spans: vec![resource_spans(vec![], vec![], vec![good(1), good(2)])],
        };
        let value = deep_array_value(200_000);
        let mut span = good(3).encode_to_vec();
        // Span.attributes: KeyValue { key: "k", value }
        let mut kv = b"\x0a\x01k\x12".to_vec();
        push_varint(&mut kv, value.len());
        kv.extend_from_slice(&value);
        span.push(0x4a);
        push_varint(&mut span, kv.len());
        span.extend_from_slice(&kv);
        data.resource_spans[0].scope_spans[0].spans.push(good(4));
        // TracesData { resource_spans: [{ scope_spans: [{ spans: [good, good, good, span] }] }] }
        let mut scope = data.resource_spans[0].scope_spans[0].encode_to_vec();
        scope.push(0x12);
        push_varint(&mut scope, span.len());
        scope.extend_from_slice(&span);
        let mut resource = vec![0x12];
        push_varint(&mut resource, scope.len());
        resource.extend_from_slice(&scope);
        let mut bytes = vec![0x0a];
        push_varint(&mut bytes, resource.len());
        bytes.extend_from_slice(&resource);
        assert!(bytes.len() > 1 << 20);
        let batch = Batch::decode(Bytes::from(bytes)).expect("decodes in parts");
        assert_eq!((batch.span_count(), batch.rejected_spans()), (3, 1));
        assert!(
            batch
                .rejection_message()
                .unwrap_or_default()
                .contains("spans[3]: attributes[0]: value nested more than 32 levels deep")
        );
    }

    fn push_varint(out: &mut Vec<u8>, mut v: usize) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Where a value goes: resource, scope, a span's attributes, an event's, a link's.
        fn place(data: &mut TracesData, r: usize, s: usize, k: usize, at: u8, kv: KeyValue) {
            let rs = &mut data.resource_spans[r];
            match at {
                0 => rs.resource.get_or_insert_default().attributes.push(kv),
                1 => rs.scope_spans[s]
                    .scope
                    .get_or_insert_default()
                    .attributes
                    .push(kv),
                _ => {
                    let Some(span) = rs.scope_spans[s].spans.get_mut(k) else {
                        return;
                    };
                    match at {
                        2 => span.attributes.push(kv),
                        3 => span.events.push(Event {
                            attributes: vec![kv],
                            ..Event::default()
                        }),
                        _ => span.links.push(crate::model::Link {
                            attributes: vec![kv],
                            ..crate::model::Link::default()
                        }),
                    }
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// Decoding a body, in one pass or in parts, keeps and rejects exactly what
            /// validating its spans does.
            #[test]
            fn decoding_agrees_with_validation(
                shape in proptest::collection::vec(proptest::collection::vec(0usize..4, 1..3), 1..4),
                values in proptest::collection::vec(
                    (0usize..3, 0usize..2, 0usize..4, 0u8..5, 1usize..45, any::<bool>()),
                    0..6,
                ),
                bad_ids in proptest::collection::vec((0usize..3, 0usize..2, 0usize..4), 0..2),
            ) {
                let mut n = 0u8;
                let mut data = TracesData {
                    resource_spans: shape
                        .iter()
                        .map(|scopes| ResourceSpans {
                            scope_spans: scopes
                                .iter()
                                .map(|&spans| ScopeSpans {
                                    spans: (0..spans)
                                        .map(|_| {
                                            n += 1;
                                            good(n)
                                        })
                                        .collect(),
                                    ..ScopeSpans::default()
                                })
                                .collect(),
                            ..ResourceSpans::default()
                        })
                        .collect(),
                };
                for (r, s, k, at, depth, kvlist) in values {
                    let r = r % data.resource_spans.len();
                    let s = s % data.resource_spans[r].scope_spans.len();
                    place(&mut data, r, s, k, at, attribute(depth, kvlist));
                }
                for (r, s, k) in bad_ids {
                    let r = r % data.resource_spans.len();
                    let s = s % data.resource_spans[r].scope_spans.len();
                    if let Some(span) = data.resource_spans[r].scope_spans[s].spans.get_mut(k) {
                        span.trace_id = vec![0; 16];
                    }
                }
                let batch = decode_both(&data);
                let total: usize = data
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum();
                prop_assert_eq!(batch.span_count() + batch.rejected_spans(), total);
            }
        }
    }
}
