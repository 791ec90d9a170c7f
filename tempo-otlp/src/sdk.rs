//! sdk: how does a Rust service store its own spans, with no network in between?
//!
//! [`StoreExporter`] is an OpenTelemetry SDK [`SpanExporter`] that writes finished spans
//! straight into a [`tempo_core::Store`], on any of its backends. Plug it into the SDK's batch
//! processor (`SdkTracerProvider::builder().with_batch_exporter(..)`) in a service, or into the
//! simple processor (`with_simple_exporter`) when every span must be readable as soon as it
//! ends, as in tests.
//!
//! Each batch is converted from the SDK's [`SpanData`] into the store's model directly, field
//! for field as the OTLP exporters map it (see [`resource_spans`]): no protobuf encoding and no
//! decoding on the way. What is stored is what the OTLP/gRPC path would have stored for the
//! same spans.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, Status as SdkStatus};
use opentelemetry::{Array, InstrumentationScope as SdkScope, Value as SdkValue};
use opentelemetry_sdk::Resource as SdkResource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tempo_core::model::{
    AnyValue, ArrayValue, Event, InstrumentationScope, KeyValue, Link, Resource, ResourceSpans,
    ScopeSpans, Span, SpanKind, Status, StatusCode, Value,
};
use tempo_core::{Batch, IngestReceipt, SINGLE_TENANT, Store};

/// OTLP's `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`: the `IS_REMOTE` bit is meaningful.
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
/// OTLP's `SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`: the parent (or linked) context was remote.
const FLAG_IS_REMOTE: u32 = 0x200;

/// Why spans handed to a [`StoreExporter`] were not (all) stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The store refused the batch: it is closed, its write-ahead log failed, or the tenant is
    /// invalid. No span of the batch was stored.
    #[error("storing {spans} spans for tenant {tenant:?} failed: {source}")]
    Store {
        /// The exporter's tenant.
        tenant: String,
        /// Spans in the batch.
        spans: usize,
        /// The store's error.
        #[source]
        source: tempo_core::IngestError,
    },
    /// Some spans had malformed IDs (an SDK with a custom ID generator can produce them); the
    /// others were stored.
    #[error("{message}")]
    Rejected {
        /// Spans dropped.
        spans: usize,
        /// The store's validation message, naming the first few spans.
        message: String,
    },
    /// The exporter was shut down; nothing was stored.
    #[error("the exporter is shut down")]
    Shutdown,
}

impl From<ExportError> for OTelSdkError {
    fn from(err: ExportError) -> OTelSdkError {
        match err {
            ExportError::Shutdown => OTelSdkError::AlreadyShutdown,
            other => OTelSdkError::InternalFailure(other.to_string()),
        }
    }
}

/// An OpenTelemetry SDK span exporter that stores spans in a [`Store`] in-process.
///
/// Every export is one [`Store::ingest`]: it returns once the batch is durable in the store's
/// write-ahead log (per its fsync policy), and from then on the spans are found by trace ID
/// and by TraceQL search. The SDK calls exports one at a time; with the batch processor they
/// run on the processor's own thread, so the instrumented code never waits for the store.
///
/// [`SpanExporter::force_flush`] also syncs the write-ahead log, whatever the fsync policy.
/// Shutting the exporter down does not close the store, which the host owns.
///
/// ```
/// use opentelemetry::trace::{Tracer as _, TracerProvider as _};
/// use opentelemetry_sdk::trace::SdkTracerProvider;
/// use tempo_core::{SearchRequest, Store};
/// use tempo_otlp::sdk::StoreExporter;
///
/// let store = Store::in_memory();
/// let provider = SdkTracerProvider::builder()
///     .with_simple_exporter(StoreExporter::new(store.clone()))
///     .build();
/// provider.tracer("docs").in_span("GET /cart", |_cx| {});
///
/// let found = store.search("single-tenant", &SearchRequest::new(r#"{ name = "GET /cart" }"#))?;
/// assert_eq!(found.traces.len(), 1);
/// # Ok::<(), tempo_core::Error>(())
/// ```
#[derive(Debug)]
pub struct StoreExporter {
    store: Store,
    tenant: Arc<str>,
    resource: Resource,
    resource_schema_url: String,
    shut_down: AtomicBool,
}

impl StoreExporter {
    /// An exporter storing into `store` for the `single-tenant` tenant.
    pub fn new(store: Store) -> StoreExporter {
        StoreExporter {
            store,
            tenant: Arc::from(SINGLE_TENANT),
            resource: Resource::default(),
            resource_schema_url: String::new(),
            shut_down: AtomicBool::new(false),
        }
    }

    /// Stores spans for `tenant` instead; fails if the store would refuse the tenant ID.
    pub fn with_tenant(mut self, tenant: &str) -> Result<StoreExporter, tempo_core::TenantError> {
        tempo_core::validate_tenant(tenant)?;
        self.tenant = Arc::from(tenant);
        Ok(self)
    }

