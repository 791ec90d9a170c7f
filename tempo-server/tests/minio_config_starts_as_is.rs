//! A Tempo configuration with its blocks in a MinIO bucket, as Tempo's docker-compose and
//! Helm examples write it, starts this server unchanged (only the addresses are the test's):
//! ready, spans in, traces out, and the blocks in the bucket. The bucket is a real
//! S3-compatible server, `s3s-fs`, started by the test.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::spans::{encode, request, trace_id};
use common::{Server, free_port, http_call};
use tempo_core::backend::testing::S3Server;

#[test]
fn minio_shaped_config_starts_and_serves() {
    let Some(s3) = S3Server::start(&["tempo"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/tempo-s3-minio.yaml");
    let (api, grpc, http) = (free_port(), free_port(), free_port());
    let text = std::fs::read_to_string(fixture)
        .unwrap()
        .replace("minio:9000", &s3.addr().to_string())
        // The tempo:4317 of the example: a host that resolves nowhere here listens on all
        // interfaces, so the test names loopback.
        .replace("tempo:4317", &format!("127.0.0.1:{grpc}"))
        .replace("tempo:4318", &format!("127.0.0.1:{http}"))
        .replace("3200", &api.to_string())
        .replace("/var/tempo", &dir.path().display().to_string());
    let config = dir.path().join("tempo.yaml");
    std::fs::write(&config, text).unwrap();
    // The example's keys: `tempo`/`supersecret`; the test server's own are others.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            "access_key: tempo",
            &format!("access_key: {}", tempo_core::backend::testing::ACCESS_KEY),
        )
        .replace(
            "secret_key: supersecret",
            &format!("secret_key: {}", tempo_core::backend::testing::SECRET_KEY),
        );
    std::fs::write(&config, text).unwrap();

    let mut server = Server {
        child: None,
        dir: dir.path().to_owned(),
        config,
        api_port: api,
        grpc_port: grpc,
        http_port: http,
        log: dir.path().join("server.log"),
        nofile: None,
    };
    server.spawn();
    let log = server.log_text();
    assert!(log.contains("blocks in an S3 bucket"), "{log}");
    assert!(!log.contains("configuration key not supported"), "{log}");

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let ids: Vec<[u8; 16]> = (0..3).map(|i| trace_id(7, i)).collect();
    let mut data = request("checkout", &ids, 3);
    for span in data
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans)
    {
        span.start_time_unix_nano = span.start_time_unix_nano - 1_700_000_000_000_000_000 + now;
        span.end_time_unix_nano = span.end_time_unix_nano - 1_700_000_000_000_000_000 + now;
    }
    let (status, _, body) = http_call(
        "POST",
        &server.otlp_http(),
        &[("content-type", "application/x-protobuf")],
        Some(&encode(&data)),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    for id in &ids {
        assert!(server.trace_v1(&hex::encode(id)).is_some());
    }
    // Shut down, start again: the traces come back from the WAL; nothing went wrong with
    // the bucket meanwhile.
    assert!(server.terminate().success(), "{}", server.log_text());
    server.spawn();
    let deadline = Instant::now() + Duration::from_secs(10);
    for id in &ids {
        while server.trace_v1(&hex::encode(id)).is_none() {
            assert!(Instant::now() < deadline, "{}", server.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert!(server.terminate().success());
    let log = server.log_text();
    assert!(!log.contains("ERROR"), "{log}");
}
