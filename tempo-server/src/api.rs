//! api: Tempo's HTTP API.
//!
//! Trace by ID (v1 and v2, JSON or protobuf), search and tags ([`crate::search`]), and the
//! operational endpoints: `/api/echo`, `/ready`, `/api/status/buildinfo`, `/metrics`. Every
//! rejection has its status code and a plain-text message, as Tempo sends them. Store work
//! runs on the blocking thread pool ([`blocking`]), never on the async runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Path, Query, RawQuery, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use tempo_core::model::TraceId;
use tempo_core::{Store, TimeRange};

use crate::metrics::Metrics;
use crate::{federation, render, search};

/// What the API handlers share.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) store: Store,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) multitenancy_enabled: bool,
    /// With multi-tenancy on, whether a query may name several tenants (`a|b`).
    pub(crate) multi_tenant_queries_enabled: bool,
    /// What `/ready` answers.
    pub(crate) readiness: Arc<Readiness>,
}

/// Whether the server is ready: every listener bound, and not stopping.
#[derive(Debug)]
pub(crate) struct Readiness {
    listeners: usize,
    bound: AtomicUsize,
    stopping: AtomicBool,
}

impl Readiness {
    /// Not ready until `listeners` listeners are [`bound`](Readiness::bound).
    pub(crate) fn new(listeners: usize) -> Readiness {
        Readiness {
            listeners,
            bound: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
        }
    }

    /// One more listener is bound and serving.
    pub(crate) fn bound(&self) {
        self.bound.fetch_add(1, Ordering::AcqRel);
    }

    /// Shutdown began: not ready any more.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// `Ok` when ready, else why not.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.stopping.load(Ordering::Acquire) {
            return Err("Application is stopping".to_owned());
        }
        let bound = self.bound.load(Ordering::Acquire);
        if bound < self.listeners {
            return Err(format!(
                "not ready: starting listeners ({bound} of {} bound)",
                self.listeners
            ));
        }
        Ok(())
    }
}

/// The paths of the API, for metric labels.
pub(crate) const PATHS: &[&str] = &[
    "/api/traces/{traceID}",
    "/api/v2/traces/{traceID}",
    "/api/search",
    "/api/search/tags",
    "/api/v2/search/tags",
    "/api/search/tag/{tagName}/values",
    "/api/v2/search/tag/{tagName}/values",
    "/api/echo",
    "/ready",
    "/api/status/buildinfo",
    "/metrics",
];

/// The longest request target (path and query string) the API takes: 60 KiB. Past it,
/// a 414 that says how to send a long query instead (by `POST`, in a form body). The HTTP
/// library underneath (hyper) refuses targets past 65,534 bytes itself, with a 414 that has
/// no body, and request heads past about 400 KiB with a 431; this limit stays under the
/// first, so that the message reaches a client whose query grew a little too long.
pub(crate) const MAX_REQUEST_TARGET_BYTES: usize = 60 * 1024;

/// The router of Tempo's HTTP API.
pub(crate) fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/traces/{traceID}", get(trace_v1))
        .route("/api/v2/traces/{traceID}", get(trace_v2))
        .route("/api/search", get(search::search).post(search::search))
        .route(
            "/api/search/tags",
            get(search::tag_names_v1).post(search::tag_names_v1),
        )
        .route(
            "/api/v2/search/tags",
            get(search::tag_names_v2).post(search::tag_names_v2),
        )
        .route(
            "/api/search/tag/{tagName}/values",
            get(search::tag_values_v1).post(search::tag_values_v1),
        )
        .route(
            "/api/v2/search/tag/{tagName}/values",
            get(search::tag_values_v2).post(search::tag_values_v2),
        )
        .route("/api/echo", get(echo))
        .route("/ready", get(ready))
        .route("/api/status/buildinfo", get(buildinfo))
        .route("/metrics", get(metrics))
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
    ApiError::new(
        StatusCode::URI_TOO_LONG,
        format!(
            "URI too long: {length} bytes, more than the limit of {MAX_REQUEST_TARGET_BYTES}; \
             send a long query by POST, with the parameters in an \
             application/x-www-form-urlencoded body"
        ),
    )
    .into_response()
}

/// A rejected request: status and plain-text message.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// A rejection with this status and message.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// A 400: the request is wrong, and the message says how.
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// A 422: the request is well formed but cannot be answered within the server's limits
    /// (a query past its memory budget); the message says which and what to do.
    pub(crate) fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: message.into(),
        }
    }

    /// A 500: the server failed; the message is logged and sent.
    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }

    /// The message sent as the body.
    #[cfg(test)]
    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

/// The response to a failed store call, with the status every transport gives its kind
/// ([`tempo_otlp::status::http_status`]): a bad query (TraceQL that does not parse, a bad
/// tag, a bad parameter) or a bad tenant is a 400 with the store's message (for TraceQL, the
/// query with a caret under the error).
pub(crate) fn store_error(err: impl Into<tempo_core::Error>) -> ApiError {
    let err: tempo_core::Error = err.into();
    ApiError {
        status: tempo_otlp::status::http_status(err.kind()),
        message: err.to_string(),
    }
}

/// Runs store work on the blocking thread pool (store calls read files and can take a
/// while) and maps its failure with [`store_error`].
pub(crate) async fn blocking<T: Send + 'static, E: Into<tempo_core::Error> + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(store_error),
        Err(e) => Err(ApiError::internal(format!("query task failed: {e}"))),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, error = %self.message, "request failed");
        }
        (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.message,
        )
            .into_response()
    }
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: "404 page not found\n".into(),
    }
}

