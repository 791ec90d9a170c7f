//! A block the store set aside as corrupt stays on disk for inspection, and `tempo-server
//! block list` shows it with its state and the reason, beside the live blocks.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::binary;
use common::spans::{request, trace_id};
use tempo_core::model::TraceId;
use tempo_core::{Batch, Store, TimeRange};

const TENANT: &str = "single-tenant";

fn open(dir: &Path) -> Store {
    Store::builder()
        .wal_dir(dir.join("wal"))
        .local_blocks(dir.join("blocks"))
        .unwrap()
        .open()
        .unwrap()
}

/// Writes one block of `traces` traces with the store; returns its ID.
fn write_block(dir: &Path, seed: u64, traces: u64) -> String {
    let store = open(dir);
    let ids: Vec<[u8; 16]> = (0..traces).map(|i| trace_id(seed, i)).collect();
    let data = request("aside", &ids, 3);
    store
        .ingest(TENANT, Batch::new(data.resource_spans))
        .unwrap();
    let blocks = store.flush_blocks().unwrap();
    assert_eq!(blocks.len(), 1);
    store.close().unwrap();
    blocks[0].block_id.clone()
}

fn run(args: &[&str]) -> Output {
    Command::new(binary()).args(args).output().unwrap()
}

#[test]
fn block_list_shows_a_block_the_store_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_block(dir.path(), 51, 4);
    let bad = write_block(dir.path(), 52, 4);

    // Flip a byte in the middle of the second block's data, then look its traces up: the
    // store notices, and sets the block aside with a marker saying why.
    let data = dir
        .path()
        .join("blocks")
        .join(TENANT)
        .join(&bad)
        .join("data");
    let mut bytes = std::fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();
    let store = open(dir.path());
    for i in 0..4 {
        let _ = store.find_trace(TENANT, TraceId(trace_id(52, i)), TimeRange::ALL);
    }
    let aside = store.set_aside_blocks();
    assert_eq!(aside.len(), 1, "the damage went unnoticed");
    assert_eq!(aside[0].block_id, bad);
    let reason = aside[0].reason.clone();
    store.close().unwrap();
    drop(store);

    let root = dir.path().join("blocks");
    let root = root.to_str().unwrap();
    let out = run(&["block", "list", root]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |id: &str| {
        stdout
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("{id} not listed:\n{stdout}"))
            .to_owned()
    };
    assert!(line(&good).contains(" live "), "{stdout}");
    let bad_line = line(&bad);
    assert!(bad_line.contains(" set-aside "), "{stdout}");
    assert!(bad_line.ends_with(&reason), "{stdout}");
    assert!(stdout.lines().next().unwrap().ends_with("NOTE"), "{stdout}");

    let out = run(&["block", "list", "--json", root]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let blocks = json.as_array().unwrap();
    assert_eq!(blocks.len(), 2, "{json:#}");
    let entry = |id: &str| {
        blocks
            .iter()
            .find(|b| b["blockId"] == id)
            .unwrap_or_else(|| panic!("{id} not listed: {json:#}"))
    };
    assert_eq!(entry(&good)["state"], "live");
    assert!(entry(&good).get("reason").is_none());
    let bad_entry = entry(&bad);
    assert_eq!(bad_entry["state"], "set-aside");
    assert_eq!(bad_entry["reason"], reason.as_str());
    assert!(bad_entry["atUnixSeconds"].as_u64().unwrap() > 0);
    // The meta.json of a set-aside block still reads: its fields are listed.
    assert_eq!(bad_entry["traces"], 4);
    assert_eq!(bad_entry["tenant"], TENANT);
}
