//! remote_write: did the generated series reach Prometheus?
//!
//! Every `registry.collection_interval`, a background task collects each tenant's series from
//! the store and sends them to every configured endpoint with Prometheus' remote-write
//! protocol 1.0: a snappy-compressed protobuf `WriteRequest` per batch of at most
//! `max_samples_per_send` samples, with `Content-Encoding: snappy`, `Content-Type:
//! application/x-protobuf`, `X-Prometheus-Remote-Write-Version: 0.1.0`, the configured
//! headers, and `X-Scope-OrgID: <tenant>` for tenants other than `single-tenant` unless
//! `remote_write_add_org_id_header` is off or the configured headers set it.
//!
//! As in Tempo, each sample carries the collection's time, and a counter or histogram series
//! seen for the first time is preceded by a 0 stamped at the end of the previous minute, so
//! that its first increase counts in `rate()` and `increase()`. The zeros travel in their own
//! request, ahead of the values: a receiver that refuses one (a zero older than what it
//! already holds, after a restart) does not take the values down with it. With
//! `send_exemplars`, a histogram bucket carries the span behind its latest observation, once,
//! when it is newer than the one last sent, labelled with the trace ID as Tempo writes it
//! (`traceID`, hex without leading zeros).
//!
//! Each endpoint has its own queue and sender task. Collection and sending never hold up
//! ingestion: the store hands the series over under its tenant lock, nothing else is shared.
//! Network errors, 5xx and 429 are retried with exponential back-off (`min_backoff` to
//! `max_backoff`, or the 429's `Retry-After`), for as long as it takes, in order; any other
//! status drops the request, counted and logged. While an endpoint is down, the queue keeps at
//! most `capacity` times `max_shards` samples: past that the oldest requests are dropped,
//! counted (series are cumulative, so a later request still carries every count). At
//! shutdown the series are collected once more and the queues get
//! `remote_write_flush_deadline` to drain; what is left is counted as dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use tempo_core::Store;
use tempo_core::generator::{GeneratedSeries, SeriesKind};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use super::proto::{self, Label, MetricMetadata, MetricType, Sample, TimeSeries, WriteRequest};
use super::{SeriesRules, exemplar_trace_id};
use crate::config::{GeneratorSettings, RemoteWriteConfig};

/// The `User-Agent` of requests.
const USER_AGENT: &str = concat!("tempo-server/", env!("CARGO_PKG_VERSION"));

/// How long a series' send state is kept after it was last sent: longer than the zero sample
/// of a new series can reach back (the end of the previous minute), so that a series that
/// comes back never gets a zero older than a sample already sent.
const FORGET_AFTER_MS: i64 = 2 * 60_000;

/// The longest wait a 429's `Retry-After` may ask for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How often a refused request is logged at most, per endpoint.
const REFUSAL_LOG_PERIOD: Duration = Duration::from_secs(10);

/// The counters of one endpoint, for `/metrics` (Prometheus' `prometheus_remote_storage_*`).
#[derive(Debug, Default)]
pub(crate) struct EndpointStats {
    /// The endpoint's name (`name`, else its URL).
    pub(crate) name: String,
    /// Its URL.
    pub(crate) url: String,
    /// Samples the endpoint took.
    pub(crate) samples_sent: AtomicU64,
    /// Exemplars the endpoint took.
    pub(crate) exemplars_sent: AtomicU64,
    /// Samples of requests the endpoint refused for good (a 4xx other than 429).
    pub(crate) samples_failed: AtomicU64,
    /// Samples dropped unsent: the queue was full, or shutdown's deadline passed.
    pub(crate) samples_dropped: AtomicU64,
    /// Samples sent again after a network error, a 5xx or a 429.
    pub(crate) samples_retried: AtomicU64,
    /// Samples queued or in flight.
    pub(crate) samples_pending: AtomicU64,
    /// Requests the endpoint took.
    pub(crate) requests_sent: AtomicU64,
}

