//! metrics_query: how many spans, how fast, over time?
//!
//! TraceQL metrics, as Tempo's query frontend serves them:
//!
//! - `GET /api/metrics/query_range`: a series per group, one sample per step;
//! - `GET /api/metrics/query`: one value per group over the whole range (instant).
//!
//! Both also take `POST`, with the parameters in the URL or a form body, as search does.
//! The parameters are Tempo's: the query in `q` (or `query`; `q` wins); the range in `start`
//! and `end` (unix seconds, unix nanoseconds past 10 digits, float seconds or RFC 3339; `end`
//! defaults to now, `start` to `since` before it, `since` to `1h`, a Prometheus duration);
//! for a range, `step` (float seconds or a Go duration; by default Tempo's, about 240 points
//! over the range) and `exemplars` (how many; by default and at most
//! `query_frontend.metrics.max_exemplars`); and `maxSeries`, which can only lower
//! `query_frontend.metrics.max_response_series`.
//!
//! With `query_end_cutoff` set (Tempo's default is 30 s; ours is none, as every acknowledged
//! span is queryable at once), a query's end is brought back to that long before now, as in
//! Tempo, and a range whose end was brought back ends on a whole step; a range entirely more
//! recent than that is refused. The store checks the rest (the range's length against
//! `query_frontend.metrics.max_duration`, the step against `max_intervals`, the query) and
//! every refusal is a 400 with its message. The answer is JSON as Tempo writes it, or
//! protobuf with `Accept: application/protobuf`; when the client disconnects, the query
//! stops.
//!
//! With peers on the same bucket (`storage.trace.peers`), their heads' running values are
//! gathered at the same time as this server's and folded in before the series are finished
//! (see `crate::peers`); a peer that does not answer makes the answer partial.
//!
//! A query naming several tenants (`X-Scope-OrgID: a|b`) is refused: the series of different
//! tenants cannot in general be combined after the fact (averages, quantiles, `topk`,
//! arithmetic between queries).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, header};
use tempo_core::query::default_step;
use tempo_core::{
    CancelToken, MetricsError, MetricsPartial, MetricsRequest, MetricsResponse, QueryError,
};

use super::error::{ApiError, InvalidParam, TenantRejection};
use super::extract::{
    Params, QueryRequest, parse_metrics_step, parse_metrics_time, parse_prometheus_duration,
    wants_protobuf,
};
use super::state::{ApiState, MetricsQueryLimits, blocking};
use crate::{peers, render};

/// How far back `start` goes from `end` when neither `start` nor `since` is given.
const DEFAULT_SINCE: Duration = Duration::from_secs(3600);

/// `GET /api/metrics/query_range`, and `POST` with the parameters in the URL or a form body.
pub(crate) async fn query_range(
    State(state): State<ApiState>,
    headers: HeaderMap,
    request: QueryRequest,
) -> Result<Response, ApiError> {
    let req = range_request(&request.params, &state.metrics_query, now_nanos())?;
    let answer = run(&state, request.tenants, req).await?;
    Ok(respond(
        &headers,
        &answer,
        render::metrics_query::query_range_json,
        render::metrics_query::query_range_proto,
    ))
}

/// `GET /api/metrics/query`, and `POST` with the parameters in the URL or a form body.
pub(crate) async fn query_instant(
    State(state): State<ApiState>,
    headers: HeaderMap,
    request: QueryRequest,
) -> Result<Response, ApiError> {
    let req = instant_request(&request.params, &state.metrics_query, now_nanos())?;
    let answer = run(&state, request.tenants, req).await?;
    Ok(respond(
        &headers,
        &answer,
        render::metrics_query::query_instant_json,
        render::metrics_query::query_instant_proto,
    ))
}

/// The answer as the client asked for it: protobuf with `Accept: application/protobuf`,
/// else JSON.
fn respond(
    headers: &HeaderMap,
    answer: &MetricsResponse,
    json: fn(&MetricsResponse) -> Vec<u8>,
    proto: fn(&MetricsResponse) -> Vec<u8>,
) -> Response {
    if wants_protobuf(headers) {
        (
            [(header::CONTENT_TYPE, "application/protobuf")],
            proto(answer),
        )
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], json(answer)).into_response()
    }
}

