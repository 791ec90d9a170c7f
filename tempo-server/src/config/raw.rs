//! raw: what does the file say, key by key?
//!
//! The configuration file as written: serde structs that mirror Tempo's keys, every section
//! optional, every value checked while it is read (with the readers of `value`), so that an
//! error carries the key's path and position. Deciding what the keys mean together (defaults,
//! which of two spellings wins) is the resolution into `Config`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use tempo_core::FsyncPolicy;

use super::error::ConfigError;
use super::generator::{RawGeneratorLimits, RawMetricsGenerator, Text};
use super::value::{
    Reject, Scalar, de_bool, de_conn_limit, de_duration, de_endpoint, de_fsync, de_log_level,
    de_opt_bool, de_opt_u64, de_port, de_present, de_string, read_scalar, string_value,
};

/// Parses YAML text into `T`, and returns it with the dotted paths of the keys that `T` has
/// no place for (the keys without effect here), in file order, each once. An empty document
/// (no text, only comments) is `T::default()`.
pub(super) fn from_yaml<T: DeserializeOwned + Default>(
    text: &str,
) -> Result<(T, Vec<String>), ConfigError> {
    let mut unknown: Vec<String> = Vec::new();
    let raw: Option<T> =
        serde_ignored::deserialize(serde_norway::Deserializer::from_str(text), |path| {
            let dotted = dotted_path(&path);
            if !unknown.contains(&dotted) {
                unknown.push(dotted);
            }
        })
        .map_err(ConfigError::from_yaml)?;
    Ok((raw.unwrap_or_default(), unknown))
}

/// The text of the file at `path`.
pub(super) fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
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

/// Tempo's `storage.trace.s3` settings that this server knows.
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
    /// Session token of temporary credentials.
    #[serde(deserialize_with = "de_string")]
    pub(crate) session_token: String,
    /// Use plain HTTP instead of HTTPS.
    #[serde(deserialize_with = "de_bool")]
    pub(crate) insecure: bool,
    /// Prefix of every object name, so that several stores can share a bucket.
    #[serde(deserialize_with = "de_string")]
    pub(crate) prefix: String,
    /// Address objects as `endpoint/bucket/key` instead of `bucket.endpoint/key`.
    #[serde(deserialize_with = "de_bool")]
    pub(crate) forcepathstyle: bool,
    /// Objects larger than this are uploaded in parts this large (bytes).
    #[serde(deserialize_with = "de_opt_u64")]
    pub(crate) part_size: Option<u64>,
}

/// Tempo's `storage.trace.gcs` settings that this server knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, expecting = "a mapping of GCS settings")]
pub(crate) struct GcsConfig {
    /// Bucket name.
    #[serde(deserialize_with = "de_string")]
    pub(crate) bucket_name: String,
    /// Prefix of every object name.
    #[serde(deserialize_with = "de_string")]
    pub(crate) prefix: String,
}

/// Tempo's `storage.trace.azure` settings that this server knows.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, expecting = "a mapping of Azure settings")]
pub(crate) struct AzureConfig {
    /// Container name.
    #[serde(deserialize_with = "de_string")]
    pub(crate) container_name: String,
    /// Storage account name.
    #[serde(deserialize_with = "de_string")]
    pub(crate) storage_account_name: String,
    /// Storage account key; empty to use the environment's credentials.
    #[serde(deserialize_with = "de_string")]
    pub(crate) storage_account_key: String,
    /// Endpoint suffix (`blob.core.windows.net`).
    #[serde(deserialize_with = "de_string")]
    pub(crate) endpoint_suffix: String,
    /// Prefix of every object name.
    #[serde(deserialize_with = "de_string")]
    pub(crate) prefix: String,
}

