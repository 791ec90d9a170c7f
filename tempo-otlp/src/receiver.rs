//! receiver: what both transports share: settings, tenants, and what they report.

use std::sync::Arc;

use tempo_core::model::ResourceSpans;
use tempo_core::{Batch, IngestError, IngestReceipt, SINGLE_TENANT, Store};

/// Settings shared by the OTLP receivers.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// Take the tenant from `X-Scope-OrgID`; when off, every span goes to `single-tenant`.
    pub multitenancy_enabled: bool,
    /// Largest accepted gRPC message, after decompression (default 16 MiB).
    pub max_grpc_message_bytes: usize,
    /// Largest accepted HTTP body, both as sent and after decompression (default 16 MiB).
    pub max_http_body_bytes: usize,
}

impl Default for ReceiverConfig {
    fn default() -> ReceiverConfig {
        ReceiverConfig {
            multitenancy_enabled: false,
            max_grpc_message_bytes: 16 << 20,
            max_http_body_bytes: 16 << 20,
        }
    }
}

/// The transport a request came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP with a protobuf body.
    HttpProtobuf,
    /// OTLP/HTTP with a JSON body.
    HttpJson,
    /// Jaeger's gRPC `CollectorService/PostSpans`.
    JaegerGrpc,
    /// Jaeger Thrift (binary protocol) over HTTP, `POST /api/traces`.
    JaegerThriftHttp,
    /// Jaeger Thrift, compact protocol, over UDP (the agent's port 6831).
    JaegerThriftCompact,
    /// Jaeger Thrift, binary protocol, over UDP (the agent's port 6832).
    JaegerThriftBinary,
    /// Zipkin v2 JSON, `POST /api/v2/spans`.
    ZipkinJson,
    /// Zipkin v2 protobuf, `POST /api/v2/spans`.
    ZipkinProtobuf,
    /// Zipkin v1 JSON, `POST /api/v1/spans`.
    ZipkinV1Json,
}

impl Transport {
    /// A short label for metrics: `grpc`, `http_protobuf`, `http_json`, `jaeger_grpc`,
    /// `jaeger_thrift_http`, `jaeger_thrift_compact`, `jaeger_thrift_binary`, `zipkin_json`,
    /// `zipkin_protobuf`, `zipkin_v1_json`.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::HttpProtobuf => "http_protobuf",
            Transport::HttpJson => "http_json",
            Transport::JaegerGrpc => "jaeger_grpc",
            Transport::JaegerThriftHttp => "jaeger_thrift_http",
            Transport::JaegerThriftCompact => "jaeger_thrift_compact",
            Transport::JaegerThriftBinary => "jaeger_thrift_binary",
            Transport::ZipkinJson => "zipkin_json",
            Transport::ZipkinProtobuf => "zipkin_protobuf",
            Transport::ZipkinV1Json => "zipkin_v1_json",
        }
    }
}

/// What happened to one export request, for metrics and logs.
#[derive(Debug, Clone, Copy)]
pub struct IngestEvent<'a> {
    /// The tenant, when it could be determined.
    pub tenant: Option<&'a str>,
    /// The transport.
    pub transport: Transport,
    /// Bytes of the request body as received (compressed, if it was).
    pub bytes: usize,
    /// Spans stored.
    pub accepted_spans: usize,
    /// Spans dropped by validation.
    pub rejected_spans: usize,
    /// Why the whole request failed, if it did.
    pub error: Option<&'a str>,
}

/// Receives an [`IngestEvent`] for every export request. Implement it to feed metrics.
pub trait IngestObserver: Send + Sync + 'static {
    /// Called once per request, after the response is decided.
    fn observe(&self, event: &IngestEvent<'_>);
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;

impl IngestObserver for NoopObserver {
    fn observe(&self, _event: &IngestEvent<'_>) {}
}

/// What a receiver needs to serve requests.
#[derive(Clone)]
pub struct Receiver {
    pub(crate) store: Store,
    pub(crate) config: ReceiverConfig,
    pub(crate) observer: Arc<dyn IngestObserver>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Why a request's tenant is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TenantError {
    /// Multi-tenancy is on and the request named no tenant.
    Missing,
    /// The tenant ID breaks the rules.
    Invalid(String),
}

impl Receiver {
    /// A receiver storing into `store`.
    pub fn new(store: Store, config: ReceiverConfig) -> Receiver {
        Receiver {
            store,
            config,
            observer: Arc::new(NoopObserver),
        }
    }

    /// Reports every request to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn IngestObserver>) -> Receiver {
        self.observer = observer;
        self
    }

    /// The tenant for a request carrying `org_id` (the `X-Scope-OrgID` header's value).
    pub(crate) fn tenant(&self, org_id: Option<&[u8]>) -> Result<String, TenantError> {
        if !self.config.multitenancy_enabled {
            return Ok(SINGLE_TENANT.to_owned());
        }
        let raw = org_id.ok_or(TenantError::Missing)?;
        let tenant = std::str::from_utf8(raw)
            .map_err(|_| TenantError::Invalid("X-Scope-OrgID is not valid UTF-8".into()))?
            .trim();
        if tenant.is_empty() {
            return Err(TenantError::Missing);
        }
        tempo_core::validate_tenant(tenant).map_err(|e| TenantError::Invalid(e.to_string()))?;
        Ok(tenant.to_owned())
    }

    /// Stores spans that another protocol's receiver mapped into OTLP, through the same path
    /// as OTLP (validation, limits, the write-ahead log before the answer), and reports the
    /// request to the observer.
    pub(crate) async fn ingest_mapped(
        &self,
        tenant: &str,
        transport: Transport,
        bytes: usize,
        resource_spans: Vec<ResourceSpans>,
    ) -> Result<IngestReceipt, IngestError> {
        let batch = Batch::new(resource_spans);
        let result = self.store.ingest_async(tenant, batch).await;
        let (accepted, rejected, error) = match &result {
            Ok(r) => (r.accepted_spans, r.rejected_spans, None),
            Err(e) => (0, 0, Some(e.to_string())),
        };
        self.observer.observe(&IngestEvent {
            tenant: Some(tenant),
            transport,
            bytes,
            accepted_spans: accepted,
            rejected_spans: rejected,
            error: error.as_deref(),
        });
        if let Ok(r) = &result
            && let Some(message) = &r.rejection_message
        {
            tracing::debug!(
                tenant,
                transport = transport.label(),
                rejection = %message,
                "spans rejected"
            );
        }
        result
    }

    /// Reports a request refused before its spans reached the store.
    pub(crate) fn observe_failure(
        &self,
        tenant: Option<&str>,
        transport: Transport,
        bytes: usize,
        error: &str,
    ) {
        self.observer.observe(&IngestEvent {
            tenant,
            transport,
            bytes,
            accepted_spans: 0,
            rejected_spans: 0,
            error: Some(error),
        });
    }
}
