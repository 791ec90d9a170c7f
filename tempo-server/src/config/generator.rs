//! generator: which series are derived from spans, and where are they sent?
//!
//! Tempo's `metrics_generator` block, read into [`GeneratorSettings`]: the processors'
//! settings (`processor.span_metrics`, `processor.service_graphs`), the registry's
//! (`registry`: collection interval, staleness, external labels, label lengths) and the
//! remote-write endpoints (`storage.remote_write`, Prometheus' own `remote_write` entries).
//! Which processors run is not said here but in the overrides, per tenant, as in Tempo
//! (`overrides.defaults.metrics_generator.processors`, or the legacy
//! `overrides.metrics_generator_processors`): none by default.
//!
//! Keys of Tempo's that have no equivalent here (its `ring`, the local-blocks processor and
//! its `traces_storage`, the generator's own WAL under `storage.path` and `storage.wal`) are
//! accepted without a word; keys that would change what is generated or sent and are not
//! supported (`dimension_mappings`, `enable_instance_label`,
//! `enable_tracestate_span_multiplier`, a remote write's `tls_config`, `oauth2`, `sigv4`,
//! `write_relabel_configs`, ...) are reported, as every key without effect is.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tempo_core::generator::{
    AttributeMatch, FilterPolicy, GeneratorConfig, MatchType, PolicyMatch, Processors,
};

use super::error::ConfigError;
use super::value::{de_duration, de_opt_bool, de_opt_u64, de_string};

/// Any scalar read as text, as Go's YAML parser reads a number into a string field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub(super) struct Text(#[serde(deserialize_with = "de_string")] pub(super) String);

fn texts(values: Vec<Text>) -> Vec<String> {
    values.into_iter().map(|t| t.0).collect()
}