    /// The store spans go to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The tenant spans are stored for.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Converts and stores `spans` now, on the calling thread, and says how many were stored.
    ///
    /// This is what [`SpanExporter::export`] does, with a typed error; it is useful to
    /// export spans collected some other way.
    pub fn export_now(&self, spans: Vec<SpanData>) -> Result<IngestReceipt, ExportError> {
        let batch = self.prepare(spans)?;
        let count = batch.span_count();
        let receipt = self
            .store
            .ingest(&self.tenant, batch)
            .map_err(|source| store_error(&self.tenant, count, source))?;
        all_stored(receipt)
    }

    /// The validated batch for `spans`, or why it cannot be stored.
    fn prepare(&self, spans: Vec<SpanData>) -> Result<Batch, ExportError> {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(ExportError::Shutdown);
        }
        let resource_spans = convert(
            spans,
            self.resource.clone(),
            self.resource_schema_url.clone(),
        );
        Ok(Batch::new(vec![resource_spans]))
    }
}

fn store_error(tenant: &str, spans: usize, source: tempo_core::IngestError) -> ExportError {
    ExportError::Store {
        tenant: tenant.to_owned(),
        spans,
        source,
    }
}

/// The receipt when every span was stored, else the rejection.
fn all_stored(receipt: IngestReceipt) -> Result<IngestReceipt, ExportError> {
    if receipt.rejected_spans == 0 {
        return Ok(receipt);
    }
    Err(ExportError::Rejected {
        spans: receipt.rejected_spans,
        message: receipt.rejection_message.unwrap_or_else(|| {
            format!(
                "{} spans with malformed IDs dropped",
                receipt.rejected_spans
            )
        }),
    })
}

impl SpanExporter for StoreExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let prepared = self.prepare(batch);
        let store = self.store.clone();
        let tenant = self.tenant.clone();
        async move {
            let batch = prepared?;
            let count = batch.span_count();
            let receipt = store
                .ingest_async(&tenant, batch)
                .await
                .map_err(|source| store_error(&tenant, count, source))?;
            all_stored(receipt)?;
            Ok(())
        }
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        self.store
            .flush()
            .map_err(|e| OTelSdkError::InternalFailure(format!("syncing the store: {e}")))
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.store
            .flush()
            .map_err(|e| OTelSdkError::InternalFailure(format!("syncing the store: {e}")))
    }

    fn set_resource(&mut self, resource: &SdkResource) {
        self.resource = convert_resource(resource);
        self.resource_schema_url = resource.schema_url().unwrap_or_default().to_owned();
    }
}

/// Converts spans of one SDK resource into the store's model: one [`ResourceSpans`], with a
/// [`ScopeSpans`] per instrumentation scope in order of first appearance, exactly as the OTLP
/// exporters group them.
///
/// Every field is mapped: trace and span IDs, parent span ID (empty for a root), trace state,
/// name, kind, start and end times, attributes of every type (arrays included), dropped
/// attribute, event and link counts, events and links with their attributes, trace state and
/// flags, status code and message, and the span flags (W3C trace flags plus OTLP's
/// "has is-remote" and "is-remote" bits for the parent); the resource with its attributes and
/// schema URL; each scope with its name, version, attributes and schema URL.
pub fn resource_spans(spans: Vec<SpanData>, resource: &SdkResource) -> ResourceSpans {
    convert(
        spans,
        convert_resource(resource),
        resource.schema_url().unwrap_or_default().to_owned(),
    )
}

fn convert(spans: Vec<SpanData>, resource: Resource, schema_url: String) -> ResourceSpans {
    let mut scopes: Vec<(SdkScope, ScopeSpans)> = Vec::new();
    let mut last = 0;
    for span in spans {
        let scope = &span.instrumentation_scope;
        // Spans of one scope usually come together: check the last scope first.
        let index = if scopes.get(last).is_some_and(|(s, _)| s == scope) {
            last
        } else if let Some(i) = scopes.iter().position(|(s, _)| s == scope) {
            i
        } else {
            let scope_spans = ScopeSpans {
                scope: Some(convert_scope(scope)),
                spans: Vec::new(),
                schema_url: scope.schema_url().unwrap_or_default().to_owned(),
            };
            scopes.push((scope.clone(), scope_spans));
            scopes.len() - 1
        };
        last = index;
        if let Some((_, scope_spans)) = scopes.get_mut(index) {
            scope_spans.spans.push(convert_span(span));
        }
    }
    ResourceSpans {
        resource: Some(resource),
        scope_spans: scopes.into_iter().map(|(_, s)| s).collect(),
        schema_url,
    }
}

fn convert_resource(resource: &SdkResource) -> Resource {
    Resource {
        attributes: resource
            .iter()
            .map(|(key, value)| KeyValue {
                key: key.as_str().to_owned(),
                value: Some(convert_value(value.clone())),
            })
            .collect(),
        dropped_attributes_count: 0,
    }
}

fn convert_scope(scope: &SdkScope) -> InstrumentationScope {
    InstrumentationScope {
        name: scope.name().to_owned(),
        version: scope.version().unwrap_or_default().to_owned(),
        attributes: convert_attributes(scope.attributes().cloned()),
        dropped_attributes_count: 0,
    }
}