/// Runs a query for the request's one tenant, here and over the heads of the peers on the
/// same bucket (`storage.trace.peers`) at the same time, their running values folded into
/// this server's before the series are finished; partial, with the reason, when a peer did
/// not answer. Stopped when the handler is dropped (the client went away).
pub(crate) async fn run(
    state: &ApiState,
    tenants: Vec<String>,
    req: MetricsRequest,
) -> Result<MetricsResponse, ApiError> {
    let [tenant] = <[String; 1]>::try_from(tenants)
        .map_err(|_| ApiError::from(TenantRejection::MetricsAcrossTenants))?;
    let token = CancelToken::new();
    let req = req.cancel_token(token.clone());
    let _cancel = token.cancel_on_drop();
    let store = state.store.clone();
    let query = req.query.clone();
    // This server's running values and those of the peers' heads, gathered at the same
    // time, then finished together.
    let (local_tenant, local_req) = (tenant.clone(), req.clone());
    let (mine, (theirs, partial)) = tokio::join!(
        blocking(move || store.metrics_partial(&local_tenant, &local_req)),
        peers::metrics(&tenant, &req)
    );
    let mut partials = vec![mine?];
    partials.extend(theirs);
    let mut answer = blocking(move || MetricsPartial::finish(&req, partials)).await?;
    if let Some(reason) = partial {
        answer.partial = true;
        answer.partial_reason = Some(match answer.partial_reason.take() {
            Some(earlier) => format!("{earlier}; {reason}"),
            None => reason,
        });
    }
    if let Some(reason) = answer.partial_reason.as_deref().filter(|_| answer.partial) {
        tracing::warn!(
            query = %query,
            series = answer.series.len(),
            reason,
            "metrics query answered in part"
        );
    }
    Ok(answer)
}

/// Now, unix nanoseconds.
pub(crate) fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// What both kinds of query read: the query, its range, its series cap.
struct Common {
    query: String,
    start: u64,
    end: u64,
    max_series: usize,
}

/// Reads the query, the range and `maxSeries`, in Tempo's order: the query's size first,
/// then the range.
fn common(p: &Params, limits: &MetricsQueryLimits, now: u64) -> Result<Common, ApiError> {
    let query = p.get("q").or_else(|| p.get("query")).unwrap_or_default();
    tempo_traceql::check_length(query)
        .map_err(|e| ApiError::store(MetricsError::from(QueryError::from(e))))?;
    let time = |name: &'static str| -> Result<Option<u64>, InvalidParam> {
        p.get(name)
            .map(|v| {
                parse_metrics_time(v).ok_or_else(|| InvalidParam::Time {
                    name,
                    value: v.to_owned(),
                })
            })
            .transpose()
    };
    let end = time("end")?.unwrap_or(now);
    let start = match time("start")? {
        Some(start) => start,
        None => {
            let since = match p.get("since") {
                None => DEFAULT_SINCE,
                Some(v) => {
                    parse_prometheus_duration(v).map_err(|reason| InvalidParam::Duration {
                        name: "since",
                        reason,
                    })?
                }
            };
            end.min(now).saturating_sub(nanos(since))
        }
    };
    // The client's cap counts only when it is lower than the server's (0: none).
    let max_series = match (
        p.count("maxSeries")?.unwrap_or(0) as usize,
        limits.max_series,
    ) {
        (0, server) => server,
        (client, 0) => client,
        (client, server) => client.min(server),
    };
    Ok(Common {
        query: query.to_owned(),
        start,
        end,
        max_series,
    })
}

/// Where `query_end_cutoff` puts a query's end: `None` when the end is old enough to stay
/// (or the range is already empty, which the store refuses with its own message), else the
/// latest end allowed; a range entirely past it is refused.
fn cutoff(
    start: u64,
    end: u64,
    limits: &MetricsQueryLimits,
    now: u64,
) -> Result<Option<u64>, InvalidParam> {
    if limits.end_cutoff.is_zero() || start >= end {
        return Ok(None);
    }
    let latest = now.saturating_sub(nanos(limits.end_cutoff));
    if end <= latest {
        return Ok(None);
    }
    if start >= latest {
        return Err(InvalidParam::WindowInCutoff);
    }
    Ok(Some(latest))
}

