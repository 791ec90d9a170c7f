//! A load generator for OTLP trace receivers: the standard workload over gRPC or HTTP.
//!
//! ```text
//! cargo run --release --example loadgen -- --protocol grpc --duration 30s
//! cargo run --release --example loadgen -- --protocol http --rate 50000 --gzip
//! cargo run --release --example loadgen -- --help
//! ```
//!
//! Batches are generated before the timed phase: a pool of distinct encoded batches, each sent
//! many times with fresh trace IDs (patched in place, unique across the run) and timestamps
//! moved to the present, so generating load costs little CPU next to the server's. A progress
//! line goes to stderr every second, the final report to stdout (and, with `--report-json`, to
//! a file).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::{BufMut, Bytes};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tempo_workload::{BatchTemplate, SpansPerTrace, Workload, encode_batch};
use tonic::codec::{Codec, CompressionEncoding, EncodeBuf, Encoder};

const USAGE: &str = "\
loadgen: send the standard trace workload to an OTLP receiver

USAGE:
    cargo run --release --example loadgen -- [OPTIONS]

OPTIONS:
    --protocol grpc|http       OTLP over gRPC or over HTTP with protobuf bodies [default: grpc]
    --endpoint URL             receiver [default: http://127.0.0.1:4317 for grpc,
                               http://127.0.0.1:4318/v1/traces for http]
    --rate SPANS_PER_SEC       target rate; 0 sends flat out [default: 0]
    --duration DURATION        how long to send, e.g. 30s, 500ms, 2m [default: 30s]
    --spans N                  stop after sending at least N spans instead
    --traces-per-batch N       traces per request [default: 100]
    --spans-per-trace N|standard
                               spans per trace; `standard` is 5 to 60, mean about 20
                               [default: 10]
    --concurrency N            requests in flight [default: 8]
    --tenant ID                send `X-Scope-OrgID: ID`
    --gzip                     compress request bodies
    --seed N                   workload seed [default: from the clock; printed in the report]
    --pool N                   distinct batches generated before sending [default: 32]
    --timeout DURATION         per-request timeout [default: 30s]
    --threads N                runtime worker threads [default: 2]
    --report-json PATH         also write the final report as JSON
    --write-ids PATH           write the hex trace IDs of every acknowledged batch, one a line
    --verify PATH              send nothing: look up every trace ID of PATH (as --write-ids
                               writes them) by ID through Tempo's API, and check that each is
                               found with --spans-per-trace distinct spans; exits with 1 if not
    --api URL                  the API for --verify [default: http://127.0.0.1:3200]
    -h, --help                 print this help
";

const GRPC_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// OTLP's `ExportTraceServiceResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct ExportTraceServiceResponse {
    #[prost(message, optional, tag = "1")]
    partial_success: Option<ExportTracePartialSuccess>,
}

/// OTLP's `ExportTracePartialSuccess`.
#[derive(Clone, PartialEq, prost::Message)]
struct ExportTracePartialSuccess {
    #[prost(int64, tag = "1")]
    rejected_spans: i64,
    #[prost(string, tag = "2")]
    error_message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Grpc,
    Http,
}

#[derive(Debug, Clone, Copy)]
enum Limit {
    Duration(Duration),
    Spans(u64),
}

#[derive(Debug, Clone)]
struct Args {
    protocol: Protocol,
    endpoint: Option<String>,
    rate: u64,
    limit: Limit,
    traces_per_batch: usize,
    spans_per_trace: SpansPerTrace,
    concurrency: usize,
    tenant: Option<String>,
    gzip: bool,
    seed: Option<u64>,
    pool: usize,
    timeout: Duration,
    threads: usize,
    report_json: Option<PathBuf>,
    write_ids: Option<PathBuf>,
    verify: Option<PathBuf>,
    api: String,
}

impl Default for Args {
    fn default() -> Args {
        Args {
            protocol: Protocol::Grpc,
            endpoint: None,
            rate: 0,
            limit: Limit::Duration(Duration::from_secs(30)),
            traces_per_batch: 100,
            spans_per_trace: SpansPerTrace::Exactly(10),
            concurrency: 8,
            tenant: None,
            gzip: false,
            seed: None,
            pool: 32,
            timeout: Duration::from_secs(30),
            threads: 2,
            report_json: None,
            write_ids: None,
            verify: None,
            api: "http://127.0.0.1:3200".into(),
        }
    }
}

/// Parses `--flag value` and `--flag=value`; `None` means help was asked for.
fn parse_args(raw: impl IntoIterator<Item = String>) -> anyhow::Result<Option<Args>> {
    let mut args = Args::default();
    let mut raw = raw.into_iter();
    while let Some(arg) = raw.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.into())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> anyhow::Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => raw.next().with_context(|| format!("{name} needs a value")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--protocol" => {
                args.protocol = match value(&flag)?.as_str() {
                    "grpc" => Protocol::Grpc,
                    "http" | "http/protobuf" => Protocol::Http,
                    other => bail!("--protocol must be grpc or http, not {other:?}"),
                }
            }
            "--endpoint" => args.endpoint = Some(value(&flag)?),
            "--rate" => args.rate = number(&flag, &value(&flag)?)?,
            "--duration" => args.limit = Limit::Duration(duration(&flag, &value(&flag)?)?),
            "--spans" => args.limit = Limit::Spans(number(&flag, &value(&flag)?)?),
            "--traces-per-batch" => args.traces_per_batch = positive(&flag, &value(&flag)?)?,
            "--spans-per-trace" => {
                let v = value(&flag)?;
                args.spans_per_trace = if v == "standard" {
                    SpansPerTrace::Standard
                } else {
                    SpansPerTrace::Exactly(positive(&flag, &v)?)
                }
            }
            "--concurrency" => args.concurrency = positive(&flag, &value(&flag)?)?,
            "--tenant" => args.tenant = Some(value(&flag)?),
            "--gzip" => args.gzip = true,
            "--seed" => args.seed = Some(number(&flag, &value(&flag)?)?),
            "--pool" => args.pool = positive(&flag, &value(&flag)?)?,
            "--timeout" => args.timeout = duration(&flag, &value(&flag)?)?,
            "--threads" => args.threads = positive(&flag, &value(&flag)?)?,
            "--report-json" => args.report_json = Some(value(&flag)?.into()),
            "--write-ids" => args.write_ids = Some(value(&flag)?.into()),
            "--verify" => args.verify = Some(value(&flag)?.into()),
            "--api" => args.api = value(&flag)?.trim_end_matches('/').to_owned(),
            other => bail!("unknown argument {other:?}; see --help"),
        }
    }
    if args.traces_per_batch > 1 << 16 {
        bail!("--traces-per-batch is at most 65536");
    }
    Ok(Some(args))
}

