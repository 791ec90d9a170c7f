//! config: which settings does a Tempo configuration file give this server?
//!
//! The server reads the YAML file named by `-config.file=PATH`. Its keys are Tempo's own, so
//! that the configuration of a Tempo single binary (2.x or 3.x) works as it is. Parsing never
//! fails on a key it does not know: [`Config::from_yaml`] returns those keys as dotted paths
//! (`query_frontend.trace_by_id`, `memberlist`) for the caller to log
//! as warnings. A whole section we do not support is reported once, by its own path, rather
//! than key by key. A known key with a bad value is an error naming the key, the value and the
//! position in the file.
//!
//! # Keys read into [`Config`]
//!
//! | Key | Default | Setting |
//! |---|---|---|
//! | `server.http_listen_address` | `0.0.0.0` (also for `""`) | [`Config::http_listen_address`] |
//! | `server.http_listen_port` | `3200` | [`Config::http_listen_port`] |
//! | `server.log_level` | `info` | [`Config::log_level`] |
//! | `multitenancy_enabled`, or its deprecated alias `auth_enabled` | `false` | [`Config::multitenancy_enabled`] |
//! | `query_frontend.multi_tenant_queries_enabled` | `true` | [`Config::multi_tenant_queries_enabled`] |
//! | `stream_over_http_enabled` | `true` (Tempo: `false`) | [`Config::stream_over_http_enabled`] |
//! | `distributor.receivers.otlp.protocols.grpc.endpoint` | `0.0.0.0:4317` | [`Config::otlp_grpc_endpoint`] |
//! | `distributor.receivers.otlp.protocols.grpc.max_recv_msg_size_mib` | `16` | [`Config::otlp_grpc_max_recv_msg_size`] |
//! | `distributor.receivers.otlp.protocols.http.endpoint` | `0.0.0.0:4318` | [`Config::otlp_http_endpoint`] |
//! | `distributor.receivers.otlp.protocols.http.max_request_body_size` | 16 MiB | [`Config::otlp_http_max_request_bytes`] |
//! | `distributor.receivers.jaeger.protocols.grpc.endpoint` | off; `0.0.0.0:14250` when `grpc` is listed | [`Config::jaeger_grpc`]: `jaeger.api_v2.CollectorService/PostSpans` |
//! | `distributor.receivers.jaeger.protocols.grpc.max_recv_msg_size_mib` | `16` | [`Config::jaeger_grpc`] |
//! | `distributor.receivers.jaeger.protocols.thrift_http.endpoint` | off; `0.0.0.0:14268` when listed | [`Config::jaeger_thrift_http`]: `POST /api/traces` |
//! | `distributor.receivers.jaeger.protocols.thrift_http.max_request_body_size` | 16 MiB | [`Config::jaeger_thrift_http`] |
//! | `distributor.receivers.jaeger.protocols.thrift_compact.endpoint` | off; `0.0.0.0:6831` (UDP) when listed | [`Config::jaeger_thrift_compact`] |
//! | `distributor.receivers.jaeger.protocols.thrift_binary.endpoint` | off; `0.0.0.0:6832` (UDP) when listed | [`Config::jaeger_thrift_binary`] |
//! | `distributor.receivers.zipkin.endpoint` | off; `0.0.0.0:9411` when `zipkin` is listed | [`Config::zipkin`]: `POST /api/v2/spans`, `POST /api/v1/spans` |
//! | `distributor.receivers.zipkin.max_request_body_size` | 16 MiB | [`Config::zipkin`] |
//! | `ingester.trace_idle_period`, `live_store.max_trace_idle` | `5s` | [`Config::trace_idle_period`] |
//! | `ingester.max_block_bytes`, `live_store.max_block_bytes` | `52428800` | [`Config::max_block_bytes`] |
//! | `ingester.max_block_duration`, `live_store.max_block_duration` | `30s` | [`Config::max_block_duration`] |
//! | `compactor.compaction.block_retention`, `backend_worker.compaction.block_retention` | `336h` | [`Config::block_retention`] |
//! | `compactor.compaction.compaction_window`, `backend_worker.compaction.compaction_window` | `1h` | [`Config::compaction_window`] |
//! | `storage.trace.backend` | `local` | [`Config::storage_backend`] |
//! | `storage.trace.local.path` | `./tempo-data/blocks` | [`Config::local_path`] |
//! | `storage.trace.wal.path` | `./tempo-data/wal` | [`Config::wal_path`] |
//! | `storage.trace.wal.fsync` (our extension) | `always` | [`Config::wal_fsync`] |
//! | `storage.trace.s3.{bucket, endpoint, region, access_key, secret_key, session_token, insecure, prefix, forcepathstyle, part_size}` | empty (credentials: the `AWS_*` environment variables) | [`Config::s3`] |
//! | `storage.trace.gcs.{bucket_name, prefix}` | empty (credentials: `GOOGLE_APPLICATION_CREDENTIALS`) | [`Config::gcs`] |
//! | `storage.trace.azure.{container_name, storage_account_name, storage_account_key, endpoint_suffix, prefix}` | empty (credentials: the `AZURE_STORAGE_*` environment variables) | [`Config::azure`] |
//! | `storage.trace.blocklist_poll` | `5m` | [`Config::blocklist_poll`] |
//! | `storage.trace.peers` (our extension) | none | [`Config::peers`]: the other servers on the same bucket, `host:port` of their HTTP API (DNS names allowed), asked for what their heads hold by trace by ID, search, tag names and values and TraceQL metrics |
//! | `storage.trace.peer_timeout` (our extension) | `5s` | [`Config::peer_timeout`]: how long each peer has to answer; past it, or when it fails, the answer is partial and names it |
//! | `server.graceful_shutdown_timeout` | `30s` | [`Config::graceful_shutdown_timeout`] |
//! | `overrides.defaults.global.max_bytes_per_trace`, or the legacy `overrides.max_bytes_per_trace` | `5000000` (0: none) | [`Config::max_bytes_per_trace`] |
//! | `overrides.defaults.compaction.block_retention`, or the legacy `overrides.block_retention` | the compactor's | [`Config::block_retention`] |
//! | `overrides.defaults.ingestion.max_attribute_bytes`, or the legacy `overrides.ingestion_max_attribute_bytes` | `2048` (0: none) | [`Config::max_attribute_bytes`] |
//! | `overrides.per_tenant_override_config` | none | [`Config::per_tenant_override_config`] (each tenant's `global.max_bytes_per_trace`, `compaction.block_retention` and `ingestion.max_attribute_bytes`, or the legacy flat keys; `"*"` for every tenant not named; re-read when it changes) |
//! | `storage.trace.wal.ingestion_time_range_slack` | `2m` | [`Config::ingestion_time_range_slack`] |
//! | `compactor.compaction.compacted_block_retention`, `backend_worker.compaction.compacted_block_retention` | `5m` (Tempo: `1h`) | [`Config::compacted_block_retention`] |
//! | `query_frontend.search.max_query_bytes` (our extension) | 512 MiB | [`Config::max_query_bytes`] |
//! | `query_frontend.metrics.max_duration` | `24h` (0: no limit) | [`Config::metrics_max_duration`] |
//! | `query_frontend.metrics.max_intervals` | `10000` (0: no limit) | [`Config::metrics_max_intervals`] |
//! | `query_frontend.metrics.max_exemplars` | `100` (at most 100; 0: none) | [`Config::metrics_max_exemplars`] |
//! | `query_frontend.metrics.max_response_series` | `1000` (Tempo: 0; 0: no limit) | [`Config::metrics_max_response_series`] |
//! | `query_frontend.query_end_cutoff` | `0s` (Tempo: `30s`; 0: none) | [`Config::query_end_cutoff`] |
//!
//! ## The metrics generator
//!
//! Read into [`Config::metrics_generator`] (see [`generator`] for what is accepted without
//! effect and what is reported). As in Tempo, nothing is generated unless the overrides name
//! processors.
//!
//! | Key | Default | Setting |
//! |---|---|---|
//! | `overrides.defaults.metrics_generator.processors`, or the legacy `overrides.metrics_generator_processors` | none | which processors run for tenants without their own (`span-metrics`, `service-graphs`; `local-blocks` and `host-info` accepted; any other name is a startup error) |
//! | `overrides.defaults.metrics_generator.max_active_series`, or the legacy `overrides.metrics_generator_max_active_series` | `0` (no limit) | the most series per tenant |
//! | `overrides.defaults.metrics_generator.trace_id_label_name`, or the legacy `overrides.metrics_generator_trace_id_label_name` | `traceID` | the exemplars' trace ID label |
//! | each tenant's `metrics_generator.processors` (or `metrics_generator_processors`) in `per_tenant_override_config` | the defaults' | that tenant's processors; `"*"` for every tenant not named |
//! | `metrics_generator.processor.span_metrics.{histogram_buckets, dimensions, intrinsic_dimensions, filter_policies, enable_target_info, target_info_excluded_dimensions, span_multiplier_key}` | Tempo's | span metrics |
//! | `metrics_generator.processor.service_graphs.{wait, max_items, histogram_buckets, dimensions, enable_client_server_prefix, enable_messaging_system_latency_histogram, enable_virtual_node_label, peer_attributes, database_name_attributes, span_multiplier_key, filter_policies}` | Tempo's (`workers` accepted) | service graphs |
//! | `metrics_generator.registry.collection_interval` | `15s` | how often series are sent |
//! | `metrics_generator.registry.stale_duration` | `15m` | a series not updated for this long is dropped |
//! | `metrics_generator.registry.{external_labels, inject_tenant_id_as}` | none | labels on every series |
//! | `metrics_generator.registry.{max_label_name_length, max_label_value_length}` | `1024`, `2048` | labels are cut to these many bytes |
//! | `metrics_generator.storage.remote_write` | none | Prometheus `remote_write` entries: `url` (`http://` only), `name`, `headers`, `send_exemplars`, `remote_timeout`, `basic_auth`, `queue_config.{capacity, max_shards, max_samples_per_send, min_backoff, max_backoff}` |
//! | `metrics_generator.storage.remote_write_flush_deadline` | `1m` | how long shutdown waits for queued series |
//! | `metrics_generator.storage.remote_write_add_org_id_header` | `true` | `X-Scope-OrgID: <tenant>` on requests (never for `single-tenant`) |
//! | `metrics_generator.metrics_ingestion_time_range_slack` | `30s` | spans ending further from now are not counted |
//!
//! ## Connections
//!
//! Each listener's connections are bounded by timeouts and a cap ([`ListenerConfig`]). The
//! keys are those of the server Tempo runs on each port: dskit's `server` block for the HTTP
//! API, the OpenTelemetry Collector's receiver settings for OTLP. A timeout of `0` means none,
//! except where the table says otherwise, as in Go. The cap (`0`, or absent: a share of the
//! open-files limit, see `crate::listen`) is our extension for the OTLP receivers; dskit's
//! `0` means no cap, ours means the automatic one.
//!
//! | Key | Default | Setting |
//! |---|---|---|
//! | `server.http_server_read_header_timeout` | `0`: the read timeout | API `header_timeout` |
//! | `server.http_server_read_timeout` | `30s` | API `read_timeout` |
//! | `server.http_server_write_timeout` | `30s` | API `write_timeout` |
//! | `server.http_server_idle_timeout` | `120s` (`0`: the read timeout) | API `idle_timeout` |
//! | `server.http_listen_conn_limit` | `0`: automatic | API `conn_limit` |
//! | `distributor.receivers.otlp.protocols.http.read_header_timeout` | `1m` (`0`: the read timeout) | OTLP/HTTP `header_timeout` |
//! | `distributor.receivers.otlp.protocols.http.read_timeout` | `30s` (the Collector: none) | OTLP/HTTP `read_timeout` |
//! | `distributor.receivers.otlp.protocols.http.write_timeout` | `30s` | OTLP/HTTP `write_timeout` |
//! | `distributor.receivers.otlp.protocols.http.idle_timeout` | `1m` (`0`: the read timeout) | OTLP/HTTP `idle_timeout` |
//! | `distributor.receivers.otlp.protocols.http.conn_limit` (our extension) | `0`: automatic | OTLP/HTTP `conn_limit` |
//! | `distributor.receivers.otlp.protocols.grpc.keepalive.server_parameters.max_connection_idle` | `5m` (gRPC: none) | OTLP/gRPC `idle_timeout` |
//! | `...grpc.keepalive.server_parameters.max_connection_age` | none | OTLP/gRPC `max_connection_age` |
//! | `...grpc.keepalive.server_parameters.max_connection_age_grace` | none | OTLP/gRPC `max_connection_age_grace` |
//! | `...grpc.keepalive.server_parameters.time` | `2h` (`0`: `2h`; at least `1s`) | OTLP/gRPC `keepalive_time` |
//! | `...grpc.keepalive.server_parameters.timeout` | `20s` (`0`: `20s`) | OTLP/gRPC `keepalive_timeout` |
//! | `...grpc.connection_timeout` (our extension, after gRPC's `ConnectionTimeout`) | `30s` | OTLP/gRPC `header_timeout` |
//! | `...grpc.read_timeout` (our extension) | `30s` | OTLP/gRPC `read_timeout` |
//! | `...grpc.write_timeout` (our extension) | `30s` | OTLP/gRPC `write_timeout` |
//! | `...grpc.conn_limit` (our extension) | `0`: automatic | OTLP/gRPC `conn_limit` |
//!
//! Tempo's `server.grpc_server_*` keys configure its internal gRPC port (9095), which this
//! server does not have: they are reported, as `server.grpc_listen_port` is.
//!
//! Where a Tempo 3.x key (`live_store`, `backend_worker`) and its Tempo 2.x counterpart
//! (`ingester`, `compactor`) are both given, the 3.x key wins.
//!
//! The OTLP receivers follow the OpenTelemetry Collector's rules: a protocol key that is present
//! enables that receiver, even with no value (`grpc:` alone means the defaults); a protocol key
//! that is absent disables it. When the `distributor` section, or its `receivers`, is absent
//! altogether, both receivers run with their defaults; an `otlp` receiver with no protocol at
//! all is an error, as in the Collector. Tempo's own default endpoints are `localhost:4317` and
//! `localhost:4318`; we default to `0.0.0.0`, as Tempo's single-binary examples configure it.
//! An endpoint with an empty host (`:4317`) listens on all interfaces, as in Go.
//!
//! The Jaeger and Zipkin receivers are off unless configured, as in Tempo. Each Jaeger
//! protocol listed runs (`thrift_http:` alone means its default port); a `jaeger` receiver
//! with no protocol is an error, as in the Collector. Their HTTP and gRPC servers take the same
//! connection keys as the OTLP ones (`read_timeout`, `keepalive`, `conn_limit`, ...); the
//! UDP receivers take only `endpoint` (`queue_size`, `max_packet_size`, `workers` and
//! `socket_buffer_size` are reported). UDP spans always go to `single-tenant`.
//!
//! # Keys accepted without effect
//!
//! These are understood and their values checked, but they change nothing yet, because this
//! server has no equivalent knob: `target` when it is `all` (this server is always the single
//! binary; any other target is reported), `ingester.complete_block_timeout`,
//! `ingester.flush_check_period`, `live_store.max_trace_live`,
//! `live_store.complete_block_timeout`, `live_store.flush_check_period`.
//!
//! # Keys reported
//!
//! Everything else, notably `stream_over_http_enabled`, `usage_report`, the other
//! `metrics_generator` and `overrides` keys (such as `generate_native_histograms`), the other `query_frontend` keys (among them `query_frontend.metrics.concurrent_jobs` and the
//! other job-sharding settings of metrics queries), `querier`, `memberlist`, other receivers (`opencensus`, `kafka`,
//! ...), `storage.trace.block`, `storage.trace.pool` and the other backends' sections: they
//! have no effect here, and the report says so.
//!
//! # Values
//!
//! Durations are Go duration strings (`300ms`, `1.5h`, `2h45m`; see [`value::parse_go_duration`]); a
//! bare number is rejected except `0`, as in Go. Integers may be written with underscores
//! (`1_000_000`) or as integral floats (`1.073741824e+09`), and booleans as YAML 1.1's
//! `yes`/`no`/`on`/`off`, as Go's YAML parser reads them. With `-config.expand-env=true`, the
//! text first goes through [`value::expand_env`].
//!
//! # Modules
//!
//! This module holds the resolved [`Config`]; [`raw`] mirrors the file's keys, [`value`] reads
//! its values the Go way, [`overrides`] reads the tenant overrides file, [`error`] says what
//! went wrong.

