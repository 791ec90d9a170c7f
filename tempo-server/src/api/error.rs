//! error: why was a request refused, and with which status?
//!
//! Every refusal of the API is a value of a type here, as axum's own rejections are: it knows
//! its status ([`status`](ApiError::status)) and its plain-text message
//! ([`message`](ApiError::message)), and answers with both (`text/plain; charset=utf-8`).
//! Each extractor has its own rejection type ([`TenantRejection`], [`ParamsRejection`]);
//! a bad parameter value is an [`InvalidParam`], a bad trace ID a [`TraceIdRejection`].
//! [`ApiError`] gathers them with the failures of the handlers themselves.
//!
//! A failed store call keeps the store's error ([`ApiError::Store`]); its status is the one
//! every transport gives its kind, [`tempo_otlp::status::http_status`], and nothing else
//! maps store errors to statuses.

use axum::extract::rejection::PathRejection;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};

/// Why the tenants of a request could not be read from its `X-Scope-OrgID` header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum TenantRejection {
    /// Multi-tenancy is on and the header is missing or empty: 401.
    #[error("no org id\n")]
    Missing,
    /// The header is not visible ASCII: 400.
    #[error("X-Scope-OrgID is not valid text")]
    NotText,
    /// The one tenant named is not a valid tenant ID: 400 with the reason.
    #[error("{0}")]
    Invalid(String),
    /// Several tenants are named, and queries across tenants are off: 400.
    #[error(
        "{reason} (queries across tenants are off: query_frontend.multi_tenant_queries_enabled)"
    )]
    FederationOff {
        /// Why the whole value is not one tenant ID.
        reason: String,
    },
    /// One tenant of a list is not a valid tenant ID: 400 naming it.
    #[error("X-Scope-OrgID {value:?}, tenant {position} of the list: {reason}")]
    InvalidInList {
        /// The header's value.
        value: String,
        /// The 1-based position of the bad tenant in the list.
        position: usize,
        /// Why it is not a tenant ID.
        reason: String,
    },
    /// Several tenants are named for a TraceQL metrics query, whose series this server does
    /// not combine across tenants: 400.
    #[error("metrics queries across tenants are not supported")]
    MetricsAcrossTenants,
    /// Several tenants are named for the generated series, which are read one tenant at a
    /// time: 400.
    #[error("the generated series are read one tenant at a time")]
    GeneratedAcrossTenants,
}

impl TenantRejection {
    /// 401 for a missing tenant, 400 for a bad one.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            TenantRejection::Missing => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Why a request's parameters (its query string, and a `POST` form body) could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ParamsRejection {
    /// The query string is not `application/x-www-form-urlencoded`: 400, with the parser's
    /// reason when there is one.
    #[error("malformed query string{}", .0.as_ref().map_or_else(String::new, |e| format!(": {e}")))]
    MalformedQuery(Option<String>),
    /// A `POST` body that is not a form: 415.
    #[error(
        "unsupported content type {}: send the parameters in the URL, or in an \
         application/x-www-form-urlencoded body",
        .0.as_ref().map_or_else(|| "(none)".to_owned(), |m| format!("{m:?}"))
    )]
    UnsupportedMediaType(Option<String>),
    /// A compressed form body: 415.
    #[error("unsupported content encoding {0:?}: send the form uncompressed")]
    UnsupportedEncoding(String),
    /// A form body that does not parse: 400.
    #[error("malformed form body: {0}")]
    MalformedForm(String),
    /// The body could not be read: 400.
    #[error("reading the request body failed: {0}")]
    BodyFailed(String),
    /// A body past the limit: 413, with its size as known (`N`, or `more than N`).
    #[error("request body too large: {size} bytes, more than the limit of {limit}")]
    BodyTooLarge {
        /// The body's size, or a lower bound of it.
        size: String,
        /// The largest body read.
        limit: usize,
    },
}

