//! batch: which spans of a request may be stored?
//!
//! A [`Batch`] is a validated set of resource spans, ready for [`Store::ingest`]. Validation
//! drops spans whose IDs are malformed and counts them, as OTLP's partial success expects; the
//! rest are kept. A batch decoded from protobuf keeps its bytes when nothing was dropped, so the
//! write-ahead log stores them without encoding the spans again.
//!
//! [`Store::ingest`]: crate::Store::ingest

use bytes::Bytes;
use prost::Message;

use std::collections::HashMap;

use crate::model::{ResourceSpans, Span, TraceId, TracesData};

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
    pub fn decode(bytes: Bytes) -> Result<Batch, DecodeError> {
        let data = TracesData::decode(bytes.clone())?;
        let mut batch = Batch {
            data,
            ..Batch::default()
        };
        batch.validate();
        if batch.rejected == 0 {
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

    fn validate(&mut self) {
        let mut spans = 0;
        let mut rejected = 0;
        let mut reasons = Vec::new();
        for (r, resource_spans) in self.data.resource_spans.iter_mut().enumerate() {
            for (s, scope_spans) in resource_spans.scope_spans.iter_mut().enumerate() {
                let mut index = 0;
                scope_spans.spans.retain(|span| {
                    let verdict = check_span(span);
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
            if rejected > 0 {
                resource_spans.scope_spans.retain(|s| !s.spans.is_empty());
            }
        }
        if rejected > 0 {
            self.data
                .resource_spans
                .retain(|r| !r.scope_spans.is_empty());
        }
        self.spans = spans;
        self.rejected = rejected;
        self.reasons = reasons;
    }
}

fn check_span(span: &Span) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ScopeSpans;

    #[test]
    fn span_slices_are_each_spans_own_bytes() {
        let data = crate::workload::Workload::new(3).batch(20, None);
        let encoded = Bytes::from(data.encode_to_vec());
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
}