fn convert_span(span: SpanData) -> Span {
    let context = &span.span_context;
    let parent_span_id = if span.parent_span_id == SpanId::INVALID {
        Vec::new()
    } else {
        span.parent_span_id.to_bytes().to_vec()
    };
    let (code, message) = match span.status {
        SdkStatus::Unset => (StatusCode::Unset, String::new()),
        SdkStatus::Ok => (StatusCode::Ok, String::new()),
        SdkStatus::Error { description } => (StatusCode::Error, description.into_owned()),
    };
    Span {
        trace_id: context.trace_id().to_bytes().to_vec(),
        span_id: context.span_id().to_bytes().to_vec(),
        trace_state: context.trace_state().header(),
        parent_span_id,
        name: span.name.into_owned(),
        kind: convert_kind(&span.span_kind) as i32,
        start_time_unix_nano: unix_nanos(span.start_time),
        end_time_unix_nano: unix_nanos(span.end_time),
        attributes: convert_attributes(span.attributes),
        dropped_attributes_count: span.dropped_attributes_count,
        dropped_events_count: span.events.dropped_count,
        events: span
            .events
            .events
            .into_iter()
            .map(|event| Event {
                time_unix_nano: unix_nanos(event.timestamp),
                name: event.name.into_owned(),
                attributes: convert_attributes(event.attributes),
                dropped_attributes_count: event.dropped_attributes_count,
            })
            .collect(),
        dropped_links_count: span.links.dropped_count,
        links: span
            .links
            .links
            .into_iter()
            .map(|link| Link {
                trace_id: link.span_context.trace_id().to_bytes().to_vec(),
                span_id: link.span_context.span_id().to_bytes().to_vec(),
                trace_state: link.span_context.trace_state().header(),
                attributes: convert_attributes(link.attributes),
                dropped_attributes_count: link.dropped_attributes_count,
                flags: span_flags(
                    link.span_context.is_remote(),
                    link.span_context.trace_flags().to_u8(),
                ),
            })
            .collect(),
        status: Some(Status {
            message,
            code: code as i32,
        }),
        flags: span_flags(span.parent_span_is_remote, context.trace_flags().to_u8()),
    }
}

/// W3C trace flags in the low byte, plus OTLP's is-remote bits, as the OTLP exporters set them.
fn span_flags(remote: bool, trace_flags: u8) -> u32 {
    let mut flags = u32::from(trace_flags) | FLAG_HAS_IS_REMOTE;
    if remote {
        flags |= FLAG_IS_REMOTE;
    }
    flags
}

fn convert_kind(kind: &opentelemetry::trace::SpanKind) -> SpanKind {
    use opentelemetry::trace::SpanKind as K;
    match kind {
        K::Client => SpanKind::Client,
        K::Server => SpanKind::Server,
        K::Producer => SpanKind::Producer,
        K::Consumer => SpanKind::Consumer,
        K::Internal => SpanKind::Internal,
    }
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn convert_attributes(
    attributes: impl IntoIterator<Item = opentelemetry::KeyValue>,
) -> Vec<KeyValue> {
    attributes
        .into_iter()
        .map(|kv| KeyValue {
            key: kv.key.into(),
            value: Some(convert_value(kv.value)),
        })
        .collect()
}

fn convert_value(value: SdkValue) -> AnyValue {
    let value = match value {
        SdkValue::Bool(b) => Value::BoolValue(b),
        SdkValue::I64(i) => Value::IntValue(i),
        SdkValue::F64(f) => Value::DoubleValue(f),
        SdkValue::String(s) => Value::StringValue(s.into()),
        SdkValue::Array(array) => Value::ArrayValue(ArrayValue {
            values: match array {
                Array::Bool(v) => v.into_iter().map(|b| any(Value::BoolValue(b))).collect(),
                Array::I64(v) => v.into_iter().map(|i| any(Value::IntValue(i))).collect(),
                Array::F64(v) => v.into_iter().map(|f| any(Value::DoubleValue(f))).collect(),
                Array::String(v) => v
                    .into_iter()
                    .map(|s| any(Value::StringValue(s.into())))
                    .collect(),
                // Array kinds added to the API after 0.33: keep the text rather than drop it.
                other => vec![any(Value::StringValue(other.to_string()))],
            },
        }),
        // Value kinds added to the API after 0.33: keep the text rather than drop it.
        other => Value::StringValue(other.as_str().into_owned()),
    };
    any(value)
}

fn any(value: Value) -> AnyValue {
    AnyValue { value: Some(value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_carry_trace_flags_and_remote_bits() {
        assert_eq!(span_flags(false, 0), 0x100);
        assert_eq!(span_flags(false, 1), 0x101);
        assert_eq!(span_flags(true, 1), 0x301);
    }

    #[test]
    fn times_before_the_epoch_are_zero() {
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(unix_nanos(before), 0);
        assert_eq!(unix_nanos(UNIX_EPOCH + Duration::from_nanos(7)), 7);
    }
}