/// One request, ready to send.
#[derive(Debug, Clone)]
struct Batch {
    tenant: Arc<str>,
    body: Bytes,
    samples: u64,
    exemplars: u64,
}

#[derive(Debug, Default)]
struct Queue {
    batches: VecDeque<Batch>,
    samples: u64,
    in_flight: u64,
    closing: bool,
}

/// An endpoint: its settings, its queue, its counters.
struct Endpoint {
    config: RemoteWriteConfig,
    add_org_id_header: bool,
    stats: Arc<EndpointStats>,
    queue: Mutex<Queue>,
    wake: Notify,
}

impl Endpoint {
    /// Queues `batch`, dropping the oldest queued ones while the queue holds too much (never
    /// the newest).
    fn enqueue(&self, batch: Batch) {
        let mut q = self.queue.lock();
        q.samples += batch.samples;
        q.batches.push_back(batch);
        let max = self.config.max_queued_samples as u64;
        let mut dropped = 0;
        while q.samples > max && q.batches.len() > 1 {
            if let Some(old) = q.batches.pop_front() {
                q.samples -= old.samples;
                dropped += old.samples;
            }
        }
        self.stats
            .samples_pending
            .store(q.samples + q.in_flight, Ordering::Relaxed);
        drop(q);
        if dropped > 0 {
            self.stats
                .samples_dropped
                .fetch_add(dropped, Ordering::Relaxed);
            tracing::warn!(
                endpoint = %self.config.name,
                samples = dropped,
                "remote write queue full: oldest series dropped unsent"
            );
        }
        self.wake.notify_one();
    }

    /// The next batch, or `None` once the queue is closed and empty.
    async fn next(&self) -> Option<Batch> {
        loop {
            {
                let mut q = self.queue.lock();
                if let Some(batch) = q.batches.pop_front() {
                    q.samples -= batch.samples;
                    q.in_flight = batch.samples;
                    return Some(batch);
                }
                if q.closing {
                    return None;
                }
            }
            self.wake.notified().await;
        }
    }

    fn done(&self) {
        let mut q = self.queue.lock();
        q.in_flight = 0;
        self.stats
            .samples_pending
            .store(q.samples, Ordering::Relaxed);
    }

    fn close(&self) {
        self.queue.lock().closing = true;
        self.wake.notify_one();
    }

