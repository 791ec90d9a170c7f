//! `tempo-server`: Grafana Tempo's HTTP API and OTLP receivers over the tempo trace store.
//!
//! The `tempo-server` binary serves Tempo's HTTP API (default port 3200), OTLP/gRPC (4317) and
//! OTLP/HTTP (4318), storing under `./tempo-data` unless a Tempo-style YAML configuration says
//! otherwise; run `tempo-server --help` for the flags.
//!
//! As a library it gives an embedding service Tempo's query API over its own
//! [`Store`](tempo_core::Store), to serve on a port of its choosing with axum:
//!
//! ```
//! let store = tempo_core::Store::in_memory();
//! let app: axum::Router = tempo_server::api_router(store, tempo_server::ApiOptions::default());
//! # drop(app);
//! ```
//!
//! It is not the storage engine (`tempo-core`) nor the OTLP receivers (`tempo-otlp`); it wires
//! them to Tempo's configuration and API.

mod api;
mod args;
mod config;
mod federation;
mod generator;
mod inspect;
mod listen;
mod metrics;
mod nofile;
mod peers;
mod render;
mod storage;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tempo_core::Store;
use tempo_otlp::{Receiver, ReceiverConfig, ThriftProtocol, TraceServiceServer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::api::Readiness;
use crate::args::{Args, Command};
use crate::config::{Config, ListenerConfig};
use crate::listen::{ListenerStats, Protocol, ReadTimeoutLayer};
use crate::metrics::{LatencyLayer, Metrics};

/// Options of [`api_router`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiOptions {
    /// Take the tenant from the `X-Scope-OrgID` header, as Tempo does with multi-tenancy on;
    /// otherwise everything is tenant `single-tenant`. Off by default.
    pub multitenancy_enabled: bool,
    /// With multi-tenancy on, let a query name several tenants (`X-Scope-OrgID: a|b`) and
    /// combine their answers, as Tempo's `query_frontend.multi_tenant_queries_enabled`. On
    /// by default.
    pub multi_tenant_queries_enabled: bool,
    /// Serve Tempo's streaming querier (gRPC over HTTP/2 on the same port: search, tags,
    /// values and metrics queries as Grafana asks with streaming on), as Tempo's
    /// `stream_over_http_enabled`. On by default.
    pub stream_over_http_enabled: bool,
    /// The most exemplars a TraceQL metrics query returns, and how many when the client asks
    /// for none in particular, as Tempo's `query_frontend.metrics.max_exemplars` (100, also
    /// the most; 0: none).
    pub metrics_max_exemplars: usize,
    /// The most series a metrics query returns before its answer is cut and marked partial,
    /// as Tempo's `query_frontend.metrics.max_response_series` (1000 here, where Tempo has
    /// no limit; 0: no limit). A client may ask for fewer with `maxSeries`.
    pub metrics_max_response_series: usize,
    /// How long before now a metrics query's end is brought back to at most, as Tempo's
    /// `query_frontend.query_end_cutoff` (30 s; zero: not at all).
    pub query_end_cutoff: Duration,
}

impl Default for ApiOptions {
    fn default() -> ApiOptions {
        ApiOptions {
            multitenancy_enabled: false,
            multi_tenant_queries_enabled: true,
            stream_over_http_enabled: true,
            metrics_max_exemplars: tempo_core::MAX_EXEMPLARS,
            metrics_max_response_series: tempo_core::query::DEFAULT_MAX_SERIES,
            query_end_cutoff: Duration::from_secs(30),
        }
    }
}

impl ApiOptions {
    /// Sets whether the tenant comes from the `X-Scope-OrgID` header.
    pub fn multitenancy_enabled(mut self, enabled: bool) -> ApiOptions {
        self.multitenancy_enabled = enabled;
        self
    }

    /// Sets whether a query may name several tenants.
    pub fn multi_tenant_queries_enabled(mut self, enabled: bool) -> ApiOptions {
        self.multi_tenant_queries_enabled = enabled;
        self
    }