fn number(flag: &str, v: &str) -> anyhow::Result<u64> {
    v.replace('_', "")
        .parse()
        .with_context(|| format!("{flag}: {v:?} is not a whole number"))
}

fn positive(flag: &str, v: &str) -> anyhow::Result<usize> {
    match number(flag, v)? {
        0 => bail!("{flag} must be at least 1"),
        n => usize::try_from(n).with_context(|| format!("{flag}: {v} is too large")),
    }
}

/// `30s`, `500ms`, `2m`, `1h`, or plain seconds.
fn duration(flag: &str, v: &str) -> anyhow::Result<Duration> {
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let amount: f64 = digits
        .parse()
        .with_context(|| format!("{flag}: {v:?} is not a duration such as 30s"))?;
    let seconds = match unit {
        "" | "s" => amount,
        "ms" => amount / 1000.0,
        "m" => amount * 60.0,
        "h" => amount * 3600.0,
        _ => bail!("{flag}: unknown unit {unit:?} (use ms, s, m or h)"),
    };
    Duration::try_from_secs_f64(seconds).with_context(|| format!("{flag}: {v:?} is out of range"))
}

/// A latency histogram in microseconds, log-linear with 32 steps per power of two (about 3%
/// precision), lock-free.
struct Histogram {
    buckets: Vec<AtomicU64>,
    max: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    const SUB: u32 = 5;

