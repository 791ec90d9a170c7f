//! The backend behaviour every backend shares, on a real S3-compatible server (`s3s-fs`,
//! started by the test on a loopback port), through the S3 client the server uses.

#![cfg(feature = "s3")]
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use bytes::Bytes;
use tempo_core::backend::Backend;
use tempo_core::backend::testing::{S3Server, run_conditional_write_suite, run_conformance_suite};

#[test]
fn s3_backend_passes_the_conformance_suite() {
    let Some(server) = S3Server::start(&["tempo"]) else {
        return;
    };
    for prefix in ["", "a/b"] {
        let backend = server.backend("tempo", prefix).unwrap();
        assert!(backend.is_shared());
        run_conformance_suite(&backend);
        // Not `run_conditional_write_race`: s3s-fs checks a condition, then writes, in two
        // steps, where S3 itself is atomic. The lease re-reads what it wrote for that.
        run_conditional_write_suite(&backend);
    }
}

#[test]
fn s3_backend_uploads_large_objects_in_parts() {
    let Some(server) = S3Server::start(&["tempo"]) else {
        return;
    };
    let backend = server.backend("tempo", "big").unwrap();
    // Three parts of 5 MiB and a last one.
    let data: Bytes = (0..17_000_000u32).map(|i| (i % 251) as u8).collect();
    backend.write("t/b/data", data.clone()).unwrap();
    assert_eq!(backend.size("t/b/data").unwrap(), data.len() as u64);
    assert_eq!(backend.read("t/b/data").unwrap(), data);
    assert_eq!(
        backend.read_range("t/b/data", 10_485_700, 100).unwrap(),
        data.slice(10_485_700..10_485_800)
    );
    // Nothing is left of the upload but the object.
    assert_eq!(backend.list("t/b").unwrap(), ["data"]);
    backend.delete_prefix("t").unwrap();
    assert!(backend.list("").unwrap().is_empty());
}

#[test]
fn prefixes_keep_stores_apart_in_one_bucket() {
    let Some(server) = S3Server::start(&["tempo"]) else {
        return;
    };
    let a = server.backend("tempo", "a").unwrap();
    let b = server.backend("tempo", "/b/").unwrap();
    a.write("t/x", Bytes::from_static(b"a")).unwrap();
    b.write("t/x", Bytes::from_static(b"b")).unwrap();
    assert_eq!(a.read("t/x").unwrap(), "a");
    assert_eq!(b.read("t/x").unwrap(), "b");
    a.delete_prefix("t").unwrap();
    assert_eq!(b.read("t/x").unwrap(), "b");
    let whole = server.backend("tempo", "").unwrap();
    assert_eq!(whole.list("").unwrap(), ["b"]);
}