/// Tempo's `metrics_generator` block.
#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of metrics generator settings")]
pub(super) struct RawMetricsGenerator {
    processor: RawProcessor,
    registry: RawRegistry,
    storage: RawGeneratorStorage,
    #[serde(deserialize_with = "de_duration")]
    metrics_ingestion_time_range_slack: Option<Duration>,
    // Accepted without effect: this server is one process, its generator has no ring, and
    // TraceQL metrics run on the store rather than on the generator's local blocks.
    #[serde(rename = "ring")]
    _ring: Option<serde_norway::Value>,
    #[serde(rename = "traces_storage")]
    _traces_storage: Option<serde_norway::Value>,
    #[serde(rename = "traces_query_storage")]
    _traces_query_storage: Option<serde_norway::Value>,
    #[serde(rename = "query_timeout")]
    _query_timeout: Option<serde_norway::Value>,
    #[serde(rename = "override_ring_key")]
    _override_ring_key: Option<serde_norway::Value>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of processor settings")]
pub(super) struct RawProcessor {
    span_metrics: RawSpanMetrics,
    service_graphs: RawServiceGraphs,
    // Accepted without effect: TraceQL metrics need no processor here.
    #[serde(rename = "local_blocks")]
    _local_blocks: Option<serde_norway::Value>,
    #[serde(rename = "host_info")]
    _host_info: Option<serde_norway::Value>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of span metrics settings")]
struct RawSpanMetrics {
    histogram_buckets: Option<Vec<f64>>,
    dimensions: Option<Vec<Text>>,
    intrinsic_dimensions: RawIntrinsicDimensions,
    filter_policies: Option<Vec<RawFilterPolicy>>,
    #[serde(deserialize_with = "de_opt_bool")]
    enable_target_info: Option<bool>,
    target_info_excluded_dimensions: Option<Vec<Text>>,
    span_multiplier_key: Option<Text>,
    // Reported when present: read, but not supported.
    dimension_mappings: Option<serde_norway::Value>,
    enable_instance_label: Option<serde_norway::Value>,
    enable_tracestate_span_multiplier: Option<serde_norway::Value>,
}

#[derive(Default, Deserialize)]
#[serde(
    default,
    expecting = "a mapping of intrinsic dimensions to true or false"
)]
struct RawIntrinsicDimensions {
    #[serde(deserialize_with = "de_opt_bool")]
    service: Option<bool>,
    #[serde(deserialize_with = "de_opt_bool")]
    span_name: Option<bool>,
    #[serde(deserialize_with = "de_opt_bool")]
    span_kind: Option<bool>,
    #[serde(deserialize_with = "de_opt_bool")]
    status_code: Option<bool>,
    #[serde(deserialize_with = "de_opt_bool")]
    status_message: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of service graphs settings")]
struct RawServiceGraphs {
    #[serde(deserialize_with = "de_duration")]
    wait: Option<Duration>,
    #[serde(deserialize_with = "de_opt_u64")]
    max_items: Option<u64>,
    // Accepted without effect: edges are paired on the ingest path, not by workers.
    #[serde(deserialize_with = "de_opt_u64", rename = "workers")]
    _workers: Option<u64>,
    histogram_buckets: Option<Vec<f64>>,
    dimensions: Option<Vec<Text>>,
    #[serde(deserialize_with = "de_opt_bool")]
    enable_client_server_prefix: Option<bool>,
    #[serde(deserialize_with = "de_opt_bool")]
    enable_messaging_system_latency_histogram: Option<bool>,
    #[serde(deserialize_with = "de_opt_bool")]
    enable_virtual_node_label: Option<bool>,
    peer_attributes: Option<Vec<Text>>,
    database_name_attributes: Option<Vec<Text>>,
    span_multiplier_key: Option<Text>,
    filter_policies: Option<Vec<RawFilterPolicy>>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a filter policy (include, include_any, exclude)")]
struct RawFilterPolicy {
    include: Option<RawPolicyMatch>,
    include_any: Option<RawPolicyMatch>,
    exclude: Option<RawPolicyMatch>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping with match_type and attributes")]
struct RawPolicyMatch {
    #[serde(deserialize_with = "de_string")]
    match_type: String,
    attributes: Vec<RawAttribute>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping with key and value")]
struct RawAttribute {
    #[serde(deserialize_with = "de_string")]
    key: String,
    #[serde(deserialize_with = "de_string")]
    value: String,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of registry settings")]
struct RawRegistry {
    #[serde(deserialize_with = "de_duration")]
    collection_interval: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    stale_duration: Option<Duration>,
    external_labels: BTreeMap<String, Text>,
    #[serde(deserialize_with = "de_string")]
    inject_tenant_id_as: String,
    #[serde(deserialize_with = "de_opt_u64")]
    max_label_name_length: Option<u64>,
    #[serde(deserialize_with = "de_opt_u64")]
    max_label_value_length: Option<u64>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of generator storage settings")]
struct RawGeneratorStorage {
    remote_write: Vec<RawRemoteWrite>,
    #[serde(deserialize_with = "de_duration")]
    remote_write_flush_deadline: Option<Duration>,
    #[serde(deserialize_with = "de_opt_bool")]
    remote_write_add_org_id_header: Option<bool>,
    // Accepted without effect: series are sent from memory, there is no generator WAL.
    #[serde(rename = "path")]
    _path: Option<serde_norway::Value>,
    #[serde(rename = "wal")]
    _wal: Option<serde_norway::Value>,
}

/// One of Prometheus' `remote_write` entries.
#[derive(Default, Deserialize)]
#[serde(
    default,
    expecting = "a Prometheus remote_write entry (url, headers, ...)"
)]
struct RawRemoteWrite {
    #[serde(deserialize_with = "de_string")]
    url: String,
    #[serde(deserialize_with = "de_string")]
    name: String,
    headers: BTreeMap<String, Text>,
    #[serde(deserialize_with = "de_opt_bool")]
    send_exemplars: Option<bool>,
    #[serde(deserialize_with = "de_duration")]
    remote_timeout: Option<Duration>,
    basic_auth: Option<RawBasicAuth>,
    queue_config: RawQueueConfig,
}

#[derive(Default, Deserialize)]
#[serde(
    default,
    expecting = "a mapping with username and password or password_file"
)]
struct RawBasicAuth {
    #[serde(deserialize_with = "de_string")]
    username: String,
    #[serde(deserialize_with = "de_string")]
    password: String,
    password_file: Option<PathBuf>,
}

#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of remote write queue settings")]
struct RawQueueConfig {
    #[serde(deserialize_with = "de_opt_u64")]
    capacity: Option<u64>,
    #[serde(deserialize_with = "de_opt_u64")]
    max_shards: Option<u64>,
    #[serde(deserialize_with = "de_opt_u64")]
    max_samples_per_send: Option<u64>,
    #[serde(deserialize_with = "de_duration")]
    min_backoff: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    max_backoff: Option<Duration>,
    // Accepted without effect: one sender per endpoint, batches cut per collection.
    #[serde(deserialize_with = "de_opt_u64", rename = "min_shards")]
    _min_shards: Option<u64>,
    #[serde(deserialize_with = "de_duration", rename = "batch_send_deadline")]
    _batch_send_deadline: Option<Duration>,
    #[serde(deserialize_with = "de_opt_bool", rename = "retry_on_http_429")]
    _retry_on_http_429: Option<bool>,
}

/// The metrics generator's limits in a tenant's overrides (or their defaults):
/// `metrics_generator.{processors, max_active_series, trace_id_label_name, processor,
/// collection_interval, ingestion_time_range_slack}`.
#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping of metrics generator limits")]
pub(super) struct RawGeneratorLimits {
    pub(super) processors: Option<Vec<Text>>,
    #[serde(deserialize_with = "de_opt_u64")]
    pub(super) max_active_series: Option<u64>,
    pub(super) trace_id_label_name: Option<Text>,
    pub(super) processor: Option<RawProcessor>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) collection_interval: Option<Duration>,
    #[serde(deserialize_with = "de_duration")]
    pub(super) ingestion_time_range_slack: Option<Duration>,
}

/// The metrics generator, resolved: what the store derives ([`GeneratorSettings::core`]) and
/// how the server labels, exposes and sends it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GeneratorSettings {
    /// The store's generator: the default processors (from the overrides), the processors'
    /// settings, `max_active_series`, `registry.stale_duration` and
    /// `metrics_ingestion_time_range_slack`.
    pub(crate) core: GeneratorConfig,
    /// How often series are collected and sent (`registry.collection_interval`, 15 s).
    pub(crate) collection_interval: Duration,
    /// Labels put on every series, replacing a series' own of the same name
    /// (`registry.external_labels`).
    pub(crate) external_labels: Vec<(String, String)>,
    /// A label naming the tenant on every series (`registry.inject_tenant_id_as`).
    pub(crate) inject_tenant_id_as: Option<String>,
    /// Label names are cut to this many bytes (`registry.max_label_name_length`, 1024; 0:
    /// never).
    pub(crate) max_label_name_length: usize,
    /// Label values are cut to this many bytes (`registry.max_label_value_length`, 2048; 0:
    /// never).
    pub(crate) max_label_value_length: usize,
    /// The label of an exemplar's trace ID (`overrides.defaults.metrics_generator.
    /// trace_id_label_name`, `traceID`).
    pub(crate) trace_id_label_name: String,
    /// Where series are sent (`storage.remote_write`).
    pub(crate) remote_write: Vec<RemoteWriteConfig>,
    /// How long shutdown waits for queued series to be sent
    /// (`storage.remote_write_flush_deadline`, 1 min).
    pub(crate) remote_write_flush_deadline: Duration,
    /// Whether a tenant's series are sent with `X-Scope-OrgID: <tenant>`
    /// (`storage.remote_write_add_org_id_header`, on; never for `single-tenant`).
    pub(crate) remote_write_add_org_id_header: bool,
}

