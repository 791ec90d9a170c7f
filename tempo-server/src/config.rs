//! config: which settings does a Tempo configuration file give this server?
//!
//! The server reads the YAML file named by `-config.file=PATH`. Its keys are Tempo's own, so
//! that the configuration of a Tempo single binary (2.x or 3.x) works as it is. Parsing never
//! fails on a key it does not know: [`Config::from_yaml`] returns those keys as dotted paths
//! (`query_frontend.trace_by_id`, `metrics_generator`) for the caller to log
//! as warnings. A whole section we do not support is reported once, by its own path, rather
//! than key by key. A known key with a bad value is an error naming the key, the value and the
//! position in the file.
//!
//! # Keys read into [`Config`]
//!
//! Which of them act depends on the rest of the server: the S3 settings, for one, are kept
//! for when that backend is wired in.
//!
//! | Key | Default | Setting |
//! |---|---|---|
//! | `server.http_listen_address` | `0.0.0.0` (also for `""`) | [`Config::http_listen_address`] |
//! | `server.http_listen_port` | `3200` | [`Config::http_listen_port`] |
//! | `server.log_level` | `info` | [`Config::log_level`] |
//! | `multitenancy_enabled`, or its deprecated alias `auth_enabled` | `false` | [`Config::multitenancy_enabled`] |
//! | `query_frontend.multi_tenant_queries_enabled` | `true` | [`Config::multi_tenant_queries_enabled`] |
//! | `distributor.receivers.otlp.protocols.grpc.endpoint` | `0.0.0.0:4317` | [`Config::otlp_grpc_endpoint`] |
//! | `distributor.receivers.otlp.protocols.grpc.max_recv_msg_size_mib` | `16` | [`Config::otlp_grpc_max_recv_msg_size`] |
//! | `distributor.receivers.otlp.protocols.http.endpoint` | `0.0.0.0:4318` | [`Config::otlp_http_endpoint`] |
//! | `distributor.receivers.otlp.protocols.http.max_request_body_size` | 16 MiB | [`Config::otlp_http_max_request_bytes`] |
//! | `ingester.trace_idle_period`, `live_store.max_trace_idle` | `5s` | [`Config::trace_idle_period`] |
//! | `ingester.max_block_bytes`, `live_store.max_block_bytes` | `52428800` | [`Config::max_block_bytes`] |
//! | `ingester.max_block_duration`, `live_store.max_block_duration` | `30s` | [`Config::max_block_duration`] |
//! | `compactor.compaction.block_retention`, `backend_worker.compaction.block_retention` | `336h` | [`Config::block_retention`] |
//! | `compactor.compaction.compaction_window`, `backend_worker.compaction.compaction_window` | `1h` | [`Config::compaction_window`] |
//! | `storage.trace.backend` | `local` | [`Config::storage_backend`] |
//! | `storage.trace.local.path` | `./tempo-data/blocks` | [`Config::local_path`] |
//! | `storage.trace.wal.path` | `./tempo-data/wal` | [`Config::wal_path`] |
//! | `storage.trace.wal.fsync` (our extension) | `always` | [`Config::wal_fsync`] |
//! | `storage.trace.s3.{bucket, endpoint, region, access_key, secret_key, insecure, prefix, forcepathstyle}` | empty | [`Config::s3`] |
//! | `server.graceful_shutdown_timeout` | `30s` | [`Config::graceful_shutdown_timeout`] |
//! | `overrides.defaults.global.max_bytes_per_trace`, or the legacy `overrides.max_bytes_per_trace` | `5000000` (0: none) | [`Config::max_bytes_per_trace`] |
//! | `overrides.defaults.compaction.block_retention`, or the legacy `overrides.block_retention` | the compactor's | [`Config::block_retention`] |
//! | `overrides.per_tenant_override_config` | none | [`Config::per_tenant_override_config`] (each tenant's `global.max_bytes_per_trace` and `compaction.block_retention`, or the legacy flat keys; `"*"` for every tenant not named; re-read when it changes) |
//! | `storage.trace.wal.ingestion_time_range_slack` | `2m` | [`Config::ingestion_time_range_slack`] |
//! | `compactor.compaction.compacted_block_retention`, `backend_worker.compaction.compacted_block_retention` | `5m` (Tempo: `1h`) | [`Config::compacted_block_retention`] |
//! | `query_frontend.search.max_query_bytes` (our extension) | 512 MiB | [`Config::max_query_bytes`] |
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
//! Everything else, notably `stream_over_http_enabled`, `usage_report`, `metrics_generator`,
//! the other `query_frontend` keys, `querier`, `overrides`, `memberlist`, other receivers (`jaeger`, `zipkin`,
//! ...), `storage.trace.block`, `storage.trace.pool` and the other backends' sections: they
//! have no effect here, and the report says so.
//!
//! # Values
//!
//! Durations are Go duration strings (`300ms`, `1.5h`, `2h45m`; see [`parse_go_duration`]); a
//! bare number is rejected except `0`, as in Go. Integers may be written with underscores
//! (`1_000_000`) or as integral floats (`1.073741824e+09`), and booleans as YAML 1.1's
//! `yes`/`no`/`on`/`off`, as Go's YAML parser reads them. With `-config.expand-env=true`, the
//! text first goes through [`expand_env`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};
use tempo_core::FsyncPolicy;

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
    /// Settings of the S3 backend, kept for when it is wired in.
    pub(crate) s3: S3Config,
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
            otlp_grpc_endpoint: Some(DEFAULT_GRPC_ENDPOINT.to_owned()),
            otlp_http_endpoint: Some(DEFAULT_HTTP_ENDPOINT.to_owned()),
            otlp_grpc_max_recv_msg_size: (16 * MIB) as usize,
            otlp_http_max_request_bytes: (16 * MIB) as usize,
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
            api_listener: ListenerConfig::api_defaults(),
            otlp_grpc_listener: ListenerConfig::otlp_grpc_defaults(),
            otlp_http_listener: ListenerConfig::otlp_http_defaults(),
            graceful_shutdown_timeout: Duration::from_secs(30),
            max_bytes_per_trace: 5_000_000,
            per_tenant_override_config: None,
            ingestion_time_range_slack: Duration::from_secs(120),
            compacted_block_retention: Duration::from_secs(300),
            max_query_bytes: 512 * MIB,
        }
    }
}

const DEFAULT_GRPC_ENDPOINT: &str = "0.0.0.0:4317";
const DEFAULT_HTTP_ENDPOINT: &str = "0.0.0.0:4318";

