//! A TraceQL metrics query that cannot run is a 400 whose plain-text message says why, as
//! Tempo's: bad TraceQL (the store's message, with the position), a query that is not a
//! metrics query, an empty range, a range over `max_duration`, a step too small for the range,
//! a parameter that does not parse (named), a query over 128 KiB, a range entirely within
//! `query_end_cutoff`, several tenants. A metrics query sent to the search endpoint keeps its
//! own refusal.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{Server, Setup, http_call};

/// 2023-11-14T22:10:00Z, unix seconds.
const T0: u64 = 1_699_999_800;
const DAY: u64 = 86_400;

/// Percent-encodes a query parameter value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// GET expecting a 400 in plain text; returns the message.
fn refused(server: &Server, path: &str, headers: &[(&str, &str)]) -> String {
    let (status, ct, body) = server.get(path, headers);
    let text = String::from_utf8(body).unwrap();
    assert_eq!(status, 400, "GET {path}: {text}");
    assert_eq!(ct, "text/plain; charset=utf-8", "GET {path}");
    text
}

/// The refusal of a range query with these parameters besides the query.
fn range(server: &Server, query: &str, params: &str) -> String {
    refused(
        server,
        &format!("/api/metrics/query_range?q={}&{params}", enc(query)),
        &[],
    )
}

/// The refusal of an instant query with these parameters besides the query.
fn instant(server: &Server, query: &str, params: &str) -> String {
    refused(
        server,
        &format!("/api/metrics/query?q={}&{params}", enc(query)),
        &[],
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

const RATE: &str = "{ } | rate()";

#[test]
fn metrics_queries_refused_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "");
    let window = format!("start={T0}&end={}", T0 + 3600);

    // Bad TraceQL: the store's own message, which shows the query and the position.
    let store = tempo_core::Store::in_memory();
    let request = tempo_core::MetricsRequest::range(
        "{ .a = }",
        T0 * 1_000_000_000,
        (T0 + 3600) * 1_000_000_000,
    );
    let expected = store
        .metrics("single-tenant", &request)
        .unwrap_err()
        .to_string();
    store.close().unwrap();
    assert!(expected.contains('^'), "{expected}");
    assert_eq!(range(&server, "{ .a = }", &window), expected);
    assert_eq!(instant(&server, "{ .a = }", &window), expected);
    assert!(!range(&server, "{", &window).is_empty());
    // No query at all is no metrics query either.
    assert!(!refused(&server, &format!("/api/metrics/query_range?{window}"), &[]).is_empty());

    // A search query.
    for query in ["{ }", "{ status = error } && { }"] {
        assert!(
            range(&server, query, &window).starts_with("not a metrics query"),
            "{query}"
        );
        assert!(
            instant(&server, query, &window).starts_with("not a metrics query"),
            "{query}"
        );
    }

    // The range: not empty, at most 24 h, at most 10,000 steps.
    for params in [
        format!("start={T0}&end={T0}"),
        format!("start={T0}&end={}", T0 - 60),
    ] {
        assert_eq!(
            range(&server, RATE, &params),
            "end must be greater than start"
        );
        assert_eq!(
            instant(&server, RATE, &params),
            "end must be greater than start"
        );
    }
    let too_long = format!("start={T0}&end={}", T0 + DAY + 1);
    let message = "metrics query time range exceeds the maximum allowed duration of 24h0m0s";
    assert_eq!(range(&server, RATE, &too_long), message);
    assert_eq!(instant(&server, RATE, &too_long), message);
    assert_eq!(
        range(
            &server,
            RATE,
            &format!("start={T0}&end={}&step=1s", T0 + DAY)
        ),
        "step of 1s is too small, minimum step for given range is 8.64s"
    );
    assert_eq!(
        range(&server, RATE, &format!("{window}&step=0")),
        "step of 0s is too small, minimum step for given range is 360ms"
    );

    // Parameters that do not parse, each named.
    let expected_time =
        "expected unix seconds, unix nanoseconds, float seconds or an RFC 3339 time";
    assert_eq!(
        range(&server, RATE, "start=yesterday"),
        format!("invalid start: \"yesterday\": {expected_time}")
    );
    assert_eq!(
        instant(&server, RATE, "end=2023-02-30T00:00:00Z"),
        format!("invalid end: \"2023-02-30T00:00:00Z\": {expected_time}")
    );
    assert_eq!(
        range(&server, RATE, "since=1.5h"),
        "invalid since: not a valid duration string: \"1.5h\""
    );
    assert_eq!(
        instant(&server, RATE, "since=an%20hour"),
        "invalid since: not a valid duration string: \"an hour\""
    );
    assert_eq!(
        range(&server, RATE, &format!("{window}&step=1d")),
        "invalid step: cannot parse \"1d\" to a valid duration"
    );
    assert_eq!(
        range(&server, RATE, &format!("{window}&exemplars=many")),
        "invalid exemplars: \"many\": invalid digit found in string"
    );
    assert_eq!(
        range(&server, RATE, &format!("{window}&maxSeries=-1")),
        "invalid maxSeries: \"-1\": invalid digit found in string"
    );

    // A query over 128 KiB, by POST since no URL holds it.
    let long = format!("{{ .a = \"{}\" }} | rate()", "x".repeat(128 * 1024));
    for path in ["/api/metrics/query_range", "/api/metrics/query"] {
        let form = format!("q={}&{window}", enc(&long));
        let (status, ct, body) = http_call(
            "POST",
            &server.api(path),
            &[("content-type", "application/x-www-form-urlencoded")],
            Some(form.as_bytes()),
        );
        let text = String::from_utf8(body).unwrap();
        assert_eq!(
            (status, ct.as_str()),
            (400, "text/plain; charset=utf-8"),
            "{path}"
        );
        assert!(
            text.contains(&format!(
                "the query is too long: {} bytes, more than the limit of 131072",
                long.len()
            )),
            "{path}: {}",
            &text[..text.len().min(300)]
        );
    }

    // With Tempo's end cutoff of 30 s, a range entirely within the last 30 s.
    let cutoff_dir = tempfile::tempdir().unwrap();
    let with_cutoff = Server::start_in(
        cutoff_dir.path(),
        "query_frontend:\n  query_end_cutoff: 30s\n",
    );
    let recent = format!("start={}", now() - 10);
    let message = "query window falls entirely within query_end_cutoff";
    assert_eq!(range(&with_cutoff, RATE, &recent), message);
    assert_eq!(instant(&with_cutoff, RATE, &recent), message);

    // The search endpoint keeps its refusal of a metrics query.
    assert_eq!(
        refused(&server, &format!("/api/search?q={}", enc(RATE)), &[]),
        "a metrics query cannot be run as a search; use the metrics API"
    );
}

#[test]
fn metrics_queries_name_one_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        Setup {
            extra: "multitenancy_enabled: true\n".into(),
            ..Setup::default()
        },
    );
    let window = format!("start={T0}&end={}", T0 + 3600);
    for path in ["/api/metrics/query_range", "/api/metrics/query"] {
        let path = format!("{path}?q={}&{window}", enc(RATE));
        assert_eq!(
            refused(&server, &path, &[("x-scope-orgid", "team-a|team-b")]),
            "metrics queries across tenants are not supported"
        );
        let (status, _, body) = server.get(&path, &[]);
        assert_eq!((status, body.as_slice()), (401, b"no org id\n".as_slice()));
        let (status, _, body) = server.get(&path, &[("x-scope-orgid", "team-a")]);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
}
