//! extract: what does a request ask for?
//!
//! The typed extractors of the API, each with its typed rejection:
//!
//! - [`Tenants`]: the tenants a query reads, from `X-Scope-OrgID` ([`TenantRejection`]);
//! - [`Params`]: the parameters, from the query string and a `POST` form body
//!   ([`ParamsRejection`]), with typed readers for the time range (`start`, `end`), the limits
//!   (`limit`, `spss`) and the rest ([`InvalidParam`]);
//! - [`UrlTimeRange`]: the time range of the query string alone, for the trace endpoints;
//! - [`TraceRequest`] and [`QueryRequest`]: what a trace lookup and a search or tag lookup
//!   read, each part in the order Tempo checks them, so that a request with several faults
//!   gets the same answer as ever.
//!
//! # Tenants
//!
//! Without multi-tenancy every request reads `single-tenant`. With it, the tenant is the
//! `X-Scope-OrgID` header (401 when it is missing), and a query may name several tenants
//! separated by `|` (`team-a|team-b`), as in Tempo's cross-tenant query federation
//! (`query_frontend.multi_tenant_queries_enabled`, on by default). The IDs are read as Tempo
//! reads them (its `dskit` tenant resolver): each part must be a valid tenant ID, and the list
//! is sorted and de-duplicated, so `b|a|a` queries `a` and `b`. Unlike Tempo, which lets an
//! empty part through to fail later, an empty part is refused here like any other invalid
//! one: a 400 naming it. Tempo sets no cap on the number of tenants, and neither does this
//! server: the size of the request head bounds it. Ingestion takes one tenant: `|` is not a
//! tenant ID character, so a write naming several tenants is refused.
//!
//! # Parameters
//!
//! Parameters are read as Tempo reads them: the first value of a name counts and an empty
//! value is an absent one. The query endpoints also take `POST`, as Tempo routes every method
//! to them. Tempo reads the parameters from the URL only; here a `POST` may also carry them in
//! an `application/x-www-form-urlencoded` body (as HTML forms and Go's `Request.Form` do, the
//! body's values first), so that a query too long for a URL still fits: up to
//! [`MAX_FORM_BYTES`] of body, beyond which the answer is a 413.

use std::collections::BTreeSet;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use http::request::Parts;
use http::{HeaderMap, Method, header};
use serde::Deserialize;
use tempo_core::model::TraceId;
use tempo_core::{SINGLE_TENANT, TimeRange};

use super::error::{ApiError, InvalidParam, ParamsRejection, TenantRejection, TraceIdRejection};
use super::state::ApiState;

/// The separator of tenant IDs in `X-Scope-OrgID`.
const SEPARATOR: char = '|';

/// The largest form body a query endpoint reads: 1 MiB, room for a query of TraceQL's
/// longest (128 KiB) however it is percent-encoded.
pub(crate) const MAX_FORM_BYTES: usize = 1 << 20;

/// Past [`MAX_FORM_BYTES`], how much more of a body is read (and dropped) before the 413 is
/// sent, so that the client, still sending, reads the answer rather than a reset
/// connection.
const MAX_DRAINED_BYTES: usize = 16 << 20;

/// The tenants a query reads: `single-tenant` without multi-tenancy, else those the
/// `X-Scope-OrgID` header names, sorted and without repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tenants(pub(crate) Vec<String>);

impl Tenants {
    /// The tenants of a request with these headers.
    fn from_headers(state: &ApiState, headers: &HeaderMap) -> Result<Tenants, TenantRejection> {
        if !state.multitenancy_enabled {
            return Ok(Tenants(vec![SINGLE_TENANT.to_owned()]));
        }
        let value = match headers.get("x-scope-orgid") {
            None => "",
            Some(value) => value.to_str().map_err(|_| TenantRejection::NotText)?.trim(),
        };
        if value.is_empty() {
            return Err(TenantRejection::Missing);
        }
        if !value.contains(SEPARATOR) {
            tempo_core::validate_tenant(value)
                .map_err(|e| TenantRejection::Invalid(e.to_string()))?;
            return Ok(Tenants(vec![value.to_owned()]));
        }
        if !state.multi_tenant_queries_enabled {
            let reason = tempo_core::validate_tenant(value)
                .err()
                .map_or_else(String::new, |e| e.to_string());
            return Err(TenantRejection::FederationOff { reason });
        }
        let mut tenants = BTreeSet::new();
        for (i, part) in value.split(SEPARATOR).enumerate() {
            tempo_core::validate_tenant(part).map_err(|e| TenantRejection::InvalidInList {
                value: value.to_owned(),
                position: i + 1,
                reason: e.to_string(),
            })?;
            tenants.insert(part.to_owned());
        }
        Ok(Tenants(tenants.into_iter().collect()))
    }
}

