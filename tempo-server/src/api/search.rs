//! search: which traces match?
//!
//! `GET /api/search` (and `POST`, with the parameters in the URL or a form body): a TraceQL
//! query in `q`, or Tempo's legacy tag search in `tags` (logfmt, translated here to TraceQL),
//! with `minDuration`, `maxDuration`, `limit`, `spss`, `start` and `end`. Every bad parameter
//! is a 400 whose message names it; the store's query errors (bad TraceQL) are the client's
//! and answer 400 with the store's message.

use std::collections::HashSet;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header;
use tempo_core::{CancelToken, SearchRequest, SearchResponse};
use tempo_traceql::{
    Attribute, BinaryOp, Expr, ExprKind, FieldExpr, FieldExprKind, Intrinsic, Query, Scope, Span,
    SpansetFilter, Static, Status,
};

use super::error::{ApiError, InvalidParam};
use super::extract::{Params, QueryRequest, parse_go_duration};
use super::state::{ApiState, blocking};
use crate::{federation, peers, render};

/// `GET /api/search`, and `POST` with the parameters in the URL or a form body.
pub(crate) async fn search(
    State(state): State<ApiState>,
    QueryRequest { tenants, params }: QueryRequest,
) -> Result<Response, ApiError> {
    let token = CancelToken::new();
    let req = search_request(&params)?.cancel_token(token.clone());
    // Dropped with this handler, for example when the client disconnects: the search then
    // stops within milliseconds instead of running on to its deadline.
    let _cancel = token.cancel_on_drop();
    let query = req.query.clone();
    let found = search_with_peers(&state, tenants, req).await?;
    let mut partial = None;
    if let Some(reason) = found.partial_reason.as_deref().filter(|_| found.partial) {
        // A search that could read nothing within its memory budget has no answer to give.
        if found.traces.is_empty() && reason.contains("max_query_bytes") {
            return Err(ApiError::OverBudget(reason.to_owned()));
        }
        tracing::warn!(
            query = %query,
            traces = found.traces.len(),
            reason,
            "search stopped early: answering with the traces found so far"
        );
        partial = Some(peers::partial_header(reason));
    }
    let mut response = (
        [(header::CONTENT_TYPE, "application/json")],
        render::search::search_json(&found),
    )
        .into_response();
    if let Some(partial) = partial {
        response
            .headers_mut()
            .insert(peers::PARTIAL_HEADER, partial);
    }
    Ok(response)
}

/// The search of every tenant of the request here, and of the heads of the peers on the
/// same bucket at the same time, combined: the same trace's matches merged, the limit
/// applied once; partial, with the reason, when a peer did not answer.
pub(crate) async fn search_with_peers(
    state: &ApiState,
    tenants: Vec<String>,
    req: SearchRequest,
) -> Result<SearchResponse, ApiError> {
    let store = state.store.clone();
    let limit = req.limit;
    let asked = tenants.clone();
    let peer_req = req.clone();
    let (found, (mut parts, partial)) = tokio::join!(
        blocking(move || federation::search(&store, &tenants, &req)),
        peers::search(&asked, &peer_req)
    );
    let mut found = found?;
    if !parts.is_empty() {
        parts.insert(0, found);
        found = federation::combine_search(parts, limit);
    }
    if let Some(reason) = partial {
        found.partial = true;
        found.partial_reason = Some(match found.partial_reason.take() {
            Some(earlier) => format!("{earlier}; {reason}"),
            None => reason,
        });
    }
    Ok(found)
}

/// The store's request for Tempo's search parameters.
pub(crate) fn search_request(p: &Params) -> Result<SearchRequest, InvalidParam> {
    let range = p.search_range()?;
    let query = match (p.get("q"), p.get("tags")) {
        (Some(_), Some(_)) => return Err(InvalidParam::TagsAndQuery),
        (Some(q), None) => q.to_owned(),
        (None, Some(tags)) => legacy_query(tags)?,
        (None, None) => "{}".to_owned(),
    };
    let duration = |name: &'static str| -> Result<Option<Duration>, InvalidParam> {
        p.get(name)
            .map(|s| parse_go_duration(s).map_err(|reason| InvalidParam::Duration { name, reason }))
            .transpose()
    };
    let min_duration = duration("minDuration")?.filter(|d| !d.is_zero());
    // As in Tempo, a zero maximum is no maximum.
    let max_duration = duration("maxDuration")?.filter(|d| !d.is_zero());
    if let (Some(min), Some(max)) = (min_duration, max_duration)
        && min > max
    {
        return Err(InvalidParam::MaxBelowMin);
    }
    let mut req = SearchRequest::new(query).range(range);
    match p.count("limit")? {
        None => {}
        Some(0) => return Err(InvalidParam::LimitNotPositive),
        Some(n) => req.limit = n as usize,
    }
    if let Some(n) = p.count("spss")? {
        req.spans_per_spanset = n as usize;
    }
    req.min_duration = min_duration;
    req.max_duration = max_duration;
    Ok(req)
}

