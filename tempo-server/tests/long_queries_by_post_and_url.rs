//! A query too long for a URL goes by `POST`, its parameters in an
//! `application/x-www-form-urlencoded` body (up to 1 MiB); a URL is taken up to 60 KiB of
//! request target. Past each limit the answer is a clear status with a message: 414 for a
//! long URL, 413 for a large body, 415 for a body that is not a form; past what the HTTP
//! library takes at all (65,534 bytes of target, about 400 KiB of head), its own 414 or
//! 431. The server keeps serving.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use common::spans::{encode, request, trace_id};
use common::{Server, http_call};
use serde_json::Value as Json;

/// The API's limit on the request target.
const MAX_TARGET: usize = 60 * 1024;

/// Percent-encodes a form or query-string value.
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

fn post_form(server: &Server, path: &str, form: &str) -> (u16, String, String) {
    let (status, ct, body) = http_call(
        "POST",
        &server.api(path),
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(form.as_bytes()),
    );
    (status, ct, String::from_utf8(body).unwrap())
}

fn trace_count(body: &str) -> usize {
    let found: Json = serde_json::from_str(body).unwrap();
    found["traces"].as_array().map_or(0, Vec::len)
}

/// A query of about `bytes` bytes that matches the traces of service `svc`: one condition
/// that matches, then as many that do not as fit.
fn long_query(bytes: usize) -> String {
    let mut q = String::from(r#"{ resource.service.name = "svc""#);
    let mut i = 0;
    while q.len() + 40 < bytes {
        q.push_str(&format!(r#" || span.http.route = "/nowhere/{i:06}""#));
        i += 1;
    }
    q.push_str(" }");
    q
}

/// Sends `head` as it is on a new connection; the status of the answer. Reads until the
/// status line is in: a server that refuses a head it has not read to the end may reset the
/// connection right after answering, and one that took the head may keep it open.
fn raw_status(server: &Server, head: &str) -> u16 {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", server.api_port)).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    conn.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(err) if answer.is_empty() => panic!("no answer: {err}"),
            Err(_) => break,
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    let status_line = answer.lines().next().unwrap_or("");
    status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

fn start() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "");
    let ids: Vec<[u8; 16]> = (0..3).map(|i| trace_id(41, i)).collect();
    let (status, _, body) = http_call(
        "POST",
        &server.otlp_http(),
        &[("content-type", "application/x-protobuf")],
        Some(&encode(&request("svc", &ids, 2))),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    (server, dir)
}

#[test]
fn a_100_kib_query_is_taken_by_post() {
    let (server, _dir) = start();
    let q = long_query(100 * 1024);
    assert!(q.len() >= 100 * 1024 - 64, "{}", q.len());
    let (status, ct, body) = post_form(&server, "/api/search", &format!("q={}", enc(&q)));
    assert_eq!(status, 200, "{body}");
    assert_eq!(ct, "application/json");
    assert_eq!(trace_count(&body), 3);
    // The body's parameters come first; the URL's still count for the others.
    let (status, _, body) = post_form(
        &server,
        "/api/search?limit=2&spss=1",
        &format!("q={}&limit=1", enc(&q)),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(trace_count(&body), 1);
    // A POST with its parameters in the URL, as Tempo takes it.
    let (status, _, body) = http_call("POST", &server.api("/api/search?limit=2"), &[], None);
    assert_eq!(status, 200);
    assert_eq!(trace_count(&String::from_utf8(body).unwrap()), 2);
    // The tag endpoints take a form too.
    let (status, _, body) = post_form(
        &server,
        "/api/v2/search/tag/name/values",
        &format!("q={}", enc(&q)),
    );
    assert_eq!(status, 200, "{body}");
    let values: Json = serde_json::from_str(&body).unwrap();
    assert_eq!(values["tagValues"].as_array().unwrap().len(), 2, "{values}");
    for path in [
        "/api/search/tags",
        "/api/v2/search/tags",
        "/api/search/tag/name/values",
    ] {
        let (status, _, body) = post_form(&server, path, "scope=span&limit=5");
        assert_eq!(status, 200, "{path}: {body}");
    }
    // A bad parameter in a form is refused as in a URL.
    let (status, ct, body) = post_form(&server, "/api/search", "limit=0");
    assert_eq!(
        (status, body.as_str()),
        (400, "invalid limit: must be a positive number")
    );
    assert!(ct.starts_with("text/plain"), "{ct}");
}

#[test]
fn bodies_that_are_not_small_forms_are_refused() {
    let (server, _dir) = start();
    // Past 1 MiB: 413, with or without a length given.
    let big = format!("q={}", "x".repeat(2 << 20));
    let (status, _, body) = post_form(&server, "/api/search", &big);
    assert_eq!(status, 413);
    assert_eq!(
        body,
        format!(
            "request body too large: {} bytes, more than the limit of 1048576",
            big.len()
        )
    );
    // Not a form: 415.
    let (status, _, body) = http_call(
        "POST",
        &server.api("/api/search"),
        &[("content-type", "application/json")],
        Some(br#"{"q":"{}"}"#),
    );
    assert_eq!(status, 415);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        r#"unsupported content type "application/json": send the parameters in the URL, or in an application/x-www-form-urlencoded body"#
    );
    let (status, _, body) = http_call("POST", &server.api("/api/search"), &[], Some(b"q=%7B%7D"));
    assert_eq!(status, 415, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = http_call(
        "POST",
        &server.api("/api/search"),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("content-encoding", "gzip"),
        ],
        Some(b"q=%7B%7D"),
    );
    assert_eq!(status, 415);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        r#"unsupported content encoding "gzip": send the form uncompressed"#
    );
    // Trace by ID is GET only.
    let (status, _, _) = http_call(
        "POST",
        &server.api(&format!("/api/traces/{}", hex::encode(trace_id(41, 0)))),
        &[],
        None,
    );
    assert_eq!(status, 405);
    assert_eq!(server.get("/ready", &[]).0, 200);
}

#[test]
fn urls_are_taken_up_to_60_kib_and_refused_past_it_with_a_message() {
    let (server, _dir) = start();
    // Near the limit: taken.
    let path = |bytes: usize| {
        // A query whose encoded form takes most of the target.
        let mut p = format!(
            "/api/search?q={}",
            enc(r#"{ resource.service.name = "svc""#)
        );
        let mut i = 0;
        while p.len() + 200 < bytes.min(MAX_TARGET) {
            p.push_str(&enc(&format!(r#" || span.http.route = "/nowhere/{i:06}""#)));
            i += 1;
        }
        p.push_str(&enc(" }"));
        // Pad with a parameter the API ignores, to the exact length wanted.
        let pad = bytes.saturating_sub(p.len() + "&pad=".len());
        p.push_str("&pad=");
        p.push_str(&"p".repeat(pad));
        p
    };
    let near = path(MAX_TARGET - 1_000);
    let (status, _, body) = server.get(&near, &[]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(trace_count(&String::from_utf8(body).unwrap()), 3);
    let at = path(MAX_TARGET);
    assert_eq!(at.len(), MAX_TARGET);
    assert_eq!(server.get(&at, &[]).0, 200);

    // Just past: 414 with a message.
    let past = path(MAX_TARGET + 1);
    let (status, ct, body) = server.get(&past, &[]);
    assert_eq!(status, 414);
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert_eq!(
        String::from_utf8(body).unwrap(),
        format!(
            "URI too long: {} bytes, more than the limit of {MAX_TARGET}; send a long query \
             by POST, with the parameters in an application/x-www-form-urlencoded body",
            MAX_TARGET + 1
        )
    );
    // Every endpoint has the limit.
    for endpoint in ["/api/search/tags", "/api/traces/00", "/nowhere"] {
        let p = format!("{endpoint}?pad={}", "p".repeat(MAX_TARGET));
        assert_eq!(server.get(&p, &[]).0, 414, "{endpoint}");
    }
    // Past what the HTTP library takes: its own 414, then 431 for the whole head; the
    // connection is answered, not reset. (No URL type takes such targets: raw requests.)
    for (bytes, want) in [(70_000, 414), (300_000, 414), (1_000_000, 431)] {
        let head = format!("GET {} HTTP/1.1\r\nhost: x\r\n\r\n", path(bytes));
        assert_eq!(raw_status(&server, &head), want, "{bytes} bytes");
    }
    // More than twice the library's buffer, so that no read can take the whole head in.
    let head = format!(
        "GET /api/search HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "h".repeat(1_000_000)
    );
    assert_eq!(raw_status(&server, &head), 431);
    // Still serving.
    let (status, _, body) = server.get("/api/search", &[]);
    assert_eq!(status, 200);
    assert_eq!(trace_count(&String::from_utf8(body).unwrap()), 3);
}