impl Config {
    /// Parses a YAML configuration. Returns the settings and the dotted paths of the keys
    /// that have no effect here, in file order, each once.
    pub(crate) fn from_yaml(text: &str) -> Result<(Config, Vec<String>), ConfigError> {
        let mut unknown: Vec<String> = Vec::new();
        // An empty document (no text, only comments) is `None`: all defaults.
        let raw: Option<RawRoot> =
            serde_ignored::deserialize(serde_norway::Deserializer::from_str(text), |path| {
                let dotted = dotted_path(&path);
                if !unknown.contains(&dotted) {
                    unknown.push(dotted);
                }
            })
            .map_err(ConfigError::from_yaml)?;
        let raw = raw.unwrap_or_default();
        let config = raw.resolve(&mut unknown)?;
        Ok((config, unknown))
    }

    /// Reads and parses the file at `path`, as [`Config::from_yaml`].
    pub(crate) fn load(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        Config::from_yaml(&read(path)?)
    }

    /// Reads the file at `path`, replaces environment variable references in it with
    /// [`expand_env`] (Tempo's `-config.expand-env=true`), then parses it.
    pub(crate) fn load_expanding_env(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        Config::from_yaml(&expand_env(&read(path)?))
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
            multitenancy = self.multitenancy_enabled,
            multi_tenant_queries = self.multi_tenant_queries_enabled,
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
            per_tenant_override_config = ?self.per_tenant_override_config,
            ingestion_time_range_slack = ?self.ingestion_time_range_slack,
            max_query_bytes = self.max_query_bytes,
            graceful_shutdown_timeout = ?self.graceful_shutdown_timeout,
            "configuration"
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
                credentials,
                "S3 configuration"
            );
        }
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `a.b.0.c`: map keys and sequence indexes, without serde_ignored's `?` for options.
fn dotted_path(path: &serde_ignored::Path<'_>) -> String {
    fn walk(path: &serde_ignored::Path<'_>, out: &mut String) {
        use serde_ignored::Path as P;
        let segment = match path {
            P::Root => return,
            P::Seq { parent, index } => {
                walk(parent, out);
                index.to_string()
            }
            P::Map { parent, key } => {
                walk(parent, out);
                key.clone()
            }
            P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
                return walk(parent, out);
            }
        };
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&segment);
    }
    let mut out = String::new();
    walk(path, &mut out);
    out
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file could not be read; the I/O error is the source.
    #[error("reading config file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The text is not valid YAML, or a value has the wrong type or is out of range. The
    /// message names the key and ends with the position, as
    /// `ingester.trace_idle_period: invalid duration "5x": unknown unit "x" at line 3 column 22`.
    #[error("{message}")]
    Parse {
        /// What is wrong, where.
        message: String,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// 1-based column of the error, when known.
        column: Option<usize>,
    },
    /// A Go duration string that does not parse.
    #[error("invalid duration {value:?}: {reason}")]
    InvalidDuration {
        /// The text given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A combination of settings that cannot work.
    #[error("{key}: {message}")]
    Invalid {
        /// The dotted path of the key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    fn from_yaml(error: serde_norway::Error) -> ConfigError {
        let location = error.location();
        ConfigError::Parse {
            message: error.to_string(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
        }
    }
}

/// Where blocks are stored (`storage.trace.backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum StorageBackend {
    /// Local disk (`local`, also spelled `filesystem`). The default.
    #[default]
    Local,
    /// Amazon S3 or an S3-compatible server (`s3`).
    S3,
    /// Google Cloud Storage (`gcs`).
    Gcs,
    /// Azure Blob Storage (`azure`).
    Azure,
    /// Memory only, lost on exit (`memory`; our extension, for tests and demos).
    Memory,
}

impl StorageBackend {
    /// The backend's name in the configuration.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StorageBackend::Local => "local",
            StorageBackend::S3 => "s3",
            StorageBackend::Gcs => "gcs",
            StorageBackend::Azure => "azure",
            StorageBackend::Memory => "memory",
        }
    }
}

