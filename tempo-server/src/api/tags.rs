//! tags: which attribute names and values are there?
//!
//! Tempo's two tag APIs over the store:
//!
//! - v1 ([`V1`]): `GET /api/search/tags`, one flat list of names, and
//!   `GET /api/search/tag/{tagName}/values`, the values as plain strings;
//! - v2 ([`V2`]): `GET /api/v2/search/tags`, the names per scope, and
//!   `GET /api/v2/search/tag/{tagName}/values`, the values with their types.
//!
//! One handler serves both versions of each ([`tag_names`], [`tag_values`]), parameterised by
//! what differs between them ([`TagApi`]). Names and values are filtered by the query in `q`
//! (v1 names are not), bounded by `start` and `end`, at most `limit` (0 or absent: a default);
//! a `scope` names the one scope to list.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::header;
use tempo_core::{Store, TagScope, TagValue, TimeRange};

use super::error::{ApiError, InvalidParam};
use super::extract::{Params, QueryRequest};
use super::state::{ApiState, blocking};
use crate::{federation, peers, render};

/// Tag names returned per scope when the request gives no `limit` (or `limit=0`). Tempo
/// bounds tag lookups by bytes only (`max_bytes_per_tag_values_query`, 5 MB by default); a
/// count keeps the answer small enough for an editor's autocompletion all the same.
pub(crate) const DEFAULT_TAG_NAMES_LIMIT: usize = 1000;

/// Tag values returned when the request gives no `limit` (or `limit=0`); see
/// [`DEFAULT_TAG_NAMES_LIMIT`].
pub(crate) const DEFAULT_TAG_VALUES_LIMIT: usize = 1000;

/// What differs between the versions of Tempo's tag API: which scopes a request lists by
/// default, whether `q` filters the names, and the shape of the answers.
pub(crate) trait TagApi: Send + Sync + 'static {
    /// Whether `q` filters the tag names.
    const NAMES_FILTERED_BY_QUERY: bool;

    /// Whether a tag values route takes its tag name literally (an attribute of that exact
    /// name), rather than as a TraceQL identifier (`span.x`, `resource.x`, `name`).
    const LITERAL_TAG_NAMES: bool;

    /// The scopes listed when the request names none (no `scope`, or `scope=none`).
    fn default_scopes() -> Vec<TagScope>;

    /// The body of a tag names answer: the names found per scope, at most `limit` a scope.
    fn names_body(found: Vec<(TagScope, Vec<String>)>, limit: usize) -> Vec<u8>;

    /// The body of a tag values answer.
    fn values_body(values: &[TagValue]) -> Vec<u8>;
}

/// Tempo's first tag API: every scope but `intrinsic` by default, the names merged into one
/// sorted list of at most `limit`, the tag of a values route taken literally (an attribute
/// of that name; `span.x` is not parsed into a scope), the values as plain strings.
pub(crate) struct V1;

impl TagApi for V1 {
    const NAMES_FILTERED_BY_QUERY: bool = false;
    const LITERAL_TAG_NAMES: bool = true;

    fn default_scopes() -> Vec<TagScope> {
        TagScope::ALL
            .into_iter()
            .filter(|s| *s != TagScope::Intrinsic)
            .collect()
    }

    fn names_body(found: Vec<(TagScope, Vec<String>)>, limit: usize) -> Vec<u8> {
        let names: BTreeSet<String> = found.into_iter().flat_map(|(_, names)| names).collect();
        let names: Vec<String> = names.into_iter().take(limit).collect();
        render::tags::tag_names_json(&names)
    }

    fn values_body(values: &[TagValue]) -> Vec<u8> {
        render::tags::tag_values_json(values)
    }
}

/// Tempo's second tag API: every scope (intrinsics included) by default, the names per scope
/// (with `q`, only those of spans that meet its complete conditions, as an editor sends an
/// incomplete query while the user types), the values with their types.
pub(crate) struct V2;

impl TagApi for V2 {
    const NAMES_FILTERED_BY_QUERY: bool = true;
    const LITERAL_TAG_NAMES: bool = false;

    fn default_scopes() -> Vec<TagScope> {
        TagScope::ALL.to_vec()
    }

    fn names_body(found: Vec<(TagScope, Vec<String>)>, _limit: usize) -> Vec<u8> {
        render::tags::tag_scopes_json(&found)
    }