/// The store's request for a range query.
pub(crate) fn range_request(
    p: &Params,
    limits: &MetricsQueryLimits,
    now: u64,
) -> Result<MetricsRequest, ApiError> {
    let Common {
        query,
        start,
        mut end,
        max_series,
    } = common(p, limits, now)?;
    // The default step is the one of the range asked for, before the cutoff.
    let step = match p.get("step") {
        None => default_step(start, end),
        Some(v) => nanos(
            parse_metrics_step(v).map_err(|reason| InvalidParam::Duration {
                name: "step",
                reason,
            })?,
        ),
    };
    if let Some(latest) = cutoff(start, end, limits, now)? {
        // As Tempo, a range whose end was brought back ends on a whole step, unless that
        // would leave it empty (the one interval then reaches past the cutoff).
        end = match latest.checked_div(step).map(|n| n * step) {
            Some(aligned) if aligned > start => aligned,
            _ => latest,
        };
    }
    let exemplars = match p.count("exemplars")?.unwrap_or(0) as usize {
        0 => limits.max_exemplars,
        n => n.min(limits.max_exemplars),
    };
    Ok(MetricsRequest::range(query, start, end)
        .step(Duration::from_nanos(step))
        .exemplars(exemplars)
        .max_exemplars(limits.max_exemplars)
        .max_series(max_series))
}