impl Default for GeneratorSettings {
    fn default() -> GeneratorSettings {
        GeneratorSettings {
            core: GeneratorConfig::default(),
            collection_interval: Duration::from_secs(15),
            external_labels: Vec::new(),
            inject_tenant_id_as: None,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            trace_id_label_name: "traceID".to_owned(),
            remote_write: Vec::new(),
            remote_write_flush_deadline: Duration::from_secs(60),
            remote_write_add_org_id_header: true,
        }
    }
}

/// One remote-write endpoint (one of Prometheus' `remote_write` entries).
#[derive(Clone, PartialEq)]
pub(crate) struct RemoteWriteConfig {
    /// Where requests go: an `http://` URL.
    pub(crate) url: http::Uri,
    /// Its name in the server's metrics (`name`, else the URL).
    pub(crate) name: String,
    /// Headers sent with every request (`headers`).
    pub(crate) headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Whether exemplars are sent (`send_exemplars`, off).
    pub(crate) send_exemplars: bool,
    /// How long one request may take (`remote_timeout`, 30 s).
    pub(crate) remote_timeout: Duration,
    /// `Authorization: Basic ...` (`basic_auth`).
    pub(crate) basic_auth: Option<(String, String)>,
    /// The first wait before a retry (`queue_config.min_backoff`, 30 ms).
    pub(crate) min_backoff: Duration,
    /// The longest wait between retries (`queue_config.max_backoff`, 5 s).
    pub(crate) max_backoff: Duration,
    /// The most samples in one request (`queue_config.max_samples_per_send`, 2000).
    pub(crate) max_samples_per_send: usize,
    /// The most samples waiting to be sent; past it the oldest requests are dropped
    /// (`queue_config.capacity` times `queue_config.max_shards`, 10,000 times 50).
    pub(crate) max_queued_samples: usize,
}