mod error;
mod generator;
mod overrides;
mod raw;
mod value;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tempo_core::FsyncPolicy;

pub(crate) use error::ConfigError;
pub(crate) use generator::{GeneratorSettings, RemoteWriteConfig};
pub(crate) use overrides::load_tenant_overrides;
pub(crate) use raw::{AzureConfig, GcsConfig, S3Config, StorageBackend};
use raw::{RawGrpc, RawHttp, RawProtocols, RawRoot, RawServer};
use value::expand_env;

const MIB: u64 = 1 << 20;

/// The server's settings, resolved from a Tempo-style YAML file and defaults.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Config {
    /// Address of Tempo's HTTP API (`server.http_listen_address`).
    pub(crate) http_listen_address: String,
    /// Port of Tempo's HTTP API (`server.http_listen_port`).
    pub(crate) http_listen_port: u16,
    /// Least severe log level written (`server.log_level`): `debug`, `info`, `warn` or
    /// `error`, always in lower case, a valid `tracing` filter directive.
    pub(crate) log_level: String,
    /// Whether requests carry a tenant in `X-Scope-OrgID`; otherwise everything belongs to
    /// `single-tenant`.
    pub(crate) multitenancy_enabled: bool,
    /// Whether a query may name several tenants, `a|b`, with multi-tenancy on: each is
    /// queried and the answers combined (Tempo's cross-tenant query federation).
    pub(crate) multi_tenant_queries_enabled: bool,
    /// Whether Tempo's streaming querier (gRPC) is served on the HTTP port. On by default
    /// here, where Tempo has it off: serving it costs nothing when unused, and Grafana's
    /// Tempo data source uses it when its streaming toggle is on.
    pub(crate) stream_over_http_enabled: bool,
    /// Listen address (`host:port`) of the OTLP gRPC receiver; `None` when it is disabled.
    /// The host may be a name (`tempo:4317`), to be resolved when binding.
    pub(crate) otlp_grpc_endpoint: Option<String>,
    /// Listen address (`host:port`) of the OTLP HTTP receiver; `None` when it is disabled.
    pub(crate) otlp_http_endpoint: Option<String>,
    /// Largest OTLP gRPC message accepted, in bytes (`max_recv_msg_size_mib`; 0 means the
    /// default, 16 MiB).
    pub(crate) otlp_grpc_max_recv_msg_size: usize,
    /// Largest OTLP HTTP request body accepted, in bytes (`max_request_body_size`, the
    /// OpenTelemetry Collector's key; 0 means the default, 16 MiB).
    pub(crate) otlp_http_max_request_bytes: usize,
    /// Jaeger's gRPC receiver (`distributor.receivers.jaeger.protocols.grpc`); `None` when
    /// it is off, as it is unless configured.
    pub(crate) jaeger_grpc: Option<ExtraReceiver>,
    /// Jaeger's Thrift-over-HTTP receiver (`...jaeger.protocols.thrift_http`).
    pub(crate) jaeger_thrift_http: Option<ExtraReceiver>,
    /// Listen address of Jaeger's UDP compact-protocol receiver (`...thrift_compact`).
    pub(crate) jaeger_thrift_compact: Option<String>,
    /// Listen address of Jaeger's UDP binary-protocol receiver (`...thrift_binary`).
    pub(crate) jaeger_thrift_binary: Option<String>,
    /// Zipkin's receiver (`distributor.receivers.zipkin`).
    pub(crate) zipkin: Option<ExtraReceiver>,
    /// A trace is complete after this long without new spans.
    pub(crate) trace_idle_period: Duration,
    /// The head is cut into a block when it holds this many bytes.
    pub(crate) max_block_bytes: u64,
    /// The head is cut into a block when its oldest data is this old.
    pub(crate) max_block_duration: Duration,
    /// Blocks older than this are deleted.
    pub(crate) block_retention: Duration,
    /// Blocks whose time ranges fall in one window of this length are compacted together.
    pub(crate) compaction_window: Duration,
    /// Where blocks are stored.
    pub(crate) storage_backend: StorageBackend,
    /// Directory of blocks for the local backend.
    pub(crate) local_path: PathBuf,
    /// Directory of the write-ahead log.
    pub(crate) wal_path: PathBuf,
    /// When the write-ahead log syncs to disk.
    pub(crate) wal_fsync: FsyncPolicy,
    /// Settings of the S3 backend (`storage.trace.s3`).
    pub(crate) s3: S3Config,
    /// Settings of the GCS backend (`storage.trace.gcs`).
    pub(crate) gcs: GcsConfig,
    /// Settings of the Azure backend (`storage.trace.azure`).
    pub(crate) azure: AzureConfig,
    /// How often the block list of a shared bucket is read again, to learn the blocks other
    /// servers wrote, compacted or deleted (`storage.trace.blocklist_poll`).
    pub(crate) blocklist_poll: Duration,
    /// The other servers writing the same bucket, `host:port` of their HTTP API: trace by
    /// ID, search, tag names and values (both APIs) and TraceQL metrics (range and instant)
    /// ask them, all at once, for what their heads hold (`storage.trace.peers`, our
    /// extension; see `crate::peers`).
    pub(crate) peers: Vec<String>,
    /// How long a query waits for each peer before answering without it, marked partial
    /// with a message naming it (`storage.trace.peer_timeout`, our extension). A peer's own
    /// query is given this long as its deadline.
    pub(crate) peer_timeout: Duration,
    /// Connection timeouts and cap of Tempo's HTTP API listener (`server.http_server_*`,
    /// `server.http_listen_conn_limit`).
    pub(crate) api_listener: ListenerConfig,
    /// Connection timeouts and cap of the OTLP/gRPC listener.
    pub(crate) otlp_grpc_listener: ListenerConfig,
    /// Connection timeouts and cap of the OTLP/HTTP listener.
    pub(crate) otlp_http_listener: ListenerConfig,
    /// How long shutdown waits for in-flight requests (`server.graceful_shutdown_timeout`).
    pub(crate) graceful_shutdown_timeout: Duration,
    /// The largest a trace may grow, in bytes; spans past it are refused at ingest
    /// (`overrides.defaults.global.max_bytes_per_trace`, or the legacy
    /// `overrides.max_bytes_per_trace`; 0: no limit).
    pub(crate) max_bytes_per_trace: u64,
    /// The longest an attribute key or string value may be, in bytes; longer ones are
    /// truncated at ingest (`overrides.defaults.ingestion.max_attribute_bytes`, or the legacy
    /// `overrides.ingestion_max_attribute_bytes`; 0: no limit).
    pub(crate) max_attribute_bytes: u64,
    /// Tenant-specific overrides, read at start and again when the file changes
    /// (`overrides.per_tenant_override_config`).
    pub(crate) per_tenant_override_config: Option<PathBuf>,
    /// A block's time range keeps each span within this much of its ingestion time
    /// (`storage.trace.wal.ingestion_time_range_slack`).
    pub(crate) ingestion_time_range_slack: Duration,
    /// How long blocks replaced by compaction are kept before deletion
    /// (`compactor.compaction.compacted_block_retention`).
    pub(crate) compacted_block_retention: Duration,
    /// The most memory one query may hold (`query_frontend.search.max_query_bytes`, our
    /// extension).
    pub(crate) max_query_bytes: u64,
    /// The longest range a TraceQL metrics query may cover
    /// (`query_frontend.metrics.max_duration`; zero: no limit).
    pub(crate) metrics_max_duration: Duration,
    /// The most intervals a metrics range query may have, its range over its step
    /// (`query_frontend.metrics.max_intervals`; 0: no limit).
    pub(crate) metrics_max_intervals: u64,
    /// The most exemplars a metrics query returns, and how many it returns when the client
    /// asks for none in particular (`query_frontend.metrics.max_exemplars`; at most 100, as
    /// Tempo's engine; 0: none).
    pub(crate) metrics_max_exemplars: usize,
    /// The most series a metrics query returns before its answer is cut and marked partial
    /// (`query_frontend.metrics.max_response_series`; 0: no limit); a client may ask for
    /// fewer with `maxSeries`.
    pub(crate) metrics_max_response_series: usize,
    /// A metrics query's end is brought back to at most this long before now
    /// (`query_frontend.query_end_cutoff`; zero, the default: not at all). Tempo's default
    /// is 30 s, because its queriers may not have the newest spans yet; here every
    /// acknowledged span is queryable at once.
    pub(crate) query_end_cutoff: Duration,
    /// The metrics generator (`metrics_generator`, and the processors named in the
    /// overrides): off unless the overrides name a processor.
    pub(crate) metrics_generator: GeneratorSettings,
}