impl ParamsRejection {
    /// 415 for a body of the wrong kind, 413 for one too large, else 400.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ParamsRejection::UnsupportedMediaType(_) | ParamsRejection::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ParamsRejection::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A parameter whose value cannot be used: always a 400 whose message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum InvalidParam {
    /// A number (`start`, `end`, `limit`, `spss`) that does not parse.
    #[error("invalid {name}: {value:?}: {reason}")]
    Number {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: String,
        /// The parser's reason.
        reason: String,
    },
    /// A time (`start`, `end` of a metrics query) that is neither unix seconds or
    /// nanoseconds, float seconds, nor an RFC 3339 time.
    #[error(
        "invalid {name}: {value:?}: expected unix seconds, unix nanoseconds, float seconds or \
         an RFC 3339 time"
    )]
    Time {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// A metrics query whose whole range is more recent than `query_end_cutoff`, Tempo's
    /// message.
    #[error("query window falls entirely within query_end_cutoff")]
    WindowInCutoff,
    /// `end` is not after `start`.
    #[error("http parameter start must be before end. received start={start} end={end}")]
    StartNotBeforeEnd {
        /// `start`, unix seconds.
        start: u64,
        /// `end`, unix seconds.
        end: u64,
    },
    /// A search whose `end` comes without a `start`: Tempo reads the start as 0, and the range
    /// from 1970 exceeds its longest search (`query_frontend.search.max_duration`, 168 h by
    /// default). Tempo's message.
    #[error("range specified by start and end exceeds {max}. received start=0 end={end}")]
    SearchRangeTooLong {
        /// The longest search, as Go prints a duration (`168h0m0s`).
        max: &'static str,
        /// `end`, unix seconds.
        end: u64,
    },
    /// A duration that does not parse (`minDuration`, `maxDuration` and a metrics query's
    /// `step` as Go's, `since` as Prometheus').
    #[error("invalid {name}: {reason}")]
    Duration {
        /// The parameter.
        name: &'static str,
        /// Go's message: `time: invalid duration "x"`.
        reason: String,
    },
    /// `maxDuration` is below `minDuration`.
    #[error("invalid maxDuration: must be greater than minDuration")]
    MaxBelowMin,
    /// `limit=0` for a search.
    #[error("invalid limit: must be a positive number")]
    LimitNotPositive,
    /// Both `q` and `tags`.
    #[error("invalid request: can't specify tags and q in the same query")]
    TagsAndQuery,
    /// A legacy `tags` search that cannot be read: the reason.
    #[error("invalid tags: {0}")]
    Tags(String),
    /// A `scope` that is not a tag scope.
    #[error("invalid scope: {0}")]
    Scope(String),
}

/// Why the trace ID of a path is refused: always a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum TraceIdRejection {
    /// More than 32 hex digits.
    #[error("trace IDs can't be larger than 128 bits")]
    TooLong,
    /// A character that is not a hex digit, at a 1-based position.
    #[error(
        "trace IDs can only contain hex characters: invalid character '{character}' at position {position}"
    )]
    NotHex {
        /// The character.
        character: char,
        /// Its 1-based position.
        position: usize,
    },
    /// Any other reason the ID does not read.
    #[error("{0}")]
    Invalid(String),
}