/// Translates Tempo's legacy tag search (`tags=key=value key2="quoted value"`, logfmt) to
/// one TraceQL spanset filter whose conditions are joined with `&&`, built as a TraceQL tree
/// and written by TraceQL's own formatter (which quotes names and strings as the parser
/// reads them back).
///
/// As Tempo's own tag search does, a few keys name fixed fields and match a substring of
/// them (case-sensitive): `service.name` (resource), `name` (span name),
/// `root.service.name` and `root.name` (the trace's root span). `status.code` takes
/// `error`, `ok` or `unset`. `http.status_code` compares as an integer when the value is
/// one. Any other key is an attribute of the span or of its resource whose string value
/// equals the given one.
fn legacy_query(tags: &str) -> Result<String, InvalidParam> {
    let pairs = parse_logfmt(tags).map_err(InvalidParam::Tags)?;
    let mut seen = HashSet::new();
    let mut condition: Option<FieldExpr> = None;
    for (key, value) in &pairs {
        if !seen.insert(key.as_str()) {
            return Err(InvalidParam::Tags(format!("tag {key} has been set twice")));
        }
        let next = legacy_condition(key, value)?;
        condition = Some(match condition {
            None => next,
            Some(before) => binary(before, BinaryOp::And, next),
        });
    }
    let filter = Expr {
        kind: ExprKind::Filter(SpansetFilter {
            expr: condition,
            span: Span::default(),
        }),
        span: Span::default(),
    };
    Ok(tempo_traceql::format(&Query {
        expr: filter,
        hints: Vec::new(),
        span: Span::default(),
    }))
}

/// The condition of one `key=value` of a legacy tag search.
fn legacy_condition(key: &str, value: &str) -> Result<FieldExpr, InvalidParam> {
    let substring = |field: FieldExprKind| {
        let mut pattern = String::from("(?s).*");
        escape_regex(value, &mut pattern);
        pattern.push_str(".*");
        binary(
            node(field),
            BinaryOp::Regex,
            node(FieldExprKind::Static(Static::String(pattern))),
        )
    };
    let attribute =
        |scope: Scope, name: &str| node(FieldExprKind::Attribute(Attribute::new(scope, name)));
    Ok(match key {
        "service.name" => substring(FieldExprKind::Attribute(Attribute::new(
            Scope::Resource,
            "service.name",
        ))),
        "name" => substring(FieldExprKind::Intrinsic(Intrinsic::SpanName)),
        "root.service.name" => substring(FieldExprKind::Intrinsic(Intrinsic::TraceRootService)),
        "root.name" => substring(FieldExprKind::Intrinsic(Intrinsic::TraceRootName)),
        "status.code" => {
            let status = match value {
                "error" => Status::Error,
                "ok" => Status::Ok,
                "unset" => Status::Unset,
                _ => {
                    return Err(InvalidParam::Tags(format!(
                        "status.code must be error, ok or unset, not {value:?}"
                    )));
                }
            };
            binary(
                node(FieldExprKind::Intrinsic(Intrinsic::SpanStatus)),
                BinaryOp::Eq,
                node(FieldExprKind::Static(Static::Status(status))),
            )
        }
        _ => match (key, value.parse::<i64>()) {
            ("http.status_code", Ok(code)) => binary(
                attribute(Scope::Span, key),
                BinaryOp::Eq,
                node(FieldExprKind::Static(Static::Int(code))),
            ),
            _ => binary(
                attribute(Scope::None, key),
                BinaryOp::Eq,
                node(FieldExprKind::Static(Static::String(value.to_owned()))),
            ),
        },
    })
}

/// A node of a condition built here: it was parsed from no text, so it has no position.
fn node(kind: FieldExprKind) -> FieldExpr {
    FieldExpr {
        kind,
        span: Span::default(),
    }
}