/// A Jaeger or Zipkin receiver on a TCP port: where it listens, its size limit and its
/// connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExtraReceiver {
    /// Listen address, `host:port`.
    pub(crate) endpoint: String,
    /// Largest request accepted, in bytes: an HTTP body (as sent and decompressed) or a gRPC
    /// message.
    pub(crate) max_bytes: usize,
    /// Connection timeouts and cap.
    pub(crate) listener: ListenerConfig,
}

/// How one listener treats its connections. `None` is no limit.
///
/// The timeouts follow Go's `http.Server`, which Tempo's listeners are: a connection is
/// closed when a request's head takes longer than `header_timeout` to arrive (for a new
/// connection, counted from the accept, so that a connection that never sends anything is
/// closed too), when the body takes longer than `read_timeout` after the head (the request is
/// answered 408, or `DEADLINE_EXCEEDED` in gRPC), when a write to the client makes no progress
/// for `write_timeout`, and when it has had no request in flight for `idle_timeout` (HTTP/2
/// connections get a GOAWAY).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListenerConfig {
    /// Longest wait for a request's head, from its first byte; for a new connection, from the
    /// accept (with HTTP/2: for its connection preface).
    pub(crate) header_timeout: Option<Duration>,
    /// Longest wait for a request's body, from its head.
    pub(crate) read_timeout: Option<Duration>,
    /// Longest time a write to the client may make no progress.
    pub(crate) write_timeout: Option<Duration>,
    /// A connection with no request in flight for this long is closed.
    pub(crate) idle_timeout: Option<Duration>,
    /// A connection this old is closed (gracefully) once its requests are done.
    pub(crate) max_connection_age: Option<Duration>,
    /// After `max_connection_age`, requests still in flight get this long before the
    /// connection is closed anyway.
    pub(crate) max_connection_age_grace: Option<Duration>,
    /// HTTP/2 connections with no traffic for this long are pinged.
    pub(crate) keepalive_time: Option<Duration>,
    /// A ping not answered within this long closes the connection.
    pub(crate) keepalive_timeout: Duration,
    /// Most connections open at once; 0 means a share of the open-files limit.
    pub(crate) conn_limit: usize,
}

impl ListenerConfig {
    /// Defaults of Tempo's HTTP API: dskit's `http_server_read_timeout` (30s, also the header
    /// timeout), `http_server_write_timeout` (30s) and `http_server_idle_timeout` (120s).
    fn api_defaults() -> ListenerConfig {
        ListenerConfig {
            header_timeout: Some(Duration::from_secs(30)),
            read_timeout: Some(Duration::from_secs(30)),
            write_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(120)),
            max_connection_age: None,
            max_connection_age_grace: None,
            keepalive_time: None,
            keepalive_timeout: Duration::from_secs(20),
            conn_limit: 0,
        }
    }

    /// Defaults of the OTLP/HTTP receiver: the OpenTelemetry Collector's (`read_header_timeout`
    /// 1m, `write_timeout` 30s, `idle_timeout` 1m), with a `read_timeout` of 30s where the
    /// Collector has none, so that a body sent a byte at a time cannot hold a connection.
    fn otlp_http_defaults() -> ListenerConfig {
        ListenerConfig {
            header_timeout: Some(Duration::from_secs(60)),
            read_timeout: Some(Duration::from_secs(30)),
            write_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(60)),
            ..ListenerConfig::api_defaults()
        }
    }

    /// Defaults of the OTLP/gRPC receiver: gRPC's keepalive (a ping after 2h without traffic,
    /// answered within 20s; no maximum age), an idle connection closed after 5m (gRPC never
    /// closes one), 30s for the connection preface, a request's message and a stalled write.
    fn otlp_grpc_defaults() -> ListenerConfig {
        ListenerConfig {
            header_timeout: Some(Duration::from_secs(30)),
            read_timeout: Some(Duration::from_secs(30)),
            write_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(300)),
            max_connection_age: None,
            max_connection_age_grace: None,
            keepalive_time: Some(Duration::from_secs(2 * 3600)),
            keepalive_timeout: Duration::from_secs(20),
            conn_limit: 0,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            http_listen_address: "0.0.0.0".to_owned(),
            http_listen_port: 3200,
            log_level: "info".to_owned(),
            multitenancy_enabled: false,
            multi_tenant_queries_enabled: true,
            stream_over_http_enabled: true,
            otlp_grpc_endpoint: Some(DEFAULT_GRPC_ENDPOINT.to_owned()),
            otlp_http_endpoint: Some(DEFAULT_HTTP_ENDPOINT.to_owned()),
            otlp_grpc_max_recv_msg_size: (16 * MIB) as usize,
            otlp_http_max_request_bytes: (16 * MIB) as usize,
            jaeger_grpc: None,
            jaeger_thrift_http: None,
            jaeger_thrift_compact: None,
            jaeger_thrift_binary: None,
            zipkin: None,
            trace_idle_period: Duration::from_secs(5),
            max_block_bytes: 50 * MIB,
            max_block_duration: Duration::from_secs(30),
            block_retention: Duration::from_secs(336 * 3600),
            compaction_window: Duration::from_secs(3600),
            storage_backend: StorageBackend::Local,
            local_path: PathBuf::from("./tempo-data/blocks"),
            wal_path: PathBuf::from("./tempo-data/wal"),
            wal_fsync: FsyncPolicy::Always,
            s3: S3Config::default(),
            gcs: GcsConfig::default(),
            azure: AzureConfig::default(),
            blocklist_poll: Duration::from_secs(300),
            peers: Vec::new(),
            peer_timeout: Duration::from_secs(5),
            api_listener: ListenerConfig::api_defaults(),
            otlp_grpc_listener: ListenerConfig::otlp_grpc_defaults(),
            otlp_http_listener: ListenerConfig::otlp_http_defaults(),
            graceful_shutdown_timeout: Duration::from_secs(30),
            max_bytes_per_trace: 5_000_000,
            max_attribute_bytes: 2048,
            per_tenant_override_config: None,
            ingestion_time_range_slack: Duration::from_secs(120),
            compacted_block_retention: Duration::from_secs(300),
            max_query_bytes: 512 * MIB,
            metrics_max_duration: Duration::from_secs(24 * 3600),
            metrics_max_intervals: 10_000,
            metrics_max_exemplars: tempo_core::MAX_EXEMPLARS,
            metrics_max_response_series: tempo_core::query::DEFAULT_MAX_SERIES,
            query_end_cutoff: Duration::ZERO,
            metrics_generator: GeneratorSettings::default(),
        }
    }
}

const DEFAULT_GRPC_ENDPOINT: &str = "0.0.0.0:4317";
const DEFAULT_HTTP_ENDPOINT: &str = "0.0.0.0:4318";
const DEFAULT_JAEGER_GRPC_ENDPOINT: &str = "0.0.0.0:14250";
const DEFAULT_JAEGER_THRIFT_HTTP_ENDPOINT: &str = "0.0.0.0:14268";
const DEFAULT_JAEGER_THRIFT_COMPACT_ENDPOINT: &str = "0.0.0.0:6831";
const DEFAULT_JAEGER_THRIFT_BINARY_ENDPOINT: &str = "0.0.0.0:6832";
const DEFAULT_ZIPKIN_ENDPOINT: &str = "0.0.0.0:9411";

impl Config {
    /// Parses a YAML configuration. Returns the settings and the dotted paths of the keys
    /// that have no effect here, in file order, each once.
    pub(crate) fn from_yaml(text: &str) -> Result<(Config, Vec<String>), ConfigError> {
        // An empty document (no text, only comments) is all defaults.
        let (raw, mut unknown) = raw::from_yaml::<RawRoot>(text)?;
        let config = resolve(raw, &mut unknown)?;
        Ok((config, unknown))
    }

    /// Reads and parses the file at `path`, as [`Config::from_yaml`].
    pub(crate) fn load(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        Config::from_yaml(&raw::read(path)?)
    }

    /// Reads the file at `path`, replaces environment variable references in it with
    /// [`expand_env`] (Tempo's `-config.expand-env=true`), then parses it.
    pub(crate) fn load_expanding_env(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        Config::from_yaml(&expand_env(&raw::read(path)?))
    }

    /// The address of the HTTP API as `host:port`, with an IPv6 host in brackets.
    pub(crate) fn http_listen_addr(&self) -> String {
        join_host_port(&self.http_listen_address, self.http_listen_port)
    }