    /// Sets whether Tempo's streaming querier is served.
    pub fn stream_over_http_enabled(mut self, enabled: bool) -> ApiOptions {
        self.stream_over_http_enabled = enabled;
        self
    }

    /// Sets the most exemplars a metrics query returns (at most 100).
    pub fn metrics_max_exemplars(mut self, n: usize) -> ApiOptions {
        self.metrics_max_exemplars = n.min(tempo_core::MAX_EXEMPLARS);
        self
    }

    /// Sets the most series a metrics query returns (0: no limit).
    pub fn metrics_max_response_series(mut self, n: usize) -> ApiOptions {
        self.metrics_max_response_series = n;
        self
    }

    /// Sets how long before now a metrics query's end is brought back to at most.
    pub fn query_end_cutoff(mut self, cutoff: Duration) -> ApiOptions {
        self.query_end_cutoff = cutoff;
        self
    }
}

/// Tempo's HTTP query API over `store`: trace by ID (v1, v2), search, tag names and values,
/// TraceQL metrics (range and instant), `/api/echo`, `/ready`, `/api/status/buildinfo`,
/// `/metrics` and the metrics generator's series at `/metrics/generator`, exactly as
/// `tempo-server` serves them. Store work runs on tokio's blocking
/// pool: serve it on a tokio runtime.
pub fn api_router(store: Store, options: ApiOptions) -> axum::Router {
    let metrics = Arc::new(Metrics::default());
    api::router(api::ApiState {
        store,
        metrics: metrics.clone(),
        multitenancy_enabled: options.multitenancy_enabled,
        multi_tenant_queries_enabled: options.multi_tenant_queries_enabled,
        streaming: options.stream_over_http_enabled,
        metrics_query: api::MetricsQueryLimits {
            max_exemplars: options.metrics_max_exemplars.min(tempo_core::MAX_EXEMPLARS),
            max_series: options.metrics_max_response_series,
            end_cutoff: options.query_end_cutoff,
        },
        readiness: Arc::new(Readiness::new(0)),
        generator_rules: Arc::default(),
    })
    .layer(LatencyLayer {
        metrics,
        known_paths: api::PATHS,
    })
}

