//! The OpenTelemetry Python SDK's three OTLP exporters (gRPC, HTTP protobuf, HTTP JSON) send
//! to the server binary; every trace is read back by ID.
//!
//! Needs a Python with the exporters installed: `TEMPO_PYTHON` (set by `scripts/test`, which
//! creates the virtualenv), else `.venv/bin/python` at the workspace root. When neither exists
//! the test says so and passes, unless `TEMPO_REQUIRE_PYTHON=1`, as in CI.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Server, spans_of};

fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TEMPO_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    venv.exists().then_some(venv)
}

#[test]
fn python_exporters_traces_are_found_by_id() {
    let Some(python) = python() else {
        assert!(
            std::env::var("TEMPO_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "TEMPO_REQUIRE_PYTHON=1 but no Python with the OpenTelemetry exporters: run scripts/test"
        );
        eprintln!("skipped: no Python with the OpenTelemetry exporters (run scripts/test)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), "");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/export_with_sdk.py");
    let output = Command::new(python)
        .arg(script)
        .arg(format!("127.0.0.1:{}", server.grpc_port))
        .arg(server.otlp_http())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python exporters failed:\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.log_text()
    );
    let sent: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for exporter in ["grpc", "proto-http", "json-http"] {
        let info = &sent[exporter];
        let id = info["trace_id"].as_str().unwrap();
        let trace = server
            .trace_v1(id)
            .unwrap_or_else(|| panic!("{exporter}: trace {id} not found"));
        let spans = spans_of(&trace);
        assert_eq!(spans.len(), 2, "{exporter}");
        let service = &trace["batches"][0]["resource"]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|kv| kv["key"] == "service.name")
            .unwrap()["value"]["stringValue"];
        assert_eq!(service, &info["service"], "{exporter}");
        let child = spans.iter().find(|s| s["name"] == "query").unwrap();
        assert_eq!(child["status"]["code"], "STATUS_CODE_ERROR", "{exporter}");
        assert_eq!(child["status"]["message"], "boom", "{exporter}");
        assert_eq!(child["kind"], "SPAN_KIND_CLIENT", "{exporter}");
        let root = spans.iter().find(|s| s["name"] == "GET /items").unwrap();
        assert_eq!(root["events"][0]["name"], "started", "{exporter}");
    }
}
