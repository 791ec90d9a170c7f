//! extract: what does a request ask for?
//!
//! The typed extractors of the API, each with its typed rejection:
//!
//! - [`Tenants`]: the tenants a query reads, from `X-Scope-OrgID` ([`TenantRejection`]);
//! - [`Params`]: the parameters, from the query string and a `POST` form body
//!   ([`ParamsRejection`]), with typed readers for the time range (`start`, `end`), the limits
//!   (`limit`, `spss`) and the rest ([`InvalidParam`]);
//! - [`UrlTimeRange`]: the time range of the query string alone, for the trace endpoints;
//! - the readers of the metrics endpoints' times and durations, which Tempo reads its own way
//!   ([`parse_metrics_time`], [`parse_prometheus_duration`], [`parse_metrics_step`]), and of
//!   the `Accept` header ([`wants_protobuf`]);
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
use std::time::Duration;

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
    pub(crate) fn from_headers(
        state: &ApiState,
        headers: &HeaderMap,
    ) -> Result<Tenants, TenantRejection> {
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

/// Nanoseconds in a second.
const SECOND_NANOS: i128 = 1_000_000_000;

/// A time parameter of the metrics endpoints (`start`, `end`), read as Tempo reads it, in
/// unix nanoseconds (times before 1970 are 1970):
///
/// - a value with a `.` that reads as a number is float seconds, to the millisecond
///   (`1715000000.5`);
/// - an integer of at most 10 characters is unix seconds (`1715000000`), a longer one unix
///   nanoseconds (`1715000000000000000`; so milliseconds read as a date in 1970, as in Tempo);
/// - anything else must be an RFC 3339 time (`2024-05-06T12:00:00Z`,
///   `2024-05-06T14:00:00.5+02:00`).
///
/// `None` when it is none of these.
pub(crate) fn parse_metrics_time(text: &str) -> Option<u64> {
    let nanos = if let Some(seconds) = text
        .contains('.')
        .then(|| text.parse::<f64>().ok())
        .flatten()
        .filter(|f| f.is_finite())
    {
        // Whole seconds and the fraction rounded to milliseconds, as Prometheus' parser.
        let whole = seconds.trunc();
        let millis = ((seconds - whole) * 1000.0).round();
        whole as i128 * SECOND_NANOS + millis as i128 * 1_000_000
    } else if let Ok(n) = text.parse::<i64>() {
        if text.len() <= 10 {
            i128::from(n) * SECOND_NANOS
        } else {
            i128::from(n)
        }
    } else {
        parse_rfc3339(text)?
    };
    Some(u64::try_from(nanos.max(0)).unwrap_or(u64::MAX))
}

/// An RFC 3339 time (Go's `time.RFC3339Nano` layout): `YYYY-MM-DDTHH:MM:SS`, an optional
/// fraction of up to 9 digits, then `Z` or an offset `±HH:MM`; in unix nanoseconds.
fn parse_rfc3339(text: &str) -> Option<i128> {
    let b = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        digits
            .iter()
            .try_fold(0i64, |n, d| Some(n * 10 + i64::from(d - b'0')))
    };
    let punctuation = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if punctuation.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut i = 19;
    let mut fraction: i128 = 0;
    if b.get(i) == Some(&b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        fraction = number(i + 1..i + 1 + digits)? as i128 * 10i128.pow(9 - digits as u32);
        i += 1 + digits;
    }
    let offset_seconds = match b.get(i..)? {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (number(i + 1..i + 3)?, number(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let offset = h * 3600 + m * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_seconds;
    Some(i128::from(seconds) * SECOND_NANOS + fraction)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A duration as Prometheus writes it, which Tempo's `since` takes: integers with units
/// `y` (365 days), `w`, `d`, `h`, `m`, `s`, `ms`, each at most once and in that order
/// (`1h30m`, `7d`, `500ms`); `0` alone needs no unit. The error is Prometheus' message.
pub(crate) fn parse_prometheus_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("not a valid duration string: {text:?}");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(invalid());
    }
    const UNITS: [(&str, u128); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut rest = text;
    let mut next_unit = 0;
    let mut millis: u128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid());
        }
        let n: u128 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit = if rest.starts_with("ms") {
            "ms"
        } else {
            rest.get(..1).unwrap_or("")
        };
        let Some(at) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(invalid());
        };
        if at < next_unit {
            return Err(invalid());
        }
        next_unit = at + 1;
        rest = &rest[unit.len()..];
        millis = n
            .checked_mul(UNITS[at].1)
            .and_then(|m| millis.checked_add(m))
            .ok_or_else(|| format!("duration out of range: {text:?}"))?;
    }
    // Prometheus' durations are int64 nanoseconds.
    if millis.saturating_mul(1_000_000) > i64::MAX as u128 {
        return Err(format!("duration out of range: {text:?}"));
    }
    Ok(Duration::from_millis(millis as u64))
}