/// Tempo's `storage.trace.s3` settings that this server knows; not used yet.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, expecting = "a mapping of S3 settings")]
pub(crate) struct S3Config {
    /// Bucket name.
    #[serde(deserialize_with = "de_string")]
    pub(crate) bucket: String,
    /// Endpoint (`host[:port]`, without scheme), for S3-compatible servers.
    #[serde(deserialize_with = "de_string")]
    pub(crate) endpoint: String,
    /// Region.
    #[serde(deserialize_with = "de_string")]
    pub(crate) region: String,
    /// Access key ID; empty to use the environment's credentials.
    #[serde(deserialize_with = "de_string")]
    pub(crate) access_key: String,
    /// Secret access key.
    #[serde(deserialize_with = "de_string")]
    pub(crate) secret_key: String,
    /// Use plain HTTP instead of HTTPS.
    #[serde(deserialize_with = "de_bool")]
    pub(crate) insecure: bool,
    /// Prefix of every object name, so that several stores can share a bucket.
    #[serde(deserialize_with = "de_string")]
    pub(crate) prefix: String,
    /// Address objects as `endpoint/bucket/key` instead of `bucket.endpoint/key`.
    #[serde(deserialize_with = "de_bool")]
    pub(crate) forcepathstyle: bool,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field(
                "secret_key",
                &if self.secret_key.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("insecure", &self.insecure)
            .field("prefix", &self.prefix)
            .field("forcepathstyle", &self.forcepathstyle)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// The file as written: every section optional, every value checked while it is read, so that
// an error carries the key's path and position.

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of Tempo configuration sections")]
struct RawRoot {
    target: Option<String>,
    #[serde(deserialize_with = "de_opt_bool")]
    multitenancy_enabled: Option<bool>,
    #[serde(deserialize_with = "de_opt_bool")]
    auth_enabled: Option<bool>,
    server: RawServer,
    query_frontend: RawQueryFrontend,
    distributor: Option<RawDistributor>,
    ingester: RawIngester,
    live_store: RawLiveStore,
    compactor: RawCompactor,
    backend_worker: RawCompactor,
    storage: RawStorage,
    overrides: RawOverrides,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of server settings")]
struct RawServer {
    http_listen_address: Option<String>,
    #[serde(deserialize_with = "de_port")]
    http_listen_port: Option<u16>,
    #[serde(deserialize_with = "de_log_level")]
    log_level: Option<String>,
    #[serde(deserialize_with = "de_duration")]
    graceful_shutdown_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    http_server_read_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    http_server_read_header_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    http_server_write_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    http_server_idle_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_conn_limit")]
    http_listen_conn_limit: Option<usize>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of query-frontend settings")]
struct RawQueryFrontend {
    #[serde(deserialize_with = "de_opt_bool")]
    multi_tenant_queries_enabled: Option<bool>,
    search: RawFrontendSearch,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of search settings")]
struct RawFrontendSearch {
    #[serde(deserialize_with = "de_opt_u64")]
    max_query_bytes: Option<u64>,
}

/// Tempo's `overrides` section: its current shape (`defaults`, with `global` and `compaction`
/// limits) or the legacy flat one, and the tenant-specific file.
#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of overrides")]
struct RawOverrides {
    defaults: RawLimits,
    per_tenant_override_config: Option<PathBuf>,
    #[serde(deserialize_with = "de_opt_u64")]
    max_bytes_per_trace: Option<u64>,
    #[serde(deserialize_with = "de_duration")]
    block_retention: Option<Duration>,
}

/// The limits of a tenant (or the defaults), in either shape of Tempo's overrides:
/// `global.max_bytes_per_trace` and `compaction.block_retention`, or the legacy flat keys.
#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of limits")]
struct RawLimits {
    global: RawGlobalLimits,
    compaction: RawCompactionLimits,
    #[serde(deserialize_with = "de_opt_u64")]
    max_bytes_per_trace: Option<u64>,
    #[serde(deserialize_with = "de_duration")]
    block_retention: Option<Duration>,
}

impl RawLimits {
    fn max_bytes_per_trace(&self) -> Option<u64> {
        self.global.max_bytes_per_trace.or(self.max_bytes_per_trace)
    }

    /// A retention of 0 means the default, as in Tempo.
    fn block_retention(&self) -> Option<Duration> {
        self.compaction
            .block_retention
            .or(self.block_retention)
            .filter(|d| !d.is_zero())
    }
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of global limits")]
struct RawGlobalLimits {
    #[serde(deserialize_with = "de_opt_u64")]
    max_bytes_per_trace: Option<u64>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of compaction limits")]
struct RawCompactionLimits {
    #[serde(deserialize_with = "de_duration")]
    block_retention: Option<Duration>,
}

/// A tenant-specific overrides file: `overrides:` mapping tenant IDs (or `"*"`, every tenant
/// not named) to their limits.
#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping with an overrides section")]
struct RawTenantOverrides {
    overrides: std::collections::BTreeMap<String, RawLimits>,
}

/// Reads a tenant-specific overrides file (`overrides.per_tenant_override_config`). Returns
/// the limits by tenant and the keys that have no effect here.
pub(crate) fn load_tenant_overrides(
    path: &Path,
) -> Result<
    (
        std::collections::HashMap<String, tempo_core::TenantLimits>,
        Vec<String>,
    ),
    ConfigError,
> {
    let text = read(path)?;
    let mut unknown: Vec<String> = Vec::new();
    let raw: Option<RawTenantOverrides> =
        serde_ignored::deserialize(serde_norway::Deserializer::from_str(&text), |p| {
            let dotted = dotted_path(&p);
            if !unknown.contains(&dotted) {
                unknown.push(dotted);
            }
        })
        .map_err(ConfigError::from_yaml)?;
    let mut limits = std::collections::HashMap::new();
    for (tenant, raw) in raw.unwrap_or_default().overrides {
        if tenant != "*" {
            tempo_core::validate_tenant(&tenant).map_err(|e| ConfigError::Invalid {
                key: format!("overrides.{tenant}"),
                message: e.to_string(),
            })?;
        }
        let mut l = tempo_core::TenantLimits::default();
        l.max_bytes_per_trace = raw.max_bytes_per_trace();
        l.block_retention = raw.block_retention();
        limits.insert(tenant, l);
    }
    Ok((limits, unknown))
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of distributor settings")]
struct RawDistributor {
    receivers: Option<RawReceivers>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of receivers")]
struct RawReceivers {
    #[serde(deserialize_with = "de_present")]
    otlp: Option<RawOtlp>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of OTLP receiver settings")]
struct RawOtlp {
    protocols: Option<RawProtocols>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of OTLP protocols")]
struct RawProtocols {
    #[serde(deserialize_with = "de_present")]
    grpc: Option<RawGrpc>,
    #[serde(deserialize_with = "de_present")]
    http: Option<RawHttp>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of OTLP gRPC settings")]
struct RawGrpc {
    #[serde(deserialize_with = "de_endpoint")]
    endpoint: Option<String>,
    #[serde(deserialize_with = "de_opt_u64")]
    max_recv_msg_size_mib: Option<u64>,
    keepalive: RawGrpcKeepalive,
    // Our extensions: the Collector's gRPC server has no such keys.
    #[serde(deserialize_with = "de_duration")]
    connection_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    read_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    write_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_conn_limit")]
    conn_limit: Option<usize>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of gRPC keepalive settings")]
struct RawGrpcKeepalive {
    server_parameters: RawGrpcServerParameters,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of gRPC keepalive server parameters")]
struct RawGrpcServerParameters {
    #[serde(deserialize_with = "de_duration")]
    max_connection_idle: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    max_connection_age: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    max_connection_age_grace: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    time: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    timeout: Option<Duration>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of OTLP HTTP settings")]
struct RawHttp {
    #[serde(deserialize_with = "de_endpoint")]
    endpoint: Option<String>,
    #[serde(deserialize_with = "de_opt_u64")]
    max_request_body_size: Option<u64>,
    #[serde(deserialize_with = "de_duration")]
    read_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    read_header_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    write_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    idle_timeout: Option<Duration>,
    // Our extension: the Collector's HTTP server has no connection limit.
    #[serde(deserialize_with = "de_conn_limit")]
    conn_limit: Option<usize>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of ingester settings")]
struct RawIngester {
    #[serde(deserialize_with = "de_duration")]
    trace_idle_period: Option<Duration>,
    #[serde(deserialize_with = "de_opt_u64")]
    max_block_bytes: Option<u64>,
    #[serde(deserialize_with = "de_duration")]
    max_block_duration: Option<Duration>,
    // Accepted without effect.
    #[serde(deserialize_with = "de_duration", rename = "complete_block_timeout")]
    _complete_block_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration", rename = "flush_check_period")]
    _flush_check_period: Option<Duration>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of live-store settings")]
struct RawLiveStore {
    #[serde(deserialize_with = "de_duration")]
    max_trace_idle: Option<Duration>,
    #[serde(deserialize_with = "de_opt_u64")]
    max_block_bytes: Option<u64>,
    #[serde(deserialize_with = "de_duration")]
    max_block_duration: Option<Duration>,
    // Accepted without effect.
    #[serde(deserialize_with = "de_duration", rename = "max_trace_live")]
    _max_trace_live: Option<Duration>,
    #[serde(deserialize_with = "de_duration", rename = "complete_block_timeout")]
    _complete_block_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration", rename = "flush_check_period")]
    _flush_check_period: Option<Duration>,
}

/// `compactor` (Tempo 2.x) and `backend_worker` (Tempo 3.x) share this shape.
#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping with a compaction section")]
struct RawCompactor {
    compaction: RawCompaction,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of compaction settings")]
struct RawCompaction {
    #[serde(deserialize_with = "de_duration")]
    block_retention: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    compaction_window: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    compacted_block_retention: Option<Duration>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of storage settings")]
struct RawStorage {
    trace: RawTraceStorage,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of trace storage settings")]
struct RawTraceStorage {
    #[serde(deserialize_with = "de_backend")]
    backend: Option<StorageBackend>,
    local: RawPath,
    wal: RawWal,
    s3: S3Config,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping with a path")]
struct RawPath {
    path: Option<PathBuf>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of write-ahead log settings")]
struct RawWal {
    path: Option<PathBuf>,
    #[serde(deserialize_with = "de_fsync")]
    fsync: Option<FsyncPolicy>,
    #[serde(deserialize_with = "de_duration")]
    ingestion_time_range_slack: Option<Duration>,
}

impl RawRoot {
    fn resolve(self, unknown: &mut Vec<String>) -> Result<Config, ConfigError> {
        let defaults = Config::default();
        if let Some(target) = &self.target
            && target != "all"
            && !unknown.iter().any(|k| k == "target")
        {
            unknown.push("target".to_owned());
        }

        let (otlp_grpc, otlp_http) = match self.distributor.and_then(|d| d.receivers) {
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
        let otlp_grpc_max_recv_msg_size =
            match otlp_grpc.as_ref().and_then(|g| g.max_recv_msg_size_mib) {
                None | Some(0) => defaults.otlp_grpc_max_recv_msg_size,
                Some(mib) => mib
                    .checked_mul(MIB)
                    .and_then(|bytes| usize::try_from(bytes).ok())
                    .ok_or_else(|| ConfigError::Invalid {
                        key: "distributor.receivers.otlp.protocols.grpc.max_recv_msg_size_mib"
                            .to_owned(),
                        message: format!("{mib} MiB is too large"),
                    })?,
            };
        let otlp_http_max_request_bytes =
            match otlp_http.as_ref().and_then(|h| h.max_request_body_size) {
                None | Some(0) => defaults.otlp_http_max_request_bytes,
                Some(bytes) => usize::try_from(bytes).map_err(|_| ConfigError::Invalid {
                    key: "distributor.receivers.otlp.protocols.http.max_request_body_size"
                        .to_owned(),
                    message: format!("{bytes} bytes is too large"),
                })?,
            };

        let api_listener = self.server.listener();
        let otlp_grpc_listener = otlp_grpc
            .as_ref()
            .map(RawGrpc::listener)
            .unwrap_or_else(ListenerConfig::otlp_grpc_defaults);
        let otlp_http_listener = otlp_http
            .as_ref()
            .map(RawHttp::listener)
            .unwrap_or_else(ListenerConfig::otlp_http_defaults);
        let graceful_shutdown_timeout = self
            .server
            .graceful_shutdown_timeout
            .unwrap_or(defaults.graceful_shutdown_timeout);

        let live = self.live_store;
        let ingester = self.ingester;
        let worker = self.backend_worker.compaction;
        let compactor = self.compactor.compaction;
        let trace = self.storage.trace;
        Ok(Config {
            http_listen_address: match self.server.http_listen_address {
                Some(address) if !address.is_empty() => address,
                _ => defaults.http_listen_address,
            },
            http_listen_port: self
                .server
                .http_listen_port
                .unwrap_or(defaults.http_listen_port),
            log_level: self.server.log_level.unwrap_or(defaults.log_level),
            multitenancy_enabled: self.multitenancy_enabled.unwrap_or(false)
                || self.auth_enabled.unwrap_or(false),
            multi_tenant_queries_enabled: self
                .query_frontend
                .multi_tenant_queries_enabled
                .unwrap_or(defaults.multi_tenant_queries_enabled),
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
            block_retention: self
                .overrides
                .defaults
                .block_retention()
                .or(self.overrides.block_retention.filter(|d| !d.is_zero()))
                .or(worker.block_retention)
                .or(compactor.block_retention)
                .unwrap_or(defaults.block_retention),
            compacted_block_retention: worker
                .compacted_block_retention
                .or(compactor.compacted_block_retention)
                .unwrap_or(defaults.compacted_block_retention),
            max_bytes_per_trace: self
                .overrides
                .defaults
                .max_bytes_per_trace()
                .or(self.overrides.max_bytes_per_trace)
                .unwrap_or(defaults.max_bytes_per_trace),
            per_tenant_override_config: non_empty_path(self.overrides.per_tenant_override_config),
            ingestion_time_range_slack: trace
                .wal
                .ingestion_time_range_slack
                .unwrap_or(defaults.ingestion_time_range_slack),
            max_query_bytes: match self.query_frontend.search.max_query_bytes {
                None | Some(0) => defaults.max_query_bytes,
                Some(bytes) => bytes,
            },
            compaction_window: worker
                .compaction_window
                .or(compactor.compaction_window)
                .unwrap_or(defaults.compaction_window),
            storage_backend: trace.backend.unwrap_or(defaults.storage_backend),
            local_path: non_empty_path(trace.local.path).unwrap_or(defaults.local_path),
            wal_path: non_empty_path(trace.wal.path).unwrap_or(defaults.wal_path),
            wal_fsync: trace.wal.fsync.unwrap_or(defaults.wal_fsync),
            s3: trace.s3,
            api_listener,
            otlp_grpc_listener,
            otlp_http_listener,
            graceful_shutdown_timeout,
        })
    }
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

impl RawServer {
    /// Tempo's `server` block (dskit's): its `http_server_*` timeouts are those of the HTTP
    /// API. dskit's header timeout defaults to 0, which means the read timeout.
    fn listener(&self) -> ListenerConfig {
        let defaults = ListenerConfig::api_defaults();
        let read_timeout = timeout(self.http_server_read_timeout, defaults.read_timeout);
        ListenerConfig {
            header_timeout: or_read_timeout(
                self.http_server_read_header_timeout,
                read_timeout,
                read_timeout,
            ),
            read_timeout,
            write_timeout: timeout(self.http_server_write_timeout, defaults.write_timeout),
            idle_timeout: or_read_timeout(
                self.http_server_idle_timeout,
                defaults.idle_timeout,
                read_timeout,
            ),
            conn_limit: self.http_listen_conn_limit.unwrap_or(0),
            ..defaults
        }
    }
}

impl RawHttp {
    /// The OpenTelemetry Collector's HTTP server settings (`confighttp`).
    fn listener(&self) -> ListenerConfig {
        let defaults = ListenerConfig::otlp_http_defaults();
        let read_timeout = timeout(self.read_timeout, defaults.read_timeout);
        ListenerConfig {
            header_timeout: or_read_timeout(
                self.read_header_timeout,
                defaults.header_timeout,
                read_timeout,
            ),
            read_timeout,
            write_timeout: timeout(self.write_timeout, defaults.write_timeout),
            idle_timeout: or_read_timeout(self.idle_timeout, defaults.idle_timeout, read_timeout),
            conn_limit: self.conn_limit.unwrap_or(0),
            ..defaults
        }
    }
}

impl RawGrpc {
    /// The OpenTelemetry Collector's gRPC server settings (`configgrpc`), whose keepalive
    /// parameters are gRPC's: zero means gRPC's default (no limit, a ping after 2h, 20s to
    /// answer it), and a ping interval under 1s is raised to 1s, as gRPC does.
    fn listener(&self) -> ListenerConfig {
        let defaults = ListenerConfig::otlp_grpc_defaults();
        let params = &self.keepalive.server_parameters;
        ListenerConfig {
            header_timeout: timeout(self.connection_timeout, defaults.header_timeout),
            read_timeout: timeout(self.read_timeout, defaults.read_timeout),
            write_timeout: timeout(self.write_timeout, defaults.write_timeout),
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
            conn_limit: self.conn_limit.unwrap_or(0),
        }
    }
}

fn non_empty_path(path: Option<PathBuf>) -> Option<PathBuf> {
    path.filter(|p| !p.as_os_str().is_empty())
}

// ---------------------------------------------------------------------------------------------
// Value readers. Each checks a scalar while serde visits it, so that an error carries the key's
// path and the position of the value in the file.

/// A key that is present enables its section, even with no value (`grpc:`).
fn de_present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(
        Option::<T>::deserialize(deserializer)?.unwrap_or_default(),
    ))
}

/// A YAML scalar of any type.
enum Scalar {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    fn unexpected(&self) -> Unexpected<'_> {
        match self {
            Scalar::Null => Unexpected::Unit,
            Scalar::Bool(v) => Unexpected::Bool(*v),
            Scalar::Unsigned(v) => Unexpected::Unsigned(*v),
            Scalar::Signed(v) => Unexpected::Signed(*v),
            Scalar::Float(v) => Unexpected::Float(*v),
            Scalar::Str(s) => Unexpected::Str(s),
        }
    }
}

/// Why a scalar was refused.
enum Reject {
    /// Right type, wrong value.
    Value(Scalar),
    /// Wrong type.
    Type(Scalar),
    /// A message of our own.
    Custom(String),
}

/// Reads one scalar and converts it with `convert`; `Ok(None)` is an empty value.
struct ScalarVisitor<T> {
    expecting: &'static str,
    convert: fn(Scalar) -> Result<Option<T>, Reject>,
}

impl<T> ScalarVisitor<T> {
    fn finish<E: de::Error>(&self, value: Scalar) -> Result<Option<T>, E> {
        (self.convert)(value).map_err(|reject| match reject {
            Reject::Value(v) => E::invalid_value(v.unexpected(), &self.expecting),
            Reject::Type(v) => E::invalid_type(v.unexpected(), &self.expecting),
            Reject::Custom(message) => E::custom(message),
        })
    }
}

impl<'de, T> Visitor<'de> for ScalarVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        self.finish(Scalar::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        self.finish(Scalar::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        deserializer.deserialize_any(self)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Option<T>, E> {
        self.finish(Scalar::Bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<T>, E> {
        self.finish(Scalar::Unsigned(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<T>, E> {
        self.finish(Scalar::Signed(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<T>, E> {
        self.finish(Scalar::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<T>, E> {
        self.finish(Scalar::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Option<T>, E> {
        self.finish(Scalar::Str(v))
    }
}

fn read_scalar<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    expecting: &'static str,
    convert: fn(Scalar) -> Result<Option<T>, Reject>,
) -> Result<Option<T>, D::Error> {
    deserializer.deserialize_any(ScalarVisitor { expecting, convert })
}

const EXPECT_UINT: &str = "a non-negative integer (underscores allowed, as in 1_000_000)";

fn uint_value(value: Scalar) -> Result<Option<u64>, Reject> {
    match value {
        Scalar::Null => Ok(None),
        Scalar::Unsigned(v) => Ok(Some(v)),
        Scalar::Signed(v) => u64::try_from(v).map(Some).map_err(|_| Reject::Value(value)),
        // Go's YAML parser stores an integral float (1.073741824e+09) in an integer field.
        // In range and integral, so the conversion is exact.
        Scalar::Float(v) if v >= 0.0 && v.fract() == 0.0 && v < u64::MAX as f64 => {
            Ok(Some(v as u64))
        }
        Scalar::Float(_) => Err(Reject::Value(value)),
        Scalar::Bool(_) => Err(Reject::Type(value)),
        Scalar::Str(ref s) => match parse_yaml11_uint(s) {
            Some(v) => Ok(Some(v)),
            None => Err(Reject::Value(value)),
        },
    }
}

fn de_opt_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    read_scalar(deserializer, EXPECT_UINT, uint_value)
}

const EXPECT_CONN_LIMIT: &str =
    "a number of connections (0 or less: a share of the open-files limit)";

/// dskit's connection limits are signed: zero or less means no explicit limit.
fn conn_limit_value(value: Scalar) -> Result<Option<usize>, Reject> {
    let limit = match value {
        Scalar::Signed(v) if v <= 0 => return Ok(Some(0)),
        Scalar::Str(ref s) if s.trim().starts_with('-') => {
            match parse_yaml11_uint(&s.trim()[1..]) {
                Some(_) => return Ok(Some(0)),
                None => return Err(Reject::Value(value)),
            }
        }
        other => match uint_value(other)? {
            None => return Ok(None),
            Some(v) => v,
        },
    };
    usize::try_from(limit)
        .map(Some)
        .map_err(|_| Reject::Value(Scalar::Unsigned(limit)))
}

fn de_conn_limit<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    read_scalar(deserializer, EXPECT_CONN_LIMIT, conn_limit_value)
}

/// YAML 1.1 integers that YAML 1.2 reads as strings: digits with underscores, optionally with
/// a `0x`, `0o` or `0b` prefix.
fn parse_yaml11_uint(text: &str) -> Option<u64> {
    let text = text.trim();
    let text = text.strip_prefix('+').unwrap_or(text);
    let (digits, radix) = if let Some(rest) = text.strip_prefix("0x") {
        (rest, 16)
    } else if let Some(rest) = text.strip_prefix("0o") {
        (rest, 8)
    } else if let Some(rest) = text.strip_prefix("0b") {
        (rest, 2)
    } else {
        (text, 10)
    };
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() || digits.starts_with('+') {
        return None;
    }
    u64::from_str_radix(&digits, radix).ok()
}

const EXPECT_BOOL: &str = "a boolean (true or false)";

fn bool_value(value: Scalar) -> Result<Option<bool>, Reject> {
    match value {
        Scalar::Null => Ok(None),
        Scalar::Bool(v) => Ok(Some(v)),
        // YAML 1.1 booleans, which Go's YAML parser accepts.
        Scalar::Str(ref s) => match s.as_str() {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
                Ok(Some(true))
            }
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False"
            | "FALSE" => Ok(Some(false)),
            _ => Err(Reject::Value(value)),
        },
        Scalar::Unsigned(_) | Scalar::Signed(_) | Scalar::Float(_) => Err(Reject::Type(value)),
    }
}

fn de_opt_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    read_scalar(deserializer, EXPECT_BOOL, bool_value)
}

fn de_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(de_opt_bool(deserializer)?.unwrap_or(false))
}

const EXPECT_PORT: &str = "a port number from 0 to 65535";

fn port_value(value: Scalar) -> Result<Option<u16>, Reject> {
    let number = match value {
        Scalar::Null => return Ok(None),
        Scalar::Unsigned(v) => v,
        Scalar::Str(ref s) => match parse_yaml11_uint(s) {
            Some(v) => v,
            None => return Err(Reject::Value(value)),
        },
        Scalar::Signed(_) => return Err(Reject::Value(value)),
        Scalar::Float(_) | Scalar::Bool(_) => return Err(Reject::Type(value)),
    };
    u16::try_from(number)
        .map(Some)
        .map_err(|_| Reject::Value(Scalar::Unsigned(number)))
}

fn de_port<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u16>, D::Error> {
    read_scalar(deserializer, EXPECT_PORT, port_value)
}

const EXPECT_STRING: &str = "a string";

/// Any scalar as text, as Go's YAML parser reads a number into a string field.
fn string_value(value: Scalar) -> Result<Option<String>, Reject> {
    Ok(match value {
        Scalar::Null => None,
        Scalar::Str(s) => Some(s),
        Scalar::Bool(v) => Some(v.to_string()),
        Scalar::Unsigned(v) => Some(v.to_string()),
        Scalar::Signed(v) => Some(v.to_string()),
        Scalar::Float(v) => Some(v.to_string()),
    })
}

fn de_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(read_scalar(deserializer, EXPECT_STRING, string_value)?.unwrap_or_default())
}

const EXPECT_ENDPOINT: &str = "a listen address as host:port, such as 0.0.0.0:4317";

/// A listen address; an empty host (`:4317`) becomes `0.0.0.0`, as Go listens on every
/// interface then; an empty value means the default.
fn endpoint_value(value: Scalar) -> Result<Option<String>, Reject> {
    let Some(text) = string_value(value)? else {
        return Ok(None);
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let Some((host, port)) = trimmed.rsplit_once(':') else {
        return Err(Reject::Value(Scalar::Str(text)));
    };
    let bracketed = host.starts_with('[') && host.ends_with(']');
    // An IPv6 address needs brackets: `[::]:4317`.
    if port.parse::<u16>().is_err() || (host.contains(':') && !bracketed) {
        return Err(Reject::Value(Scalar::Str(text)));
    }
    if host.is_empty() {
        return Ok(Some(format!("0.0.0.0:{port}")));
    }
    Ok(Some(trimmed.to_owned()))
}

fn de_endpoint<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    read_scalar(deserializer, EXPECT_ENDPOINT, endpoint_value)
}

const EXPECT_LOG_LEVEL: &str = "one of debug, info, warn, error";

/// Tempo's levels; the value is kept in lower case.
fn log_level_value(value: Scalar) -> Result<Option<String>, Reject> {
    let Some(text) = string_value(value)? else {
        return Ok(None);
    };
    let level = text.to_ascii_lowercase();
    match level.as_str() {
        "debug" | "info" | "warn" | "error" => Ok(Some(level)),
        _ => Err(Reject::Value(Scalar::Str(text))),
    }
}

fn de_log_level<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    read_scalar(deserializer, EXPECT_LOG_LEVEL, log_level_value)
}

const EXPECT_BACKEND: &str = "one of local, s3, gcs, azure, memory";

fn backend_value(value: Scalar) -> Result<Option<StorageBackend>, Reject> {
    let Some(text) = string_value(value)? else {
        return Ok(None);
    };
    let backend = match text.as_str() {
        "local" | "filesystem" => StorageBackend::Local,
        "s3" => StorageBackend::S3,
        "gcs" => StorageBackend::Gcs,
        "azure" => StorageBackend::Azure,
        "memory" => StorageBackend::Memory,
        _ => return Err(Reject::Value(Scalar::Str(text))),
    };
    Ok(Some(backend))
}

fn de_backend<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<StorageBackend>, D::Error> {
    read_scalar(deserializer, EXPECT_BACKEND, backend_value)
}

const EXPECT_DURATION: &str = "a Go duration such as 5s, 1m30s or 336h";

fn duration_value(value: Scalar) -> Result<Option<Duration>, Reject> {
    let text = match value {
        Scalar::Null => return Ok(None),
        Scalar::Str(s) => s,
        // A bare number has no unit; `parse_go_duration` accepts only 0 and says so.
        Scalar::Unsigned(v) => v.to_string(),
        Scalar::Signed(v) => v.to_string(),
        Scalar::Float(v) => v.to_string(),
        Scalar::Bool(_) => return Err(Reject::Type(value)),
    };
    parse_go_duration(&text)
        .map(Some)
        .map_err(|e| Reject::Custom(e.to_string()))
}

fn de_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    read_scalar(deserializer, EXPECT_DURATION, duration_value)
}

const EXPECT_FSYNC: &str = "always, never, or a Go duration such as 100ms";

fn fsync_value(value: Scalar) -> Result<Option<FsyncPolicy>, Reject> {
    if let Scalar::Str(s) = &value {
        match s.as_str() {
            "always" => return Ok(Some(FsyncPolicy::Always)),
            "never" => return Ok(Some(FsyncPolicy::Never)),
            _ => {}
        }
    }
    match duration_value(value) {
        Ok(interval) => Ok(interval.map(FsyncPolicy::Interval)),
        Err(Reject::Custom(message)) => Err(Reject::Custom(format!(
            "expected {EXPECT_FSYNC}, got {message}"
        ))),
        Err(other) => Err(other),
    }
}

fn de_fsync<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<FsyncPolicy>, D::Error> {
    read_scalar(deserializer, EXPECT_FSYNC, fsync_value)
}

// ---------------------------------------------------------------------------------------------

/// Parses a Go duration string, as Go's `time.ParseDuration` does: a sequence of decimal
/// numbers, each with an optional fraction and a unit (`ns`, `us` or `µs`, `ms`, `s`, `m`,
/// `h`), as `300ms`, `1.5h` or `2h45m`. `0` alone needs no unit.
///
/// Unlike Go, a negative duration is an error, since no setting can use one.
pub(crate) fn parse_go_duration(text: &str) -> Result<Duration, ConfigError> {
    let fail = |reason: &str| ConfigError::InvalidDuration {
        value: text.to_owned(),
        reason: reason.to_owned(),
    };
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(fail("empty"));
    }
    let mut total: u128 = 0;
    let mut s = rest;
    while !s.is_empty() {
        // The integer part.
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after) = s.split_at(int_len);
        s = after;
        // The fraction.
        let mut frac_digits = "";
        if let Some(after_dot) = s.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            (frac_digits, s) = after_dot.split_at(frac_len);
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(fail("expected a number"));
        }
        // The unit: everything up to the next number.
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let (unit, after) = s.split_at(unit_len);
        s = after;
        let nanos_per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" if s.is_empty() && !rest.contains(|c: char| c.is_ascii_alphabetic()) => {
                return Err(fail(&format!(
                    "missing unit (write it as \"{rest}s\" for seconds, for example)"
                )));
            }
            "" => return Err(fail("missing unit")),
            other => return Err(fail(&format!("unknown unit {other:?}"))),
        };
        // Go's maximum is about 292 years; more digits than that are an overflow anyway.
        const MAX_NANOS: u128 = i64::MAX as u128;
        let too_large = || fail("too large");
        if int_digits.len() > 20 {
            return Err(too_large());
        }
        let int_value: u128 = if int_digits.is_empty() {
            0
        } else {
            int_digits.parse().map_err(|_| too_large())?
        };
        let mut part = int_value
            .checked_mul(nanos_per_unit)
            .ok_or_else(too_large)?;
        // Digits past the 18th cannot change a result in nanoseconds of a unit of at most an
        // hour (3.6e12 ns), as Go also stops reading them.
        let frac_digits = &frac_digits[..frac_digits.len().min(18)];
        if !frac_digits.is_empty() {
            let frac_value: u128 = frac_digits.parse().map_err(|_| too_large())?;
            let scale = 10u128.pow(frac_digits.len() as u32);
            part += frac_value * nanos_per_unit / scale;
        }
        total = total.checked_add(part).ok_or_else(too_large)?;
        if total > MAX_NANOS {
            return Err(too_large());
        }
    }
    if negative && total != 0 {
        return Err(fail("negative durations are not allowed"));
    }
    // `total` is at most `i64::MAX`, so it fits in a `u64`.
    Ok(Duration::from_nanos(
        u64::try_from(total).map_err(|_| fail("too large"))?,
    ))
}

/// Replaces environment variable references, as Tempo does with `-config.expand-env=true`:
/// `${VAR}` and `$VAR` become the variable's value (empty when unset), `${VAR:-default}` uses
/// `default` when the variable is unset or empty, `${VAR-default}` only when it is unset, and
/// `$$` is a literal `$`. Defaults may themselves hold references. Any other use of `$` is
/// left as it is.
pub(crate) fn expand_env(text: &str) -> String {
    expand_with(text, &|name| std::env::var(name).ok())
}

fn expand_with(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner_and_tail) = after.strip_prefix('{') {
            match matching_brace(inner_and_tail) {
                Some(close) => {
                    let inner = &inner_and_tail[..close];
                    match expand_braced(inner, lookup) {
                        Some(value) => out.push_str(&value),
                        None => {
                            out.push_str("${");
                            out.push_str(inner);
                            out.push('}');
                        }
                    }
                    rest = &inner_and_tail[close + 1..];
                }
                None => {
                    // Unterminated: keep the rest as written.
                    out.push('$');
                    rest = after;
                }
            }
        } else {
            let name_len = identifier_len(after);
            if name_len == 0 {
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..name_len]).unwrap_or_default());
            }
            rest = &after[name_len..];
        }
    }
    out.push_str(rest);
    out
}

/// Length of the variable name at the start of `s`: a letter or `_`, then letters, digits, `_`.
fn identifier_len(s: &str) -> usize {
    let mut len = 0;
    for (i, c) in s.char_indices() {
        let ok = c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
        if !ok {
            break;
        }
        len = i + c.len_utf8();
    }
    len
}

/// Index of the `}` closing a `${` whose content starts `s`, allowing nested `${...}`.
fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' if i > 0 && bytes[i - 1] == b'$' => depth += 1,
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The value of `${inner}`, or `None` when `inner` is not a form we expand.
fn expand_braced(inner: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let name_len = identifier_len(inner);
    if name_len == 0 {
        return None;
    }
    let (name, op) = inner.split_at(name_len);
    let value = lookup(name);
    if op.is_empty() {
        return Some(value.unwrap_or_default());
    }
    if let Some(default) = op.strip_prefix(":-") {
        return Some(match value {
            Some(v) if !v.is_empty() => v,
            _ => expand_with(default, lookup),
        });
    }
    // Any other operator (`:=`, `+`, ...) is left as written.
    let default = op.strip_prefix('-')?;
    Some(value.unwrap_or_else(|| expand_with(default, lookup)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
        include_str!("../tests/fixtures/config/tempo-2x-docker-compose.yaml");

    #[test]
    fn tempo_2x_docker_compose_config() {
        let (config, unknown) = parse(DOCKER_COMPOSE_2X);
        assert_eq!(
            unknown,
            [
                "stream_over_http_enabled",
                "query_frontend.search.duration_slo",
                "query_frontend.search.throughput_bytes_slo",
                "query_frontend.search.metadata_slo",
                "query_frontend.trace_by_id",
                "metrics_generator",
                "overrides.defaults.metrics_generator",
            ]
        );
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
        let (config, unknown) = parse(include_str!(
            "../tests/fixtures/config/tempo-3x-single-binary.yaml"
        ));
        assert_eq!(
            unknown,
            [
                "stream_over_http_enabled",
                "metrics_generator",
                "query_frontend.mcp_server",
                "overrides.defaults.metrics_generator",
                "usage_report"
            ]
        );
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
            "../tests/fixtures/config/linux-getting-started.yaml"
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
        let (config, unknown) = parse(include_str!("../tests/fixtures/config/tempo-2x-local.yaml"));
        assert_eq!(
            unknown,
            [
                "distributor.receivers.jaeger",
                "distributor.receivers.zipkin",
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
                ..Config::default()
            }
        );
    }

    #[test]
    fn live_store_config_wins_over_ingester() {
        let (config, unknown) = parse(include_str!("../tests/fixtures/config/live-store.yaml"));
        assert_eq!(
            unknown,
            [
                "server.grpc_listen_port",
                "live_store.max_live_traces_bytes",
                "distributor.receivers.otlp.protocols.http.cors",
                "storage.trace.s3.part_size",
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
        assert_eq!(unknown, ["distributor.receivers.zipkin"]);
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
             rate_limit_bytes: 5\n  per_tenant_override_config: /conf/o.yaml\n\
             storage:\n  trace:\n    wal:\n      ingestion_time_range_slack: 30s\n\
             compactor:\n  compaction:\n    compacted_block_retention: 1h\n\
             query_frontend:\n  search:\n    max_query_bytes: 1048576\n",
        );
        assert_eq!(unknown, ["overrides.defaults.ingestion"]);
        assert_eq!(config.max_bytes_per_trace, 1000);
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
             ingestion_rate_limit_bytes: 5\n",
        );
        assert_eq!(unknown, ["overrides.ingestion_rate_limit_bytes"]);
        assert_eq!(config.max_bytes_per_trace, 0);
        assert_eq!(config.block_retention, d.block_retention);
    }

    #[test]
    fn tenant_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overrides.yaml");
        std::fs::write(
            &path,
            "overrides:\n  team-a:\n    global:\n      max_bytes_per_trace: 100\n    \
             ingestion:\n      rate_limit_bytes: 1\n  team-b:\n    max_bytes_per_trace: 200\n    \
             block_retention: 24h\n  \"*\":\n    compaction:\n      block_retention: 1h\n",
        )
        .unwrap();
        let (limits, unknown) = load_tenant_overrides(&path).unwrap();
        assert_eq!(unknown, ["overrides.team-a.ingestion"]);
        assert_eq!(limits["team-a"].max_bytes_per_trace, Some(100));
        assert_eq!(limits["team-a"].block_retention, None);
        assert_eq!(limits["team-b"].max_bytes_per_trace, Some(200));
        assert_eq!(limits["team-b"].block_retention, Some(secs(24 * 3600)));
        assert_eq!(limits["*"].block_retention, Some(secs(3600)));
        std::fs::write(&path, "overrides:\n  a/b:\n    max_bytes_per_trace: 1\n").unwrap();
        let err = load_tenant_overrides(&path).unwrap_err().to_string();
        assert!(err.starts_with("overrides.a/b: invalid tenant ID"), "{err}");
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
        assert_eq!(unknown.len(), 7);
        let (expanded, _) = Config::load_expanding_env(&path).unwrap();
        assert_eq!(expanded, config);
        let err = Config::load(&dir.path().join("missing.yaml")).unwrap_err();
        assert!(err.to_string().starts_with("reading config file "), "{err}");
        assert!(err.to_string().contains("missing.yaml"), "{err}");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn go_durations() {
        let ok: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("+5s", secs(5)),
            ("0s", Duration::ZERO),
            ("5s", secs(5)),
            ("300ms", Duration::from_millis(300)),
            ("1.5h", secs(5400)),
            ("2h45m", secs(2 * 3600 + 45 * 60)),
            ("336h", secs(336 * 3600)),
            ("336h0m0s", secs(336 * 3600)),
            ("1h2m3s4ms5us6ns", Duration::new(3723, 4_005_006)),
            ("10µs", Duration::from_micros(10)),
            ("10μs", Duration::from_micros(10)),
            ("10us", Duration::from_micros(10)),
            (".5s", Duration::from_millis(500)),
            ("5.s", secs(5)),
            ("1.0000000001s", Duration::new(1, 0)),
            (
                "0.333333333333333333333h",
                Duration::from_nanos(1_199_999_999_999),
            ),
            (
                "2562047h47m16.854775807s",
                Duration::from_nanos(i64::MAX as u64),
            ),
        ];
        for (text, expected) in ok {
            assert_eq!(parse_go_duration(text).unwrap(), *expected, "{text}");
        }
        let bad: &[(&str, &str)] = &[
            ("", "empty"),
            ("5", "missing unit"),
            ("1h5", "missing unit"),
            ("5x", r#"unknown unit "x""#),
            ("5 s", r#"unknown unit " s""#),
            ("s", "expected a number"),
            (".s", "expected a number"),
            ("1h.", "expected a number"),
            ("-5s", "negative durations are not allowed"),
            ("2562047h47m16.854775808s", "too large"),
            ("99999999999999999999999h", "too large"),
        ];
        for (text, reason) in bad {
            let err = parse_go_duration(text).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid duration {text:?}: {reason}")),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn integers_and_booleans_as_go_yaml_reads_them() {
        assert_eq!(parse_yaml11_uint("1_000_000"), Some(1_000_000));
        assert_eq!(parse_yaml11_uint("0x10"), Some(16));
        assert_eq!(parse_yaml11_uint("0b101"), Some(5));
        assert_eq!(parse_yaml11_uint("+7"), Some(7));
        assert_eq!(parse_yaml11_uint("-7"), None);
        assert_eq!(parse_yaml11_uint("_"), None);
        assert_eq!(parse_yaml11_uint("1e3"), None);
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
    fn environment_expansion() {
        let lookup = |name: &str| match name {
            "HOST" => Some("tempo".to_owned()),
            "EMPTY" => Some(String::new()),
            "PORT" => Some("4317".to_owned()),
            _ => None,
        };
        let expand = |text: &str| expand_with(text, &lookup);
        assert_eq!(expand("endpoint: ${HOST}:${PORT}"), "endpoint: tempo:4317");
        assert_eq!(expand("endpoint: $HOST:$PORT"), "endpoint: tempo:4317");
        assert_eq!(expand("a: ${UNSET}."), "a: .");
        assert_eq!(expand("a: ${UNSET:-fallback}"), "a: fallback");
        assert_eq!(expand("a: ${EMPTY:-fallback}"), "a: fallback");
        assert_eq!(expand("a: ${EMPTY-fallback}"), "a: ");
        assert_eq!(expand("a: ${UNSET-fallback}"), "a: fallback");
        assert_eq!(expand("a: ${HOST:-fallback}"), "a: tempo");
        assert_eq!(expand("a: ${UNSET:-${HOST}:${PORT}}!"), "a: tempo:4317!");
        assert_eq!(expand("a: ${UNSET:-x:-y}"), "a: x:-y");
        assert_eq!(expand("price: $$5 and $$HOST"), "price: $5 and $HOST");
        assert_eq!(
            expand("a: $ b $1 ${} ${9X} ${HOST:+alt}"),
            "a: $ b $1 ${} ${9X} ${HOST:+alt}"
        );
        assert_eq!(expand("a: ${HOST"), "a: ${HOST");
        assert_eq!(expand("ünïcode: ${HOST} ✓ $"), "ünïcode: tempo ✓ $");
        // Expansion happens before parsing.
        let (config, _) = parse(&expand("server:\n  http_listen_port: ${HTTP_PORT:-3300}\n"));
        assert_eq!(config.http_listen_port, 3300);
    }
}