    /// Counts what is left (queued and in flight) as dropped; returns it.
    fn drop_rest(&self) -> u64 {
        let mut q = self.queue.lock();
        let rest = q.samples + q.in_flight;
        q.batches.clear();
        q.samples = 0;
        q.in_flight = 0;
        self.stats.samples_pending.store(0, Ordering::Relaxed);
        self.stats
            .samples_dropped
            .fetch_add(rest, Ordering::Relaxed);
        rest
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// What became of one attempt.
enum Outcome {
    Sent,
    /// Refused for good: the status and the start of the answer.
    Refused(http::StatusCode, String),
    /// Worth another try: why, and how long the endpoint asked to wait.
    Retry(String, Option<Duration>),
}

/// Sends one endpoint's queue, in order, until it is closed and empty.
async fn send_loop(endpoint: Arc<Endpoint>) {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(endpoint.config.remote_timeout));
    connector.set_nodelay(true);
    let client: HttpClient = Client::builder(TokioExecutor::new()).build(connector);
    let mut failing_since: Option<Instant> = None;
    let mut refusals_logged: Option<Instant> = None;
    let mut refusals_unlogged = 0u64;
    while let Some(batch) = endpoint.next().await {
        let config = &endpoint.config;
        let stats = &endpoint.stats;
        let mut backoff = config.min_backoff;
        loop {
            match post(&client, &endpoint, &batch).await {
                Outcome::Sent => {
                    stats
                        .samples_sent
                        .fetch_add(batch.samples, Ordering::Relaxed);
                    stats
                        .exemplars_sent
                        .fetch_add(batch.exemplars, Ordering::Relaxed);
                    stats.requests_sent.fetch_add(1, Ordering::Relaxed);
                    if let Some(since) = failing_since.take() {
                        tracing::info!(
                            endpoint = %config.name,
                            after = ?since.elapsed(),
                            "remote write recovered"
                        );
                    }
                    break;
                }
                Outcome::Refused(status, answer) => {
                    stats
                        .samples_failed
                        .fetch_add(batch.samples, Ordering::Relaxed);
                    if refusals_logged.is_none_or(|at| at.elapsed() >= REFUSAL_LOG_PERIOD) {
                        tracing::warn!(
                            endpoint = %config.name,
                            tenant = %batch.tenant,
                            status = status.as_u16(),
                            answer = %answer,
                            samples = batch.samples,
                            refused_since_last_log = refusals_unlogged,
                            "remote write refused; series dropped (not retried)"
                        );
                        refusals_logged = Some(Instant::now());
                        refusals_unlogged = 0;
                    } else {
                        refusals_unlogged += 1;
                    }
                    break;
                }
                Outcome::Retry(reason, asked) => {
                    stats
                        .samples_retried
                        .fetch_add(batch.samples, Ordering::Relaxed);
                    if failing_since.is_none() {
                        failing_since = Some(Instant::now());
                        tracing::warn!(
                            endpoint = %config.name,
                            error = %reason,
                            "remote write failed; retrying with back-off until it succeeds"
                        );
                    } else {
                        tracing::debug!(endpoint = %config.name, error = %reason, "remote write retry");
                    }
                    let wait = asked.map_or(backoff, |d| d.min(MAX_RETRY_AFTER));
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(config.max_backoff);
                }
            }
        }
        endpoint.done();
    }
}

/// One attempt at sending `batch`.
/// The request that sends `batch` to `endpoint`.
fn request(endpoint: &Endpoint, batch: &Batch) -> Result<http::Request<Full<Bytes>>, http::Error> {
    let config = &endpoint.config;
    let mut request = http::Request::post(config.url.clone())
        .header(header::CONTENT_ENCODING, "snappy")
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .header(header::USER_AGENT, USER_AGENT);
    let mut org_id_set = false;
    for (name, value) in &config.headers {
        org_id_set |= name.as_str().eq_ignore_ascii_case("x-scope-orgid");
        request = request.header(name, value);
    }
    // As Tempo: never for the single tenant, and a configured header wins.
    if endpoint.add_org_id_header && !org_id_set && &*batch.tenant != tempo_core::SINGLE_TENANT {
        request = request.header("X-Scope-OrgID", &*batch.tenant);
    }
    if let Some((user, password)) = &config.basic_auth {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request = request.header(header::AUTHORIZATION, format!("Basic {token}"));
    }
    request.body(Full::new(batch.body.clone()))
}

/// One attempt at sending `batch`.
async fn post(client: &HttpClient, endpoint: &Endpoint, batch: &Batch) -> Outcome {
    let config = &endpoint.config;
    let request = match request(endpoint, batch) {
        Ok(r) => r,
        Err(e) => return Outcome::Refused(http::StatusCode::BAD_REQUEST, e.to_string()),
    };
    let attempt = async {
        let response = client.request(request).await.map_err(|e| {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = Limited::new(response.into_body(), 1024)
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_owned())
            .unwrap_or_default();
        Ok::<_, String>((status, retry_after, body))
    };
    match tokio::time::timeout(config.remote_timeout, attempt).await {
        Err(_) => Outcome::Retry(
            format!(
                "no answer within remote_timeout ({:?})",
                config.remote_timeout
            ),
            None,
        ),
        Ok(Err(e)) => Outcome::Retry(e, None),
        Ok(Ok((status, retry_after, body))) => {
            if status.is_success() {
                Outcome::Sent
            } else if status == http::StatusCode::TOO_MANY_REQUESTS {
                Outcome::Retry(format!("{status}: {body}"), retry_after)
            } else if status.is_server_error() {
                Outcome::Retry(format!("{status}: {body}"), None)
            } else {
                Outcome::Refused(status, body)
            }
        }
    }
}

/// What was last sent of one series.
#[derive(Debug, Clone, Copy)]
struct SentSeries {
    /// When the store began the series: a new value is a new series.
    created: u64,
    /// The time of the last sample sent, unix milliseconds.
    last_ms: i64,
    /// The time of the last exemplar sent, unix nanoseconds.
    exemplar_ns: u64,
}

/// One tenant's collection, as time series: the zeros of new series, and every series'
/// value (with its exemplar, when there is a new one).
#[derive(Debug, Default)]
struct Collected {
    zeros: Vec<TimeSeries>,
    values: Vec<(TimeSeries, MetricType, String)>,
}

/// Turns collections into requests, remembering what it sent.
struct Collector {
    store: Store,
    rules: SeriesRules,
    endpoints: Vec<Arc<Endpoint>>,
    sent: HashMap<String, HashMap<Vec<(String, String)>, SentSeries>>,
    last_ms: i64,
}

/// The end of the minute before the one holding `ms`, less a second: where Tempo stamps the
/// zero of a new series, so that it falls in an earlier aggregation interval.
pub(crate) fn end_of_previous_minute(ms: i64) -> i64 {
    ms - ms.rem_euclid(60_000) - 1000
}

fn metric_type(series: &GeneratedSeries) -> (MetricType, String) {
    let name = series.name.as_str();
    match series.kind {
        SeriesKind::Counter => (MetricType::Counter, name.to_owned()),
        SeriesKind::Gauge => (MetricType::Gauge, name.to_owned()),
        SeriesKind::Bucket => (
            MetricType::Histogram,
            name.strip_suffix("_bucket").unwrap_or(name).to_owned(),
        ),
        SeriesKind::Sum => (
            MetricType::Histogram,
            name.strip_suffix("_sum").unwrap_or(name).to_owned(),
        ),
        SeriesKind::Count => (
            MetricType::Histogram,
            name.strip_suffix("_count").unwrap_or(name).to_owned(),
        ),
    }
}

impl Collector {
    /// Collects every tenant's series at `now` and queues them on every endpoint.
    fn collect(&mut self, now: SystemTime) {
        let wall = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        // Samples of one series must go forward in time, whatever the clock does.
        let now_ms = wall.max(self.last_ms + 1);
        self.last_ms = now_ms;
        for tenant in self.store.generator_tenants() {
            let series = self.store.generated_series(&tenant);
            let collected = self.prepare(&tenant, &series, now_ms);
            self.queue(&tenant, collected);
        }
        let horizon = now_ms - FORGET_AFTER_MS;
        self.sent.retain(|_, series| {
            series.retain(|_, s| s.last_ms >= horizon);
            !series.is_empty()
        });
    }

    /// The time series of one tenant's `series` at `now_ms`, and what is remembered of them.
    fn prepare(&mut self, tenant: &str, series: &[GeneratedSeries], now_ms: i64) -> Collected {
        let sent = self.sent.entry(tenant.to_owned()).or_default();
        let zero_ms = end_of_previous_minute(now_ms);
        let mut out = Collected::default();
        for s in series {
            let labels = self.rules.labels(tenant, s);
            let before = sent.get(&labels).copied();
            let is_new = before.is_none_or(|b| b.created != s.created_unix_nano);
            let proto_labels: Vec<Label> = labels
                .iter()
                .map(|(k, v)| Label::new(k.as_str(), v.as_str()))
                .collect();
            let cumulative = matches!(
                s.kind,
                SeriesKind::Counter | SeriesKind::Bucket | SeriesKind::Count
            );
            if is_new && cumulative && before.is_none_or(|b| b.last_ms < zero_ms) {
                out.zeros.push(TimeSeries {
                    labels: proto_labels.clone(),
                    samples: vec![Sample {
                        value: 0.0,
                        timestamp: zero_ms,
                    }],
                    exemplars: Vec::new(),
                });
            }
            let mut exemplar_ns = before.map_or(0, |b| b.exemplar_ns);
            let mut exemplars = Vec::new();
            if let Some(e) = &s.exemplar
                && e.timestamp_unix_nano > exemplar_ns
            {
                exemplar_ns = e.timestamp_unix_nano;
                exemplars.push(proto::Exemplar {
                    labels: vec![Label::new(
                        self.rules.trace_id_label_name.as_str(),
                        exemplar_trace_id(&e.trace_id),
                    )],
                    value: e.value,
                    timestamp: i64::try_from(e.timestamp_unix_nano / 1_000_000).unwrap_or(i64::MAX),
                });
            }
            let (kind, family) = metric_type(s);
            out.values.push((
                TimeSeries {
                    labels: proto_labels,
                    samples: vec![Sample {
                        value: s.value,
                        timestamp: now_ms,
                    }],
                    exemplars,
                },
                kind,
                family,
            ));
            sent.insert(
                labels,
                SentSeries {
                    created: s.created_unix_nano,
                    last_ms: now_ms,
                    exemplar_ns,
                },
            );
        }
        out
    }

    /// Queues a tenant's collection on every endpoint: the zeros first, then the values, in
    /// requests of at most `max_samples_per_send` samples, with or without exemplars.
    fn queue(&self, tenant: &str, collected: Collected) {
        if collected.zeros.is_empty() && collected.values.is_empty() {
            return;
        }
        let tenant: Arc<str> = Arc::from(tenant);
        // Endpoints alike in what they are sent share the encoded requests.
        let mut made: Vec<((bool, usize), Vec<Batch>)> = Vec::new();
        for endpoint in &self.endpoints {
            let shape = (
                endpoint.config.send_exemplars,
                endpoint.config.max_samples_per_send.max(1),
            );
            let batches = match made.iter().find(|(s, _)| *s == shape) {
                Some((_, b)) => b.clone(),
                None => {
                    let b = batches(&tenant, &collected, shape.0, shape.1);
                    made.push((shape, b.clone()));
                    b
                }
            };
            for batch in batches {
                endpoint.enqueue(batch);
            }
        }
    }
}

/// The requests of one tenant's collection.
fn batches(
    tenant: &Arc<str>,
    collected: &Collected,
    exemplars: bool,
    max_samples: usize,
) -> Vec<Batch> {
    let mut out = Vec::new();
    let batch = |series: Vec<TimeSeries>, metadata: Vec<MetricMetadata>| {
        let samples = series.iter().map(|s| s.samples.len() as u64).sum();
        let exemplars = series.iter().map(|s| s.exemplars.len() as u64).sum();
        Batch {
            tenant: tenant.clone(),
            body: Bytes::from(proto::encode(&WriteRequest {
                timeseries: series,
                metadata,
            })),
            samples,
            exemplars,
        }
    };
    for chunk in collected.zeros.chunks(max_samples) {
        out.push(batch(chunk.to_vec(), Vec::new()));
    }
    for chunk in collected.values.chunks(max_samples) {
        let mut families: Vec<(MetricType, &str)> = chunk
            .iter()
            .map(|(_, kind, family)| (*kind, family.as_str()))
            .collect();
        families.sort_unstable_by(|a, b| a.1.cmp(b.1));
        families.dedup_by(|a, b| a.1 == b.1);
        let metadata = families
            .into_iter()
            .map(|(kind, family)| MetricMetadata {
                r#type: kind as i32,
                metric_family_name: family.to_owned(),
                help: String::new(),
                unit: String::new(),
            })
            .collect();
        let series = chunk
            .iter()
            .map(|(s, _, _)| {
                let mut s = s.clone();
                if !exemplars {
                    s.exemplars.clear();
                }
                s
            })
            .collect();
        out.push(batch(series, metadata));
    }
    out
}

/// The background sender of generated series: a collector task and a sender task per
/// endpoint.
pub(crate) struct RemoteWriter {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RemoteWriter {
    /// Starts collecting `store`'s series and sending them as `settings` say; `None` when
    /// no endpoint is configured. Returns the endpoints' counters too, for `/metrics`.
    pub(crate) fn start(
        store: Store,
        settings: &GeneratorSettings,
    ) -> Option<(RemoteWriter, Vec<Arc<EndpointStats>>)> {
        if settings.remote_write.is_empty() {
            return None;
        }
        let endpoints: Vec<Arc<Endpoint>> = settings
            .remote_write
            .iter()
            .map(|config| {
                Arc::new(Endpoint {
                    stats: Arc::new(EndpointStats {
                        name: config.name.clone(),
                        url: config.url.to_string(),
                        ..EndpointStats::default()
                    }),
                    config: config.clone(),
                    add_org_id_header: settings.remote_write_add_org_id_header,
                    queue: Mutex::new(Queue::default()),
                    wake: Notify::new(),
                })
            })
            .collect();
        let stats = endpoints.iter().map(|e| e.stats.clone()).collect();
        for e in &endpoints {
            tracing::info!(
                endpoint = %e.config.name,
                url = %e.config.url,
                send_exemplars = e.config.send_exemplars,
                collection_interval = ?settings.collection_interval,
                "metrics generator remote write"
            );
        }
        let collector = Collector {
            store,
            rules: SeriesRules::new(settings),
            endpoints,
            sent: HashMap::new(),
            last_ms: 0,
        };
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(
            collector,
            settings.collection_interval,
            settings.remote_write_flush_deadline,
            stopped,
        ));
        Some((RemoteWriter { stop, task }, stats))
    }

    /// Collects once more, then waits for the queues to drain, at most the flush deadline.
    pub(crate) async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "remote write task failed");
        }
    }
}

