//! No query takes the server down: queries nested past TraceQL's limit, or longer than it,
//! are 400s whose message shows where, on the search and tag endpoints alike, and the server
//! keeps serving; long runs of `&&` and `||` are searched.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use common::spans::{encode, request, trace_id};
use common::{Server, http_call};
use serde_json::Value as Json;

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

/// POSTs `q` (in a form) to `path`: status and body.
fn post_q(server: &Server, path: &str, q: &str) -> (u16, String) {
    let (status, _, body) = http_call(
        "POST",
        &server.api(path),
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(format!("q={}", enc(q)).as_bytes()),
    );
    (status, String::from_utf8(body).unwrap())
}

/// Deep shapes, `n` levels deep.
fn deep(n: usize) -> Vec<(&'static str, String)> {
    vec![
        (
            "brackets",
            format!("{{ {}.a = 1{} }}", "(".repeat(n), ")".repeat(n)),
        ),
        (
            "brackets around spansets",
            format!("{}{{}}{}", "(".repeat(n), ")".repeat(n)),
        ),
        ("negations", format!("{{ {}.a }}", "!".repeat(n))),
        ("minus signs", format!("{{ {}.a > 1 }}", "- ".repeat(n))),
        ("structural", vec!["{}"; n].join(" >> ")),
        (
            "nested pipelines",
            format!("{}{{}}{}", "({} | ".repeat(n), ")".repeat(n)),
        ),
        ("conditions", format!("{{ .a{} }}", " = .a".repeat(n))),
    ]
}

#[test]
fn deep_and_long_queries_are_400s_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "");
    let ids: Vec<[u8; 16]> = (0..2).map(|i| trace_id(43, i)).collect();
    let (status, _, _) = http_call(
        "POST",
        &server.otlp_http(),
        &[("content-type", "application/x-protobuf")],
        Some(&encode(&request("svc", &ids, 2))),
    );
    assert_eq!(status, 200);

    // Just past the nesting limit, in a URL: the message says so, with the position.
    for (name, q) in deep(200) {
        let path = "/api/search";
        {
            let (status, ct, body) = server.get(&format!("{path}?q={}", enc(&q)), &[]);
            let body = String::from_utf8(body).unwrap();
            assert_eq!(status, 400, "{name} {path}: {body}");
            assert!(ct.starts_with("text/plain"), "{ct}");
            assert!(
                body.starts_with("parse error at line 1, column "),
                "{name} {path}: {body}"
            );
            assert!(
                body.contains("the query is nested too deeply (more than 128 levels)"),
                "{name} {path}: {body}"
            );
            assert!(body.contains('^'), "{name}: {body}");
        }
    }
    // 100,000 deep, by POST: nested too deeply, or too long (or a form too large to read);
    // a short message either way.
    for (name, q) in deep(100_000) {
        let (status, body) = post_q(&server, "/api/search", &q);
        if enc(&q).len() > 1 << 20 {
            assert_eq!(status, 413, "{name}: {body}");
            assert!(body.starts_with("request body too large"), "{name}: {body}");
            continue;
        }
        assert_eq!(status, 400, "{name}: {body}");
        assert!(
            body.contains("nested too deeply") || body.contains("the query is too long"),
            "{name}: {body}"
        );
        assert!(body.len() < 1_000, "{name}: {} bytes", body.len());
    }
    // A tag look-up filters by the complete conditions of its query, as an editor sends it
    // while the user types: a query too deep has none, and filters nothing; a query too
    // long is refused.
    for (name, q) in deep(200).into_iter().chain(deep(100_000)) {
        let (status, body) = post_q(&server, "/api/v2/search/tag/name/values", &q);
        if enc(&q).len() > 1 << 20 {
            assert_eq!(status, 413, "{name}: {body}");
        } else if q.len() > 128 * 1024 {
            assert_eq!(status, 400, "{name}: {body}");
            assert!(body.contains("the query is too long"), "{name}: {body}");
        } else {
            assert_eq!(status, 200, "{name}: {body}");
        }
    }
    let (status, body) = post_q(
        &server,
        "/api/search",
        &format!("{{ .a = \"{}\" }}", "x".repeat(200_000)),
    );
    assert_eq!(status, 400);
    assert!(
        body.starts_with(
            "parse error at line 1, column 131073: the query is too long: 200011 bytes, more than the limit of 131072"
        ),
        "{body}"
    );

    // A long run of conditions is no nesting: searched.
    let q = format!(
        r#"{{ resource.service.name = "svc"{} }}"#,
        r#" || span.http.route = "/x""#.repeat(4_000)
    );
    let (status, body) = post_q(&server, "/api/search", &q);
    assert_eq!(status, 200, "{body}");
    let found: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(found["traces"].as_array().unwrap().len(), 2);

    // Still serving.
    assert_eq!(server.get("/ready", &[]).0, 200);
    let (status, _, body) = server.get("/api/search", &[]);
    assert_eq!(status, 200);
    let found: Json = serde_json::from_slice(&body).unwrap();
    assert_eq!(found["traces"].as_array().unwrap().len(), 2);
}