impl fmt::Debug for RemoteWriteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("RemoteWriteConfig")
            .field("url", &self.url.to_string())
            .field("name", &self.name)
            .field("headers", &headers)
            .field("send_exemplars", &self.send_exemplars)
            .field("remote_timeout", &self.remote_timeout)
            .field(
                "basic_auth",
                &self
                    .basic_auth
                    .as_ref()
                    .map(|(user, _)| (user, "<redacted>")),
            )
            .field("min_backoff", &self.min_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("max_samples_per_send", &self.max_samples_per_send)
            .field("max_queued_samples", &self.max_queued_samples)
            .finish()
    }
}

/// Headers the remote-write protocol sets itself, or that belong to the connection or to
/// `basic_auth`: refused in `headers`, as Prometheus refuses them.
const RESERVED_HEADERS: [&str; 13] = [
    "authorization",
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
];

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// The processors of Tempo's names (`span-metrics`, `service-graphs`, and their
/// subprocessors, which turn on the whole processor here; `local-blocks` and `host-info` are
/// accepted and do nothing here); an unknown name is an error naming `key`.
pub(super) fn processors(names: Vec<Text>, key: &str) -> Result<Processors, ConfigError> {
    // Tempo's subprocessors turn on a part of a processor's series; here they turn on the
    // whole processor.
    let names: Vec<String> = texts(names)
        .into_iter()
        .map(|name| match name.as_str() {
            "span-metrics-count" | "span-metrics-latency" | "span-metrics-size" => {
                "span-metrics".to_owned()
            }
            "service-graphs-request"
            | "service-graphs-latency"
            | "service-graphs-connection-info" => "service-graphs".to_owned(),
            _ => name,
        })
        .collect();
    Processors::from_names(&names).map_err(|message| invalid(key, message))
}

/// Whether `name` is a Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn label_name(name: String, key: &str) -> Result<String, ConfigError> {
    if is_label_name(&name) {
        Ok(name)
    } else {
        Err(invalid(
            key,
            format!("{name:?} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"),
        ))
    }
}

fn buckets(values: Vec<f64>, key: &str) -> Result<Vec<f64>, ConfigError> {
    if values.is_empty() {
        return Err(invalid(key, "needs at least one bucket"));
    }
    for (i, v) in values.iter().enumerate() {
        if !v.is_finite() {
            return Err(invalid(key, format!("bucket {v} is not a finite number")));
        }
        if i > 0 && *v <= values[i - 1] {
            return Err(invalid(
                key,
                format!(
                    "buckets must increase: {v} follows {} (bucket {i})",
                    values[i - 1]
                ),
            ));
        }
    }
    Ok(values)
}