impl fmt::Debug for AzureConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureConfig")
            .field("container_name", &self.container_name)
            .field("storage_account_name", &self.storage_account_name)
            .field(
                "storage_account_key",
                &if self.storage_account_key.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("endpoint_suffix", &self.endpoint_suffix)
            .field("prefix", &self.prefix)
            .finish()
    }
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
            .field(
                "session_token",
                &if self.session_token.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("insecure", &self.insecure)
            .field("prefix", &self.prefix)
            .field("forcepathstyle", &self.forcepathstyle)
            .field("part_size", &self.part_size)
            .finish()
    }
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of Tempo configuration sections")]
pub(super) struct RawRoot {
    pub(super) target: Option<String>,
    #[serde(deserialize_with = "de_opt_bool")]
    pub(super) multitenancy_enabled: Option<bool>,
    #[serde(deserialize_with = "de_opt_bool")]
    pub(super) stream_over_http_enabled: Option<bool>,
    #[serde(deserialize_with = "de_opt_bool")]
    pub(super) auth_enabled: Option<bool>,
    pub(super) server: RawServer,
    pub(super) query_frontend: RawQueryFrontend,
    pub(super) distributor: Option<RawDistributor>,
    pub(super) ingester: RawIngester,
    pub(super) live_store: RawLiveStore,
    pub(super) compactor: RawCompactor,
    pub(super) backend_worker: RawCompactor,
    pub(super) storage: RawStorage,
    pub(super) overrides: RawOverrides,
    pub(super) metrics_generator: RawMetricsGenerator,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of server settings")]
pub(super) struct RawServer {
    pub(super) http_listen_address: Option<String>,
    #[serde(deserialize_with = "de_port")]
    pub(super) http_listen_port: Option<u16>,
    #[serde(deserialize_with = "de_log_level")]
    pub(super) log_level: Option<String>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) graceful_shutdown_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) http_server_read_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) http_server_read_header_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) http_server_write_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) http_server_idle_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_conn_limit")]
    pub(super) http_listen_conn_limit: Option<usize>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of query-frontend settings")]
pub(super) struct RawQueryFrontend {
    #[serde(deserialize_with = "de_opt_bool")]
    pub(super) multi_tenant_queries_enabled: Option<bool>,
    pub(super) search: RawFrontendSearch,
    pub(super) metrics: RawFrontendMetrics,
    #[serde(deserialize_with = "de_duration")]
    pub(super) query_end_cutoff: Option<Duration>,
}

/// Tempo's `query_frontend.metrics`: the limits of TraceQL metrics queries.
#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of metrics query settings")]
pub(super) struct RawFrontendMetrics {
    #[serde(deserialize_with = "de_duration")]
    pub(super) max_duration: Option<Duration>,
    #[serde(deserialize_with = "de_opt_u64")]
    pub(super) max_intervals: Option<u64>,
    #[serde(deserialize_with = "de_opt_u64")]
    pub(super) max_exemplars: Option<u64>,
    #[serde(deserialize_with = "de_opt_u64")]
    pub(super) max_response_series: Option<u64>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of search settings")]
pub(super) struct RawFrontendSearch {
    #[serde(deserialize_with = "de_opt_u64")]
    pub(super) max_query_bytes: Option<u64>,
}

/// Tempo's `overrides` section: its current shape (`defaults`, with `global` and `compaction`
/// limits) or the legacy flat one, and the tenant-specific file.
#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of overrides")]
pub(super) struct RawOverrides {
    pub(super) defaults: RawLimits,
    pub(super) per_tenant_override_config: Option<PathBuf>,
    #[serde(deserialize_with = "de_opt_u64")]
    pub(super) max_bytes_per_trace: Option<u64>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) block_retention: Option<Duration>,
    pub(super) metrics_generator_processors: Option<Vec<Text>>,
    #[serde(deserialize_with = "de_opt_u64")]
    pub(super) metrics_generator_max_active_series: Option<u64>,
    pub(super) metrics_generator_trace_id_label_name: Option<Text>,
    #[serde(deserialize_with = "de_opt_u64")]
    pub(super) ingestion_max_attribute_bytes: Option<u64>,
}

/// The limits of a tenant (or the defaults), in either shape of Tempo's overrides:
/// `global.max_bytes_per_trace`, `compaction.block_retention` and
/// `metrics_generator.{processors, max_active_series, trace_id_label_name}`, or the legacy
/// flat keys (`max_bytes_per_trace`, `metrics_generator_processors`, ...).
#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of limits")]
pub(super) struct RawLimits {
    pub(super) global: RawGlobalLimits,
    pub(super) compaction: RawCompactionLimits,
    pub(super) metrics_generator: RawGeneratorLimits,
    pub(super) ingestion: RawIngestionLimits,
    #[serde(deserialize_with = "de_opt_u64")]
    pub(super) max_bytes_per_trace: Option<u64>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) block_retention: Option<Duration>,
    pub(super) metrics_generator_processors: Option<Vec<Text>>,
    #[serde(deserialize_with = "de_opt_u64")]
    pub(super) metrics_generator_max_active_series: Option<u64>,
    pub(super) metrics_generator_trace_id_label_name: Option<Text>,
    #[serde(deserialize_with = "de_opt_u64")]
    pub(super) ingestion_max_attribute_bytes: Option<u64>,
}

