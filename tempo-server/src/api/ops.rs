//! ops: is the server up, and what is it?
//!
//! The operational endpoints: `/api/echo`, `/ready` (503 with the reason until every listener
//! is bound, while the block backend fails, and again once shutdown begins), `/api/status/buildinfo` and `/metrics`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header;

use super::error::ApiError;
use super::state::ApiState;

/// `GET /api/echo`.
pub(crate) async fn echo() -> &'static str {
    "echo\n"
}

/// `GET /ready`: 503 while listeners start, once shutdown begins, and while the block
/// backend fails its requests (a bucket that does not answer).
pub(crate) async fn ready(State(state): State<ApiState>) -> Result<&'static str, ApiError> {
    state.readiness.check().map_err(ApiError::NotReady)?;
    if let Some(backend) = state.store.backend_stats()
        && !backend.healthy
    {
        return Err(ApiError::NotReady(format!(
            "not ready: the block backend fails: {}",
            backend.last_error.unwrap_or_default()
        )));
    }
    Ok("ready\n")
}

/// `GET /api/status/buildinfo`.
pub(crate) async fn buildinfo() -> Response {
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

/// `GET /metrics`: the server's metrics in Prometheus' text format.
pub(crate) async fn metrics(State(state): State<ApiState>) -> Response {
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
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use std::sync::Arc;

    use http::StatusCode;
    use tempo_core::Store;

    use super::*;
    use crate::api::state::{MetricsQueryLimits, Readiness};
    use crate::metrics::Metrics;

    async fn ready_answer(readiness: &Arc<Readiness>) -> (StatusCode, String) {
        let state = ApiState {
            store: Store::in_memory(),
            metrics: Arc::new(Metrics::default()),
            multitenancy_enabled: false,
            multi_tenant_queries_enabled: true,
            streaming: true,
            metrics_query: MetricsQueryLimits::default(),
            readiness: readiness.clone(),
            generator_rules: Arc::default(),
        };
        let response = ready(State(state)).await.into_response();
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