fn filter_policies(raw: Vec<RawFilterPolicy>, key: &str) -> Result<Vec<FilterPolicy>, ConfigError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, p)| {
            let part = |m: Option<RawPolicyMatch>, name: &str| -> Result<_, ConfigError> {
                let Some(m) = m else { return Ok(None) };
                let at = format!("{key}.{i}.{name}");
                let match_type = match m.match_type.trim() {
                    "" | "strict" => MatchType::Strict,
                    "regex" => MatchType::Regex,
                    other => {
                        return Err(invalid(
                            format!("{at}.match_type"),
                            format!("{other:?} is neither strict nor regex"),
                        ));
                    }
                };
                let attributes = m
                    .attributes
                    .iter()
                    .enumerate()
                    .map(|(j, a)| {
                        AttributeMatch::new(&a.key, &a.value, match_type)
                            .map_err(|message| invalid(format!("{at}.attributes.{j}"), message))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Some(PolicyMatch {
                    match_type,
                    attributes,
                }))
            };
            Ok(FilterPolicy {
                include: part(p.include, "include")?,
                include_any: part(p.include_any, "include_any")?,
                exclude: part(p.exclude, "exclude")?,
            })
        })
        .collect()
}

fn remote_write(raw: RawRemoteWrite, key: &str) -> Result<RemoteWriteConfig, ConfigError> {
    let url_text = raw.url.trim();
    if url_text.is_empty() {
        return Err(invalid(format!("{key}.url"), "a remote write needs a url"));
    }
    let url: http::Uri = url_text
        .parse()
        .map_err(|e| invalid(format!("{key}.url"), format!("{url_text:?}: {e}")))?;
    match url.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(invalid(
                format!("{key}.url"),
                format!(
                    "{url_text:?}: https is not supported: this server's remote writer speaks \
                     plain HTTP only; send to an http:// URL (a local proxy can add TLS)"
                ),
            ));
        }
        _ => {
            return Err(invalid(
                format!("{key}.url"),
                format!("{url_text:?} is not an http:// URL"),
            ));
        }
    }
    if url.host().is_none_or(str::is_empty) {
        return Err(invalid(
            format!("{key}.url"),
            format!("{url_text:?} has no host"),
        ));
    }
    let mut headers = Vec::new();
    for (name, value) in raw.headers {
        let at = format!("{key}.headers.{name}");
        if RESERVED_HEADERS.contains(&name.trim().to_ascii_lowercase().as_str()) {
            return Err(invalid(at, format!("{name} is a reserved header")));
        }
        let header = http::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|e| invalid(at.clone(), format!("{name:?} is not a header name: {e}")))?;
        let value = http::HeaderValue::from_str(&value.0)
            .map_err(|e| invalid(at, format!("not a header value: {e}")))?;
        headers.push((header, value));
    }
    let basic_auth = match raw.basic_auth {
        None => None,
        Some(auth) => {
            let password = match auth.password_file.filter(|p| !p.as_os_str().is_empty()) {
                Some(path) => std::fs::read_to_string(&path)
                    .map_err(|e| {
                        invalid(
                            format!("{key}.basic_auth.password_file"),
                            format!("reading {}: {e}", path.display()),
                        )
                    })?
                    .trim()
                    .to_owned(),
                None => auth.password,
            };
            Some((auth.username, password))
        }
    };
    let queue = raw.queue_config;
    let count = |v: Option<u64>, default: usize| {
        v.filter(|n| *n > 0)
            .map_or(default, |n| usize::try_from(n).unwrap_or(usize::MAX))
    };
    let min_backoff = queue
        .min_backoff
        .unwrap_or(Duration::from_millis(30))
        .max(Duration::from_millis(1));
    let max_backoff = queue
        .max_backoff
        .unwrap_or(Duration::from_secs(5))
        .max(min_backoff);
    Ok(RemoteWriteConfig {
        name: if raw.name.is_empty() {
            url_text.to_owned()
        } else {
            raw.name
        },
        url,
        headers,
        send_exemplars: raw.send_exemplars.unwrap_or(false),
        remote_timeout: raw
            .remote_timeout
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(30)),
        basic_auth,
        min_backoff,
        max_backoff,
        max_samples_per_send: count(queue.max_samples_per_send, 2000),
        max_queued_samples: count(queue.capacity, 10_000)
            .saturating_mul(count(queue.max_shards, 50)),
    })
}