/// A refused request: its status and plain-text message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ApiError {
    /// No route: 404 `404 page not found`, as Go's mux answers.
    #[error("404 page not found\n")]
    NotFound,
    /// A request target (path and query) past the limit: 414, saying how to send a long query.
    #[error(
        "URI too long: {length} bytes, more than the limit of {limit}; send a long query by \
         POST, with the parameters in an application/x-www-form-urlencoded body"
    )]
    UriTooLong {
        /// The target's length.
        length: usize,
        /// The longest target taken.
        limit: usize,
    },
    /// A path parameter that does not read (not UTF-8): axum's own rejection, as it is.
    #[error("{}", .0.body_text())]
    Path(#[from] PathRejection),
    /// The tenants.
    #[error(transparent)]
    Tenant(#[from] TenantRejection),
    /// The parameters.
    #[error(transparent)]
    Params(#[from] ParamsRejection),
    /// A parameter's value.
    #[error(transparent)]
    InvalidParam(#[from] InvalidParam),
    /// The trace ID.
    #[error(transparent)]
    TraceId(#[from] TraceIdRejection),
    /// A failed store call (a bad query or tag, a bad tenant, an overloaded or failing
    /// store), with the status of its kind; for TraceQL, the message shows the query with a
    /// caret under the error.
    #[error("{0}")]
    Store(tempo_core::Error),
    /// A search that could read nothing within its memory budget: 422 with the reason.
    #[error("{0}")]
    OverBudget(String),
    /// The blocking task of a store call failed: 500.
    #[error("query task failed: {0}")]
    TaskFailed(String),
    /// The server is starting or stopping: 503 with the reason, for `/ready`.
    #[error("{0}\n")]
    NotReady(String),
}

impl ApiError {
    /// The response's status.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::Path(rejection) => rejection.status(),
            ApiError::Tenant(rejection) => rejection.status(),
            ApiError::Params(rejection) => rejection.status(),
            ApiError::InvalidParam(_) | ApiError::TraceId(_) => StatusCode::BAD_REQUEST,
            ApiError::Store(err) => tempo_otlp::status::http_status(err.kind()),
            ApiError::OverBudget(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TaskFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The message sent as the body.
    pub(crate) fn message(&self) -> String {
        self.to_string()
    }

    /// The response to a failed store call.
    pub(crate) fn store(err: impl Into<tempo_core::Error>) -> ApiError {
        ApiError::Store(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Path(rejection) = self {
            return rejection.into_response();
        }
        let status = self.status();
        let message = self.message();
        // Not being ready yet (or any more) is no fault.
        if status.is_server_error() && !matches!(self, ApiError::NotReady(_)) {
            tracing::error!(status = %status, error = %message, "request failed");
        }
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            message,
        )
            .into_response()
    }
}

impl IntoResponse for TenantRejection {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl IntoResponse for ParamsRejection {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    /// Every rejection, with its status and its message as sent.
    #[test]
    fn rejections_carry_their_status_and_message() {
        let cases: Vec<(ApiError, StatusCode, &str)> = vec![
            (
                ApiError::NotFound,
                StatusCode::NOT_FOUND,
                "404 page not found\n",
            ),
            (
                ApiError::UriTooLong {
                    length: 70_000,
                    limit: 61_440,
                },
                StatusCode::URI_TOO_LONG,
                "URI too long: 70000 bytes, more than the limit of 61440; send a long query by \
                 POST, with the parameters in an application/x-www-form-urlencoded body",
            ),
            (
                TenantRejection::Missing.into(),
                StatusCode::UNAUTHORIZED,
                "no org id\n",
            ),
            (
                TenantRejection::NotText.into(),
                StatusCode::BAD_REQUEST,
                "X-Scope-OrgID is not valid text",
            ),
            (
                TenantRejection::FederationOff {
                    reason: "bad".into(),
                }
                .into(),
                StatusCode::BAD_REQUEST,
                "bad (queries across tenants are off: query_frontend.multi_tenant_queries_enabled)",
            ),
            (
                TenantRejection::InvalidInList {
                    value: "a|".into(),
                    position: 2,
                    reason: "empty".into(),
                }
                .into(),
                StatusCode::BAD_REQUEST,
                "X-Scope-OrgID \"a|\", tenant 2 of the list: empty",
            ),
            (
                TenantRejection::MetricsAcrossTenants.into(),
                StatusCode::BAD_REQUEST,
                "metrics queries across tenants are not supported",
            ),
            (
                ParamsRejection::MalformedQuery(None).into(),
                StatusCode::BAD_REQUEST,
                "malformed query string",
            ),
            (
                ParamsRejection::MalformedQuery(Some("why".into())).into(),
                StatusCode::BAD_REQUEST,
                "malformed query string: why",
            ),
            (
                ParamsRejection::UnsupportedMediaType(None).into(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported content type (none): send the parameters in the URL, or in an \
                 application/x-www-form-urlencoded body",
            ),
            (
                ParamsRejection::UnsupportedMediaType(Some("text/plain".into())).into(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported content type \"text/plain\": send the parameters in the URL, or in \
                 an application/x-www-form-urlencoded body",
            ),
            (
                ParamsRejection::UnsupportedEncoding("gzip".into()).into(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported content encoding \"gzip\": send the form uncompressed",
            ),
            (
                ParamsRejection::MalformedForm("x".into()).into(),
                StatusCode::BAD_REQUEST,
                "malformed form body: x",
            ),
            (
                ParamsRejection::BodyFailed("reset".into()).into(),
                StatusCode::BAD_REQUEST,
                "reading the request body failed: reset",
            ),
            (
                ParamsRejection::BodyTooLarge {
                    size: "more than 9".into(),
                    limit: 8,
                }
                .into(),
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large: more than 9 bytes, more than the limit of 8",
            ),
            (
                InvalidParam::Number {
                    name: "limit",
                    value: "x".into(),
                    reason: "invalid digit found in string".into(),
                }
                .into(),
                StatusCode::BAD_REQUEST,
                "invalid limit: \"x\": invalid digit found in string",
            ),
            (
                InvalidParam::Time {
                    name: "start",
                    value: "yesterday".into(),
                }
                .into(),
                StatusCode::BAD_REQUEST,
                "invalid start: \"yesterday\": expected unix seconds, unix nanoseconds, float \
                 seconds or an RFC 3339 time",
            ),
            (
                InvalidParam::WindowInCutoff.into(),
                StatusCode::BAD_REQUEST,
                "query window falls entirely within query_end_cutoff",
            ),
            (
                InvalidParam::StartNotBeforeEnd { start: 5, end: 1 }.into(),
                StatusCode::BAD_REQUEST,
                "http parameter start must be before end. received start=5 end=1",
            ),
            (
                InvalidParam::SearchRangeTooLong {
                    max: "168h0m0s",
                    end: 1_700_000_000,
                }
                .into(),
                StatusCode::BAD_REQUEST,
                "range specified by start and end exceeds 168h0m0s. received start=0 end=1700000000",
            ),
            (
                InvalidParam::Duration {
                    name: "minDuration",
                    reason: "time: invalid duration \"x\"".into(),
                }
                .into(),
                StatusCode::BAD_REQUEST,
                "invalid minDuration: time: invalid duration \"x\"",
            ),
            (
                InvalidParam::MaxBelowMin.into(),
                StatusCode::BAD_REQUEST,
                "invalid maxDuration: must be greater than minDuration",
            ),
            (
                InvalidParam::LimitNotPositive.into(),
                StatusCode::BAD_REQUEST,
                "invalid limit: must be a positive number",
            ),
            (
                InvalidParam::TagsAndQuery.into(),
                StatusCode::BAD_REQUEST,
                "invalid request: can't specify tags and q in the same query",
            ),
            (
                InvalidParam::Tags("tag a has been set twice".into()).into(),
                StatusCode::BAD_REQUEST,
                "invalid tags: tag a has been set twice",
            ),
            (
                InvalidParam::Scope("spans".into()).into(),
                StatusCode::BAD_REQUEST,
                "invalid scope: spans",
            ),
            (
                TraceIdRejection::TooLong.into(),
                StatusCode::BAD_REQUEST,
                "trace IDs can't be larger than 128 bits",
            ),
            (
                TraceIdRejection::NotHex {
                    character: 'g',
                    position: 3,
                }
                .into(),
                StatusCode::BAD_REQUEST,
                "trace IDs can only contain hex characters: invalid character 'g' at position 3",
            ),
            (
                ApiError::OverBudget("over max_query_bytes".into()),
                StatusCode::UNPROCESSABLE_ENTITY,
                "over max_query_bytes",
            ),
            (
                ApiError::TaskFailed("panicked".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
                "query task failed: panicked",
            ),
            (
                ApiError::NotReady("Application is stopping".into()),
                StatusCode::SERVICE_UNAVAILABLE,
                "Application is stopping\n",
            ),
        ];
        for (error, status, message) in cases {
            assert_eq!(
                (error.status(), error.message().as_str()),
                (status, message)
            );
            let response = error.into_response();
            assert_eq!(response.status(), status);
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "text/plain; charset=utf-8"
            );
        }
    }

    /// A store error answers with the status of its kind and the store's message.
    #[test]
    fn store_errors_take_the_status_of_their_kind() {
        let store = tempo_core::Store::in_memory();
        let err = store
            .search("single-tenant", &tempo_core::SearchRequest::new("{ .a = }"))
            .unwrap_err();
        let text = err.to_string();
        let err = ApiError::store(err);
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(err.message(), text);
        assert!(text.contains('^'), "{text}");
        let err = ApiError::store(
            store
                .find_trace(
                    "a/b",
                    tempo_core::model::TraceId([1; 16]),
                    tempo_core::TimeRange::default(),
                )
                .unwrap_err(),
        );
        assert_eq!(
            err.status(),
            tempo_otlp::status::http_status(tempo_core::ErrorKind::InvalidInput)
        );
        store.close().unwrap();
    }
}