    fn new() -> Histogram {
        Histogram {
            buckets: (0..64 << Self::SUB).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn index(v: u64) -> usize {
        if v < 1 << Self::SUB {
            return v as usize;
        }
        let e = 63 - v.leading_zeros();
        let mantissa = (v >> (e - Self::SUB)) & ((1 << Self::SUB) - 1);
        (((e - Self::SUB + 1) << Self::SUB) as u64 + mantissa) as usize
    }

    /// The upper bound of a bucket.
    fn value(index: usize) -> u64 {
        let sub = 1u64 << Self::SUB;
        let i = index as u64;
        if i < sub {
            return i;
        }
        let e = i / sub + u64::from(Self::SUB) - 1;
        let lower = (sub + i % sub) << (e - u64::from(Self::SUB));
        lower + (1 << (e - u64::from(Self::SUB))) - 1
    }

    fn record(&self, micros: u64) {
        if let Some(bucket) = self.buckets.get(Self::index(micros)) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.max.fetch_max(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Quantiles in microseconds, in the order asked.
    fn quantiles(&self, qs: &[f64]) -> Vec<u64> {
        let total = self.count.load(Ordering::Relaxed);
        let max = self.max.load(Ordering::Relaxed);
        qs.iter()
            .map(|q| {
                if total == 0 {
                    return 0;
                }
                let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
                let mut seen = 0;
                for (i, bucket) in self.buckets.iter().enumerate() {
                    seen += bucket.load(Ordering::Relaxed);
                    if seen >= rank {
                        return Self::value(i).min(max);
                    }
                }
                max
            })
            .collect()
    }
}

/// Counters shared by the workers, the progress line and the report.
struct Stats {
    requests: AtomicU64,
    failed_requests: AtomicU64,
    spans_sent: AtomicU64,
    spans_accepted: AtomicU64,
    rejected_spans: AtomicU64,
    bytes_sent: AtomicU64,
    latency: Histogram,
    /// Count and first message of each kind of error.
    errors: Mutex<BTreeMap<String, (u64, String)>>,
    rejection_messages: Mutex<Vec<String>>,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            requests: AtomicU64::new(0),
            failed_requests: AtomicU64::new(0),
            spans_sent: AtomicU64::new(0),
            spans_accepted: AtomicU64::new(0),
            rejected_spans: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            latency: Histogram::new(),
            errors: Mutex::new(BTreeMap::new()),
            rejection_messages: Mutex::new(Vec::new()),
        }
    }

    fn error(&self, kind: String, message: String) {
        self.failed_requests.fetch_add(1, Ordering::Relaxed);
        let mut errors = lock(&self.errors);
        let entry = errors.entry(kind).or_insert((0, message));
        entry.0 += 1;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a request came back with.
enum Outcome {
    Accepted { rejected: i64, message: String },
    Failed { kind: String, message: String },
}

/// Sends a pre-encoded `ExportTraceServiceRequest` as is, and decodes the response with prost.
#[derive(Debug, Clone, Copy, Default)]
struct ExportCodec;

/// Writes already encoded bytes into the gRPC frame.
#[derive(Debug, Clone, Copy, Default)]
struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Codec for ExportCodec {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = RawEncoder;
    type Decoder = tonic_prost::ProstDecoder<ExportTraceServiceResponse>;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstDecoder::default()
    }
}

enum Sender {
    Grpc {
        endpoint: String,
        channel: tonic::transport::Channel,
        tenant: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
        gzip: bool,
    },
    Http {
        client: Box<Client<HttpConnector, Full<Bytes>>>,
        uri: http::Uri,
        tenant: Option<http::HeaderValue>,
        gzip: bool,
    },
}

impl Sender {
    fn new(args: &Args) -> anyhow::Result<Sender> {
        Ok(match args.protocol {
            Protocol::Grpc => {
                let endpoint = args
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| "http://127.0.0.1:4317".into());
                let channel = tonic::transport::Endpoint::from_shared(endpoint.clone())
                    .with_context(|| format!("bad gRPC endpoint {endpoint:?}"))?
                    .tcp_nodelay(true)
                    .initial_stream_window_size(4 << 20)
                    .initial_connection_window_size(16 << 20)
                    .connect_lazy();
                let tenant = match &args.tenant {
                    Some(t) => Some(t.parse().context("--tenant is not a valid header value")?),
                    None => None,
                };
                Sender::Grpc {
                    endpoint,
                    channel,
                    tenant,
                    gzip: args.gzip,
                }
            }
            Protocol::Http => {
                let mut endpoint = args
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| "http://127.0.0.1:4318/v1/traces".into());
                let uri: http::Uri = endpoint
                    .parse()
                    .with_context(|| format!("bad HTTP endpoint {endpoint:?}"))?;
                if uri.path() == "/" {
                    endpoint = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
                }
                let mut builder = Client::builder(TokioExecutor::new());
                builder.pool_max_idle_per_host(args.concurrency);
                let tenant = match &args.tenant {
                    Some(t) => Some(t.parse().context("--tenant is not a valid header value")?),
                    None => None,
                };
                Sender::Http {
                    client: Box::new(builder.build_http()),
                    uri: endpoint.parse()?,
                    tenant,
                    gzip: args.gzip,
                }
            }
        })
    }

    fn target(&self) -> String {
        match self {
            Sender::Grpc { endpoint, .. } => format!("gRPC {endpoint}"),
            Sender::Http { uri, .. } => format!("HTTP {uri}"),
        }
    }

    async fn send(&self, body: Vec<u8>) -> Outcome {
        match self {
            Sender::Grpc {
                channel,
                tenant,
                gzip,
                ..
            } => {
                let mut grpc = tonic::client::Grpc::new(channel.clone());
                if *gzip {
                    grpc = grpc.send_compressed(CompressionEncoding::Gzip);
                }
                if let Err(err) = grpc.ready().await {
                    return Outcome::Failed {
                        kind: "gRPC transport".into(),
                        message: error_chain(&err),
                    };
                }
                let mut request = tonic::Request::new(Bytes::from(body));
                if let Some(tenant) = tenant {
                    request
                        .metadata_mut()
                        .insert("x-scope-orgid", tenant.clone());
                }
                let path = http::uri::PathAndQuery::from_static(GRPC_PATH);
                match grpc.unary(request, path, ExportCodec).await {
                    Ok(response) => accepted(response.into_inner()),
                    Err(status) => Outcome::Failed {
                        kind: format!("gRPC {:?}", status.code()),
                        message: status.message().to_owned(),
                    },
                }
            }
            Sender::Http {
                client,
                uri,
                tenant,
                gzip,
            } => {
                let body = if *gzip {
                    let mut encoder = flate2::write::GzEncoder::new(
                        Vec::with_capacity(body.len() / 4),
                        flate2::Compression::fast(),
                    );
                    match encoder.write_all(&body).and_then(|()| encoder.finish()) {
                        Ok(compressed) => compressed,
                        Err(err) => {
                            return Outcome::Failed {
                                kind: "gzip".into(),
                                message: err.to_string(),
                            };
                        }
                    }
                } else {
                    body
                };
                let mut request = http::Request::post(uri.clone())
                    .header(http::header::CONTENT_TYPE, "application/x-protobuf");
                if *gzip {
                    request = request.header(http::header::CONTENT_ENCODING, "gzip");
                }
                if let Some(tenant) = tenant {
                    request = request.header("x-scope-orgid", tenant.clone());
                }
                let request = match request.body(Full::new(Bytes::from(body))) {
                    Ok(request) => request,
                    Err(err) => {
                        return Outcome::Failed {
                            kind: "request".into(),
                            message: err.to_string(),
                        };
                    }
                };
                let response = match client.request(request).await {
                    Ok(response) => response,
                    Err(err) => {
                        let kind = if err.is_connect() {
                            "HTTP connect"
                        } else {
                            "HTTP transport"
                        };
                        return Outcome::Failed {
                            kind: kind.into(),
                            message: error_chain(&err),
                        };
                    }
                };
                let status = response.status();
                let body = match response.into_body().collect().await {
                    Ok(body) => body.to_bytes(),
                    Err(err) => {
                        return Outcome::Failed {
                            kind: "HTTP transport".into(),
                            message: error_chain(&err),
                        };
                    }
                };
                if status.is_success() {
                    match prost::Message::decode(body) {
                        Ok(response) => accepted(response),
                        // A body that is not protobuf (say, JSON `{}`) has no partial success.
                        Err(_) => Outcome::Accepted {
                            rejected: 0,
                            message: String::new(),
                        },
                    }
                } else {
                    Outcome::Failed {
                        kind: format!("HTTP {}", status.as_u16()),
                        message: String::from_utf8_lossy(&body).chars().take(300).collect(),
                    }
                }
            }
        }
    }
}

fn accepted(response: ExportTraceServiceResponse) -> Outcome {
    let partial = response.partial_success.unwrap_or_default();
    Outcome::Accepted {
        rejected: partial.rejected_spans,
        message: partial.error_message,
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Everything the workers share.
struct Run {
    args: Args,
    sender: Sender,
    pool: Vec<BatchTemplate>,
    stats: Stats,
    next_sequence: AtomicU64,
    spans_claimed: AtomicU64,
    stop: AtomicBool,
    /// When the generated timestamps were "now".
    generated_at: Instant,
    started: Instant,
    deadline: Option<Instant>,
    /// Next send slot when pacing to `--rate`.
    next_slot: Mutex<Instant>,
    ids: Option<Mutex<BufWriter<File>>>,
    ids_error: Mutex<Option<String>>,
}

impl Run {
    /// Claims the next batch to send, waiting for its slot under `--rate`; `None` when the run
    /// is over.
    async fn claim(&self) -> Option<(u64, &BatchTemplate)> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let sequence = self.next_sequence.fetch_add(1, Ordering::Relaxed);
        let template = self.pool.get(sequence as usize % self.pool.len())?;
        let spans = template.span_count() as u64;
        if let Limit::Spans(limit) = self.args.limit
            && self.spans_claimed.fetch_add(spans, Ordering::Relaxed) >= limit
        {
            return None;
        }
        if self.args.rate > 0 {
            let slot = {
                let mut next = lock(&self.next_slot);
                let now = Instant::now();
                // After a stall, catch up for at most a second.
                if *next + Duration::from_secs(1) < now {
                    *next = now - Duration::from_secs(1);
                }
                let slot = *next;
                *next += Duration::from_secs_f64(spans as f64 / self.args.rate as f64);
                slot
            };
            if self.deadline.is_some_and(|deadline| slot >= deadline) {
                return None;
            }
            tokio::time::sleep_until(slot.into()).await;
        }
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => None,
            _ if self.stop.load(Ordering::Relaxed) => None,
            _ => Some((sequence, template)),
        }
    }

    async fn worker(self: Arc<Run>) {
        while let Some((sequence, template)) = self.claim().await {
            let shift = u64::try_from(self.generated_at.elapsed().as_nanos()).unwrap_or(0);
            let mut body = Vec::with_capacity(template.encoded_len());
            template.render_into(sequence, shift, &mut body);
            let spans = template.span_count() as u64;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            self.stats.spans_sent.fetch_add(spans, Ordering::Relaxed);
            self.stats
                .bytes_sent
                .fetch_add(body.len() as u64, Ordering::Relaxed);
            let started = Instant::now();
            let outcome = tokio::time::timeout(self.args.timeout, self.sender.send(body))
                .await
                .unwrap_or_else(|_| Outcome::Failed {
                    kind: "timeout".into(),
                    message: format!("no response within {:?}", self.args.timeout),
                });
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.stats.latency.record(micros);
            match outcome {
                Outcome::Accepted { rejected, message } => {
                    let rejected = u64::try_from(rejected).unwrap_or(0).min(spans);
                    self.stats
                        .spans_accepted
                        .fetch_add(spans - rejected, Ordering::Relaxed);
                    if rejected > 0 {
                        self.stats
                            .rejected_spans
                            .fetch_add(rejected, Ordering::Relaxed);
                        let mut messages = lock(&self.stats.rejection_messages);
                        if messages.len() < 5 {
                            messages.push(message);
                        }
                    }
                    self.write_ids(template, sequence);
                }
                Outcome::Failed { kind, message } => {
                    self.stats.error(kind, message);
                    // Do not spin on a server that is down or shedding load.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn write_ids(&self, template: &BatchTemplate, sequence: u64) {
        let Some(ids) = &self.ids else {
            return;
        };
        let mut text = String::with_capacity(template.trace_count() * 33);
        for i in 0..template.trace_count() {
            text.push_str(&hex::encode(template.trace_id(i, sequence)));
            text.push('\n');
        }
        if let Err(err) = lock(ids).write_all(text.as_bytes()) {
            lock(&self.ids_error).get_or_insert(err.to_string());
        }
    }

    fn flush_ids(&self) {
        if let Some(ids) = &self.ids
            && let Err(err) = lock(ids).flush()
        {
            lock(&self.ids_error).get_or_insert(err.to_string());
        }
    }
}

fn millis(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn progress(run: &Run, last: &mut (Instant, u64)) {
    let stats = &run.stats;
    let accepted = stats.spans_accepted.load(Ordering::Relaxed);
    let now = Instant::now();
    let interval = now.duration_since(last.0).as_secs_f64().max(1e-9);
    let current = (accepted - last.1) as f64 / interval;
    *last = (now, accepted);
    let q = stats.latency.quantiles(&[0.5, 0.99]);
    eprintln!(
        "[{:6.1}s] sent {} spans, accepted {} ({:.0} spans/s), errors {}, latency p50 {:.1} ms p99 {:.1} ms",
        run.started.elapsed().as_secs_f64(),
        stats.spans_sent.load(Ordering::Relaxed),
        accepted,
        current,
        stats.failed_requests.load(Ordering::Relaxed),
        millis(q[0]),
        millis(q[1]),
    );
}

fn generate(args: &Args, seed: u64) -> anyhow::Result<Vec<BatchTemplate>> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let mut workload = Workload::new(seed)
        .base_time_unix_nanos(u64::try_from(now)?)
        .spans_per_trace(args.spans_per_trace);
    (0..args.pool)
        .map(|_| {
            let data = workload.batch(args.traces_per_batch, None);
            BatchTemplate::new(encode_batch(&data)).context("a generated batch does not index")
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let Some(args) = parse_args(std::env::args().skip(1))? else {
        print!("{USAGE}");
        return Ok(());
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?;
    match args.verify.clone() {
        Some(ids) => runtime.block_on(verify(args, ids)),
        None => runtime.block_on(run(args)),
    }
}

/// `--verify`: every acknowledged trace is found by ID, with all of its spans.
async fn verify(args: Args, path: PathBuf) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let ids: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let expected = match args.spans_per_trace {
        SpansPerTrace::Exactly(n) => Some(n),
        SpansPerTrace::Standard => None,
    };
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let next = Arc::new(AtomicU64::new(0));
    let ids = Arc::new(ids);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (ids, next, client, api) =
            (ids.clone(), next.clone(), client.clone(), args.api.clone());
        workers.push(tokio::spawn(async move {
            // (traces found, spans found, missing, wrong span count, first problems)
            let mut tally = (0u64, 0u64, 0u64, 0u64, Vec::<String>::new());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(id) = ids.get(i) else { break };
                let mut attempt = 0;
                let found = loop {
                    attempt += 1;
                    match fetch_span_ids(&client, &api, id).await {
                        Ok(found) => break Ok(found),
                        Err(e) if attempt < 5 => {
                            eprintln!("loadgen: {id}: {e:#}; retrying");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        Err(e) => break Err(e),
                    }
                };
                match found {
                    Ok(Some(spans)) => {
                        tally.0 += 1;
                        tally.1 += spans as u64;
                        if expected.is_some_and(|n| n != spans) {
                            tally.3 += 1;
                            if tally.4.len() < 10 {
                                tally.4.push(format!("{id}: {spans} spans"));
                            }
                        }
                    }
                    Ok(None) => {
                        tally.2 += 1;
                        if tally.4.len() < 10 {
                            tally.4.push(format!("{id}: not found"));
                        }
                    }
                    Err(e) => anyhow::bail!("{id}: {e:#}"),
                }
            }
            Ok(tally)
        }));
    }
    let (mut traces, mut spans, mut missing, mut wrong) = (0u64, 0u64, 0u64, 0u64);
    let mut problems = Vec::new();
    for w in workers {
        let t = w.await??;
        traces += t.0;
        spans += t.1;
        missing += t.2;
        wrong += t.3;
        problems.extend(t.4);
    }
    println!(
        "loadgen verify: {} trace IDs in {}, {traces} found with {spans} spans, {missing} missing, \
         {wrong} with another span count than {}, in {:.1}s",
        ids.len(),
        path.display(),
        expected.map_or("expected".to_owned(), |n| n.to_string()),
        started.elapsed().as_secs_f64()
    );
    for p in problems.iter().take(10) {
        println!("  {p}");
    }
    if missing > 0 || wrong > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// The number of distinct span IDs of a trace by ID, `None` when it is not found.
async fn fetch_span_ids(
    client: &Client<HttpConnector, Full<Bytes>>,
    api: &str,
    id: &str,
) -> anyhow::Result<Option<usize>> {
    let request = http::Request::get(format!("{api}/api/traces/{id}"))
        .header(http::header::ACCEPT, "application/protobuf")
        .body(Full::new(Bytes::new()))?;
    let response = client.request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if status == http::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        anyhow::bail!("status {status}: {}", String::from_utf8_lossy(&body));
    }
    // Tempo's `Trace` message: its resource spans are field 1, as in OTLP's `TracesData`.
    let trace = <tempo_core::model::TracesData as prost::Message>::decode(body)?;
    let ids: std::collections::HashSet<Vec<u8>> = trace
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.span_id.clone())
        .collect();
    Ok(Some(ids.len()))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let seed = args.seed.unwrap_or_else(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        tempo_workload::mix64(nanos as u64) >> 16
    });
    let generated_at = Instant::now();
    let pool = generate(&args, seed)?;
    let pool_spans: usize = pool.iter().map(BatchTemplate::span_count).sum();
    let pool_bytes: usize = pool.iter().map(BatchTemplate::encoded_len).sum();
    let sender = Sender::new(&args)?;
    eprintln!(
        "loadgen: {} batches of {} traces ({} spans, {:.1} MB encoded) generated in {:.2}s with seed {seed}; sending to {} for {}",
        pool.len(),
        args.traces_per_batch,
        pool_spans,
        pool_bytes as f64 / 1e6,
        generated_at.elapsed().as_secs_f64(),
        sender.target(),
        match args.limit {
            Limit::Duration(d) => format!("{:?}", d),
            Limit::Spans(n) => format!("{n} spans"),
        }
    );
    let ids = match &args.write_ids {
        Some(path) => Some(Mutex::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ))),
        None => None,
    };
    let started = Instant::now();
    let run = Arc::new(Run {
        deadline: match args.limit {
            Limit::Duration(d) => Some(started + d),
            Limit::Spans(_) => None,
        },
        sender,
        pool,
        stats: Stats::new(),
        next_sequence: AtomicU64::new(0),
        spans_claimed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        generated_at,
        started,
        next_slot: Mutex::new(started),
        ids,
        ids_error: Mutex::new(None),
        args,
    });

    let workers: Vec<_> = (0..run.args.concurrency)
        .map(|_| tokio::spawn(Arc::clone(&run).worker()))
        .collect();
    let done = {
        let run = Arc::clone(&run);
        tokio::spawn(async move {
            for worker in workers {
                let _ = worker.await;
            }
            run.started.elapsed()
        })
    };
    let ticker = {
        let run = Arc::clone(&run);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_secs(1));
            interval.tick().await;
            let mut last = (run.started, 0);
            loop {
                interval.tick().await;
                progress(&run, &mut last);
                run.flush_ids();
            }
        })
    };
    let stopper = {
        let run = Arc::clone(&run);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("loadgen: interrupted; waiting for requests in flight");
                run.stop.store(true, Ordering::Relaxed);
            }
        })
    };
    let elapsed = done.await?;
    ticker.abort();
    stopper.abort();
    run.flush_ids();
    report(&run, elapsed, seed)
}

