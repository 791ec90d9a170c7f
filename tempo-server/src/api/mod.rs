//! api: which handler answers a request to Tempo's HTTP API?
//!
//! The router of Tempo's HTTP API: trace by ID (v1 and v2, JSON or protobuf), search, tag
//! names and values (v1 and v2), TraceQL metrics (range and instant, JSON or protobuf), and
//! the operational endpoints `/api/echo`, `/ready`, `/api/status/buildinfo` and `/metrics`,
//! and the metrics generator's series for a scraper, `/metrics/generator`.
//! Every refusal has its status and a plain-text message, as Tempo sends them. Store work
//! runs on the blocking thread pool, never on the async runtime.
//!
//! Each concern has its module, and none imports this one:
//!
//! - [`state`]: what the handlers share, and how they call the store;
//! - [`error`]: the rejections, each with its status and message;
//! - [`extract`]: the typed extractors (tenants, parameters, time range, trace ID);
//! - [`trace`], [`search`], [`tags`], [`metrics_query`], [`ops`], [`generated`]: the handlers.

mod error;
mod extract;
mod generated;
mod metrics_query;
mod ops;
mod search;
mod state;
mod stream;
mod tags;
mod trace;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use error::ApiError;
pub(crate) use state::{ApiState, MetricsQueryLimits, Readiness};
use tags::{V1, V2};

/// The paths of the API, for metric labels.
pub(crate) const PATHS: &[&str] = &[
    "/api/traces/{traceID}",
    "/api/v2/traces/{traceID}",
    "/api/search",
    "/api/search/tags",
    "/api/v2/search/tags",
    "/api/search/tag/{tagName}/values",
    "/api/v2/search/tag/{tagName}/values",
    "/api/metrics/query_range",
    "/api/metrics/query",
    "/api/echo",
    "/ready",
    "/api/status/buildinfo",
    "/metrics",
    "/metrics/generator",
];

/// The longest request target (path and query string) the API takes: 60 KiB. Past it,
/// a 414 that says how to send a long query instead (by `POST`, in a form body). The HTTP
/// library underneath (hyper) refuses targets past 65,534 bytes itself, with a 414 that has
/// no body, and request heads past about 400 KiB with a 431; this limit stays under the
/// first, so that the message reaches a client whose query grew a little too long.
pub(crate) const MAX_REQUEST_TARGET_BYTES: usize = 60 * 1024;

/// The router of Tempo's HTTP API.
pub(crate) fn router(state: ApiState) -> Router {
    let router = if state.streaming {
        Router::new().route_service(stream::ROUTE, stream::StreamingQuerier::new(state.clone()))
    } else {
        Router::new()
    };
    router
        .route("/api/traces/{traceID}", get(trace::trace_v1))
        .route("/api/v2/traces/{traceID}", get(trace::trace_v2))
        .route("/api/search", get(search::search).post(search::search))
        .route(
            "/api/search/tags",
            get(tags::tag_names::<V1>).post(tags::tag_names::<V1>),
        )
        .route(
            "/api/v2/search/tags",
            get(tags::tag_names::<V2>).post(tags::tag_names::<V2>),
        )
        .route(
            "/api/search/tag/{tagName}/values",
            get(tags::tag_values::<V1>).post(tags::tag_values::<V1>),
        )
        .route(
            "/api/v2/search/tag/{tagName}/values",
            get(tags::tag_values::<V2>).post(tags::tag_values::<V2>),
        )
        .route(
            "/api/metrics/query_range",
            get(metrics_query::query_range).post(metrics_query::query_range),
        )
        .route(
            "/api/metrics/query",
            get(metrics_query::query_instant).post(metrics_query::query_instant),
        )
        .route("/api/echo", get(ops::echo))
        .route("/ready", get(ops::ready))
        .route("/api/status/buildinfo", get(ops::buildinfo))
        .route("/metrics", get(ops::metrics))
        .route("/metrics/generator", get(generated::generated))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(limit_request_target))
        .with_state(state)
}

/// Refuses a request whose target is longer than [`MAX_REQUEST_TARGET_BYTES`].
async fn limit_request_target(req: Request, next: Next) -> Response {
    let length = req.uri().path_and_query().map_or(0, |t| t.as_str().len());
    if length <= MAX_REQUEST_TARGET_BYTES {
        return next.run(req).await;
    }
    ApiError::UriTooLong {
        length,
        limit: MAX_REQUEST_TARGET_BYTES,
    }
    .into_response()
}

/// Any other path.
async fn not_found() -> ApiError {
    ApiError::NotFound
}