/// Parses a trace ID as Tempo does: up to 32 hex digits, left-padded with zeros.
pub(crate) fn parse_trace_id(id: &str) -> Result<TraceId, ApiError> {
    if id.len() > 32 {
        return Err(ApiError::bad_request(
            "trace IDs can't be larger than 128 bits",
        ));
    }
    if let Some((i, c)) = id.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(format!(
            "trace IDs can only contain hex characters: invalid character '{c}' at position {}",
            i + 1
        )));
    }
    TraceId::from_hex(id).map_err(|e| ApiError::bad_request(e.to_string()))
}

#[derive(Debug, Default, Deserialize)]
struct TraceParams {
    start: Option<String>,
    end: Option<String>,
}

/// The time range of the `start` and `end` parameters (unix seconds, either open), as
/// Tempo checks them: `end` must come after `start`.
pub(crate) fn time_range(start: Option<&str>, end: Option<&str>) -> Result<TimeRange, ApiError> {
    let parse = |name: &str, v: Option<&str>| -> Result<Option<u64>, ApiError> {
        match v.map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .map(|n| Some(n.max(0) as u64))
                .map_err(|e| ApiError::bad_request(format!("invalid {name}: {s:?}: {e}"))),
        }
    };
    let start = parse("start", start)?;
    let end = parse("end", end)?;
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        return Err(ApiError::bad_request(format!(
            "http parameter start must be before end. received start={s} end={e}"
        )));
    }
    Ok(TimeRange::from_unix_seconds(start, end))
}

fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept.split(',').any(|part| {
                let media = part.split(';').next().unwrap_or("").trim();
                media.eq_ignore_ascii_case("application/protobuf")
                    || media.eq_ignore_ascii_case("application/x-protobuf")
            })
        })
}

fn params(raw: Option<String>) -> Result<TraceParams, ApiError> {
    match raw {
        None => Ok(TraceParams::default()),
        Some(q) => Query::<TraceParams>::try_from_uri(
            &format!("/?{q}")
                .parse()
                .map_err(|_| ApiError::bad_request("malformed query string"))?,
        )
        .map(|Query(p)| p)
        .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}"))),
    }
}

async fn find(
    state: &ApiState,
    headers: &HeaderMap,
    id: &str,
    query: Option<String>,
) -> Result<Option<tempo_core::model::TracesData>, ApiError> {
    let tenants = federation::tenants(state, headers)?;
    let id = parse_trace_id(id)?;
    let params = params(query)?;
    let range = time_range(params.start.as_deref(), params.end.as_deref())?;
    let store = state.store.clone();
    blocking(move || federation::find_trace(&store, &tenants, id, range)).await
}

async fn trace_v1(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(trace) = find(&state, &headers, &id, query).await? else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    Ok(if wants_protobuf(&headers) {
        (
            [(header::CONTENT_TYPE, "application/protobuf")],
            render::trace::trace_v1_proto(&trace),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/json")],
            render::trace::trace_v1_json(&trace),
        )
            .into_response()
    })
}

async fn trace_v2(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let trace = find(&state, &headers, &id, query).await?;
    Ok(if wants_protobuf(&headers) {
        (
            [(header::CONTENT_TYPE, "application/protobuf")],
            render::trace::trace_v2_proto(trace.as_ref(), None, 0),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/json")],
            render::trace::trace_v2_json(trace.as_ref(), None, 0),
        )
            .into_response()
    })
}

async fn echo() -> &'static str {
    "echo\n"
}

async fn ready(State(state): State<ApiState>) -> Response {
    match state.readiness.check() {
        Ok(()) => "ready\n".into_response(),
        Err(message) => (StatusCode::SERVICE_UNAVAILABLE, format!("{message}\n")).into_response(),
    }
}

async fn buildinfo() -> Response {
    // Tempo's field order; `goVersion` is empty: this server is not written in Go.
    let fields = [
        ("version", env!("CARGO_PKG_VERSION")),
        (
            "revision",
            option_env!("TEMPO_BUILD_REVISION").unwrap_or(""),
        ),
        ("branch", option_env!("TEMPO_BUILD_BRANCH").unwrap_or("")),
        ("buildUser", option_env!("TEMPO_BUILD_USER").unwrap_or("")),
        ("buildDate", option_env!("TEMPO_BUILD_DATE").unwrap_or("")),
        ("goVersion", ""),
    ];
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("\"{k}\":{}", serde_json::Value::from(*v)))
        .collect();
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{{}}}\n", body.join(",")),
    )
        .into_response()
}

async fn metrics(State(state): State<ApiState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&state.store),
    )
        .into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    async fn ready_answer(readiness: &Arc<Readiness>) -> (StatusCode, String) {
        let state = ApiState {
            store: Store::in_memory(),
            metrics: Arc::new(Metrics::default()),
            multitenancy_enabled: false,
            multi_tenant_queries_enabled: true,
            readiness: readiness.clone(),
        };
        let response = ready(State(state)).await;
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 10)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn ready_only_once_every_listener_is_bound_and_until_stopping() {
        let readiness = Arc::new(Readiness::new(3));
        assert_eq!(
            ready_answer(&readiness).await,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: starting listeners (0 of 3 bound)\n".to_owned()
            )
        );
        readiness.bound();
        readiness.bound();
        let (status, message) = ready_answer(&readiness).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(message.contains("2 of 3 bound"), "{message}");
        readiness.bound();
        assert_eq!(
            ready_answer(&readiness).await,
            (StatusCode::OK, "ready\n".to_owned())
        );
        readiness.stop();
        assert_eq!(
            ready_answer(&readiness).await,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "Application is stopping\n".to_owned()
            )
        );
    }
}
