//! A service that records its own traces in an embedded on-disk store and serves Tempo's query
//! API for them on a side port: no collector, no tracing backend, one process.
//!
//! ```text
//! cargo run --example embedded_service                # drives itself for a moment, then exits
//! cargo run --example embedded_service -- --serve     # keeps serving until Ctrl-C
//! cargo run --example embedded_service -- --serve --dir ./shop-traces
//! ```
//!
//! The shop's handlers are instrumented with `tracing`; `tracing-opentelemetry` turns their
//! spans into OpenTelemetry spans, and the SDK's batch processor hands them to
//! [`StoreExporter`], which writes them into the [`Store`] (write-ahead log, then blocks on
//! local disk) on the processor's thread.
//!
//! The side port serves Tempo's whole query API with `tempo_server::api_router`: trace by ID
//! (v1 and v2, JSON and protobuf), TraceQL search, tag names and values, so Grafana's Tempo
//! data source can point at it.
//!
//! The store's metrics generator is on (span metrics and service graphs): the series Grafana's
//! service graph and RED tables read, derived in-process with no Prometheus in between.
//!
//! Without `--serve`, it sends itself a few dozen requests, queries its own API and prints
//! what it found, then the service graph's edges and the request rate per operation.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use prost::Message as _;
use serde_json::{Value as Json, json};
use tempo::core::generator::GeneratorConfig;
use tempo::core::{SINGLE_TENANT, Store};
use tempo::otlp::sdk::StoreExporter;
use tracing_subscriber::layer::SubscriberExt as _;

/// Requests the self-driving run sends.
const REQUESTS: u64 = 40;

// ---------------------------------------------------------------------------------------------
// The service: a product catalogue, instrumented with `tracing`.

#[tracing::instrument(
    name = "GET /products/{id}",
    skip_all,
    fields(
        otel.kind = "server",
        http.request.method = "GET",
        http.route = "/products/{id}",
        product.id = id,
        http.response.status_code,
    )
)]
async fn get_product(Path(id): Path<i64>) -> Response {
    let span = tracing::Span::current();
    let cached = cache_get(id).await;
    let result = match cached {
        Some(name) => Ok(name),
        None => db_query(id).await,
    };
    let (status, body) = match result {
        Ok(name) => (StatusCode::OK, json!({ "id": id, "name": name })),
        Err(message) => {
            tracing::error!(error = %message, "query failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": message }),
            )
        }
    };
    span.record("http.response.status_code", i64::from(status.as_u16()));
    json_response(status, &body)
}

#[tracing::instrument(name = "cache.get", fields(otel.kind = "client", db.system = "redis"))]
async fn cache_get(id: i64) -> Option<String> {
    tokio::time::sleep(Duration::from_micros(200)).await;
    (id % 3 == 0).then(|| format!("product {id} (cached)"))
}

#[tracing::instrument(
    name = "db.query",
    err,
    fields(otel.kind = "client", db.system = "postgresql", db.statement = "SELECT name FROM products WHERE id = $1")
)]
async fn db_query(id: i64) -> Result<String, String> {
    tokio::time::sleep(Duration::from_millis(1 + (id % 4) as u64)).await;
    if id % 13 == 0 {
        return Err("connection reset by peer".to_owned());
    }
    Ok(format!("product {id}"))
}

fn json_response(status: StatusCode, body: &Json) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------

struct Args {
    serve: bool,
    dir: Option<PathBuf>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        serve: false,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--serve" => args.serve = true,
            "--dir" => args.dir = Some(it.next().context("--dir needs a value")?.into()),
            other => anyhow::bail!("unknown argument {other}; expected --serve and --dir DIR"),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let temp;
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_owned()
        }
    };

    // 1. The embedded store, laid out like tempo-server's: DIR/wal and DIR/blocks.
    let store = Store::builder()
        .wal_dir(dir.join("wal"))
        .local_blocks(dir.join("blocks"))?
        .metrics_generator(GeneratorConfig::all())
        .open()?;

    // 2. OpenTelemetry SDK -> batch processor -> StoreExporter -> store; `tracing` on top.
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("catalogue").build())
        .with_batch_exporter(StoreExporter::new(store.clone()))
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("catalogue")));
    tracing::subscriber::set_global_default(subscriber)?;

    // 3. The service, and Tempo's API on a side port.
    let (app_port, api_port) = if args.serve { (8080, 3200) } else { (0, 0) };
    let app = axum::Router::new().route("/products/{id}", get(get_product));
    let api = tempo_server::api_router(store.clone(), tempo_server::ApiOptions::default());
    let app_listener = tokio::net::TcpListener::bind(("127.0.0.1", app_port)).await?;
    let api_listener = tokio::net::TcpListener::bind(("127.0.0.1", api_port)).await?;
    let (app_addr, api_addr) = (app_listener.local_addr()?, api_listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let servers = [
        tokio::spawn(
            axum::serve(app_listener, app)
                .with_graceful_shutdown(stopped(stop_rx.clone()))
                .into_future(),
        ),
        tokio::spawn(
            axum::serve(api_listener, api)
                .with_graceful_shutdown(stopped(stop_rx))
                .into_future(),
        ),
    ];
    println!(
        "service on http://{app_addr}, Tempo API on http://{api_addr}, data in {}",
        dir.display()
    );

    if args.serve {
        println!("try:\n  curl http://{app_addr}/products/26");
        println!("  curl 'http://{api_addr}/api/search?q=%7B%20status%20%3D%20error%20%7D'");
        println!("  curl http://{api_addr}/api/traces/<trace id from the search>");
        tokio::signal::ctrl_c().await?;
    } else {
        drive(app_addr, api_addr, &provider).await?;
        print_generated(&store);
    }

    let _ = stop_tx.send(true);
    for server in servers {
        server.await??;
    }
    provider.shutdown()?;
    store.close()?;
    Ok(())
}