/// What the overrides' defaults say of the generator: the processors of tenants without
/// their own (with the key they came from: the current shape wins over the legacy flat one),
/// the series limit, the exemplars' trace ID label, and the settings that override the
/// `metrics_generator` block's (`processor`, `collection_interval`,
/// `ingestion_time_range_slack`).
#[derive(Default)]
pub(super) struct GeneratorDefaults {
    pub(super) processors: Option<(Vec<Text>, String)>,
    pub(super) max_active_series: Option<u64>,
    pub(super) trace_id_label_name: Option<(Text, String)>,
    pub(super) processor: Option<RawProcessor>,
    pub(super) collection_interval: Option<Duration>,
    pub(super) ingestion_time_range_slack: Option<Duration>,
}

/// The generator's settings from its block and the overrides' defaults; `unknown` gains the
/// keys read but not supported.
pub(super) fn resolve(
    raw: RawMetricsGenerator,
    defaults: GeneratorDefaults,
    unknown: &mut Vec<String>,
) -> Result<GeneratorSettings, ConfigError> {
    let mut out = GeneratorSettings::default();
    let core = &mut out.core;
    if let Some((names, key)) = defaults.processors {
        core.processors = processors(names, &key)?;
    }
    if let Some(n) = defaults.max_active_series {
        core.max_active_series = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(slack) = raw.metrics_ingestion_time_range_slack {
        core.ingestion_time_range_slack = slack;
    }

    // The generator's processor settings, then the overrides' defaults over them, as in
    // Tempo, where the overrides win.
    apply_processor(core, raw.processor, "metrics_generator.processor", unknown)?;
    if let Some(processor) = defaults.processor {
        apply_processor(
            core,
            processor,
            "overrides.defaults.metrics_generator.processor",
            unknown,
        )?;
    }
    if let Some(slack) = defaults.ingestion_time_range_slack {
        core.ingestion_time_range_slack = slack;
    }

    let prefix = "metrics_generator.registry";
    let registry = raw.registry;
    let collection_interval = defaults
        .collection_interval
        .map(|d| {
            (
                d,
                "overrides.defaults.metrics_generator.collection_interval".to_owned(),
            )
        })
        .or_else(|| {
            registry
                .collection_interval
                .map(|d| (d, format!("{prefix}.collection_interval")))
        });
    if let Some((d, key)) = collection_interval {
        if d.is_zero() {
            return Err(invalid(key, "must be more than 0"));
        }
        out.collection_interval = d;
    }
    if let Some(d) = registry.stale_duration {
        out.core.stale_duration = d;
    }
    for (name, value) in registry.external_labels {
        let name = label_name(name, &format!("{prefix}.external_labels"))?;
        out.external_labels.push((name, value.0));
    }
    if !registry.inject_tenant_id_as.is_empty() {
        out.inject_tenant_id_as = Some(label_name(
            registry.inject_tenant_id_as,
            &format!("{prefix}.inject_tenant_id_as"),
        )?);
    }
    if let Some(n) = registry.max_label_name_length {
        out.max_label_name_length = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(n) = registry.max_label_value_length {
        out.max_label_value_length = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some((name, key)) = defaults.trace_id_label_name
        && !name.0.is_empty()
    {
        out.trace_id_label_name = label_name(name.0, &key)?;
    }

    let prefix = "metrics_generator.storage";
    let storage = raw.storage;
    for (i, rw) in storage.remote_write.into_iter().enumerate() {
        out.remote_write
            .push(remote_write(rw, &format!("{prefix}.remote_write.{i}"))?);
    }
    if let Some(d) = storage.remote_write_flush_deadline {
        out.remote_write_flush_deadline = d;
    }
    if let Some(on) = storage.remote_write_add_org_id_header {
        out.remote_write_add_org_id_header = on;
    }
    Ok(out)
}

/// Sets the processors' settings `raw` gives, found under `prefix`.
fn apply_processor(
    core: &mut GeneratorConfig,
    raw: RawProcessor,
    prefix: &str,
    unknown: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let prefix_sm = format!("{prefix}.span_metrics");
    let sm = raw.span_metrics;
    for (present, name) in [
        (sm.dimension_mappings.is_some(), "dimension_mappings"),
        (sm.enable_instance_label.is_some(), "enable_instance_label"),
        (
            sm.enable_tracestate_span_multiplier.is_some(),
            "enable_tracestate_span_multiplier",
        ),
    ] {
        let key = format!("{prefix_sm}.{name}");
        if present && !unknown.contains(&key) {
            unknown.push(key);
        }
    }
    let span_metrics = &mut core.span_metrics;
    if let Some(b) = sm.histogram_buckets {
        span_metrics.histogram_buckets = buckets(b, &format!("{prefix_sm}.histogram_buckets"))?;
    }
    if let Some(d) = sm.dimensions {
        span_metrics.dimensions = texts(d);
    }
    let i = sm.intrinsic_dimensions;
    let intrinsic = &mut span_metrics.intrinsic_dimensions;
    for (value, field) in [
        (i.service, &mut intrinsic.service),
        (i.span_name, &mut intrinsic.span_name),
        (i.span_kind, &mut intrinsic.span_kind),
        (i.status_code, &mut intrinsic.status_code),
        (i.status_message, &mut intrinsic.status_message),
    ] {
        if let Some(on) = value {
            *field = on;
        }
    }
    if let Some(p) = sm.filter_policies {
        span_metrics.filter_policies = filter_policies(p, &format!("{prefix_sm}.filter_policies"))?;
    }
    if let Some(on) = sm.enable_target_info {
        span_metrics.enable_target_info = on;
    }
    if let Some(x) = sm.target_info_excluded_dimensions {
        span_metrics.target_info_excluded_dimensions = texts(x);
    }
    if let Some(key) = sm.span_multiplier_key {
        span_metrics.span_multiplier_key = key.0;
    }

    let prefix_sg = format!("{prefix}.service_graphs");
    let sg = raw.service_graphs;
    let graphs = &mut core.service_graphs;
    if let Some(w) = sg.wait {
        graphs.wait = w;
    }
    if let Some(n) = sg.max_items {
        graphs.max_items = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(b) = sg.histogram_buckets {
        graphs.histogram_buckets = buckets(b, &format!("{prefix_sg}.histogram_buckets"))?;
    }
    if let Some(d) = sg.dimensions {
        graphs.dimensions = texts(d);
    }
    if let Some(on) = sg.enable_client_server_prefix {
        graphs.enable_client_server_prefix = on;
    }
    if let Some(on) = sg.enable_messaging_system_latency_histogram {
        graphs.enable_messaging_system_latency_histogram = on;
    }
    if let Some(on) = sg.enable_virtual_node_label {
        graphs.enable_virtual_node_label = on;
    }
    if let Some(p) = sg.peer_attributes {
        graphs.peer_attributes = texts(p);
    }
    if let Some(p) = sg.database_name_attributes {
        graphs.database_name_attributes = texts(p);
    }
    if let Some(key) = sg.span_multiplier_key {
        graphs.span_multiplier_key = key.0;
    }
    if let Some(p) = sg.filter_policies {
        graphs.filter_policies = filter_policies(p, &format!("{prefix_sg}.filter_policies"))?;
    }
    Ok(())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn label_names() {
        assert!(is_label_name("traceID"));
        assert!(is_label_name("_x9"));
        assert!(!is_label_name("9x"));
        assert!(!is_label_name("trace.id"));
        assert!(!is_label_name(""));
    }

    #[test]
    fn buckets_must_increase() {
        assert_eq!(buckets(vec![0.1, 1.0], "k").unwrap(), [0.1, 1.0]);
        assert_eq!(
            buckets(vec![1.0, 1.0], "k").unwrap_err().to_string(),
            "k: buckets must increase: 1 follows 1 (bucket 1)"
        );
        assert!(buckets(vec![], "k").is_err());
        assert!(buckets(vec![f64::INFINITY], "k").is_err());
    }
}