    /// Logs the effective settings at `info` level, one event, secrets left out.
    pub(crate) fn log_summary(&self) {
        let s3 = &self.s3;
        tracing::info!(
            http = %self.http_listen_addr(),
            otlp_grpc = self.otlp_grpc_endpoint.as_deref().unwrap_or("off"),
            otlp_http = self.otlp_http_endpoint.as_deref().unwrap_or("off"),
            otlp_grpc_max_recv_msg_size = self.otlp_grpc_max_recv_msg_size,
            otlp_http_max_request_bytes = self.otlp_http_max_request_bytes,
            jaeger_grpc = self.jaeger_grpc.as_ref().map_or("off", |r| r.endpoint.as_str()),
            jaeger_thrift_http = self
                .jaeger_thrift_http
                .as_ref()
                .map_or("off", |r| r.endpoint.as_str()),
            jaeger_thrift_compact = self.jaeger_thrift_compact.as_deref().unwrap_or("off"),
            jaeger_thrift_binary = self.jaeger_thrift_binary.as_deref().unwrap_or("off"),
            zipkin = self.zipkin.as_ref().map_or("off", |r| r.endpoint.as_str()),
            multitenancy = self.multitenancy_enabled,
            multi_tenant_queries = self.multi_tenant_queries_enabled,
            stream_over_http = self.stream_over_http_enabled,
            log_level = %self.log_level,
            backend = self.storage_backend.as_str(),
            local_path = %self.local_path.display(),
            wal_path = %self.wal_path.display(),
            wal_fsync = ?self.wal_fsync,
            trace_idle_period = ?self.trace_idle_period,
            max_block_bytes = self.max_block_bytes,
            max_block_duration = ?self.max_block_duration,
            block_retention = ?self.block_retention,
            compaction_window = ?self.compaction_window,
            compacted_block_retention = ?self.compacted_block_retention,
            max_bytes_per_trace = self.max_bytes_per_trace,
            max_attribute_bytes = self.max_attribute_bytes,
            per_tenant_override_config = ?self.per_tenant_override_config,
            ingestion_time_range_slack = ?self.ingestion_time_range_slack,
            max_query_bytes = self.max_query_bytes,
            metrics_max_duration = ?self.metrics_max_duration,
            metrics_max_intervals = self.metrics_max_intervals,
            metrics_max_exemplars = self.metrics_max_exemplars,
            metrics_max_response_series = self.metrics_max_response_series,
            query_end_cutoff = ?self.query_end_cutoff,
            graceful_shutdown_timeout = ?self.graceful_shutdown_timeout,
            "configuration"
        );
        let generator = &self.metrics_generator;
        let processors = generator.core.processors;
        tracing::info!(
            span_metrics = processors.span_metrics,
            service_graphs = processors.service_graphs,
            per_tenant_overrides = self.per_tenant_override_config.is_some(),
            collection_interval = ?generator.collection_interval,
            stale_duration = ?generator.core.stale_duration,
            max_active_series = generator.core.max_active_series,
            remote_write = generator.remote_write.len(),
            "metrics generator (processors by default; the overrides may turn them on per tenant)"
        );
        if self.storage_backend == StorageBackend::S3 {
            let credentials = if s3.access_key.is_empty() && s3.secret_key.is_empty() {
                "environment"
            } else {
                "static"
            };
            tracing::info!(
                bucket = %s3.bucket,
                endpoint = %s3.endpoint,
                region = %s3.region,
                prefix = %s3.prefix,
                insecure = s3.insecure,
                forcepathstyle = s3.forcepathstyle,
                part_size = ?s3.part_size,
                credentials,
                "S3 configuration"
            );
        }
        if self.storage_backend == StorageBackend::Gcs {
            tracing::info!(
                bucket_name = %self.gcs.bucket_name,
                prefix = %self.gcs.prefix,
                "GCS configuration"
            );
        }
        if self.storage_backend == StorageBackend::Azure {
            let azure = &self.azure;
            tracing::info!(
                container_name = %azure.container_name,
                storage_account_name = %azure.storage_account_name,
                endpoint_suffix = %azure.endpoint_suffix,
                prefix = %azure.prefix,
                "Azure configuration"
            );
        }
        if matches!(
            self.storage_backend,
            StorageBackend::S3 | StorageBackend::Gcs | StorageBackend::Azure
        ) {
            tracing::info!(
                blocklist_poll = ?self.blocklist_poll,
                peers = ?self.peers,
                peer_timeout = ?self.peer_timeout,
                "shared bucket"
            );
        }
    }
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The settings a file gives, with the defaults for what it leaves out; `unknown` gains the
/// keys that are read but have no effect.
fn resolve(raw: RawRoot, unknown: &mut Vec<String>) -> Result<Config, ConfigError> {
    let defaults = Config::default();
    if let Some(target) = &raw.target
        && target != "all"
        && !unknown.iter().any(|k| k == "target")
    {
        unknown.push("target".to_owned());
    }

    let mut receivers = raw.distributor.and_then(|d| d.receivers);
    let jaeger = receivers.as_mut().and_then(|r| r.jaeger.take());
    let zipkin = receivers.as_mut().and_then(|r| r.zipkin.take());
    let (jaeger_grpc, jaeger_thrift_http, jaeger_thrift_compact, jaeger_thrift_binary) =
        match jaeger {
            None => (None, None, None, None),
            Some(jaeger) => match jaeger.protocols {
                Some(p)
                    if p.grpc.is_some()
                        || p.thrift_http.is_some()
                        || p.thrift_compact.is_some()
                        || p.thrift_binary.is_some() =>
                {
                    let key = "distributor.receivers.jaeger.protocols";
                    (
                        p.grpc
                            .map(|g| {
                                grpc_receiver(
                                    &g,
                                    DEFAULT_JAEGER_GRPC_ENDPOINT,
                                    &format!("{key}.grpc"),
                                )
                            })
                            .transpose()?,
                        p.thrift_http
                            .map(|h| {
                                http_receiver(
                                    &h,
                                    DEFAULT_JAEGER_THRIFT_HTTP_ENDPOINT,
                                    &format!("{key}.thrift_http"),
                                )
                            })
                            .transpose()?,
                        p.thrift_compact.map(|u| {
                            u.endpoint.unwrap_or_else(|| {
                                DEFAULT_JAEGER_THRIFT_COMPACT_ENDPOINT.to_owned()
                            })
                        }),
                        p.thrift_binary.map(|u| {
                            u.endpoint
                                .unwrap_or_else(|| DEFAULT_JAEGER_THRIFT_BINARY_ENDPOINT.to_owned())
                        }),
                    )
                }
                _ => {
                    return Err(ConfigError::Invalid {
                        key: "distributor.receivers.jaeger.protocols".to_owned(),
                        message: "the Jaeger receiver needs at least one protocol: grpc, \
                                  thrift_http, thrift_compact or thrift_binary"
                            .to_owned(),
                    });
                }
            },
        };
    let zipkin = zipkin
        .map(|z| http_receiver(&z, DEFAULT_ZIPKIN_ENDPOINT, "distributor.receivers.zipkin"))
        .transpose()?;
    let (otlp_grpc, otlp_http) = match receivers {
        None => (Some(RawGrpc::default()), Some(RawHttp::default())),
        Some(receivers) => match receivers.otlp {
            None => (None, None),
            Some(otlp) => match otlp.protocols {
                Some(RawProtocols { grpc, http }) if grpc.is_some() || http.is_some() => {
                    (grpc, http)
                }
                _ => {
                    return Err(ConfigError::Invalid {
                        key: "distributor.receivers.otlp.protocols".to_owned(),
                        message: "the OTLP receiver needs at least one protocol, grpc or http"
                            .to_owned(),
                    });
                }
            },
        },
    };
    let otlp_grpc_max_recv_msg_size = match otlp_grpc.as_ref().and_then(|g| g.max_recv_msg_size_mib)
    {
        None | Some(0) => defaults.otlp_grpc_max_recv_msg_size,
        Some(mib) => mib
            .checked_mul(MIB)
            .and_then(|bytes| usize::try_from(bytes).ok())
            .ok_or_else(|| ConfigError::Invalid {
                key: "distributor.receivers.otlp.protocols.grpc.max_recv_msg_size_mib".to_owned(),
                message: format!("{mib} MiB is too large"),
            })?,
    };
    let otlp_http_max_request_bytes = match otlp_http.as_ref().and_then(|h| h.max_request_body_size)
    {
        None | Some(0) => defaults.otlp_http_max_request_bytes,
        Some(bytes) => usize::try_from(bytes).map_err(|_| ConfigError::Invalid {
            key: "distributor.receivers.otlp.protocols.http.max_request_body_size".to_owned(),
            message: format!("{bytes} bytes is too large"),
        })?,
    };

    let api_listener = api_listener(&raw.server);
    let otlp_grpc_listener = otlp_grpc
        .as_ref()
        .map(otlp_grpc_listener)
        .unwrap_or_else(ListenerConfig::otlp_grpc_defaults);
    let otlp_http_listener = otlp_http
        .as_ref()
        .map(otlp_http_listener)
        .unwrap_or_else(ListenerConfig::otlp_http_defaults);
    let graceful_shutdown_timeout = raw
        .server
        .graceful_shutdown_timeout
        .unwrap_or(defaults.graceful_shutdown_timeout);

    let live = raw.live_store;
    let ingester = raw.ingester;
    let worker = raw.backend_worker.compaction;
    let compactor = raw.compactor.compaction;
    let trace = raw.storage.trace;
    let metrics = raw.query_frontend.metrics;
    let mut overrides = raw.overrides;
    let generator_defaults = generator::GeneratorDefaults {
        processors: overrides
            .defaults
            .generator_processors("overrides.defaults")
            .or_else(|| {
                overrides
                    .metrics_generator_processors
                    .take()
                    .map(|n| (n, "overrides.metrics_generator_processors".to_owned()))
            }),
        max_active_series: overrides
            .defaults
            .generator_max_active_series()
            .or(overrides.metrics_generator_max_active_series),
        trace_id_label_name: overrides
            .defaults
            .generator_trace_id_label_name("overrides.defaults")
            .or_else(|| {
                overrides
                    .metrics_generator_trace_id_label_name
                    .take()
                    .map(|n| {
                        (
                            n,
                            "overrides.metrics_generator_trace_id_label_name".to_owned(),
                        )
                    })
            }),
        processor: overrides.defaults.metrics_generator.processor.take(),
        collection_interval: overrides.defaults.metrics_generator.collection_interval,
        ingestion_time_range_slack: overrides
            .defaults
            .metrics_generator
            .ingestion_time_range_slack,
    };
    let metrics_generator = generator::resolve(raw.metrics_generator, generator_defaults, unknown)?;
    let count = |value: Option<u64>, default: usize, key: &str| -> Result<usize, ConfigError> {
        value.map_or(Ok(default), |n| {
            usize::try_from(n).map_err(|_| ConfigError::Invalid {
                key: key.to_owned(),
                message: format!("{n} is too large"),
            })
        })
    };
    Ok(Config {
        http_listen_address: match raw.server.http_listen_address {
            Some(address) if !address.is_empty() => address,
            _ => defaults.http_listen_address,
        },
        http_listen_port: raw
            .server
            .http_listen_port
            .unwrap_or(defaults.http_listen_port),
        log_level: raw.server.log_level.unwrap_or(defaults.log_level),
        multitenancy_enabled: raw.multitenancy_enabled.unwrap_or(false)
            || raw.auth_enabled.unwrap_or(false),
        multi_tenant_queries_enabled: raw
            .query_frontend
            .multi_tenant_queries_enabled
            .unwrap_or(defaults.multi_tenant_queries_enabled),
        stream_over_http_enabled: raw
            .stream_over_http_enabled
            .unwrap_or(defaults.stream_over_http_enabled),
        otlp_grpc_endpoint: otlp_grpc.map(|g| {
            g.endpoint
                .unwrap_or_else(|| DEFAULT_GRPC_ENDPOINT.to_owned())
        }),
        otlp_http_endpoint: otlp_http.map(|h| {
            h.endpoint
                .unwrap_or_else(|| DEFAULT_HTTP_ENDPOINT.to_owned())
        }),
        otlp_grpc_max_recv_msg_size,
        otlp_http_max_request_bytes,
        jaeger_grpc,
        jaeger_thrift_http,
        jaeger_thrift_compact,
        jaeger_thrift_binary,
        zipkin,
        trace_idle_period: live
            .max_trace_idle
            .or(ingester.trace_idle_period)
            .unwrap_or(defaults.trace_idle_period),
        max_block_bytes: live
            .max_block_bytes
            .or(ingester.max_block_bytes)
            .unwrap_or(defaults.max_block_bytes),
        max_block_duration: live
            .max_block_duration
            .or(ingester.max_block_duration)
            .unwrap_or(defaults.max_block_duration),
        block_retention: overrides
            .defaults
            .block_retention()
            .or(overrides.block_retention.filter(|d| !d.is_zero()))
            .or(worker.block_retention)
            .or(compactor.block_retention)
            .unwrap_or(defaults.block_retention),
        compacted_block_retention: worker
            .compacted_block_retention
            .or(compactor.compacted_block_retention)
            .unwrap_or(defaults.compacted_block_retention),
        max_bytes_per_trace: overrides
            .defaults
            .max_bytes_per_trace()
            .or(overrides.max_bytes_per_trace)
            .unwrap_or(defaults.max_bytes_per_trace),
        max_attribute_bytes: overrides
            .defaults
            .max_attribute_bytes()
            .or(overrides.ingestion_max_attribute_bytes)
            .unwrap_or(defaults.max_attribute_bytes),
        per_tenant_override_config: non_empty_path(overrides.per_tenant_override_config),
        ingestion_time_range_slack: trace
            .wal
            .ingestion_time_range_slack
            .unwrap_or(defaults.ingestion_time_range_slack),
        max_query_bytes: match raw.query_frontend.search.max_query_bytes {
            None | Some(0) => defaults.max_query_bytes,
            Some(bytes) => bytes,
        },
        metrics_max_duration: metrics
            .max_duration
            .unwrap_or(defaults.metrics_max_duration),
        metrics_max_intervals: metrics
            .max_intervals
            .unwrap_or(defaults.metrics_max_intervals),
        // Tempo's engine returns at most 100 exemplars, whatever the setting.
        metrics_max_exemplars: count(
            metrics.max_exemplars,
            defaults.metrics_max_exemplars,
            "query_frontend.metrics.max_exemplars",
        )?
        .min(tempo_core::MAX_EXEMPLARS),
        metrics_max_response_series: count(
            metrics.max_response_series,
            defaults.metrics_max_response_series,
            "query_frontend.metrics.max_response_series",
        )?,
        query_end_cutoff: raw
            .query_frontend
            .query_end_cutoff
            .unwrap_or(defaults.query_end_cutoff),
        compaction_window: worker
            .compaction_window
            .or(compactor.compaction_window)
            .unwrap_or(defaults.compaction_window),
        storage_backend: trace.backend.unwrap_or(defaults.storage_backend),
        local_path: non_empty_path(trace.local.path).unwrap_or(defaults.local_path),
        wal_path: non_empty_path(trace.wal.path).unwrap_or(defaults.wal_path),
        wal_fsync: trace.wal.fsync.unwrap_or(defaults.wal_fsync),
        s3: trace.s3,
        gcs: trace.gcs,
        azure: trace.azure,
        blocklist_poll: match trace.blocklist_poll {
            Some(d) if !d.is_zero() => d,
            _ => defaults.blocklist_poll,
        },
        peers: trace
            .peers
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
        peer_timeout: match trace.peer_timeout {
            Some(d) if !d.is_zero() => d,
            _ => defaults.peer_timeout,
        },
        api_listener,
        otlp_grpc_listener,
        otlp_http_listener,
        graceful_shutdown_timeout,
        metrics_generator,
    })
}

/// A Go timeout setting: absent is the default, zero is no timeout.
fn timeout(value: Option<Duration>, default: Option<Duration>) -> Option<Duration> {
    match value {
        None => default,
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
    }
}

/// Go's `http.Server` rule for the header and idle timeouts: zero means the read timeout.
fn or_read_timeout(
    value: Option<Duration>,
    default: Option<Duration>,
    read: Option<Duration>,
) -> Option<Duration> {
    match value {
        None => default,
        Some(d) if d.is_zero() => read,
        Some(d) => Some(d),
    }
}

/// Tempo's `server` block (dskit's): its `http_server_*` timeouts are those of the HTTP
/// API. dskit's header timeout defaults to 0, which means the read timeout.
fn api_listener(server: &RawServer) -> ListenerConfig {
    let defaults = ListenerConfig::api_defaults();
    let read_timeout = timeout(server.http_server_read_timeout, defaults.read_timeout);
    ListenerConfig {
        header_timeout: or_read_timeout(
            server.http_server_read_header_timeout,
            read_timeout,
            read_timeout,
        ),
        read_timeout,
        write_timeout: timeout(server.http_server_write_timeout, defaults.write_timeout),
        idle_timeout: or_read_timeout(
            server.http_server_idle_timeout,
            defaults.idle_timeout,
            read_timeout,
        ),
        conn_limit: server.http_listen_conn_limit.unwrap_or(0),
        ..defaults
    }
}

/// The OpenTelemetry Collector's HTTP server settings (`confighttp`).
fn otlp_http_listener(http: &RawHttp) -> ListenerConfig {
    let defaults = ListenerConfig::otlp_http_defaults();
    let read_timeout = timeout(http.read_timeout, defaults.read_timeout);
    ListenerConfig {
        header_timeout: or_read_timeout(
            http.read_header_timeout,
            defaults.header_timeout,
            read_timeout,
        ),
        read_timeout,
        write_timeout: timeout(http.write_timeout, defaults.write_timeout),
        idle_timeout: or_read_timeout(http.idle_timeout, defaults.idle_timeout, read_timeout),
        conn_limit: http.conn_limit.unwrap_or(0),
        ..defaults
    }
}

/// The OpenTelemetry Collector's gRPC server settings (`configgrpc`), whose keepalive
/// parameters are gRPC's: zero means gRPC's default (no limit, a ping after 2h, 20s to
/// answer it), and a ping interval under 1s is raised to 1s, as gRPC does.
fn otlp_grpc_listener(grpc: &RawGrpc) -> ListenerConfig {
    let defaults = ListenerConfig::otlp_grpc_defaults();
    let params = &grpc.keepalive.server_parameters;
    ListenerConfig {
        header_timeout: timeout(grpc.connection_timeout, defaults.header_timeout),
        read_timeout: timeout(grpc.read_timeout, defaults.read_timeout),
        write_timeout: timeout(grpc.write_timeout, defaults.write_timeout),
        idle_timeout: timeout(params.max_connection_idle, defaults.idle_timeout),
        max_connection_age: timeout(params.max_connection_age, None),
        max_connection_age_grace: timeout(params.max_connection_age_grace, None),
        keepalive_time: match params.time {
            None => defaults.keepalive_time,
            Some(d) if d.is_zero() => defaults.keepalive_time,
            Some(d) => Some(d.max(Duration::from_secs(1))),
        },
        keepalive_timeout: match params.timeout {
            Some(d) if !d.is_zero() => d,
            _ => defaults.keepalive_timeout,
        },
        conn_limit: grpc.conn_limit.unwrap_or(0),
    }
}

/// A Jaeger or Zipkin receiver on an HTTP server (`confighttp`, as the OTLP/HTTP one).
fn http_receiver(http: &RawHttp, default: &str, key: &str) -> Result<ExtraReceiver, ConfigError> {
    let max_bytes = match http.max_request_body_size {
        None | Some(0) => (16 * MIB) as usize,
        Some(bytes) => usize::try_from(bytes).map_err(|_| ConfigError::Invalid {
            key: format!("{key}.max_request_body_size"),
            message: format!("{bytes} bytes is too large"),
        })?,
    };
    Ok(ExtraReceiver {
        endpoint: http.endpoint.clone().unwrap_or_else(|| default.to_owned()),
        max_bytes,
        listener: otlp_http_listener(http),
    })
}

/// A Jaeger receiver on a gRPC server (`configgrpc`, as the OTLP/gRPC one).
fn grpc_receiver(grpc: &RawGrpc, default: &str, key: &str) -> Result<ExtraReceiver, ConfigError> {
    let max_bytes = match grpc.max_recv_msg_size_mib {
        None | Some(0) => (16 * MIB) as usize,
        Some(mib) => mib
            .checked_mul(MIB)
            .and_then(|bytes| usize::try_from(bytes).ok())
            .ok_or_else(|| ConfigError::Invalid {
                key: format!("{key}.max_recv_msg_size_mib"),
                message: format!("{mib} MiB is too large"),
            })?,
    };
    Ok(ExtraReceiver {
        endpoint: grpc.endpoint.clone().unwrap_or_else(|| default.to_owned()),
        max_bytes,
        listener: otlp_grpc_listener(grpc),
    })
}

fn non_empty_path(path: Option<PathBuf>) -> Option<PathBuf> {
    path.filter(|p| !p.as_os_str().is_empty())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Config, Vec<String>) {
        match Config::from_yaml(text) {
            Ok(parsed) => parsed,
            Err(e) => panic!("{e}"),
        }
    }