    fn values_body(values: &[TagValue]) -> Vec<u8> {
        render::tags::tag_values_v2_json(values)
    }
}

/// `GET /api/search/tags` and `GET /api/v2/search/tags`, and `POST` with the parameters in
/// the URL or a form body: the tag names of the scopes asked for.
pub(crate) async fn tag_names<A: TagApi>(
    State(state): State<ApiState>,
    QueryRequest { tenants, params }: QueryRequest,
) -> Result<Response, ApiError> {
    let (found, limit, partial) = names_found::<A>(&state, tenants, &params).await?;
    Ok(json(A::names_body(found, limit), partial))
}

/// The tag names a request asks for, per scope, here and in the heads of the peers on the
/// same bucket (asked at the same time); the request's limit (a scope's most); and why the
/// answer is partial, when a peer did not answer.
pub(crate) async fn names_found<A: TagApi>(
    state: &ApiState,
    tenants: Vec<String>,
    params: &Params,
) -> Result<(Vec<(TagScope, Vec<String>)>, usize, Option<String>), ApiError> {
    let scopes: Vec<TagScope> = match scope_param(params)? {
        ScopeParam::All => A::default_scopes(),
        ScopeParam::One(scope) => vec![scope],
        ScopeParam::Trace => Vec::new(),
    };
    let range = params.range()?;
    let limit = params.tag_limit(DEFAULT_TAG_NAMES_LIMIT)?;
    let q = params
        .get("q")
        .filter(|_| A::NAMES_FILTERED_BY_QUERY)
        .map(str::to_owned);
    if scopes.is_empty() {
        return Ok((Vec::new(), limit, None));
    }
    let store = state.store.clone();
    let asked = tenants.clone();
    let (local_scopes, local_q) = (scopes.clone(), q.clone());
    let (found, (theirs, partial)) = tokio::join!(
        blocking(move || names(
            &store,
            &tenants,
            &local_scopes,
            local_q.as_deref(),
            range,
            limit
        )),
        peers::tag_names(&asked, &scopes, q.as_deref(), range, limit)
    );
    let mut found = found?;
    if !theirs.is_empty() {
        let mut parts = vec![found];
        parts.extend(theirs);
        found = federation::tag_names(parts, &scopes, limit);
    }
    Ok((found, limit, partial))
}

/// The tag names of the tenants, per scope (see [`Store::tag_names`]).
fn names(
    store: &Store,
    tenants: &[String],
    scopes: &[TagScope],
    q: Option<&str>,
    range: TimeRange,
    limit: usize,
) -> Result<Vec<(TagScope, Vec<String>)>, tempo_core::TagsError> {
    let parts = tenants
        .iter()
        .map(|t| store.tag_names(t, scopes, q, range, limit))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(federation::tag_names(parts, scopes, limit))
}

/// `GET /api/search/tag/{tagName}/values` and `GET /api/v2/search/tag/{tagName}/values`,
/// and `POST`: the values of the tag (a TraceQL identifier, or a bare attribute name),
/// filtered by the query in `q` when there is one, at most `limit`.
pub(crate) async fn tag_values<A: TagApi>(
    State(state): State<ApiState>,
    Path(tag): Path<String>,
    QueryRequest { tenants, params }: QueryRequest,
) -> Result<Response, ApiError> {
    let (values, partial) = values_found::<A>(&state, tenants, tag, &params).await?;
    Ok(json(A::values_body(&values), partial))
}