/// `lhs op rhs`.
fn binary(lhs: FieldExpr, op: BinaryOp, rhs: FieldExpr) -> FieldExpr {
    node(FieldExprKind::Binary {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
    })
}

/// Appends `text` to a regular expression, matching itself literally.
fn escape_regex(text: &str, out: &mut String) {
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Parses logfmt as Tempo's `tags` parameter takes it: `key=value` pairs separated by
/// whitespace, values optionally double-quoted (with `\"`, `\\`, `\n`, `\t`, `\r`, `\/`,
/// `\b`, `\f` and `\uXXXX` escapes); a key without `=` has an empty value. Errors give the
/// 1-based character position, as `unexpected '=' at pos 3`.
fn parse_logfmt(input: &str) -> Result<Vec<(String, String)>, String> {
    let chars: Vec<char> = input.chars().collect();
    let at = |msg: &str, i: usize| format!("{msg} at pos {}", i + 1);
    let separator = |c: char| c <= ' ';
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && separator(chars[i]) {
            i += 1;
        }
        if i >= chars.len() {
            return Ok(out);
        }
        let start = i;
        while i < chars.len() && !separator(chars[i]) && chars[i] != '=' && chars[i] != '"' {
            i += 1;
        }
        if i == start {
            return Err(at(&format!("unexpected '{}'", chars[i]), i));
        }
        let key: String = chars[start..i].iter().collect();
        if i < chars.len() && chars[i] == '"' {
            return Err(at("unexpected '\"'", i));
        }
        if i >= chars.len() || chars[i] != '=' {
            out.push((key, String::new()));
            continue;
        }
        i += 1; // '='
        let mut value = String::new();
        if i < chars.len() && chars[i] == '"' {
            let open = i;
            i += 1;
            loop {
                let Some(&c) = chars.get(i) else {
                    return Err(at("unterminated quoted value", open));
                };
                i += 1;
                match c {
                    '"' => break,
                    '\\' => {
                        let Some(&e) = chars.get(i) else {
                            return Err(at("unterminated quoted value", open));
                        };
                        i += 1;
                        match e {
                            '"' | '\\' | '/' => value.push(e),
                            'n' => value.push('\n'),
                            't' => value.push('\t'),
                            'r' => value.push('\r'),
                            'b' => value.push('\u{8}'),
                            'f' => value.push('\u{c}'),
                            'u' => {
                                let hex: String =
                                    chars.get(i..i + 4).unwrap_or(&[]).iter().collect();
                                let c = u32::from_str_radix(&hex, 16)
                                    .ok()
                                    .filter(|_| hex.len() == 4)
                                    .and_then(char::from_u32)
                                    .ok_or_else(|| {
                                        at("invalid \\u escape in quoted value", i - 2)
                                    })?;
                                value.push(c);
                                i += 4;
                            }
                            other => {
                                return Err(at(
                                    &format!("invalid escape \\{other} in quoted value"),
                                    i - 2,
                                ));
                            }
                        }
                    }
                    c => value.push(c),
                }
            }
            if i < chars.len() && !separator(chars[i]) {
                return Err(at(
                    &format!("unexpected '{}' after quoted value", chars[i]),
                    i,
                ));
            }
        } else {
            while i < chars.len() && !separator(chars[i]) {
                if chars[i] == '=' || chars[i] == '"' {
                    return Err(at(&format!("unexpected '{}'", chars[i]), i));
                }
                value.push(chars[i]);
                i += 1;
            }
        }
        out.push((key, value));
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use http::StatusCode;
    use tempo_core::TimeRange;

    use super::*;

    fn pairs(input: &str) -> Vec<(String, String)> {
        parse_logfmt(input).unwrap()
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn logfmt() {
        assert_eq!(pairs(""), vec![]);
        assert_eq!(
            pairs("  a=1 \n b=two  "),
            vec![kv("a", "1"), kv("b", "two")]
        );
        assert_eq!(
            pairs(r#"service.name="my svc" http.url=/api/x flag empty="""#),
            vec![
                kv("service.name", "my svc"),
                kv("http.url", "/api/x"),
                kv("flag", ""),
                kv("empty", ""),
            ]
        );
        assert_eq!(pairs("k="), vec![kv("k", "")]);
        assert_eq!(
            pairs(r#"q="say \"hi\"\\ \u00e9\n""#),
            vec![kv("q", "say \"hi\"\\ é\n")]
        );
        for (input, message) in [
            ("=a", "unexpected '=' at pos 1"),
            ("a=b=c", "unexpected '=' at pos 4"),
            (r#"a="open"#, "unterminated quoted value at pos 3"),
            (r#"a="x"y"#, "unexpected 'y' after quoted value at pos 6"),
            (r#"a"b"=c"#, "unexpected '\"' at pos 2"),
            (r#"a=b"c"#, "unexpected '\"' at pos 4"),
            (r#"a="\q""#, "invalid escape \\q"),
            (r#"a="\u12""#, "invalid \\u escape"),
        ] {
            let err = parse_logfmt(input).unwrap_err();
            assert!(err.contains(message), "{input}: {err}");
        }
    }

    #[test]
    fn legacy_tags_become_traceql() {
        let q = |tags: &str| {
            legacy_query(tags).map_err(|e| {
                let e = ApiError::from(e);
                assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{tags}");
                e.message()
            })
        };
        // The translation is the canonical text of the query the tags mean.
        let means = |tags: &str, query: &str| {
            let canonical = tempo_traceql::format(&tempo_traceql::parse(query).unwrap());
            assert_eq!(q(tags).unwrap(), canonical, "{tags}");
        };
        means("", "{}");
        means(r#"http.method=GET "#, r#"{ .http.method = "GET" }"#);
        means(
            r#"service.name=a.b status.code=error http.status_code=500"#,
            r#"{ resource.service.name =~ "(?s).*a\\.b.*" && status = error && span.http.status_code = 500 }"#,
        );
        assert_eq!(
            q("service.name=a.b status.code=error http.status_code=500").unwrap(),
            r#"{ resource.service.name =~ "(?s).*a\\.b.*" && span:status = error && span.http.status_code = 500 }"#
        );
        means(r#"my\key=1"#, r#"{ ."my\\key" = "1" }"#);
        means(
            r#"a(b="x\"y" http.status_code=abc"#,
            r#"{ ."a(b" = "x\"y" && .http.status_code = "abc" }"#,
        );
        means(
            "name=GET root.name=/ root.service.name=cart status.code=ok",
            r#"{ name =~ "(?s).*GET.*" && rootName =~ "(?s).*/.*" && rootServiceName =~ "(?s).*cart.*" && status = ok }"#,
        );
        assert_eq!(
            q(r#"weird"x=1"#).unwrap_err(),
            "invalid tags: unexpected '\"' at pos 6"
        );
        assert_eq!(
            q("a=1 a=2").unwrap_err(),
            "invalid tags: tag a has been set twice"
        );
        assert_eq!(
            q("status.code=bad").unwrap_err(),
            "invalid tags: status.code must be error, ok or unset, not \"bad\""
        );
    }

    /// Attribute names are quoted where TraceQL needs it: each reads back as the key.
    #[test]
    fn legacy_tag_names_read_back_as_given() {
        for key in [
            "http.method",
            "x-request-id",
            "9lives",
            "1.5",
            "a(b",
            r"my\key",
            "a{b}",
            "a|b!c,d",
            "é.ü",
        ] {
            let tags = format!("{key}=v");
            let query = legacy_query(&tags).unwrap();
            let parsed =
                tempo_traceql::parse(&query).unwrap_or_else(|e| panic!("{key}: {query}: {e}"));
            let ExprKind::Filter(SpansetFilter {
                expr: Some(condition),
                ..
            }) = parsed.expr.kind
            else {
                panic!("{key}: {query}");
            };
            let expected = binary(
                node(FieldExprKind::Attribute(Attribute::new(Scope::None, key))),
                BinaryOp::Eq,
                node(FieldExprKind::Static(Static::String("v".into()))),
            );
            assert_eq!(condition, expected, "{key}: {query}");
        }
    }

    /// Every translation is a query the store runs, and matches what Tempo's tag search would.
    #[test]
    fn legacy_queries_run_on_the_store() {
        use tempo_core::model::{
            AnyValue, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, Status, Value,
        };
        let store = tempo_core::Store::in_memory();
        let span = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "GET /cart".into(),
            start_time_unix_nano: 1_000_000_000,
            end_time_unix_nano: 1_500_000_000,
            attributes: vec![
                KeyValue::int("http.status_code", 500),
                KeyValue::string("a(b", "x\"y"),
                KeyValue::string("peer", "db.1"),
            ],
            status: Some(Status {
                code: 2,
                message: String::new(),
            }),
            ..Default::default()
        };
        let batch = tempo_core::Batch::new(vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(Value::StringValue("shop.cart".into())),
                    }),
                }],
                dropped_attributes_count: 0,
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }]);
        store.ingest("single-tenant", batch).unwrap();
        let hits = |tags: &str| {
            let query = legacy_query(tags).unwrap();
            let found = store
                .search("single-tenant", &SearchRequest::new(query.clone()))
                .unwrap_or_else(|e| panic!("{tags} -> {query}: {e}"));
            found.traces.len()
        };
        for (tags, want) in [
            ("service.name=cart", 1),
            ("service.name=shop.cart", 1),
            ("service.name=shopxcart", 0),
            ("root.service.name=shop", 1),
            ("root.name=cart", 1),
            ("name=GET", 1),
            ("name=POST", 0),
            ("status.code=error", 1),
            ("status.code=ok", 0),
            ("http.status_code=500", 1),
            ("http.status_code=404", 0),
            (r#"a(b="x\"y""#, 1),
            (r#"a(b=x"#, 0),
            ("peer=db.1", 1),
            ("peer=db", 0),
            (r#"service.name=cart name="GET /cart" status.code=error"#, 1),
        ] {
            assert_eq!(
                hits(tags),
                want,
                "{tags} -> {}",
                legacy_query(tags).unwrap()
            );
        }
        store.close().unwrap();
    }

    fn params(raw: &str) -> Params {
        Params::parse(Some(raw)).unwrap()
    }

    /// The message of a refused search; every refusal is a 400.
    fn search_err(raw: &str) -> String {
        let err = ApiError::from(search_request(&params(raw)).unwrap_err());
        assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{raw}");
        err.message()
    }

    #[test]
    fn search_parameters() {
        let req = search_request(&params("")).unwrap();
        assert_eq!(
            (req.query.as_str(), req.limit, req.spans_per_spanset),
            ("{}", 20, 3)
        );
        let req = search_request(&params(
            "q=%7B+status+%3D+error+%7D&limit=5&spss=0&minDuration=100ms&maxDuration=2s&start=10&end=20",
        ))
        .unwrap();
        assert_eq!(req.query, "{ status = error }");
        assert_eq!((req.limit, req.spans_per_spanset), (5, 0));
        assert_eq!(req.min_duration, Some(Duration::from_millis(100)));
        assert_eq!(req.max_duration, Some(Duration::from_secs(2)));
        assert_eq!(req.range, TimeRange::from_unix_seconds(Some(10), Some(20)));
        // Empty values are absent ones; a zero maximum is no maximum.
        let req = search_request(&params("q=&tags=&limit=&maxDuration=0s")).unwrap();
        assert_eq!(
            (req.query.as_str(), req.limit, req.max_duration),
            ("{}", 20, None)
        );

        assert!(search_err("q={}&tags=a=b").contains("can't specify tags and q"));
        assert!(search_err("limit=abc").starts_with("invalid limit: \"abc\""));
        assert_eq!(
            search_err("limit=0"),
            "invalid limit: must be a positive number"
        );
        assert!(search_err("limit=-3").starts_with("invalid limit"));
        assert!(search_err("spss=x").starts_with("invalid spss"));
        assert!(
            search_err("minDuration=5x").starts_with("invalid minDuration: time: unknown unit")
        );
        assert!(search_err("maxDuration=1").starts_with("invalid maxDuration: time: missing unit"));
        assert_eq!(
            search_err("minDuration=2s&maxDuration=1s"),
            "invalid maxDuration: must be greater than minDuration"
        );
        assert!(search_err("start=20&end=10").contains("start must be before end"));
        // One bound without the other, as Tempo reads it: the missing one is 0.
        assert_eq!(
            search_err("start=1700000000"),
            "http parameter start must be before end. received start=1700000000 end=0"
        );
        assert_eq!(
            search_err("end=1700000000"),
            "range specified by start and end exceeds 168h0m0s. received start=0 end=1700000000"
        );
        assert_eq!(
            search_err("start=0&end=1700000000"),
            "range specified by start and end exceeds 168h0m0s. received start=0 end=1700000000"
        );
        let req = search_request(&params("start=0&end=0")).unwrap();
        assert_eq!(req.range, TimeRange::ALL);
        assert!(search_err("start=x").starts_with("invalid start"));
        assert!(search_err("tags=a%3D%22open").starts_with("invalid tags: unterminated"));
    }
}