    fn parse_err(text: &str) -> String {
        match Config::from_yaml(text) {
            Ok((config, _)) => panic!("expected an error, got {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn empty_text_is_the_defaults() {
        for text in ["", "\n", "# nothing here\n", "---\n", "{}", "~\n", "null"] {
            assert_eq!(parse(text), (Config::default(), Vec::new()), "{text:?}");
        }
        let config = Config::default();
        assert_eq!(config.http_listen_addr(), "0.0.0.0:3200");
        assert_eq!(config.otlp_grpc_endpoint.as_deref(), Some("0.0.0.0:4317"));
        assert_eq!(config.otlp_http_endpoint.as_deref(), Some("0.0.0.0:4318"));
        assert_eq!(config.max_block_bytes, 52_428_800);
        assert_eq!(config.otlp_grpc_max_recv_msg_size, 16 << 20);
        assert_eq!(config.block_retention, secs(336 * 3600));
    }

    const DOCKER_COMPOSE_2X: &str =
        include_str!("../../tests/fixtures/config/tempo-2x-docker-compose.yaml");

    #[test]
    fn tempo_2x_docker_compose_config() {
        let (mut config, unknown) = parse(DOCKER_COMPOSE_2X);
        assert_eq!(
            unknown,
            [
                "query_frontend.search.duration_slo",
                "query_frontend.search.throughput_bytes_slo",
                "query_frontend.search.metadata_slo",
                "query_frontend.trace_by_id",
                "overrides.defaults.metrics_generator.generate_native_histograms",
            ]
        );
        // The generator: both processors for every tenant, sent to Prometheus.
        let generator = std::mem::take(&mut config.metrics_generator);
        assert_eq!(
            generator.core.processors,
            tempo_core::generator::Processors::ALL
        );
        assert_eq!(
            generator.external_labels,
            [
                ("cluster".to_owned(), "docker-compose".to_owned()),
                ("source".to_owned(), "tempo".to_owned())
            ]
        );
        assert_eq!(generator.remote_write.len(), 1);
        let rw = &generator.remote_write[0];
        assert_eq!(rw.url, "http://prometheus:9090/api/v1/write");
        assert!(rw.send_exemplars);
        assert_eq!(rw.remote_timeout, secs(30));
        assert_eq!(generator.collection_interval, secs(15));
        assert_eq!(
            config,
            Config {
                otlp_grpc_endpoint: Some("tempo:4317".into()),
                // `http` is absent: the HTTP receiver is off.
                otlp_http_endpoint: None,
                max_block_duration: secs(300),
                block_retention: secs(3600),
                wal_path: "/var/tempo/wal".into(),
                local_path: "/var/tempo/blocks".into(),
                ..Config::default()
            }
        );
    }

    #[test]
    fn tempo_3x_single_binary_config() {
        let (mut config, unknown) = parse(include_str!(
            "../../tests/fixtures/config/tempo-3x-single-binary.yaml"
        ));
        assert_eq!(unknown, ["query_frontend.mcp_server", "usage_report"]);
        let generator = std::mem::take(&mut config.metrics_generator);
        assert_eq!(
            generator.core.processors,
            tempo_core::generator::Processors::ALL
        );
        assert_eq!(generator.remote_write.len(), 1);
        assert_eq!(
            config,
            Config {
                log_level: "warn".into(),
                otlp_grpc_endpoint: Some("tempo:4317".into()),
                otlp_http_endpoint: Some("tempo:4318".into()),
                wal_path: "/var/tempo/wal".into(),
                local_path: "/var/tempo/blocks".into(),
                ..Config::default()
            }
        );
    }

    #[test]
    fn linux_getting_started_config() {
        let (config, unknown) = parse(include_str!(
            "../../tests/fixtures/config/linux-getting-started.yaml"
        ));
        assert_eq!(unknown, ["usage_report"]);
        assert_eq!(
            config,
            Config {
                wal_path: "/data/tempo/wal".into(),
                local_path: "/data/tempo/blocks".into(),
                ..Config::default()
            }
        );
    }

    #[test]
    fn old_2x_local_config() {
        let (config, unknown) = parse(include_str!(
            "../../tests/fixtures/config/tempo-2x-local.yaml"
        ));
        assert_eq!(
            unknown,
            [
                "distributor.receivers.opencensus",
                "compactor.compaction.max_block_bytes",
                "storage.trace.block",
                "storage.trace.wal.v2_encoding",
                "storage.trace.pool",
            ]
        );
        assert_eq!(
            config,
            Config {
                trace_idle_period: secs(10),
                max_block_bytes: 1_000_000,
                max_block_duration: secs(300),
                block_retention: secs(3600),
                compaction_window: secs(3600),
                compacted_block_retention: secs(600),
                wal_path: "/tmp/tempo/wal".into(),
                local_path: "/tmp/tempo/blocks".into(),
                // Every Jaeger protocol and Zipkin, listed without endpoints: the defaults.
                jaeger_grpc: Some(ExtraReceiver {
                    endpoint: "0.0.0.0:14250".into(),
                    max_bytes: 16 << 20,
                    listener: ListenerConfig::otlp_grpc_defaults(),
                }),
                jaeger_thrift_http: Some(ExtraReceiver {
                    endpoint: "0.0.0.0:14268".into(),
                    max_bytes: 16 << 20,
                    listener: ListenerConfig::otlp_http_defaults(),
                }),
                jaeger_thrift_compact: Some("0.0.0.0:6831".into()),
                jaeger_thrift_binary: Some("0.0.0.0:6832".into()),
                zipkin: Some(ExtraReceiver {
                    endpoint: "0.0.0.0:9411".into(),
                    max_bytes: 16 << 20,
                    listener: ListenerConfig::otlp_http_defaults(),
                }),
                ..Config::default()
            }
        );
    }

    #[test]
    fn jaeger_and_zipkin_receivers_as_tempo_configures_them() {
        // Off unless configured.
        let (config, _) = parse("");
        assert_eq!(
            (
                config.jaeger_grpc,
                config.jaeger_thrift_http,
                config.jaeger_thrift_compact,
                config.jaeger_thrift_binary,
                config.zipkin
            ),
            (None, None, None, None, None)
        );
        let (config, unknown) = parse(
            "distributor:\n  receivers:\n    jaeger:\n      protocols:\n        thrift_http:\n          endpoint: 127.0.0.1:1234\n          max_request_body_size: 1000\n        thrift_compact:\n          endpoint: 127.0.0.1:1235\n          queue_size: 10\n        grpc:\n          endpoint: 127.0.0.1:1236\n          max_recv_msg_size_mib: 2\n    zipkin:\n      endpoint: 127.0.0.1:1237\n      parse_string_tags: true\n",
        );
        assert_eq!(
            unknown,
            [
                "distributor.receivers.jaeger.protocols.thrift_compact.queue_size",
                "distributor.receivers.zipkin.parse_string_tags",
            ]
        );
        let http = config.jaeger_thrift_http.unwrap();
        assert_eq!(
            (http.endpoint.as_str(), http.max_bytes),
            ("127.0.0.1:1234", 1000)
        );
        let grpc = config.jaeger_grpc.unwrap();
        assert_eq!(
            (grpc.endpoint.as_str(), grpc.max_bytes),
            ("127.0.0.1:1236", 2 << 20)
        );
        assert_eq!(
            config.jaeger_thrift_compact.as_deref(),
            Some("127.0.0.1:1235")
        );
        assert_eq!(config.jaeger_thrift_binary, None);
        assert_eq!(config.zipkin.unwrap().endpoint, "127.0.0.1:1237");
        // Receivers without OTLP: OTLP off.
        assert_eq!(config.otlp_grpc_endpoint, None);

        let err = parse_err("distributor:\n  receivers:\n    jaeger:\n");
        assert!(err.contains("at least one protocol"), "{err}");
        let err = parse_err("distributor:\n  receivers:\n    jaeger:\n      protocols:\n");
        assert!(
            err.contains("distributor.receivers.jaeger.protocols"),
            "{err}"
        );
    }

    #[test]
    fn live_store_config_wins_over_ingester() {
        let (config, unknown) = parse(include_str!("../../tests/fixtures/config/live-store.yaml"));
        assert_eq!(
            unknown,
            [
                "server.grpc_listen_port",
                "live_store.max_live_traces_bytes",
                "distributor.receivers.otlp.protocols.http.cors",
            ]
        );
        let expected = Config {
            http_listen_address: "0.0.0.0".into(),
            http_listen_port: 3201,
            log_level: "debug".into(),
            multitenancy_enabled: true,
            otlp_grpc_endpoint: None,
            otlp_http_endpoint: Some("0.0.0.0:4318".into()),
            otlp_http_max_request_bytes: 20 << 20,
            trace_idle_period: secs(2),
            max_block_bytes: 1 << 30,
            max_block_duration: secs(45),
            block_retention: secs(48 * 3600),
            compaction_window: secs(7200),
            storage_backend: StorageBackend::S3,
            wal_path: "/wal".into(),
            wal_fsync: FsyncPolicy::Interval(Duration::from_millis(100)),
            s3: S3Config {
                bucket: "tempo".into(),
                endpoint: "minio:9000".into(),
                region: "us-east-1".into(),
                access_key: "tempo".into(),
                secret_key: "supersecret".into(),
                insecure: true,
                prefix: "a/b".into(),
                forcepathstyle: true,
                part_size: Some(5_242_880),
                ..S3Config::default()
            },
            ..Config::default()
        };
        assert_eq!(config, expected);
        assert!(!format!("{config:?}").contains("supersecret"));
        config.log_summary();
        assert_eq!(config.http_listen_addr(), "0.0.0.0:3201");
    }

    #[test]
    fn small_settings() {
        let (config, unknown) = parse(
            "auth_enabled: true\ntarget: querier\nserver:\n  http_listen_address: '::1'\nstorage:\n  trace:\n    backend: filesystem\n    wal:\n      fsync: never\n",
        );
        assert_eq!(unknown, ["target"]);
        assert!(config.multitenancy_enabled);
        assert!(config.multi_tenant_queries_enabled);
        assert_eq!(config.storage_backend, StorageBackend::Local);
        assert_eq!(config.wal_fsync, FsyncPolicy::Never);
        assert_eq!(config.http_listen_addr(), "[::1]:3200");
        config.log_summary();

        let (config, _) = parse("server:\n  log_level: WARN\n");
        assert_eq!(config.log_level, "warn");

        let (config, _) = parse(
            "distributor:\n  receivers:\n    otlp:\n      protocols:\n        grpc:\n          max_recv_msg_size_mib: 64\n",
        );
        assert_eq!(config.otlp_grpc_max_recv_msg_size, 64 << 20);
        assert_eq!(config.otlp_grpc_endpoint.as_deref(), Some("0.0.0.0:4317"));
        assert_eq!(config.otlp_http_endpoint, None);

        // A distributor section without receivers leaves both receivers on.
        let (config, unknown) = parse("distributor:\n  log_received_spans:\n    enabled: true\n");
        assert_eq!(unknown, ["distributor.log_received_spans"]);
        let (federation_off, unknown) =
            parse("query_frontend:\n  multi_tenant_queries_enabled: false\n  max_retries: 3\n");
        assert!(!federation_off.multi_tenant_queries_enabled);
        assert_eq!(unknown, ["query_frontend.max_retries"]);
        assert!(config.otlp_grpc_endpoint.is_some() && config.otlp_http_endpoint.is_some());

        // Receivers without OTLP: both OTLP receivers off.
        let (config, unknown) = parse("distributor:\n  receivers:\n    zipkin:\n");
        assert!(unknown.is_empty(), "{unknown:?}");
        assert!(config.zipkin.is_some());
        assert_eq!(
            (config.otlp_grpc_endpoint, config.otlp_http_endpoint),
            (None, None)
        );

        let (config, _) =
            parse("storage:\n  trace:\n    wal:\n      fsync: always\n    backend: memory\n");
        assert_eq!(config.wal_fsync, FsyncPolicy::Always);
        assert_eq!(config.storage_backend, StorageBackend::Memory);

        let (config, _) = parse("ingester:\n  trace_idle_period: 0\n");
        assert_eq!(config.trace_idle_period, Duration::ZERO);
    }

    #[test]
    fn limits_and_overrides_in_both_shapes() {
        let d = Config::default();
        assert_eq!(d.max_bytes_per_trace, 5_000_000);
        assert_eq!(d.ingestion_time_range_slack, secs(120));
        // Tempo's current shape.
        let (config, unknown) = parse(
            "overrides:\n  defaults:\n    global:\n      max_bytes_per_trace: 1_000\n    \
             compaction:\n      block_retention: 48h\n    ingestion:\n      \
             rate_limit_bytes: 5\n      max_attribute_bytes: 100\n  \
             per_tenant_override_config: /conf/o.yaml\n\
             storage:\n  trace:\n    wal:\n      ingestion_time_range_slack: 30s\n\
             compactor:\n  compaction:\n    compacted_block_retention: 1h\n\
             query_frontend:\n  search:\n    max_query_bytes: 1048576\n",
        );
        assert_eq!(unknown, ["overrides.defaults.ingestion.rate_limit_bytes"]);
        assert_eq!(config.max_bytes_per_trace, 1000);
        assert_eq!(config.max_attribute_bytes, 100);
        assert_eq!(config.block_retention, secs(48 * 3600));
        assert_eq!(
            config.per_tenant_override_config.as_deref(),
            Some(Path::new("/conf/o.yaml"))
        );
        assert_eq!(config.ingestion_time_range_slack, secs(30));
        assert_eq!(config.compacted_block_retention, secs(3600));
        assert_eq!(config.max_query_bytes, 1 << 20);
        // The legacy flat shape; a retention of 0 means the compactor's.
        let (config, unknown) = parse(
            "overrides:\n  max_bytes_per_trace: 0\n  block_retention: 0s\n  \
             ingestion_rate_limit_bytes: 5\n  ingestion_max_attribute_bytes: 0\n",
        );
        assert_eq!(unknown, ["overrides.ingestion_rate_limit_bytes"]);
        assert_eq!(config.max_bytes_per_trace, 0);
        assert_eq!(config.max_attribute_bytes, 0);
        assert_eq!(d.max_attribute_bytes, 2048);
        assert_eq!(config.block_retention, d.block_retention);
    }

    #[test]
    fn metrics_query_keys() {
        let d = Config::default();
        assert_eq!(d.metrics_max_duration, secs(24 * 3600));
        assert_eq!(d.metrics_max_intervals, 10_000);
        assert_eq!(d.metrics_max_exemplars, 100);
        assert_eq!(d.metrics_max_response_series, 1000);
        assert_eq!(d.query_end_cutoff, Duration::ZERO);
        let (config, unknown) = parse(
            "query_frontend:\n  query_end_cutoff: 45s\n  metrics:\n    max_duration: 3h\n    \
             max_intervals: 500\n    max_exemplars: 7\n    max_response_series: 0\n    \
             concurrent_jobs: 8\n    interval: 1m\n",
        );
        assert_eq!(
            unknown,
            [
                "query_frontend.metrics.concurrent_jobs",
                "query_frontend.metrics.interval"
            ]
        );
        assert_eq!(config.metrics_max_duration, secs(3 * 3600));
        assert_eq!(config.metrics_max_intervals, 500);
        assert_eq!(config.metrics_max_exemplars, 7);
        assert_eq!(config.metrics_max_response_series, 0);
        assert_eq!(config.query_end_cutoff, secs(45));
        // Zero turns the limits off; exemplars are capped at the engine's 100.
        let (config, _) = parse(
            "query_frontend:\n  metrics:\n    max_duration: 0\n    max_intervals: 0\n    \
             max_exemplars: 5000\n",
        );
        assert_eq!(config.metrics_max_duration, Duration::ZERO);
        assert_eq!(config.metrics_max_intervals, 0);
        assert_eq!(config.metrics_max_exemplars, 100);
        assert!(
            parse_err("query_frontend:\n  metrics:\n    max_duration: 5\n")
                .contains("query_frontend.metrics.max_duration"),
        );
        assert!(
            parse_err("query_frontend:\n  metrics:\n    max_exemplars: many\n")
                .contains("query_frontend.metrics.max_exemplars"),
        );
    }

    #[test]
    fn metrics_generator_off_by_default() {
        let d = Config::default().metrics_generator;
        assert_eq!(d.core.processors, tempo_core::generator::Processors::NONE);
        assert_eq!(d.collection_interval, secs(15));
        assert_eq!(d.core.stale_duration, secs(15 * 60));
        assert_eq!(d.core.ingestion_time_range_slack, secs(30));
        assert_eq!(
            (d.max_label_name_length, d.max_label_value_length),
            (1024, 2048)
        );
        assert_eq!(d.remote_write_flush_deadline, secs(60));
        assert!(d.remote_write_add_org_id_header);
        assert_eq!(d.trace_id_label_name, "traceID");
        assert_eq!(d.core.service_graphs.wait, secs(10));
        assert_eq!(d.core.service_graphs.max_items, 10_000);
        // A block without overrides naming processors turns nothing on.
        let (config, unknown) =
            parse("metrics_generator:\n  registry:\n    collection_interval: 5s\n");
        assert!(unknown.is_empty(), "{unknown:?}");
        assert!(!config.metrics_generator.core.processors.any());
    }

    #[test]
    fn metrics_generator_keys() {
        let (config, unknown) = parse(
            "metrics_generator:
  ring:
    kvstore:
      store: memberlist
  processor:
    span_metrics:
      histogram_buckets: [0.01, 0.1, 1]
      dimensions: [http.method, deployment.environment]
      intrinsic_dimensions:
        status_message: true
        span_kind: false
      filter_policies:
        - include:
            match_type: strict
            attributes:
              - key: kind
                value: SPAN_KIND_SERVER
          exclude:
            match_type: regex
            attributes:
              - key: resource.service.name
                value: ^internal-.*
      enable_target_info: true
      target_info_excluded_dimensions: [host.name]
      span_multiplier_key: sampling.ratio
      dimension_mappings:
        - name: route
      enable_instance_label: false
    service_graphs:
      wait: 2s
      max_items: 500
      workers: 4
      histogram_buckets: [0.5, 1]
      dimensions: [cluster]
      enable_client_server_prefix: true
      enable_messaging_system_latency_histogram: yes
      enable_virtual_node_label: true
      peer_attributes: [peer.service]
      database_name_attributes: [db.name]
      span_multiplier_key: ratio
      filter_policies:
        - include_any:
            attributes:
              - key: span.http.status_code
                value: 500
    local_blocks:
      flush_to_storage: true
  registry:
    collection_interval: 1s
    stale_duration: 5m
    external_labels:
      cluster: eu-1
      replica: 2
    inject_tenant_id_as: tenant
    max_label_name_length: 100
    max_label_value_length: 200
  storage:
    path: /var/tempo/generator/wal
    wal:
      truncate_frequency: 1h
    remote_write:
      - url: http://prom:9090/api/v1/write
        name: prom
        send_exemplars: true
        remote_timeout: 5s
        headers:
          X-Scope-OrgID: fixed
          X-Extra: \"1\"
        basic_auth:
          username: u
          password: p
        queue_config:
          capacity: 100
          max_shards: 2
          max_samples_per_send: 50
          min_backoff: 10ms
          max_backoff: 1s
          batch_send_deadline: 5s
        tls_config:
          insecure_skip_verify: true
      - url: http://other/push
    remote_write_flush_deadline: 10s
    remote_write_add_org_id_header: false
  traces_storage:
    path: /var/tempo/generator/traces
  metrics_ingestion_time_range_slack: 1m
overrides:
  defaults:
    metrics_generator:
      processors: [span-metrics]
      max_active_series: 1000
      trace_id_label_name: trace_id
",
        );
        assert_eq!(
            unknown,
            [
                "metrics_generator.storage.remote_write.0.tls_config",
                "metrics_generator.processor.span_metrics.dimension_mappings",
                "metrics_generator.processor.span_metrics.enable_instance_label",
            ]
        );
        let g = config.metrics_generator;
        let core = &g.core;
        assert_eq!(
            core.processors,
            tempo_core::generator::Processors {
                span_metrics: true,
                service_graphs: false
            }
        );
        assert_eq!(core.max_active_series, 1000);
        assert_eq!(core.stale_duration, secs(300));
        assert_eq!(core.ingestion_time_range_slack, secs(60));
        let sm = &core.span_metrics;
        assert_eq!(sm.histogram_buckets, [0.01, 0.1, 1.0]);
        assert_eq!(sm.dimensions, ["http.method", "deployment.environment"]);
        assert!(sm.intrinsic_dimensions.status_message && !sm.intrinsic_dimensions.span_kind);
        assert!(sm.intrinsic_dimensions.service && sm.intrinsic_dimensions.span_name);
        assert_eq!(sm.filter_policies.len(), 1);
        let policy = &sm.filter_policies[0];
        assert_eq!(policy.include.as_ref().unwrap().attributes[0].key, "kind");
        assert_eq!(
            policy.exclude.as_ref().unwrap().match_type,
            tempo_core::generator::MatchType::Regex
        );
        assert!(sm.enable_target_info);
        assert_eq!(sm.target_info_excluded_dimensions, ["host.name"]);
        assert_eq!(sm.span_multiplier_key, "sampling.ratio");
        let sg = &core.service_graphs;
        assert_eq!((sg.wait, sg.max_items), (secs(2), 500));
        assert_eq!(sg.histogram_buckets, [0.5, 1.0]);
        assert_eq!(sg.dimensions, ["cluster"]);
        assert!(sg.enable_client_server_prefix);
        assert!(sg.enable_messaging_system_latency_histogram && sg.enable_virtual_node_label);
        assert_eq!(sg.peer_attributes, ["peer.service"]);
        assert_eq!(sg.database_name_attributes, ["db.name"]);
        assert_eq!(sg.span_multiplier_key, "ratio");
        let any = sg.filter_policies[0].include_any.as_ref().unwrap();
        assert_eq!(
            (
                any.attributes[0].key.as_str(),
                any.attributes[0].value.as_str()
            ),
            ("span.http.status_code", "500")
        );
        assert_eq!(g.collection_interval, secs(1));
        assert_eq!(
            g.external_labels,
            [
                ("cluster".to_owned(), "eu-1".to_owned()),
                ("replica".to_owned(), "2".to_owned())
            ]
        );
        assert_eq!(g.inject_tenant_id_as.as_deref(), Some("tenant"));
        assert_eq!(
            (g.max_label_name_length, g.max_label_value_length),
            (100, 200)
        );
        assert_eq!(g.trace_id_label_name, "trace_id");
        assert_eq!(g.remote_write_flush_deadline, secs(10));
        assert!(!g.remote_write_add_org_id_header);
        let [rw, other] = &g.remote_write[..] else {
            panic!("{:?}", g.remote_write)
        };
        assert_eq!(rw.url, "http://prom:9090/api/v1/write");
        assert_eq!(rw.name, "prom");
        assert!(rw.send_exemplars);
        assert_eq!(rw.remote_timeout, secs(5));
        let headers: Vec<(&str, &str)> = rw
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(headers, [("x-extra", "1"), ("x-scope-orgid", "fixed")]);
        assert_eq!(rw.basic_auth, Some(("u".to_owned(), "p".to_owned())));
        assert!(
            !format!("{rw:?}").contains("\"p\""),
            "the password is not logged"
        );
        assert_eq!(
            (rw.min_backoff, rw.max_backoff),
            (Duration::from_millis(10), secs(1))
        );
        assert_eq!((rw.max_samples_per_send, rw.max_queued_samples), (50, 200));
        // Prometheus' defaults.
        assert_eq!(other.name, "http://other/push");
        assert!(!other.send_exemplars);
        assert_eq!(
            (other.min_backoff, other.max_backoff),
            (Duration::from_millis(30), secs(5))
        );
        assert_eq!(
            (other.max_samples_per_send, other.max_queued_samples),
            (2000, 500_000)
        );
    }

    #[test]
    fn metrics_generator_legacy_overrides_and_refusals() {
        let (config, unknown) = parse(
            "overrides:\n  metrics_generator_processors: [service-graphs]\n  \
             metrics_generator_max_active_series: 7\n",
        );
        assert!(unknown.is_empty(), "{unknown:?}");
        let core = &config.metrics_generator.core;
        assert!(core.processors.service_graphs && !core.processors.span_metrics);
        assert_eq!(core.max_active_series, 7);
        // The current shape wins over the legacy one.
        let (config, _) = parse(
            "overrides:\n  metrics_generator_processors: [service-graphs]\n  defaults:\n    \
             metrics_generator:\n      processors: [span-metrics]\n",
        );
        assert!(config.metrics_generator.core.processors.span_metrics);
        assert!(!config.metrics_generator.core.processors.service_graphs);

        let msg = parse_err(
            "overrides:\n  defaults:\n    metrics_generator:\n      processors: [span-metrics, spanmetrics]\n",
        );
        assert!(
            msg.starts_with("overrides.defaults.metrics_generator.processors: unknown metrics generator processor \"spanmetrics\""),
            "{msg}"
        );
        let msg = parse_err("overrides:\n  metrics_generator_processors: [graphs]\n");
        assert!(
            msg.starts_with("overrides.metrics_generator_processors: unknown"),
            "{msg}"
        );
        let msg = parse_err(
            "metrics_generator:\n  storage:\n    remote_write:\n      - url: https://prom/api/v1/write\n",
        );
        assert!(
            msg.starts_with("metrics_generator.storage.remote_write.0.url: \"https://prom/api/v1/write\": https is not supported"),
            "{msg}"
        );
        let msg = parse_err("metrics_generator:\n  storage:\n    remote_write:\n      - name: x\n");
        assert_eq!(
            msg,
            "metrics_generator.storage.remote_write.0.url: a remote write needs a url"
        );
        let msg = parse_err(
            "metrics_generator:\n  storage:\n    remote_write:\n      - url: http://p/w\n        headers:\n          Content-Type: text/plain\n",
        );
        assert!(msg.contains("Content-Type is a reserved header"), "{msg}");
        let msg = parse_err(
            "metrics_generator:\n  processor:\n    span_metrics:\n      filter_policies:\n        - include:\n            match_type: fuzzy\n            attributes: []\n",
        );
        assert_eq!(
            msg,
            "metrics_generator.processor.span_metrics.filter_policies.0.include.match_type: \"fuzzy\" is neither strict nor regex"
        );
        let msg = parse_err(
            "metrics_generator:\n  processor:\n    service_graphs:\n      filter_policies:\n        - exclude:\n            match_type: regex\n            attributes:\n              - key: span.x\n                value: \"(\"\n",
        );
        assert!(
            msg.starts_with("metrics_generator.processor.service_graphs.filter_policies.0.exclude.attributes.0: "),
            "{msg}"
        );
        let msg = parse_err("metrics_generator:\n  registry:\n    inject_tenant_id_as: org.id\n");
        assert!(msg.starts_with("metrics_generator.registry.inject_tenant_id_as: \"org.id\" is not a Prometheus label name"), "{msg}");
        let msg = parse_err(
            "metrics_generator:\n  processor:\n    service_graphs:\n      histogram_buckets: [1, 0.5]\n",
        );
        assert!(msg.starts_with("metrics_generator.processor.service_graphs.histogram_buckets: buckets must increase"), "{msg}");
        let msg = parse_err("metrics_generator:\n  registry:\n    collection_interval: 0s\n");
        assert_eq!(
            msg,
            "metrics_generator.registry.collection_interval: must be more than 0"
        );
    }

    #[test]
    fn metrics_generator_tuned_in_the_overrides_as_tempo_3_documents_it() {
        let (config, unknown) = parse(include_str!(
            "../../tests/fixtures/config/metrics-generator.yaml"
        ));
        assert_eq!(
            unknown,
            ["overrides.defaults.metrics_generator.processor.span_metrics.dimension_mappings"]
        );
        let core = &config.metrics_generator.core;
        assert_eq!(core.processors, tempo_core::generator::Processors::ALL);
        assert_eq!(core.max_active_series, 10_000);
        assert_eq!(
            core.span_metrics.dimensions,
            ["http.method", "deployment.environment"]
        );
        assert!(core.span_metrics.intrinsic_dimensions.status_message);
        assert!(core.span_metrics.intrinsic_dimensions.span_name);
        assert_eq!(core.span_metrics.filter_policies.len(), 2);
        assert_eq!(core.service_graphs.dimensions, ["deployment.environment"]);
        assert_eq!(config.metrics_generator.remote_write.len(), 1);

        // The overrides' settings win over the generator block's, key by key.
        let (config, unknown) = parse(
            "metrics_generator:
  registry:
    collection_interval: 30s
  processor:
    span_metrics:
      dimensions: [a]
      intrinsic_dimensions:
        span_kind: false
    service_graphs:
      wait: 3s
overrides:
  defaults:
    metrics_generator:
      processors: [span-metrics-count, service-graphs-request]
      collection_interval: 2s
      ingestion_time_range_slack: 5m
      processor:
        span_metrics:
          dimensions: [b]
        service_graphs:
          max_items: 5
",
        );
        assert!(unknown.is_empty(), "{unknown:?}");
        let g = &config.metrics_generator;
        assert_eq!(g.core.processors, tempo_core::generator::Processors::ALL);
        assert_eq!(g.collection_interval, secs(2));
        assert_eq!(g.core.ingestion_time_range_slack, secs(300));
        assert_eq!(g.core.span_metrics.dimensions, ["b"]);
        assert!(!g.core.span_metrics.intrinsic_dimensions.span_kind);
        assert_eq!(
            (g.core.service_graphs.wait, g.core.service_graphs.max_items),
            (secs(3), 5)
        );
        let msg = parse_err(
            "overrides:\n  defaults:\n    metrics_generator:\n      processor:\n        span_metrics:\n          histogram_buckets: [2, 1]\n",
        );
        assert!(
            msg.starts_with(
                "overrides.defaults.metrics_generator.processor.span_metrics.histogram_buckets: "
            ),
            "{msg}"
        );
    }

    #[test]
    fn connection_keys() {
        let d = Config::default();
        assert_eq!(d.api_listener.header_timeout, Some(secs(30)));
        assert_eq!(d.api_listener.idle_timeout, Some(secs(120)));
        assert_eq!(d.otlp_http_listener.header_timeout, Some(secs(60)));
        assert_eq!(d.otlp_http_listener.idle_timeout, Some(secs(60)));
        assert_eq!(d.otlp_grpc_listener.idle_timeout, Some(secs(300)));
        assert_eq!(d.otlp_grpc_listener.keepalive_time, Some(secs(7200)));
        assert_eq!(d.graceful_shutdown_timeout, secs(30));

        let (config, unknown) = parse(
            "server:\n  http_server_read_timeout: 10s\n  http_server_write_timeout: 0\n  \
             http_server_idle_timeout: 0s\n  http_listen_conn_limit: 500\n  \
             graceful_shutdown_timeout: 5s\n  grpc_server_max_connection_age: 1m\n\
             distributor:\n  receivers:\n    otlp:\n      protocols:\n        grpc:\n          \
             conn_limit: -1\n          connection_timeout: 3s\n          read_timeout: 0\n          \
             keepalive:\n            server_parameters:\n              max_connection_idle: 0\n              \
             max_connection_age: 10m\n              max_connection_age_grace: 5s\n              \
             time: 100ms\n              timeout: 0\n            enforcement_policy:\n              \
             min_time: 10s\n        http:\n          read_timeout: 2s\n          \
             read_header_timeout: 0\n          write_timeout: 4s\n          idle_timeout: 9s\n          \
             conn_limit: 64\n",
        );
        assert_eq!(
            unknown,
            [
                "server.grpc_server_max_connection_age",
                "distributor.receivers.otlp.protocols.grpc.keepalive.enforcement_policy",
            ]
        );
        assert_eq!(config.graceful_shutdown_timeout, secs(5));
        assert_eq!(
            config.api_listener,
            ListenerConfig {
                // dskit: the header timeout is the read timeout, and so is an idle of 0.
                header_timeout: Some(secs(10)),
                read_timeout: Some(secs(10)),
                write_timeout: None,
                idle_timeout: Some(secs(10)),
                conn_limit: 500,
                ..ListenerConfig::api_defaults()
            }
        );
        assert_eq!(
            config.otlp_http_listener,
            ListenerConfig {
                header_timeout: Some(secs(2)),
                read_timeout: Some(secs(2)),
                write_timeout: Some(secs(4)),
                idle_timeout: Some(secs(9)),
                conn_limit: 64,
                ..ListenerConfig::otlp_http_defaults()
            }
        );
        assert_eq!(
            config.otlp_grpc_listener,
            ListenerConfig {
                header_timeout: Some(secs(3)),
                read_timeout: None,
                write_timeout: Some(secs(30)),
                idle_timeout: None,
                max_connection_age: Some(secs(600)),
                max_connection_age_grace: Some(secs(5)),
                keepalive_time: Some(secs(1)),
                keepalive_timeout: secs(20),
                conn_limit: 0,
            }
        );

        let msg = parse_err("server:\n  http_listen_conn_limit: many\n");
        assert!(
            msg.starts_with(r#"server.http_listen_conn_limit: invalid value: string "many", expected a number of connections"#),
            "{msg}"
        );
        let msg = parse_err("server:\n  http_server_idle_timeout: 5\n");
        assert!(
            msg.starts_with(
                r#"server.http_server_idle_timeout: invalid duration "5": missing unit"#
            ),
            "{msg}"
        );
        let (config, _) = parse("server:\n  http_listen_conn_limit: '-5'\n");
        assert_eq!(config.api_listener.conn_limit, 0);
    }

    #[test]
    fn errors_name_the_key_the_value_and_the_position() {
        assert_eq!(
            parse_err("ingester:\n  trace_idle_period: 5x\n"),
            r#"ingester.trace_idle_period: invalid duration "5x": unknown unit "x" at line 2 column 22"#
        );
        let msg = parse_err("live_store:\n  max_block_duration: 30\n");
        assert!(
            msg.starts_with(
                r#"live_store.max_block_duration: invalid duration "30": missing unit"#
            ),
            "{msg}"
        );
        assert_eq!(
            parse_err("server:\n  http_listen_port: 99999\n"),
            "server.http_listen_port: invalid value: integer `99999`, expected a port number from 0 to 65535 at line 2 column 21"
        );
        assert_eq!(
            parse_err("server: 3200\n"),
            "server: invalid type: integer `3200`, expected a mapping of server settings at line 1 column 9"
        );
        let msg = parse_err("storage:\n  trace: local\n");
        assert!(
            msg.starts_with("storage.trace: invalid type: string \"local\", expected a mapping"),
            "{msg}"
        );
        assert!(
            parse_err("- a\n- b\n").contains("expected a mapping of Tempo configuration sections")
        );
        let msg = parse_err("storage:\n  trace:\n    backend: ceph\n");
        assert!(msg.starts_with(r#"storage.trace.backend: invalid value: string "ceph", expected one of local, s3, gcs, azure, memory"#), "{msg}");
        let msg = parse_err("server:\n  log_level: loud\n");
        assert!(
            msg.starts_with(
                r#"server.log_level: invalid value: string "loud", expected one of debug, info, warn, error"#
            ),
            "{msg}"
        );
        let msg = parse_err("ingester:\n  max_block_bytes: lots\n");
        assert!(msg.starts_with(r#"ingester.max_block_bytes: invalid value: string "lots", expected a non-negative integer"#), "{msg}");
        let msg = parse_err(
            "distributor:\n  receivers:\n    otlp:\n      protocols:\n        grpc:\n          endpoint: tempo\n",
        );
        assert!(msg.starts_with(r#"distributor.receivers.otlp.protocols.grpc.endpoint: invalid value: string "tempo", expected a listen address"#), "{msg}");
        assert_eq!(
            parse_err("distributor:\n  receivers:\n    otlp:\n"),
            "distributor.receivers.otlp.protocols: the OTLP receiver needs at least one protocol, grpc or http"
        );
        let msg = parse_err("storage:\n  trace:\n    wal:\n      fsync: sometimes\n");
        assert!(
            msg.starts_with(r#"storage.trace.wal.fsync: expected always, never, or a Go duration such as 100ms, got invalid duration "sometimes""#),
            "{msg}"
        );
    }

    #[test]
    fn yaml_syntax_errors_have_a_position() {
        let err = Config::from_yaml("server:\n  log_level: \"info\n").unwrap_err();
        match &err {
            ConfigError::Parse { line, column, .. } => {
                assert!(line.is_some() && column.is_some(), "{err:?}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "found unexpected end of stream at line 3 column 1, \
             while scanning a quoted scalar at line 2 column 14"
        );
        let err = Config::from_yaml("server:\n\thttp_listen_port: 3200\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("found character that cannot start any token at line 2 column 1"),
            "{err}"
        );
    }

    #[test]
    fn load_reads_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tempo.yaml");
        std::fs::write(&path, DOCKER_COMPOSE_2X).unwrap();
        let (config, unknown) = Config::load(&path).unwrap();
        assert_eq!(config.max_block_duration, secs(300));
        assert_eq!(unknown.len(), 5);
        let (expanded, _) = Config::load_expanding_env(&path).unwrap();
        assert_eq!(expanded, config);
        let err = Config::load(&dir.path().join("missing.yaml")).unwrap_err();
        assert!(err.to_string().starts_with("reading config file "), "{err}");
        assert!(err.to_string().contains("missing.yaml"), "{err}");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn integers_and_booleans_as_go_yaml_reads_them() {
        let (config, _) =
            parse("multitenancy_enabled: on\nstorage:\n  trace:\n    s3:\n      insecure: No\n");
        assert!(config.multitenancy_enabled);
        assert!(!config.s3.insecure);
        let msg = parse_err("multitenancy_enabled: maybe\n");
        assert!(
            msg.starts_with("multitenancy_enabled: invalid value"),
            "{msg}"
        );
        let msg = parse_err("ingester:\n  max_block_bytes: -1\n");
        assert!(
            msg.starts_with("ingester.max_block_bytes: invalid value: integer `-1`"),
            "{msg}"
        );
        let msg = parse_err("ingester:\n  max_block_bytes: 1.5\n");
        assert!(
            msg.starts_with("ingester.max_block_bytes: invalid value: floating point `1.5`"),
            "{msg}"
        );
    }

    #[test]
    fn expanded_text_is_parsed() {
        // Expansion happens before parsing.
        let expanded =
            value::expand_with("server:\n  http_listen_port: ${HTTP_PORT:-3300}\n", &|_| {
                None
            });
        let (config, _) = parse(&expanded);
        assert_eq!(config.http_listen_port, 3300);
    }
}