/// The `step` of a metrics range query, as Tempo reads it: float seconds (`30`, `0.5`), else
/// a Go duration (`15s`, `1m30s`, `500ms`). The error is Tempo's message.
pub(crate) fn parse_metrics_step(text: &str) -> Result<Duration, String> {
    let invalid = || format!("cannot parse {text:?} to a valid duration");
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => {
            // Truncated to the nanosecond, as Go's conversion of the float.
            Ok(Duration::from_nanos((seconds * 1e9) as u64))
        }
        Ok(_) => Err(invalid()),
        Err(_) => parse_go_duration(text).map_err(|_| invalid()),
    }
}

/// Whether the `Accept` header names protobuf (`application/protobuf` or
/// `application/x-protobuf`, as Grafana sends it).
pub(crate) fn wants_protobuf(headers: &HeaderMap) -> bool {
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

/// Parses a duration as Go's `time.ParseDuration` does: a sequence of decimal numbers, each
/// with an optional fraction and a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), as `300ms`,
/// `1.5h` or `2h45m`; `0` alone needs no unit. Negative durations are refused.
pub(crate) fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let mut s = text;
    if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    } else if s.starts_with('-') {
        return Err(format!("time: negative duration {text:?}"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let int_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (int_part, rest) = s.split_at(int_len);
        let (frac_part, rest) = match rest.strip_prefix('.') {
            Some(r) => {
                let len = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
                r.split_at(len)
            }
            None => ("", rest),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (unit, rest) = rest.split_at(unit_len);
        let nanos_per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            other => return Err(format!("time: unknown unit {other:?} in duration {text:?}")),
        };
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut nanos = int.checked_mul(nanos_per_unit).ok_or_else(invalid)?;
        // The fraction, to the nanosecond (digits past the 19th cannot change it).
        let mut scale = nanos_per_unit;
        for d in frac_part.bytes().take(19) {
            scale /= 10;
            nanos += u128::from(d - b'0') * scale;
        }
        total = total.checked_add(nanos).ok_or_else(invalid)?;
        s = rest;
    }
    // Go's durations are int64 nanoseconds.
    if total > i64::MAX as u128 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(total as u64))
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
    /// Parameters given as name and value pairs.
    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Params {
        Params(pairs)
    }

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

    /// The time range of a search's `start` and `end`, read as Tempo reads them: a missing
    /// (or zero) bound is 0, and unless both are 0, `end` must come after `start`. So a
    /// `start` without `end` is refused (`received start=S end=0`), and an `end` without
    /// `start` covers everything since 1970, which Tempo refuses as longer than its longest
    /// search (`query_frontend.search.max_duration`, 168 h by default) unless `end` itself
    /// is within 168 h of 1970.
    pub(crate) fn search_range(&self) -> Result<TimeRange, InvalidParam> {
        /// Tempo's default `query_frontend.search.max_duration`.
        const TEMPO_SEARCH_MAX_DURATION: u64 = 168 * 3600;
        let range = self.range();
        let bound = |name| {
            self.get(name)
                .and_then(|s| s.trim().parse::<i64>().ok())
                .map_or(0, |n| n.max(0) as u64)
        };
        match (bound("start"), bound("end")) {
            // A bound that is not a number says so first.
            _ if matches!(range, Err(InvalidParam::Number { .. })) => range,
            (0, 0) => Ok(TimeRange::ALL),
            (start, 0) => Err(InvalidParam::StartNotBeforeEnd { start, end: 0 }),
            (0, end) if end > TEMPO_SEARCH_MAX_DURATION => Err(InvalidParam::SearchRangeTooLong {
                max: "168h0m0s",
                end,
            }),
            _ => range,
        }
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

/// What a search, a tag lookup or a metrics query reads: its parameters (the body first),
/// then its tenants.
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
    use crate::api::state::{MetricsQueryLimits, Readiness};
    use crate::metrics::Metrics;

    fn state(multitenancy_enabled: bool, multi_tenant_queries_enabled: bool) -> ApiState {
        ApiState {
            store: Store::in_memory(),
            metrics: Arc::new(Metrics::default()),
            multitenancy_enabled,
            multi_tenant_queries_enabled,
            streaming: true,
            metrics_query: MetricsQueryLimits::default(),
            readiness: Arc::new(Readiness::new(0)),
            generator_rules: Arc::default(),
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
    fn go_durations() {
        let ms = Duration::from_millis;
        for (text, want) in [
            ("0", Duration::ZERO),
            ("100ms", ms(100)),
            ("1.5s", ms(1500)),
            ("1m", ms(60_000)),
            ("2h45m", ms((2 * 60 + 45) * 60_000)),
            (".5s", ms(500)),
            ("1.s", ms(1000)),
            ("+3us", Duration::from_micros(3)),
            ("7µs", Duration::from_micros(7)),
            ("1.000000001s", Duration::from_nanos(1_000_000_001)),
            ("0.1ns", Duration::ZERO),
        ] {
            assert_eq!(parse_go_duration(text), Ok(want), "{text}");
        }
        for (text, message) in [
            ("", "invalid duration"),
            ("1", "missing unit"),
            ("5x", "unknown unit \"x\""),
            ("s", "invalid duration"),
            (".s", "invalid duration"),
            ("-1s", "negative"),
            ("1.5.5s", "missing unit"),
            ("9999999999h", "invalid duration"),
        ] {
            let err = parse_go_duration(text).unwrap_err();
            assert!(err.contains(message), "{text}: {err}");
        }
    }

    #[test]
    fn metrics_times_as_tempo_reads_them() {
        const S: u64 = 1_000_000_000;
        for (text, want) in [
            ("1715000000", Some(1_715_000_000 * S)),
            ("0", Some(0)),
            ("-5", Some(0)),
            // Past 10 characters, nanoseconds: milliseconds are a date in 1970.
            ("1715000000000", Some(1_715_000_000_000)),
            ("1715000000000000001", Some(1_715_000_000 * S + 1)),
            // Float seconds, to the millisecond.
            ("1715000000.5", Some(1_715_000_000 * S + S / 2)),
            ("1715000000.0004", Some(1_715_000_000 * S)),
            ("1715000000.9996", Some(1_715_000_001 * S)),
            ("1.5e9", Some(1_500_000_000 * S)),
            ("1.5e9.", None),
            ("2024-05-06T12:53:20Z", Some(1_715_000_000 * S)),
            (
                "2024-05-06T12:53:20.000000001Z",
                Some(1_715_000_000 * S + 1),
            ),
            (
                "2024-05-06T12:53:20.25-01:30",
                Some(1_715_005_400 * S + S / 4),
            ),
            ("2024-02-29T00:00:00Z", Some(1_709_164_800 * S)),
            ("1969-12-31T23:59:59Z", Some(0)),
            ("2000-01-01T00:00:00+00:00", Some(946_684_800 * S)),
            ("2023-02-29T00:00:00Z", None),
            ("2024-05-06T24:00:00Z", None),
            ("2024-05-06T12:53:20", None),
            ("2024-05-06 12:53:20Z", None),
            ("2024-05-06T12:53:20.Z", None),
            ("2024-05-06T12:53:20+0100", None),
            ("now", None),
            ("", None),
            ("NaN", None),
        ] {
            assert_eq!(parse_metrics_time(text), want, "{text}");
        }
        let ok = |text: &str| parse_prometheus_duration(text).unwrap();
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("1y2w3d"), Duration::from_secs((365 + 14 + 3) * 86_400));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("1m5s10ms"), Duration::from_millis(65_010));
        for bad in ["", "1", "1.5h", "30m1h", "1h1h", "5x", "-1h", "h", "1 h"] {
            assert_eq!(
                parse_prometheus_duration(bad).unwrap_err(),
                format!("not a valid duration string: {bad:?}"),
            );
        }
        assert!(
            parse_prometheus_duration("999999999y")
                .unwrap_err()
                .starts_with("duration out of range")
        );
        assert_eq!(parse_metrics_step("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_metrics_step("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_metrics_step("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_metrics_step("0"), Ok(Duration::ZERO));
        for bad in ["-1", "inf", "NaN", "1d", "fast", ""] {
            assert_eq!(
                parse_metrics_step(bad).unwrap_err(),
                format!("cannot parse {bad:?} to a valid duration"),
            );
        }
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
