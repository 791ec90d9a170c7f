//! OTLP/JSON bodies written by hand from the specification: hex IDs, gzip, base64 IDs, enum
//! names, chunked bodies without Content-Length.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::io::Write;

use common::{Server, b64, http_call, spans_of};

const SPEC_BODY: &str = r#"{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-by-hand"}}]},
    "scopeSpans": [{
      "scope": {"name": "manual", "version": "0.1", "attributes": [{"key": "scope.attr", "value": {"boolValue": true}}]},
      "spans": [{
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "parentSpanId": "eee19b7ec3c1b173",
        "traceState": "vendor=1",
        "name": "I am a span!",
        "kind": 2,
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": "1544712661000000000",
        "flags": 257,
        "attributes": [
          {"key": "my.span.attr", "value": {"stringValue": "some value"}},
          {"key": "count", "value": {"intValue": "-42"}},
          {"key": "ratio", "value": {"doubleValue": 0.5}},
          {"key": "list", "value": {"arrayValue": {"values": [{"intValue": 1}, {"stringValue": "two"}]}}},
          {"key": "map", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"stringValue": "v"}}]}}},
          {"key": "raw", "value": {"bytesValue": "AAEC"}}
        ],
        "droppedAttributesCount": 1,
        "events": [{"timeUnixNano": "1544712660500000000", "name": "ev", "attributes": [{"key": "e", "value": {"intValue": 1}}]}],
        "links": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "attributes": []}],
        "status": {"code": 2, "message": "failed"}
      }]
    }]
  }]
}"#;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn spec_json_body_round_trips_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "");
    let (status, ct, body) = http_call(
        "POST",
        &server.otlp_http(),
        &[("content-type", "application/json")],
        Some(SPEC_BODY.as_bytes()),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(ct, "application/json");
    assert_eq!(body, b"{}");

    let trace = server.trace_v1("5b8efff798038103d269b633813fc60c").unwrap();
    let batch = &trace["batches"][0];
    assert_eq!(
        batch["resource"]["attributes"][0]["value"]["stringValue"],
        "json-by-hand"
    );
    assert_eq!(batch["scopeSpans"][0]["scope"]["name"], "manual");
    assert_eq!(
        batch["scopeSpans"][0]["scope"]["attributes"][0]["value"]["boolValue"],
        true
    );
    let span = &spans_of(&trace)[0];
    assert_eq!(span["traceId"], b64("5b8efff798038103d269b633813fc60c"));
    assert_eq!(span["spanId"], b64("eee19b7ec3c1b174"));
    assert_eq!(span["parentSpanId"], b64("eee19b7ec3c1b173"));
    assert_eq!(span["traceState"], "vendor=1");
    assert_eq!(span["kind"], "SPAN_KIND_SERVER");
    assert_eq!(span["startTimeUnixNano"], "1544712660000000000");
    assert_eq!(span["flags"], 257);
    assert_eq!(span["droppedAttributesCount"], 1);
    let attrs = span["attributes"].as_array().unwrap();
    assert_eq!(attrs[1]["value"]["intValue"], "-42");
    assert_eq!(attrs[2]["value"]["doubleValue"], 0.5);
    assert_eq!(
        attrs[3]["value"]["arrayValue"]["values"][0]["intValue"],
        "1"
    );
    assert_eq!(attrs[4]["value"]["kvlistValue"]["values"][0]["key"], "k");
    assert_eq!(attrs[5]["value"]["bytesValue"], "AAEC");
    assert_eq!(span["events"][0]["name"], "ev");
    assert_eq!(span["events"][0]["timeUnixNano"], "1544712660500000000");
    assert_eq!(span["links"][0]["spanId"], b64("b7ad6b7169203331"));
    assert_eq!(span["status"]["code"], "STATUS_CODE_ERROR");
    assert_eq!(span["status"]["message"], "failed");
}

#[test]
fn gzip_base64_ids_enum_names_and_chunked_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "");
    // base64 IDs and enum names, as some gateways send; gzip-compressed.
    let body = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{}","spanId":"{}","name":"b64","kind":"SPAN_KIND_CONSUMER","status":{{"code":"STATUS_CODE_OK"}}}}]}}]}}]}}"#,
        b64("0102030405060708090a0b0c0d0e0f10"),
        b64("1112131415161718"),
    );
    let (status, _, resp) = http_call(
        "POST",
        &server.otlp_http(),
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        Some(&gzip(body.as_bytes())),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
    let trace = server.trace_v1("0102030405060708090a0b0c0d0e0f10").unwrap();
    let span = &spans_of(&trace)[0];
    assert_eq!(span["kind"], "SPAN_KIND_CONSUMER");
    assert_eq!(span["status"]["code"], "STATUS_CODE_OK");

    // A chunked body with no Content-Length, as Node's exporters send.
    let body = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"00000000000000000000000000000abc","spanId":"0000000000000001","name":"chunked"}]}]}]}"#;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.http_port)).unwrap();
    let mut request = String::from(
        "POST /v1/traces HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for chunk in body.as_bytes().chunks(40) {
        request.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            std::str::from_utf8(chunk).unwrap()
        ));
    }
    request.push_str("0\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // Short IDs are left-padded on lookup.
    assert!(server.trace_v1("abc").is_some());
}