impl FromRequestParts<ApiState> for Tenants {
    type Rejection = TenantRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Tenants, TenantRejection> {
        Tenants::from_headers(state, &parts.headers)
    }
}

/// The time range of the `start` and `end` parameters (unix seconds, either open), as
/// Tempo checks them: `end` must come after `start`.
pub(crate) fn time_range(
    start: Option<&str>,
    end: Option<&str>,
) -> Result<TimeRange, InvalidParam> {
    let parse = |name: &'static str, v: Option<&str>| -> Result<Option<u64>, InvalidParam> {
        match v.map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .map(|n| Some(n.max(0) as u64))
                .map_err(|e| InvalidParam::Number {
                    name,
                    value: s.to_owned(),
                    reason: e.to_string(),
                }),
        }
    };
    let start = parse("start", start)?;
    let end = parse("end", end)?;
    if let (Some(start), Some(end)) = (start, end)
        && end <= start
    {
        return Err(InvalidParam::StartNotBeforeEnd { start, end });
    }
    Ok(TimeRange::from_unix_seconds(start, end))
}

/// The time range of the URL's `start` and `end` (the trace endpoints read no body). Each
/// may be given once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UrlTimeRange(pub(crate) TimeRange);

impl<S: Send + Sync> FromRequestParts<S> for UrlTimeRange {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<UrlTimeRange, ApiError> {
        #[derive(Default, Deserialize)]
        struct RangeParams {
            start: Option<String>,
            end: Option<String>,
        }
        let params = match parts.uri.query() {
            None => RangeParams::default(),
            Some(q) => Query::<RangeParams>::try_from_uri(
                &format!("/?{q}")
                    .parse()
                    .map_err(|_| ParamsRejection::MalformedQuery(None))?,
            )
            .map(|Query(p)| p)
            .map_err(|e| ParamsRejection::MalformedQuery(Some(e.to_string())))?,
        };
        Ok(UrlTimeRange(time_range(
            params.start.as_deref(),
            params.end.as_deref(),
        )?))
    }
}

/// Parses a trace ID as Tempo does: up to 32 hex digits, left-padded with zeros.
pub(crate) fn parse_trace_id(id: &str) -> Result<TraceId, TraceIdRejection> {
    if id.len() > 32 {
        return Err(TraceIdRejection::TooLong);
    }
    if let Some((i, c)) = id.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(TraceIdRejection::NotHex {
            character: c,
            position: i + 1,
        });
    }
    TraceId::from_hex(id).map_err(|e| TraceIdRejection::Invalid(e.to_string()))
}

/// What a trace lookup reads: the trace ID of the path, the tenants, the time range of the
/// URL; checked in that order (the path's text, the tenants, the ID's digits, the range).
#[derive(Debug, Clone)]
pub(crate) struct TraceRequest {
    /// The tenants to look in.
    pub(crate) tenants: Vec<String>,
    /// The trace.
    pub(crate) id: TraceId,
    /// Where in time to look.
    pub(crate) range: TimeRange,
}

impl FromRequestParts<ApiState> for TraceRequest {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<TraceRequest, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await?;
        let Tenants(tenants) = Tenants::from_request_parts(parts, state).await?;
        let id = parse_trace_id(&id)?;
        let UrlTimeRange(range) = UrlTimeRange::from_request_parts(parts, state).await?;
        Ok(TraceRequest { tenants, id, range })
    }
}

/// A request's parameters, read as Tempo reads them: those of the URL's query string, and in
/// a `POST`, before them, those of an `application/x-www-form-urlencoded` body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ParamsRejection;

    async fn from_request(req: Request, _: &S) -> Result<Params, ParamsRejection> {
        let (parts, body) = req.into_parts();
        Params::read(&parts, body).await
    }
}

impl Params {
    /// The parameters of a request: of its body (a `POST`'s form) first, then of its URL.
    async fn read(parts: &Parts, body: axum::body::Body) -> Result<Params, ParamsRejection> {
        let mut pairs = if parts.method == Method::POST {
            form(&parts.headers, body).await?
        } else {
            Vec::new()
        };
        pairs.extend(Params::parse(parts.uri.query())?.0);
        Ok(Params(pairs))
    }