/// Sends the service some requests, then asks its own Tempo API about them.
async fn drive(
    app: SocketAddr,
    api: SocketAddr,
    provider: &SdkTracerProvider,
) -> anyhow::Result<()> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let get = |uri: String, accept: Option<&'static str>| {
        let client = client.clone();
        async move {
            let mut request = http::Request::get(uri.as_str());
            if let Some(accept) = accept {
                request = request.header(header::ACCEPT, accept);
            }
            let response = client.request(request.body(Empty::new())?).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        }
    };

    let mut errors = 0;
    for id in 1..=REQUESTS {
        let (status, _) = get(format!("http://{app}/products/{id}"), None).await?;
        errors += usize::from(status.is_server_error());
    }
    println!("sent {REQUESTS} requests, {errors} failed");
    // The batch processor exports every few seconds or every 512 spans: flush now.
    provider.force_flush()?;

    let query = r#"{ span.http.response.status_code = 500 } >> { status = error }"#;
    let uri = format!(
        "http://{api}/api/search?q={}&limit=5",
        query
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>()
    );
    let (status, body) = get(uri, None).await?;
    anyhow::ensure!(status.is_success(), "search failed: {status} {body:?}");
    let found: Json = serde_json::from_slice(&body)?;
    let traces = found["traces"].as_array().cloned().unwrap_or_default();
    println!("\nGET /api/search?q={query}\n  {} traces:", traces.len());
    for t in &traces {
        let spans = t["spanSets"][0]["spans"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let names: Vec<&str> = spans.iter().filter_map(|s| s["name"].as_str()).collect();
        println!(
            "  {}  {}  {} ms  failed: {names:?}",
            t["traceID"].as_str().unwrap_or("?"),
            t["rootTraceName"].as_str().unwrap_or("?"),
            t["durationMs"]
        );
    }

    let Some(first) = traces.first().and_then(|t| t["traceID"].as_str()) else {
        anyhow::bail!("no failed trace found");
    };
    let (status, body) = get(format!("http://{api}/api/traces/{first}"), None).await?;
    anyhow::ensure!(status.is_success(), "trace by ID failed: {status}");
    let trace: Json = serde_json::from_slice(&body)?;
    println!("\nGET /api/traces/{first}");
    for span in trace["batches"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "  {:<20} {:<18} status {}",
            span["name"].as_str().unwrap_or("?"),
            span["kind"].as_str().unwrap_or("?"),
            span["status"]["code"].as_str().unwrap_or("?")
        );
    }
    let (status, body) = get(
        format!("http://{api}/api/traces/{first}"),
        Some("application/protobuf"),
    )
    .await?;
    let decoded = tempo::core::model::TracesData::decode(body)?;
    println!(
        "  (as protobuf: {status}, {} resource spans)",
        decoded.resource_spans.len()
    );
    Ok(())
}

/// Prints the service graph's edges and the calls per operation that the store's metrics
/// generator derived from the spans.
fn print_generated(store: &Store) {
    let series = store.generated_series(SINGLE_TENANT);
    let label = |labels: &[(String, String)], name: &str| {
        labels
            .iter()
            .find(|(k, _)| k == name)
            .map_or(String::new(), |(_, v)| v.clone())
    };
    println!("\nservice graph (traces_service_graph_request_total):");
    for s in series
        .iter()
        .filter(|s| s.name == "traces_service_graph_request_total")
    {
        let connection = label(&s.labels, "connection_type");
        println!(
            "  {} -> {}{}: {} requests",
            label(&s.labels, "client"),
            label(&s.labels, "server"),
            if connection.is_empty() {
                String::new()
            } else {
                format!(" ({connection})")
            },
            s.value
        );
    }
    println!("calls per operation (traces_spanmetrics_calls_total):");
    for s in series
        .iter()
        .filter(|s| s.name == "traces_spanmetrics_calls_total")
    {
        println!(
            "  {} {} {} {}: {}",
            label(&s.labels, "service"),
            label(&s.labels, "span_name"),
            label(&s.labels, "span_kind"),
            label(&s.labels, "status_code"),
            s.value
        );
    }
}