impl RawLimits {
    /// `global.max_bytes_per_trace`, or the legacy flat key.
    pub(super) fn max_bytes_per_trace(&self) -> Option<u64> {
        self.global.max_bytes_per_trace.or(self.max_bytes_per_trace)
    }

    /// `ingestion.max_attribute_bytes`, or the legacy flat key.
    pub(super) fn max_attribute_bytes(&self) -> Option<u64> {
        self.ingestion
            .max_attribute_bytes
            .or(self.ingestion_max_attribute_bytes)
    }

    /// A retention of 0 means the default, as in Tempo.
    pub(super) fn block_retention(&self) -> Option<Duration> {
        self.compaction
            .block_retention
            .or(self.block_retention)
            .filter(|d| !d.is_zero())
    }

    /// `metrics_generator.processors`, or the legacy flat key, with the key it came from
    /// under `at` (`overrides.defaults`, `overrides.<tenant>`).
    pub(super) fn generator_processors(&mut self, at: &str) -> Option<(Vec<Text>, String)> {
        if let Some(names) = self.metrics_generator.processors.take() {
            return Some((names, format!("{at}.metrics_generator.processors")));
        }
        self.metrics_generator_processors
            .take()
            .map(|names| (names, format!("{at}.metrics_generator_processors")))
    }

    /// `metrics_generator.max_active_series`, or the legacy flat key.
    pub(super) fn generator_max_active_series(&self) -> Option<u64> {
        self.metrics_generator
            .max_active_series
            .or(self.metrics_generator_max_active_series)
    }