/// The store's request for an instant query.
pub(crate) fn instant_request(
    p: &Params,
    limits: &MetricsQueryLimits,
    now: u64,
) -> Result<MetricsRequest, ApiError> {
    let Common {
        query,
        start,
        mut end,
        max_series,
    } = common(p, limits, now)?;
    if let Some(latest) = cutoff(start, end, limits, now)? {
        // As Tempo, the end goes back by whole seconds.
        let over = end - latest;
        end -= over.div_ceil(NANOS_PER_SECOND) * NANOS_PER_SECOND;
        if end <= start {
            return Err(InvalidParam::WindowInCutoff.into());
        }
    }
    Ok(MetricsRequest::instant(query, start, end).max_series(max_series))
}

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// A duration in nanoseconds, saturating.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use http::StatusCode;

    use super::*;

    const S: u64 = NANOS_PER_SECOND;
    /// 2024-05-06T12:53:20Z.
    const NOW: u64 = 1_715_000_000 * S;

    fn params(raw: &str) -> Params {
        Params::parse(Some(raw)).unwrap()
    }

    fn limits() -> MetricsQueryLimits {
        MetricsQueryLimits {
            end_cutoff: Duration::ZERO,
            ..MetricsQueryLimits::default()
        }
    }

    fn range(raw: &str) -> MetricsRequest {
        range_request(&params(raw), &limits(), NOW).unwrap()
    }

    fn range_err(raw: &str, limits: &MetricsQueryLimits) -> String {
        let err = range_request(&params(raw), limits, NOW).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{raw}");
        err.message()
    }

    #[test]
    fn range_parameters_as_grafana_sends_them() {
        let req = range("q=%7B%7D+%7C+rate%28%29&start=1714996400&end=1715000000&step=60s");
        assert_eq!(req.query, "{} | rate()");
        assert_eq!(
            (req.start, req.end, req.step),
            (1_714_996_400 * S, NOW, 60 * S)
        );
        assert!(!req.instant);
        assert_eq!((req.exemplars, req.max_series), (100, 1000));
    }

    #[test]
    fn range_defaults() {
        // No range: the last hour, Tempo's step for it (15 s).
        let req = range("query=%7B%7D+%7C+rate%28%29");
        assert_eq!(req.query, "{} | rate()");
        assert_eq!(
            (req.start, req.end, req.step),
            (NOW - 3600 * S, NOW, 15 * S)
        );
        // `q` wins over `query`; `since` counts back from `end`, but never from the future.
        let req = range("query=a&q=b&since=2d&end=1715000000");
        assert_eq!(req.query, "b");
        assert_eq!((req.start, req.end), (NOW - 2 * 86_400 * S, NOW));
        let req = range("since=30m&end=1716000000");
        assert_eq!(req.start, NOW - 1800 * S);
        // `start` wins over `since`.
        assert_eq!(range("since=30m&start=1714999000").start, 1_714_999_000 * S);
    }

    #[test]
    fn times_steps_and_counts() {
        // Seconds, nanoseconds past 10 digits, float seconds to the millisecond, RFC 3339.
        let req = range("start=1714999999.12345&end=1715000000000000000");
        assert_eq!((req.start, req.end), (1_714_999_999 * S + 123_000_000, NOW));
        let req = range("start=2024-05-06T12:43:20Z&end=2024-05-06T14:53:20.5%2B02:00");
        assert_eq!((req.start, req.end), (NOW - 600 * S, NOW + S / 2));
        // Float seconds or a Go duration.
        assert_eq!(range("step=30").step, 30 * S);
        assert_eq!(range("step=0.5").step, S / 2);
        assert_eq!(range("step=1m30s").step, 90 * S);
        assert_eq!(range("step=500ms").step, S / 2);
        // Exemplars: 0 is the default, and the configuration caps them.
        assert_eq!(range("exemplars=0").exemplars, 100);
        assert_eq!(range("exemplars=7").exemplars, 7);
        assert_eq!(range("exemplars=5000").exemplars, 100);
        let few = MetricsQueryLimits {
            max_exemplars: 5,
            max_series: 0,
            ..limits()
        };
        let req = range_request(&params("exemplars=50&maxSeries=7"), &few, NOW).unwrap();
        assert_eq!((req.exemplars, req.max_series), (5, 7));
        // A client's cap counts when lower than the server's.
        assert_eq!(range("maxSeries=10").max_series, 10);
        assert_eq!(range("maxSeries=5000").max_series, 1000);
        assert_eq!(range("maxSeries=0").max_series, 1000);
    }

    #[test]
    fn bad_parameters_name_themselves() {
        let l = limits();
        assert_eq!(
            range_err("start=yesterday", &l),
            "invalid start: \"yesterday\": expected unix seconds, unix nanoseconds, float \
             seconds or an RFC 3339 time"
        );
        assert!(range_err("end=2024-13-01T00:00:00Z", &l).starts_with("invalid end: "));
        assert_eq!(
            range_err("since=5x", &l),
            "invalid since: not a valid duration string: \"5x\""
        );
        assert_eq!(
            range_err("step=fast", &l),
            "invalid step: cannot parse \"fast\" to a valid duration"
        );
        assert_eq!(
            range_err("step=1d", &l),
            "invalid step: cannot parse \"1d\" to a valid duration"
        );
        assert!(range_err("exemplars=-1", &l).starts_with("invalid exemplars: \"-1\""));
        assert!(range_err("maxSeries=x", &l).starts_with("invalid maxSeries: \"x\""));
    }

    #[test]
    fn the_end_is_brought_back_to_the_cutoff() {
        let l = MetricsQueryLimits::default();
        let req = |raw: &str| range_request(&params(raw), &l, NOW).unwrap();
        // An end past now - 30 s is brought back, then down to a whole step.
        let r = req("start=1714996400&end=1715000000&step=60");
        assert_eq!(
            (r.start, r.end, r.step),
            (1_714_996_400 * S, NOW - 80 * S, 60 * S)
        );
        // The default step is the one of the range asked for.
        assert_eq!(req("start=1714996400").step, 15 * S);
        // An end old enough stays.
        assert_eq!(
            req("start=1714996400&end=1714999970&step=60").end,
            NOW - 30 * S
        );
        // A range past the cutoff is refused; an empty one is the store's to refuse.
        assert_eq!(
            range_err("start=1714999980&end=1715000000", &l),
            "query window falls entirely within query_end_cutoff"
        );
        let r = req("start=1715000000&end=1714990000");
        assert_eq!((r.start, r.end), (NOW, NOW - 10_000 * S));
        // When a whole step would leave the range empty, the end stays at the cutoff.
        let r = req("start=1714999960&end=1715000000&step=60");
        assert_eq!(r.end, NOW - 30 * S);

        let instant = |raw: &str| instant_request(&params(raw), &l, NOW);
        let r = instant("start=1714999000&end=1715000000.25").unwrap();
        assert!(r.instant);
        assert_eq!(
            (r.start, r.end),
            (1_714_999_000 * S, NOW - 30 * S - 750_000_000)
        );
        assert_eq!(r.step, r.end - r.start);
        assert_eq!((r.exemplars, r.max_series), (0, 1000));
        let r = instant("since=5m").unwrap();
        assert_eq!((r.start, r.end), (NOW - 300 * S, NOW - 30 * S));
        assert_eq!(
            instant("start=1714999975").unwrap_err().message(),
            "query window falls entirely within query_end_cutoff"
        );
    }
}