/// Runs a collection on the blocking pool (it reads the store under its tenant locks and
/// encodes requests); `None` if it panicked.
async fn collect(mut collector: Collector) -> Option<Collector> {
    match tokio::task::spawn_blocking(move || {
        collector.collect(SystemTime::now());
        collector
    })
    .await
    {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!(error = %e, "collecting generated series failed; remote write stops");
            None
        }
    }
}

async fn run(
    collector: Collector,
    interval: Duration,
    flush_deadline: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let endpoints = collector.endpoints.clone();
    let mut senders = JoinSet::new();
    for e in &endpoints {
        senders.spawn(send_loop(e.clone()));
    }
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut collector = Some(collector);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                let Some(c) = collector.take() else { break };
                collector = collect(c).await;
            }
            _ = stopped.changed() => break,
        }
    }
    // The last series, then the queues get the flush deadline to drain.
    if let Some(c) = collector.take() {
        drop(collect(c).await);
    }
    for e in &endpoints {
        e.close();
    }
    let drained = tokio::time::timeout(flush_deadline, async {
        while senders.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        senders.abort_all();
        let dropped: u64 = endpoints.iter().map(|e| e.drop_rest()).sum();
        tracing::warn!(
            deadline = ?flush_deadline,
            samples = dropped,
            "remote write queues not drained within remote_write_flush_deadline; dropped"
        );
    } else {
        tracing::info!("remote write queues drained");
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use tempo_core::generator::Exemplar;

    use super::*;

    #[test]
    fn zeros_go_to_the_end_of_the_previous_minute() {
        // 12:00:37.5 → 11:59:59.
        let minute = 1_700_000_040_000; // a whole minute
        assert_eq!(minute % 60_000, 0);
        assert_eq!(end_of_previous_minute(minute + 37_500), minute - 1000);
        assert_eq!(end_of_previous_minute(minute), minute - 1000);
    }

    fn series(kind: SeriesKind, name: &str, created: u64, exemplar_ns: u64) -> GeneratedSeries {
        GeneratedSeries {
            name: name.into(),
            labels: vec![("service".into(), "a".into())],
            value: 3.0,
            kind,
            exemplar: (exemplar_ns > 0).then(|| Exemplar {
                trace_id: "0000000000000000000000000000abcd".into(),
                span_id: "0000000000000001".into(),
                value: 0.5,
                timestamp_unix_nano: exemplar_ns,
            }),
            created_unix_nano: created,
        }
    }

    fn collector() -> Collector {
        Collector {
            store: Store::in_memory(),
            rules: SeriesRules::default(),
            endpoints: Vec::new(),
            sent: HashMap::new(),
            last_ms: 0,
        }
    }

    #[test]
    fn new_cumulative_series_get_a_zero_once_and_exemplars_once() {
        let mut c = collector();
        let minute = 1_700_000_040_000i64;
        let now = minute + 30_000;
        let all = [
            series(SeriesKind::Counter, "c_total", 1, 0),
            series(SeriesKind::Bucket, "h_bucket", 1, 5_000_000_000),
            series(SeriesKind::Sum, "h_sum", 1, 0),
            series(SeriesKind::Gauge, "g", 1, 0),
        ];
        let first = c.prepare("t", &all, now);
        let zero_names: Vec<&str> = first
            .zeros
            .iter()
            .map(|s| s.labels[0].value.as_str())
            .collect();
        // Counters and buckets (and counts) start at 0; sums and gauges do not.
        assert_eq!(zero_names, ["c_total", "h_bucket"]);
        assert!(
            first
                .zeros
                .iter()
                .all(|s| s.samples[0].timestamp == minute - 1000)
        );
        assert_eq!(first.values.len(), 4);
        assert_eq!(first.values[1].0.exemplars.len(), 1);
        assert_eq!(first.values[1].0.exemplars[0].labels[0].value, "abcd");
        assert_eq!(first.values[1].0.exemplars[0].timestamp, 5000);
        assert_eq!(first.values[1].1, MetricType::Histogram);
        assert_eq!(first.values[1].2, "h");

        // Next collection: no zeros, no exemplar already sent.
        let second = c.prepare("t", &all, now + 1000);
        assert!(second.zeros.is_empty());
        assert!(second.values.iter().all(|v| v.0.exemplars.is_empty()));
        // A newer exemplar is sent.
        let newer = [series(SeriesKind::Bucket, "h_bucket", 1, 6_000_000_000)];
        assert_eq!(
            c.prepare("t", &newer, now + 2000).values[0]
                .0
                .exemplars
                .len(),
            1
        );

        // A series begun again (dropped as stale, then back) in the same minute as its last
        // sample gets no zero older than that sample; one in a later minute does.
        let again = [series(SeriesKind::Counter, "c_total", 2, 0)];
        assert!(c.prepare("t", &again, now + 3000).zeros.is_empty());
        let again = [series(SeriesKind::Counter, "c_total", 3, 0)];
        let later = c.prepare("t", &again, now + 61_000);
        assert_eq!(later.zeros.len(), 1);
        assert_eq!(later.zeros[0].samples[0].timestamp, minute + 59_000);
    }

    #[test]
    fn batches_put_zeros_first_and_cut_by_samples() {
        let mut c = collector();
        let all: Vec<GeneratedSeries> = (0..5)
            .map(|i| series(SeriesKind::Counter, &format!("c{i}_total"), 1, 0))
            .collect();
        let collected = c.prepare("t", &all, 1_700_000_000_000);
        let tenant: Arc<str> = Arc::from("t");
        let out = batches(&tenant, &collected, false, 2);
        // 5 zeros in 3 requests, then 5 values in 3 requests.
        assert_eq!(out.len(), 6);
        let decoded: Vec<WriteRequest> = out
            .iter()
            .map(|b| proto::decode(&b.body).unwrap())
            .collect();
        assert!(
            decoded[..3]
                .iter()
                .all(|r| r.timeseries.iter().all(|s| s.samples[0].value == 0.0))
        );
        assert!(decoded[..3].iter().all(|r| r.metadata.is_empty()));
        assert_eq!(decoded[3].timeseries.len(), 2);
        assert_eq!(decoded[3].metadata.len(), 2);
        assert_eq!(decoded[3].metadata[0].r#type, MetricType::Counter as i32);
        assert_eq!(out.iter().map(|b| b.samples).sum::<u64>(), 10);
    }

    fn endpoint(max_queued_samples: usize) -> Endpoint {
        endpoint_of("url: http://127.0.0.1:1/w", max_queued_samples)
    }

    fn endpoint_of(remote_write: &str, max_queued_samples: usize) -> Endpoint {
        let mut config = crate::config::Config::from_yaml(&format!(
            "metrics_generator:\n  storage:\n    remote_write:\n      - {remote_write}\n"
        ))
        .unwrap()
        .0
        .metrics_generator
        .remote_write
        .remove(0);
        config.max_queued_samples = max_queued_samples;
        Endpoint {
            config,
            add_org_id_header: true,
            stats: Arc::new(EndpointStats::default()),
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
        }
    }

    fn batch(samples: u64) -> Batch {
        Batch {
            tenant: Arc::from("t"),
            body: Bytes::new(),
            samples,
            exemplars: 0,
        }
    }

    #[test]
    fn requests_name_the_tenant_unless_single_or_configured() {
        let headers = |e: &Endpoint, tenant: &str| -> Vec<(String, String)> {
            let mut b = batch(1);
            b.tenant = Arc::from(tenant);
            let r = request(e, &b).unwrap();
            assert_eq!(r.method(), http::Method::POST);
            assert_eq!(r.uri(), "http://127.0.0.1:1/w");
            r.headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                .collect()
        };
        let has = |h: &[(String, String)], k: &str, v: &str| h.iter().any(|x| x.0 == k && x.1 == v);
        let plain = endpoint(10);
        let h = headers(&plain, "team-a");
        assert!(has(&h, "content-encoding", "snappy"));
        assert!(has(&h, "content-type", "application/x-protobuf"));
        assert!(has(&h, "x-prometheus-remote-write-version", "0.1.0"));
        assert!(has(&h, "x-scope-orgid", "team-a"));
        assert!(
            !headers(&plain, "single-tenant")
                .iter()
                .any(|x| x.0 == "x-scope-orgid")
        );
        let mut off = endpoint(10);
        off.add_org_id_header = false;
        assert!(
            !headers(&off, "team-a")
                .iter()
                .any(|x| x.0 == "x-scope-orgid")
        );
        let fixed = endpoint_of(
            "url: http://127.0.0.1:1/w\n        headers:\n          x-scope-orgid: fixed\n        \
             basic_auth:\n          username: u\n          password: p",
            10,
        );
        let h = headers(&fixed, "team-a");
        let org: Vec<_> = h.iter().filter(|x| x.0 == "x-scope-orgid").collect();
        assert_eq!(org.len(), 1);
        assert_eq!(org[0].1, "fixed");
        // base64("u:p")
        assert!(has(&h, "authorization", "Basic dTpw"));
    }

    #[test]
    fn a_full_queue_drops_its_oldest_requests_never_the_newest() {
        let e = endpoint(10);
        e.enqueue(batch(4));
        e.enqueue(batch(4));
        assert_eq!(e.stats.samples_dropped.load(Ordering::Relaxed), 0);
        e.enqueue(batch(4));
        assert_eq!(e.stats.samples_dropped.load(Ordering::Relaxed), 4);
        assert_eq!(e.stats.samples_pending.load(Ordering::Relaxed), 8);
        e.enqueue(batch(50));
        assert_eq!(e.stats.samples_dropped.load(Ordering::Relaxed), 12);
        assert_eq!(e.queue.lock().batches.len(), 1);
        assert_eq!(e.drop_rest(), 50);
        assert_eq!(e.stats.samples_dropped.load(Ordering::Relaxed), 62);
    }
}