    /// `metrics_generator.trace_id_label_name`, or the legacy flat key, with the key it
    /// came from under `at`.
    pub(super) fn generator_trace_id_label_name(&mut self, at: &str) -> Option<(Text, String)> {
        if let Some(name) = self.metrics_generator.trace_id_label_name.take() {
            return Some((name, format!("{at}.metrics_generator.trace_id_label_name")));
        }
        self.metrics_generator_trace_id_label_name
            .take()
            .map(|name| (name, format!("{at}.metrics_generator_trace_id_label_name")))
    }
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of global limits")]
pub(super) struct RawGlobalLimits {
    #[serde(deserialize_with = "de_opt_u64")]
    pub(super) max_bytes_per_trace: Option<u64>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of ingestion limits")]
pub(super) struct RawIngestionLimits {
    #[serde(deserialize_with = "de_opt_u64")]
    pub(super) max_attribute_bytes: Option<u64>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of compaction limits")]
pub(super) struct RawCompactionLimits {
    #[serde(deserialize_with = "de_duration")]
    pub(super) block_retention: Option<Duration>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of distributor settings")]
pub(super) struct RawDistributor {
    pub(super) receivers: Option<RawReceivers>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of receivers")]
pub(super) struct RawReceivers {
    #[serde(deserialize_with = "de_present")]
    pub(super) otlp: Option<RawOtlp>,
    #[serde(deserialize_with = "de_present")]
    pub(super) jaeger: Option<RawJaeger>,
    /// The OpenTelemetry Collector's Zipkin receiver: an HTTP server's settings.
    #[serde(deserialize_with = "de_present")]
    pub(super) zipkin: Option<RawHttp>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of Jaeger receiver settings")]
pub(super) struct RawJaeger {
    pub(super) protocols: Option<RawJaegerProtocols>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of Jaeger protocols")]
pub(super) struct RawJaegerProtocols {
    #[serde(deserialize_with = "de_present")]
    pub(super) grpc: Option<RawGrpc>,
    #[serde(deserialize_with = "de_present")]
    pub(super) thrift_http: Option<RawHttp>,
    #[serde(deserialize_with = "de_present")]
    pub(super) thrift_compact: Option<RawUdp>,
    #[serde(deserialize_with = "de_present")]
    pub(super) thrift_binary: Option<RawUdp>,
}

/// A UDP receiver (the Collector's `queue_size`, `max_packet_size`, `workers` and
/// `socket_buffer_size` are reported: datagrams are read one at a time, whole).
#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of UDP receiver settings")]
pub(super) struct RawUdp {
    #[serde(deserialize_with = "de_endpoint")]
    pub(super) endpoint: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of OTLP receiver settings")]
pub(super) struct RawOtlp {
    pub(super) protocols: Option<RawProtocols>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of OTLP protocols")]
pub(super) struct RawProtocols {
    #[serde(deserialize_with = "de_present")]
    pub(super) grpc: Option<RawGrpc>,
    #[serde(deserialize_with = "de_present")]
    pub(super) http: Option<RawHttp>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of OTLP gRPC settings")]
pub(super) struct RawGrpc {
    #[serde(deserialize_with = "de_endpoint")]
    pub(super) endpoint: Option<String>,
    #[serde(deserialize_with = "de_opt_u64")]
    pub(super) max_recv_msg_size_mib: Option<u64>,
    pub(super) keepalive: RawGrpcKeepalive,
    // Our extensions: the Collector's gRPC server has no such keys.
    #[serde(deserialize_with = "de_duration")]
    pub(super) connection_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) read_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) write_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_conn_limit")]
    pub(super) conn_limit: Option<usize>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of gRPC keepalive settings")]
pub(super) struct RawGrpcKeepalive {
    pub(super) server_parameters: RawGrpcServerParameters,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of gRPC keepalive server parameters")]
pub(super) struct RawGrpcServerParameters {
    #[serde(deserialize_with = "de_duration")]
    pub(super) max_connection_idle: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) max_connection_age: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) max_connection_age_grace: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) time: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) timeout: Option<Duration>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of OTLP HTTP settings")]
pub(super) struct RawHttp {
    #[serde(deserialize_with = "de_endpoint")]
    pub(super) endpoint: Option<String>,
    #[serde(deserialize_with = "de_opt_u64")]
    pub(super) max_request_body_size: Option<u64>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) read_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) read_header_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) write_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) idle_timeout: Option<Duration>,
    // Our extension: the Collector's HTTP server has no connection limit.
    #[serde(deserialize_with = "de_conn_limit")]
    pub(super) conn_limit: Option<usize>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of ingester settings")]
pub(super) struct RawIngester {
    #[serde(deserialize_with = "de_duration")]
    pub(super) trace_idle_period: Option<Duration>,
    #[serde(deserialize_with = "de_opt_u64")]
    pub(super) max_block_bytes: Option<u64>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) max_block_duration: Option<Duration>,
    // Accepted without effect.
    #[serde(deserialize_with = "de_duration", rename = "complete_block_timeout")]
    _complete_block_timeout: Option<Duration>,
    #[serde(deserialize_with = "de_duration", rename = "flush_check_period")]
    _flush_check_period: Option<Duration>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of live-store settings")]
pub(super) struct RawLiveStore {
    #[serde(deserialize_with = "de_duration")]
    pub(super) max_trace_idle: Option<Duration>,
    #[serde(deserialize_with = "de_opt_u64")]
    pub(super) max_block_bytes: Option<u64>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) max_block_duration: Option<Duration>,
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
pub(super) struct RawCompactor {
    pub(super) compaction: RawCompaction,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of compaction settings")]
pub(super) struct RawCompaction {
    #[serde(deserialize_with = "de_duration")]
    pub(super) block_retention: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) compaction_window: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) compacted_block_retention: Option<Duration>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of storage settings")]
pub(super) struct RawStorage {
    pub(super) trace: RawTraceStorage,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of trace storage settings")]
pub(super) struct RawTraceStorage {
    #[serde(deserialize_with = "de_backend")]
    pub(super) backend: Option<StorageBackend>,
    pub(super) local: RawPath,
    pub(super) wal: RawWal,
    pub(super) s3: S3Config,
    pub(super) gcs: GcsConfig,
    pub(super) azure: AzureConfig,
    #[serde(deserialize_with = "de_duration")]
    pub(super) blocklist_poll: Option<Duration>,
    // Our extensions: the other servers writing the same bucket, whose heads queries ask.
    pub(super) peers: Option<Vec<String>>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) peer_timeout: Option<Duration>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping with a path")]
pub(super) struct RawPath {
    pub(super) path: Option<PathBuf>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of write-ahead log settings")]
pub(super) struct RawWal {
    pub(super) path: Option<PathBuf>,
    #[serde(deserialize_with = "de_fsync")]
    pub(super) fsync: Option<FsyncPolicy>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) ingestion_time_range_slack: Option<Duration>,
}
