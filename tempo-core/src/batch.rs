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

use crate::model::{ResourceSpans, Span, TracesData};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ScopeSpans;

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