fn report(run: &Run, elapsed: Duration, seed: u64) -> anyhow::Result<()> {
    let stats = &run.stats;
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let accepted = stats.spans_accepted.load(Ordering::Relaxed);
    let requests = stats.requests.load(Ordering::Relaxed);
    let failed = stats.failed_requests.load(Ordering::Relaxed);
    let rejected = stats.rejected_spans.load(Ordering::Relaxed);
    let q = stats.latency.quantiles(&[0.5, 0.99]);
    let max = stats.latency.max.load(Ordering::Relaxed);
    let errors = lock(&stats.errors).clone();
    let rejections = lock(&stats.rejection_messages).clone();
    let protocol = match run.args.protocol {
        Protocol::Grpc => "grpc",
        Protocol::Http => "http",
    };

    println!(
        "loadgen report ({protocol}, {}, seed {seed})",
        run.sender.target()
    );
    println!("  elapsed            {seconds:.2} s");
    println!(
        "  spans accepted     {accepted} ({:.0} spans/s)",
        accepted as f64 / seconds
    );
    println!(
        "  spans sent         {}",
        stats.spans_sent.load(Ordering::Relaxed)
    );
    println!(
        "  requests           {requests} ({:.1}/s), {failed} failed",
        requests as f64 / seconds
    );
    println!(
        "  bytes sent         {:.1} MB uncompressed",
        stats.bytes_sent.load(Ordering::Relaxed) as f64 / 1e6
    );
    println!(
        "  request latency    p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        millis(q[0]),
        millis(q[1]),
        millis(max)
    );
    println!("  rejected spans     {rejected}");
    for message in &rejections {
        println!("    {message}");
    }
    for (kind, (count, message)) in &errors {
        println!("  error {kind:<14} {count} (first: {message})");
    }
    if let Some(err) = lock(&run.ids_error).as_ref() {
        println!("  writing trace IDs failed: {err}");
    }

    if let Some(path) = &run.args.report_json {
        let errors: serde_json::Map<String, serde_json::Value> = errors
            .iter()
            .map(|(kind, (count, message))| {
                (
                    kind.clone(),
                    serde_json::json!({ "count": count, "first_message": message }),
                )
            })
            .collect();
        let json = serde_json::json!({
            "protocol": protocol,
            "target": run.sender.target(),
            "seed": seed,
            "traces_per_batch": run.args.traces_per_batch,
            "spans_per_trace": match run.args.spans_per_trace {
                SpansPerTrace::Standard => serde_json::json!("standard"),
                SpansPerTrace::Exactly(n) => serde_json::json!(n),
            },
            "concurrency": run.args.concurrency,
            "rate_target": run.args.rate,
            "gzip": run.args.gzip,
            "elapsed_seconds": seconds,
            "spans_sent": stats.spans_sent.load(Ordering::Relaxed),
            "spans_accepted": accepted,
            "spans_per_second": accepted as f64 / seconds,
            "requests": requests,
            "failed_requests": failed,
            "bytes_sent": stats.bytes_sent.load(Ordering::Relaxed),
            "latency_ms": { "p50": millis(q[0]), "p99": millis(q[1]), "max": millis(max) },
            "rejected_spans": rejected,
            "rejection_messages": rejections,
            "errors": errors,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