/// The values of `tag` a request asks for, here and in the heads of the peers on the same
/// bucket (asked at the same time), and why the answer is partial, when a peer did not
/// answer.
pub(crate) async fn values_found<A: TagApi>(
    state: &ApiState,
    tenants: Vec<String>,
    tag: String,
    params: &Params,
) -> Result<(Vec<TagValue>, Option<String>), ApiError> {
    let range = params.range()?;
    let limit = params.tag_limit(DEFAULT_TAG_VALUES_LIMIT)?;
    let filter = params.get("q").map(str::to_owned);
    let store = state.store.clone();
    let asked = tenants.clone();
    let (asked_tag, asked_filter) = (tag.clone(), filter.clone());
    let local = blocking(move || {
        let parts = tenants
            .iter()
            .map(|t| {
                if A::LITERAL_TAG_NAMES {
                    store.tag_values_literal(t, &tag, filter.as_deref(), range, limit)
                } else {
                    store.tag_values(t, &tag, filter.as_deref(), range, limit)
                }
            })
            .collect::<Result<Vec<_>, tempo_core::TagsError>>()?;
        Ok::<_, tempo_core::TagsError>(federation::tag_values(parts, limit))
    });
    let (values, (theirs, partial)) = tokio::join!(
        local,
        peers::tag_values(
            &asked,
            &asked_tag,
            A::LITERAL_TAG_NAMES,
            asked_filter.as_deref(),
            range,
            limit
        )
    );
    let mut values = values?;
    if !theirs.is_empty() {
        let mut parts = vec![values];
        parts.extend(theirs);
        values = federation::tag_values(parts, limit);
    }
    Ok((values, partial))
}

/// A JSON answer; a partial one says why in [`peers::PARTIAL_HEADER`].
fn json(body: Vec<u8>, partial: Option<String>) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(reason) = partial {
        response
            .headers_mut()
            .insert(peers::PARTIAL_HEADER, peers::partial_header(&reason));
    }
    response
}

/// The `scope` parameter of the tag name endpoints.
enum ScopeParam {
    /// No scope, or `none`.
    All,
    /// One scope.
    One(TagScope),
    /// `trace`, which Tempo accepts and which holds no attributes here.
    Trace,
}

/// The `scope` of a request.
fn scope_param(p: &Params) -> Result<ScopeParam, InvalidParam> {
    match p.get("scope") {
        None | Some("none") => Ok(ScopeParam::All),
        Some("trace") => Ok(ScopeParam::Trace),
        Some(s) => TagScope::parse(s)
            .map(ScopeParam::One)
            .ok_or_else(|| InvalidParam::Scope(s.to_owned())),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use http::StatusCode;

    use super::*;

    fn params(raw: &str) -> Params {
        Params::parse(Some(raw)).unwrap()
    }

    #[test]
    fn scopes_and_limits() {
        assert!(matches!(scope_param(&params("")), Ok(ScopeParam::All)));
        assert!(matches!(
            scope_param(&params("scope=none")),
            Ok(ScopeParam::All)
        ));
        assert!(matches!(
            scope_param(&params("scope=trace")),
            Ok(ScopeParam::Trace)
        ));
        assert!(matches!(
            scope_param(&params("scope=intrinsic")),
            Ok(ScopeParam::One(TagScope::Intrinsic))
        ));
        let err = ApiError::from(scope_param(&params("scope=spans")).err().unwrap());
        assert_eq!(
            (err.status(), err.message().as_str()),
            (StatusCode::BAD_REQUEST, "invalid scope: spans")
        );
        assert_eq!(params("").tag_limit(7).unwrap(), 7);
        assert_eq!(params("limit=0").tag_limit(7).unwrap(), 7);
        assert_eq!(params("limit=3").tag_limit(7).unwrap(), 3);
        assert!(params("limit=x").tag_limit(7).is_err());
    }

    #[test]
    fn versions_differ_in_scopes_and_shapes() {
        assert!(!V1::default_scopes().contains(&TagScope::Intrinsic));
        assert_eq!(V2::default_scopes(), TagScope::ALL);
        let found = vec![
            (TagScope::Resource, vec!["b".to_owned(), "c".to_owned()]),
            (TagScope::Span, vec!["a".to_owned(), "c".to_owned()]),
        ];
        assert_eq!(
            String::from_utf8(V1::names_body(found.clone(), 2)).unwrap(),
            r#"{"tagNames":["a","b"]}"#
        );
        assert_eq!(
            String::from_utf8(V2::names_body(found, 2)).unwrap(),
            r#"{"scopes":[{"name":"resource","tags":["b","c"]},{"name":"span","tags":["a","c"]}]}"#
        );
        let values = [TagValue {
            kind: tempo_core::TagValueType::Int,
            value: "1".into(),
        }];
        assert_eq!(
            String::from_utf8(V1::values_body(&values)).unwrap(),
            r#"{"tagValues":["1"]}"#
        );
        assert_eq!(
            String::from_utf8(V2::values_body(&values)).unwrap(),
            r#"{"tagValues":[{"type":"int","value":"1"}]}"#
        );
    }
}