/// The `tempo-server` command: parses the arguments and runs it.
#[doc(hidden)]
pub fn main() -> std::process::ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("tempo-server: {message}\nRun 'tempo-server --help' for the flags.");
            return std::process::ExitCode::from(2);
        }
    };
    match args.command {
        Command::Help => {
            print!("{}", args::HELP);
            std::process::ExitCode::SUCCESS
        }
        Command::Version => {
            println!("tempo-server {}", env!("CARGO_PKG_VERSION"));
            std::process::ExitCode::SUCCESS
        }
        Command::Block(ref block) => inspect::run_block_command(block),
        Command::Serve => match serve(&args) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("tempo-server: {err:#}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}

fn load_config(args: &Args) -> anyhow::Result<(Config, Vec<String>)> {
    let (mut config, unknown) = match &args.config_file {
        Some(path) if args.expand_env => Config::load_expanding_env(path)?,
        Some(path) => Config::load(path)?,
        None => (Config::default(), Vec::new()),
    };
    args.apply_overrides(&mut config)?;
    Ok((config, unknown))
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn serve(args: &Args) -> anyhow::Result<()> {
    let (config, unknown) = load_config(args)?;
    init_logging(&config.log_level);
    for key in &unknown {
        tracing::warn!(key = %key, "configuration key not supported by this server; ignored");
    }
    config.log_summary();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tempo-server")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(config))
}

/// Resolves a `host:port` endpoint. A host that does not resolve (such as `tempo`, the
/// container name in Tempo's docker-compose examples) falls back to all interfaces.
async fn resolve(endpoint: &str, what: &str) -> anyhow::Result<SocketAddr> {
    match tokio::net::lookup_host(endpoint).await {
        Ok(mut addrs) => addrs
            .next()
            .with_context(|| format!("{what} endpoint {endpoint:?} resolves to no address")),
        Err(err) => {
            let port = endpoint
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .with_context(|| format!("{what} endpoint {endpoint:?} is not host:port"))?;
            tracing::warn!(endpoint, error = %err, "{what} host does not resolve; listening on all interfaces");
            Ok(SocketAddr::from(([0, 0, 0, 0], port)))
        }
    }
}

async fn bind(endpoint: &str, what: &str) -> anyhow::Result<TcpListener> {
    let addr = resolve(endpoint, what).await?;
    listen::bind(addr).with_context(|| format!("binding the {what} listener on {addr}"))
}

async fn run(config: Config) -> anyhow::Result<()> {
    let nofile = nofile::raise();
    // The store's settings one by one: the builder has no setter for some of them (the
    // metrics query limits), and `Store::open` checks them all as the builder would.
    let mut store_config = tempo_core::Config::default();
    store_config.wal_dir = Some(config.wal_path.clone());
    store_config.fsync = config.wal_fsync;
    store_config.trace_idle_period = config.trace_idle_period;
    store_config.max_block_bytes = config.max_block_bytes;
    store_config.max_block_duration = config.max_block_duration;
    store_config.block_retention = config.block_retention;
    store_config.compaction_window = config.compaction_window;
    store_config.compacted_block_retention = config.compacted_block_retention;
    store_config.max_bytes_per_trace = config.max_bytes_per_trace;
    store_config.max_attribute_bytes = config.max_attribute_bytes;
    store_config.ingestion_time_range_slack = config.ingestion_time_range_slack;
    store_config.max_query_bytes = config.max_query_bytes;
    store_config.metrics_max_duration = config.metrics_max_duration;
    store_config.metrics_max_intervals = config.metrics_max_intervals;
    store_config.metrics_generator = config.metrics_generator.core.clone();
    store_config.blocklist_poll = config.blocklist_poll;
    if let Some(path) = &config.per_tenant_override_config {
        let (limits, unknown) = config::load_tenant_overrides(path)
            .with_context(|| format!("reading the overrides file {}", path.display()))?;
        for key in unknown {
            tracing::warn!(file = %path.display(), key, "override not supported by this server; ignored");
        }
        tracing::info!(file = %path.display(), tenants = limits.len(), "tenant overrides loaded");
        store_config.tenant_limits = limits;
    }
    let blocks = storage::open_backend(&config)?;
    store_config.blocks = Some(blocks);
    let store = Store::open(store_config)
        .with_context(|| format!("opening the store (WAL in {})", config.wal_path.display()))?;

    if let Some(path) = config.per_tenant_override_config.clone() {
        tokio::spawn(reload_overrides(store.clone(), path));
    }

    let metrics = Arc::new(Metrics::default());
    let remote_writer = match generator::remote_write::RemoteWriter::start(
        store.clone(),
        &config.metrics_generator,
    ) {
        Some((writer, endpoints)) => {
            for e in endpoints {
                metrics.register_remote_write(e);
            }
            Some(writer)
        }
        None => None,
    };
    let receiver = Receiver::new(
        store.clone(),
        ReceiverConfig {
            multitenancy_enabled: config.multitenancy_enabled,
            max_grpc_message_bytes: config.otlp_grpc_max_recv_msg_size,
            max_http_body_bytes: config.otlp_http_max_request_bytes,
        },
    )
    .with_observer(metrics.clone());

    let tcp_listeners = 1
        + usize::from(config.otlp_http_endpoint.is_some())
        + usize::from(config.otlp_grpc_endpoint.is_some())
        + usize::from(config.jaeger_grpc.is_some())
        + usize::from(config.jaeger_thrift_http.is_some())
        + usize::from(config.zipkin.is_some());
    let udp_listeners = usize::from(config.jaeger_thrift_compact.is_some())
        + usize::from(config.jaeger_thrift_binary.is_some());
    let limits = ConnLimits::new(&config, nofile, tcp_listeners);
    let readiness = Arc::new(Readiness::new(tcp_listeners + udp_listeners));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut start = Starter {
        tasks: &mut tasks,
        metrics: &metrics,
        readiness: &readiness,
        shutdown: &shutdown_rx,
    };

    // The API first, so that `/ready` answers (503) while the receivers bind.
    let api = api::router(api::ApiState {
        store: store.clone(),
        metrics: metrics.clone(),
        multitenancy_enabled: config.multitenancy_enabled,
        multi_tenant_queries_enabled: config.multi_tenant_queries_enabled,
        streaming: config.stream_over_http_enabled,
        metrics_query: api::MetricsQueryLimits {
            max_exemplars: config.metrics_max_exemplars,
            max_series: config.metrics_max_response_series,
            end_cutoff: config.query_end_cutoff,
        },
        readiness: readiness.clone(),
        generator_rules: Arc::new(generator::SeriesRules::new(&config.metrics_generator)),
    })
    .merge(peers::router(store.clone()));
    peers::configure(&config.peers, config.peer_timeout);
    start.listener(
        bind(&config.http_listen_addr(), "HTTP API").await?,
        api,
        listen::Spec {
            what: "Tempo HTTP API",
            protocol: Protocol::Http,
            config: limits.apply(&config.api_listener),
        },
        "http",
        api::PATHS,
    )?;
    if let Some(endpoint) = &config.otlp_http_endpoint {
        start.listener(
            bind(endpoint, "OTLP/HTTP").await?,
            tempo_otlp::http_router(receiver.clone()),
            listen::Spec {
                what: "OTLP/HTTP receiver",
                protocol: Protocol::Http,
                config: limits.apply(&config.otlp_http_listener),
            },
            "otlp_http",
            &[tempo_otlp::TRACES_PATH],
        )?;
    }
    if let Some(endpoint) = &config.otlp_grpc_endpoint {
        start.listener(
            bind(endpoint, "OTLP/gRPC").await?,
            axum::Router::new().fallback_service(TraceServiceServer::new(receiver.clone())),
            listen::Spec {
                what: "OTLP/gRPC receiver",
                protocol: Protocol::Grpc,
                config: limits.apply(&config.otlp_grpc_listener),
            },
            "otlp_grpc",
            &["/opentelemetry.proto.collector.trace.v1.TraceService/Export"],
        )?;
    }

    // Jaeger and Zipkin: each with a receiver of its own, for its own size limit.
    let receiver_for = |max_bytes: usize| {
        Receiver::new(
            store.clone(),
            ReceiverConfig {
                multitenancy_enabled: config.multitenancy_enabled,
                max_grpc_message_bytes: max_bytes,
                max_http_body_bytes: max_bytes,
            },
        )
        .with_observer(metrics.clone())
    };
    if let Some(r) = &config.jaeger_thrift_http {
        start.listener(
            bind(&r.endpoint, "Jaeger Thrift/HTTP").await?,
            tempo_otlp::jaeger::thrift_http_router(receiver_for(r.max_bytes)),
            listen::Spec {
                what: "Jaeger Thrift/HTTP receiver",
                protocol: Protocol::Http,
                config: limits.apply(&r.listener),
            },
            "jaeger_thrift_http",
            &[tempo_otlp::jaeger::JAEGER_TRACES_PATH],
        )?;
    }
    if let Some(r) = &config.jaeger_grpc {
        start.listener(
            bind(&r.endpoint, "Jaeger gRPC").await?,
            axum::Router::new().fallback_service(tempo_otlp::jaeger::CollectorServiceServer::new(
                receiver_for(r.max_bytes),
            )),
            listen::Spec {
                what: "Jaeger gRPC receiver",
                protocol: Protocol::Grpc,
                config: limits.apply(&r.listener),
            },
            "jaeger_grpc",
            &[tempo_otlp::jaeger::POST_SPANS_PATH],
        )?;
    }
    if let Some(r) = &config.zipkin {
        start.listener(
            bind(&r.endpoint, "Zipkin").await?,
            tempo_otlp::zipkin::router(receiver_for(r.max_bytes)),
            listen::Spec {
                what: "Zipkin receiver",
                protocol: Protocol::Http,
                config: limits.apply(&r.listener),
            },
            "zipkin",
            &[
                tempo_otlp::zipkin::ZIPKIN_V2_PATH,
                tempo_otlp::zipkin::ZIPKIN_V1_PATH,
            ],
        )?;
    }
    for (endpoint, protocol, what) in [
        (
            &config.jaeger_thrift_compact,
            ThriftProtocol::Compact,
            "Jaeger Thrift compact/UDP",
        ),
        (
            &config.jaeger_thrift_binary,
            ThriftProtocol::Binary,
            "Jaeger Thrift binary/UDP",
        ),
    ] {
        let Some(endpoint) = endpoint else { continue };
        let addr = resolve(endpoint, what).await?;
        let socket = tokio::net::UdpSocket::bind(addr)
            .await
            .with_context(|| format!("binding the {what} receiver on {addr}"))?;
        tracing::info!(addr = %socket.local_addr()?, "{what} receiver listening");
        let mut shutdown = shutdown_rx.clone();
        tasks.spawn(tempo_otlp::jaeger::serve_agent_udp(
            socket,
            protocol,
            receiver_for(0),
            async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            },
        ));
        readiness.bound();
    }

    tracing::info!(
        wal = %config.wal_path.display(),
        multitenancy = config.multitenancy_enabled,
        "tempo-server ready"
    );

    let signal = shutdown_signal();
    tokio::pin!(signal);
    let mut failure = None;
    tokio::select! {
        () = &mut signal => {}
        Some(result) = tasks.join_next() => {
            // A listener stopped on its own: that is a failure, shut the rest down.
            failure = Some(match result {
                Ok(()) => anyhow::anyhow!("a listener stopped unexpectedly"),
                Err(e) => anyhow::anyhow!("a listener panicked: {e}"),
            });
        }
    }
    tracing::info!("shutting down: no new connections; finishing in-flight requests");
    readiness.stop();
    let _ = shutdown_tx.send(true);
    let drain = async {
        while let Some(result) = tasks.join_next().await {
            if let Err(e) = result {
                tracing::error!(error = %e, "listener task failed");
            }
        }
    };
    if tokio::time::timeout(config.graceful_shutdown_timeout, drain)
        .await
        .is_err()
    {
        tracing::warn!(
            timeout = ?config.graceful_shutdown_timeout,
            "in-flight requests did not finish within the graceful shutdown timeout; stopping anyway"
        );
    }
    // The generator's last series are collected and sent (within the flush deadline) while
    // the store closes: ingestion has stopped, and closing leaves the series readable.
    let flushing = remote_writer.map(|w| tokio::spawn(w.shutdown()));
    let closing = store.clone();
    let closed = tokio::task::spawn_blocking(move || closing.close())
        .await
        .context("closing the store")?
        .context("syncing the write-ahead log");
    if let Some(flushing) = flushing
        && let Err(e) = flushing.await
    {
        tracing::error!(error = %e, "remote write shutdown failed");
    }
    closed?;
    tracing::info!("write-ahead log synced; stopped");
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The connection caps in force: configured ones, and a share of the open-files limit for
/// the others.
struct ConnLimits {
    automatic: usize,
}

impl ConnLimits {
    /// Works out the automatic cap and warns when the caps together leave the store too few
    /// file descriptors.
    fn new(config: &Config, nofile: nofile::OpenFilesLimit, listeners: usize) -> ConnLimits {
        let limits = ConnLimits {
            automatic: nofile::default_conn_limit(nofile.soft, listeners),
        };
        let mut configs = vec![&config.api_listener];
        if config.otlp_http_endpoint.is_some() {
            configs.push(&config.otlp_http_listener);
        }
        if config.otlp_grpc_endpoint.is_some() {
            configs.push(&config.otlp_grpc_listener);
        }
        for r in [
            &config.jaeger_grpc,
            &config.jaeger_thrift_http,
            &config.zipkin,
        ]
        .into_iter()
        .flatten()
        {
            configs.push(&r.listener);
        }
        let total: u64 = configs
            .iter()
            .map(|c| u64::try_from(limits.apply(c).conn_limit).unwrap_or(u64::MAX))
            .fold(0, u64::saturating_add);
        let available = nofile.soft.saturating_sub(nofile::reserved(nofile.soft));
        if total > available {
            tracing::warn!(
                connection_limits = total,
                open_files_limit = nofile.soft,
                left_for_connections = available,
                "the connection limits add up to more file descriptors than the open files limit \
                 leaves for connections: under a flood, the store may run out of descriptors; \
                 raise the limit (ulimit -n) or lower the connection limits"
            );
        }
        limits
    }

    /// `config` with its cap in force.
    fn apply(&self, config: &ListenerConfig) -> ListenerConfig {
        let mut config = config.clone();
        if config.conn_limit == 0 {
            config.conn_limit = self.automatic;
        }
        config
    }
}

/// Starts listeners one by one, each counting as bound for [`Readiness`].
struct Starter<'a> {
    tasks: &'a mut JoinSet<()>,
    metrics: &'a Arc<Metrics>,
    readiness: &'a Arc<Readiness>,
    shutdown: &'a watch::Receiver<bool>,
}

impl Starter<'_> {
    /// Serves `router` on `listener` with the connection limits of `spec`, request bodies
    /// bounded by its read timeout and request latencies recorded; `label` names it in the
    /// connection metrics, `known_paths` in the latency ones.
    fn listener(
        &mut self,
        listener: TcpListener,
        router: axum::Router,
        spec: listen::Spec,
        label: &'static str,
        known_paths: &'static [&'static str],
    ) -> anyhow::Result<()> {
        let stats = Arc::new(ListenerStats::new(label));
        self.metrics.register_listener(stats.clone());
        let router = router
            .layer(ReadTimeoutLayer {
                timeout: spec.config.read_timeout,
                protocol: spec.protocol,
                stats: stats.clone(),
            })
            .layer(LatencyLayer {
                metrics: self.metrics.clone(),
                known_paths,
            });
        let c = &spec.config;
        tracing::info!(
            addr = %listener.local_addr()?,
            conn_limit = c.conn_limit,
            header_timeout = ?c.header_timeout,
            read_timeout = ?c.read_timeout,
            write_timeout = ?c.write_timeout,
            idle_timeout = ?c.idle_timeout,
            max_connection_age = ?c.max_connection_age,
            "{} listening",
            spec.what
        );
        self.tasks.spawn(listen::serve(
            listener,
            router,
            spec,
            stats,
            self.shutdown.clone(),
        ));
        self.readiness.bound();
        Ok(())
    }
}

/// How often the tenant overrides file is checked for changes, as Tempo's runtime
/// configuration.
const OVERRIDES_PERIOD: std::time::Duration = std::time::Duration::from_secs(10);

/// Reloads the tenant overrides file when it changes; a file that does not read keeps the
/// limits in force, and says why.
async fn reload_overrides(store: Store, path: std::path::PathBuf) {
    let stamp = |p: &std::path::Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.len(), m.modified().ok()))
    };
    let mut last = stamp(&path);
    loop {
        tokio::time::sleep(OVERRIDES_PERIOD).await;
        let now = stamp(&path);
        if now == last {
            continue;
        }
        last = now;
        let read = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || config::load_tenant_overrides(&path)).await
        };
        match read {
            Ok(Ok((limits, _))) => {
                tracing::info!(file = %path.display(), tenants = limits.len(), "tenant overrides reloaded");
                store.set_tenant_limits(limits);
            }
            Ok(Err(e)) => {
                tracing::error!(file = %path.display(), error = %e, "tenant overrides not reloaded; the previous ones stay in force");
            }
            Err(e) => tracing::error!(error = %e, "reloading tenant overrides failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}