    /// The parameters of a query string.
    pub(crate) fn parse(raw: Option<&str>) -> Result<Params, ParamsRejection> {
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            return Ok(Params(Vec::new()));
        };
        let uri: http::Uri = format!("/?{raw}")
            .parse()
            .map_err(|_| ParamsRejection::MalformedQuery(None))?;
        Query::<Vec<(String, String)>>::try_from_uri(&uri)
            .map(|Query(pairs)| Params(pairs))
            .map_err(|e| ParamsRejection::MalformedQuery(Some(e.to_string())))
    }

    /// The first value of `name`; `None` when absent or empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The time range of `start` and `end`.
    pub(crate) fn range(&self) -> Result<TimeRange, InvalidParam> {
        time_range(self.get("start"), self.get("end"))
    }

    /// A count parameter (`limit`, `spss`): a non-negative 32-bit number; `None` when absent.
    pub(crate) fn count(&self, name: &'static str) -> Result<Option<u32>, InvalidParam> {
        self.get(name)
            .map(|s| {
                s.trim().parse::<u32>().map_err(|e| InvalidParam::Number {
                    name,
                    value: s.to_owned(),
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    /// `limit` for tag lookups: absent or 0 is `default`.
    pub(crate) fn tag_limit(&self, default: usize) -> Result<usize, InvalidParam> {
        Ok(match self.count("limit")? {
            None | Some(0) => default,
            Some(n) => n as usize,
        })
    }
}

/// The parameters of a `POST` body: none when it is empty, else it must be a form.
async fn form(
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Vec<(String, String)>, ParamsRejection> {
    let body = read_body(headers, body).await?;
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let media = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let is_form = media.as_deref().is_some_and(|m| {
        m.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    if !is_form {
        return Err(ParamsRejection::UnsupportedMediaType(media));
    }
    if let Some(encoding) = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .filter(|e| !e.trim().eq_ignore_ascii_case("identity"))
    {
        return Err(ParamsRejection::UnsupportedEncoding(encoding));
    }
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
        .map_err(|e| ParamsRejection::MalformedForm(e.to_string()))
}

/// The body, up to [`MAX_FORM_BYTES`]; a 413 past it.
async fn read_body(
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<bytes::Bytes, ParamsRejection> {
    use http_body_util::BodyExt as _;
    let too_large = |size: String| ParamsRejection::BodyTooLarge {
        size,
        limit: MAX_FORM_BYTES,
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = declared.filter(|&n| n > MAX_DRAINED_BYTES as u64) {
        return Err(too_large(n.to_string()));
    }
    let mut body = body;
    let mut kept = bytes::BytesMut::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ParamsRejection::BodyFailed(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total <= MAX_FORM_BYTES {
            kept.extend_from_slice(&data);
        } else if total > MAX_DRAINED_BYTES {
            break;
        }
    }
    if total > MAX_FORM_BYTES {
        let size = match declared {
            Some(n) => n.to_string(),
            None if total > MAX_DRAINED_BYTES => format!("more than {MAX_DRAINED_BYTES}"),
            None => total.to_string(),
        };
        return Err(too_large(size));
    }
    Ok(kept.freeze())
}

/// What a search or tag lookup reads: its parameters (the body first), then its tenants.
/// The body is read before anything is refused, so that a client still sending it reads the
/// answer rather than a reset connection.
#[derive(Debug, Clone)]
pub(crate) struct QueryRequest {
    /// The tenants to query.
    pub(crate) tenants: Vec<String>,
    /// The parameters.
    pub(crate) params: Params,
}

impl FromRequest<ApiState> for QueryRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &ApiState) -> Result<QueryRequest, ApiError> {
        let (parts, body) = req.into_parts();
        let params = Params::read(&parts, body).await?;
        let Tenants(tenants) = Tenants::from_headers(state, &parts.headers)?;
        Ok(QueryRequest { tenants, params })
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use std::sync::Arc;

    use http::StatusCode;
    use tempo_core::Store;

    use super::*;
    use crate::api::state::Readiness;
    use crate::metrics::Metrics;

    fn state(multitenancy_enabled: bool, multi_tenant_queries_enabled: bool) -> ApiState {
        ApiState {
            store: Store::in_memory(),
            metrics: Arc::new(Metrics::default()),
            multitenancy_enabled,
            multi_tenant_queries_enabled,
            readiness: Arc::new(Readiness::new(0)),
        }
    }

    fn tenants(state: &ApiState, org: Option<&str>) -> Result<Vec<String>, (StatusCode, String)> {
        let mut headers = HeaderMap::new();
        if let Some(org) = org {
            headers.insert("x-scope-orgid", org.parse().unwrap());
        }
        Tenants::from_headers(state, &headers)
            .map(|Tenants(t)| t)
            .map_err(|e| (e.status(), e.to_string()))
    }

    #[test]
    fn tenants_from_the_org_id_header() {
        let single = state(false, true);
        assert_eq!(tenants(&single, None).unwrap(), ["single-tenant"]);
        assert_eq!(tenants(&single, Some("a|b")).unwrap(), ["single-tenant"]);

        let multi = state(true, true);
        assert_eq!(
            tenants(&multi, None).unwrap_err(),
            (StatusCode::UNAUTHORIZED, "no org id\n".to_owned())
        );
        assert_eq!(
            tenants(&multi, Some(" ")).unwrap_err(),
            (StatusCode::UNAUTHORIZED, "no org id\n".to_owned())
        );
        assert_eq!(tenants(&multi, Some("team-a")).unwrap(), ["team-a"]);
        assert_eq!(tenants(&multi, Some("b|a|a")).unwrap(), ["a", "b"]);
        let (status, message) = tenants(&multi, Some("a|")).unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            message.starts_with("X-Scope-OrgID \"a|\", tenant 2 of the list: "),
            "{message}"
        );
        let (status, _) = tenants(&multi, Some("a/b")).unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);

        let (status, message) = tenants(&state(true, false), Some("a|b")).unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            message.ends_with(
                " (queries across tenants are off: query_frontend.multi_tenant_queries_enabled)"
            ),
            "{message}"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-scope-orgid",
            http::HeaderValue::from_bytes(b"\xe9").unwrap(),
        );
        let err = Tenants::from_headers(&multi, &headers).unwrap_err();
        assert_eq!(
            (err.status(), err.to_string().as_str()),
            (StatusCode::BAD_REQUEST, "X-Scope-OrgID is not valid text")
        );
    }

    #[test]
    fn trace_ids_as_tempo_reads_them() {
        assert_eq!(
            parse_trace_id("1").unwrap().to_hex(),
            format!("{:0>32}", "1")
        );
        assert_eq!(
            parse_trace_id(&"a".repeat(33)).unwrap_err(),
            TraceIdRejection::TooLong
        );
        assert_eq!(
            parse_trace_id("0g").unwrap_err(),
            TraceIdRejection::NotHex {
                character: 'g',
                position: 2
            }
        );
    }

    #[test]
    fn time_ranges_and_counts() {
        assert_eq!(time_range(None, Some("")).unwrap(), TimeRange::default());
        assert_eq!(
            time_range(Some("-5"), Some("10")).unwrap(),
            TimeRange::from_unix_seconds(Some(0), Some(10))
        );
        let err = ApiError::from(time_range(Some("10"), Some("10")).unwrap_err());
        assert_eq!(
            (err.status(), err.message().as_str()),
            (
                StatusCode::BAD_REQUEST,
                "http parameter start must be before end. received start=10 end=10"
            )
        );
        let err = ApiError::from(time_range(Some("x"), None).unwrap_err());
        assert_eq!(
            (err.status(), err.message().as_str()),
            (
                StatusCode::BAD_REQUEST,
                "invalid start: \"x\": invalid digit found in string"
            )
        );
        let params = Params::parse(Some("limit=3&limit=4&spss=&n=-1")).unwrap();
        assert_eq!(params.count("limit").unwrap(), Some(3));
        assert_eq!(params.count("spss").unwrap(), None);
        assert!(
            params
                .count("n")
                .unwrap_err()
                .to_string()
                .starts_with("invalid n: \"-1\"")
        );
    }

    #[tokio::test]
    async fn url_time_ranges() {
        let range = |uri: &str| {
            let (mut parts, ()) = http::Request::builder()
                .uri(uri)
                .body(())
                .unwrap()
                .into_parts();
            async move {
                UrlTimeRange::from_request_parts(&mut parts, &())
                    .await
                    .map(|UrlTimeRange(r)| r)
                    .map_err(|e| (e.status(), e.message()))
            }
        };
        assert_eq!(range("/t").await.unwrap(), TimeRange::default());
        assert_eq!(
            range("/t?start=1&end=2&x=y").await.unwrap(),
            TimeRange::from_unix_seconds(Some(1), Some(2))
        );
        let (status, message) = range("/t?start=1&start=2").await.unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            message.starts_with("malformed query string: ") && message.contains("duplicate field"),
            "{message}"
        );
        let (status, message) = range("/t?end=x").await.unwrap_err();
        assert_eq!(
            (status, message.as_str()),
            (
                StatusCode::BAD_REQUEST,
                "invalid end: \"x\": invalid digit found in string"
            )
        );
    }
}
