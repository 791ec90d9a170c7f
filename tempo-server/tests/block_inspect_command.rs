//! `tempo-server block inspect` and `block list` describe the blocks a server cut, and fail
//! with a message naming the path on anything that is not a readable block.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::spans::{encode, request, trace_id};
use common::{Server, binary, http_call};

/// Traces complete after 1s without spans, and blocks are cut at least every second.
const FAST_BLOCKS: &str = "ingester:\n  trace_idle_period: 1s\n  max_block_duration: 1s\n";

/// Sends 10 traces of 4 spans over OTLP/HTTP protobuf, with spans that start now.
fn send(server: &Server) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let ids: Vec<[u8; 16]> = (0..10).map(|i| trace_id(41, i)).collect();
    let mut data = request("inspected", &ids, 4);
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
}

/// Waits until the server has written a block, and returns its directory.
fn wait_for_block(server: &Server, blocks_root: &Path) -> PathBuf {
    let tenant = blocks_root.join("single-tenant");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, _, body) = server.get("/metrics", &[]);
        let text = String::from_utf8(body).unwrap();
        let flushed = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("tempo_blocks_flushed_total ")?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0);
        if flushed >= 1 {
            let block = std::fs::read_dir(&tenant)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.join("meta.json").is_file());
            if let Some(block) = block {
                return block;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no block cut within 15s:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs the binary with `args`.
fn run(args: &[&str]) -> Output {
    Command::new(binary()).args(args).output().unwrap()
}

/// Output as text.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn inspect_and_list_describe_the_block_a_server_cut() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), FAST_BLOCKS);
    send(&server);
    let root = dir.path().join("blocks");
    let block = wait_for_block(&server, &root);
    let block_id = block.file_name().unwrap().to_str().unwrap().to_owned();
    let block_arg = block.to_str().unwrap();

    // Inspect, while the server runs.
    let out = run(&["block", "inspect", block_arg]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}: {stdout}{}",
        out.status,
        text(&out.stderr)
    );
    for needle in [
        block_id.as_str(),
        "spans",
        "span.name",
        "bytes",
        "single-tenant",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in:\n{stdout}");
    }

    let out = run(&["block", "inspect", block_arg, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["meta"]["blockId"], block_id.as_str());
    assert_eq!(json["meta"]["tenant"], "single-tenant");
    assert_eq!(json["meta"]["traces"], 10);
    assert_eq!(json["meta"]["spans"], 40);
    assert!(json["families"].as_array().unwrap().len() > 3);
    let columns = json["rowGroups"][0]["columns"].as_array().unwrap();
    assert!(columns.iter().any(|c| c["name"] == "span.name"), "{json:#}");

    // List the blocks root.
    let out = run(&["block", "list", root.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let line = stdout
        .lines()
        .find(|l| l.contains(&block_id))
        .unwrap_or_else(|| panic!("{block_id} not listed:\n{stdout}"));
    assert!(line.starts_with("single-tenant "), "{line}");
    assert!(line.contains(" live "), "{line}");
    let out = run(&["block", "list", root.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json.as_array()
            .unwrap()
            .iter()
            .any(|m| m["blockId"] == block_id.as_str() && m["state"] == "live"),
        "{json:#}"
    );

    // `block list` with no DIR reads ./tempo-data/blocks.
    let cwd = tempfile::tempdir().unwrap();
    let copy = cwd
        .path()
        .join("tempo-data/blocks/single-tenant")
        .join(&block_id);
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(&block).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
    }
    let out = Command::new(binary())
        .args(["block", "list"])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&block_id));

    // The copy, corrupted: inspect fails and names it; the server's block is untouched.
    let data = copy.join("data");
    let len = std::fs::metadata(&data).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&data)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let out = run(&["block", "inspect", copy.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("tempo-server: "), "{stderr}");
    assert!(stderr.contains(copy.to_str().unwrap()), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(run(&["block", "inspect", block_arg]).status.success());

    // The server kept serving through all of it.
    let (status, _, _) = server.get("/ready", &[]);
    assert_eq!(status, 200);
    let id = hex::encode(trace_id(41, 3));
    assert!(server.trace_v1(&id).is_some(), "trace {id} lost");
}

#[test]
fn inspect_fails_with_a_message_naming_the_path() {
    let out = run(&["block", "inspect", "/nonexistent"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "tempo-server: /nonexistent: no such block directory"
    );
    assert!(out.stdout.is_empty());

    // A directory that is not a block.
    let dir = tempfile::tempdir().unwrap();
    let not_block = dir.path().join("single-tenant").join("not-a-block");
    std::fs::create_dir_all(&not_block).unwrap();
    let out = run(&["block", "inspect", not_block.to_str().unwrap(), "--json"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(not_block.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("no meta.json"), "{stderr}");
    // A file.
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let out = run(&["block", "inspect", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a directory"));

    // `block list` of a missing directory.
    let out = run(&["block", "list", "/nonexistent/blocks"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/blocks: no such directory"),
        "{stderr}"
    );
    assert!(
        !Path::new("/nonexistent").exists(),
        "the tools never create directories"
    );
    // An empty blocks root lists nothing; as JSON, [].
    let out = run(&[
        "block",
        "list",
        dir.path().join("single-tenant").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["block", "list", "--json", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json, serde_json::json!([]));

    // Usage errors exit 2 and point to --help.
    let out = run(&["block", "inspect"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("needs the path of a block directory"));
}
