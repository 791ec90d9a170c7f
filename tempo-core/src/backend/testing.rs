//! testing: backends and checks for crash tests and for new backends.
//!
//! [`FreezingBackend`] simulates a crash at the N-th durable operation: the store under test
//! runs on it until it freezes, then the test reopens a store on [`FreezingBackend::frozen_image`]
//! and checks that everything acknowledged before the crash is there. Running a workload once
//! with `freeze_at: None` and reading [`FreezingBackend::sync_count`] gives the N to try.
//!
//! [`run_conformance_suite`] is the behaviour every [`Backend`] shares; each implementation runs
//! it in its tests.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

use super::{Backend, BackendError, MemoryBackend, Precondition, Version, validate_key};

/// The message of every error a frozen [`FreezingBackend`] returns.
pub const FROZEN_MESSAGE: &str = "backend frozen: simulated crash";

/// A [`MemoryBackend`] that freezes its image at the N-th durable operation, to simulate a
/// crash.
///
/// Each [`write`](Backend::write) and each [`delete_prefix`](Backend::delete_prefix) with a
/// valid key is one durable operation ("sync"), counted from 1. When the count reaches
/// `freeze_at`, the backend freezes: that operation and every later one, reads included, return
/// [`BackendError::Io`] with the message [`FROZEN_MESSAGE`] and change nothing. The image is
/// then the contents as of just before the freezing operation.
#[derive(Debug)]
pub struct FreezingBackend {
    inner: MemoryBackend,
    freeze_at: Option<u64>,
    /// Durable operations attempted; the lock also orders them against the freeze.
    syncs: Mutex<u64>,
    frozen: AtomicBool,
}

impl FreezingBackend {
    /// An empty backend that freezes at the `freeze_at`-th durable operation (counted from 1),
    /// or never with `None`. `Some(0)` is frozen from the start.
    pub fn new(freeze_at: Option<u64>) -> FreezingBackend {
        FreezingBackend::wrapping(MemoryBackend::new(), freeze_at)
    }

    /// A backend over existing contents, such as the image of an earlier crash, that freezes
    /// at the `freeze_at`-th durable operation from now.
    pub fn wrapping(inner: MemoryBackend, freeze_at: Option<u64>) -> FreezingBackend {
        FreezingBackend {
            inner,
            freeze_at,
            syncs: Mutex::new(0),
            frozen: AtomicBool::new(freeze_at == Some(0)),
        }
    }

    /// The durable operations attempted so far, including the one that froze the backend and
    /// those refused after it.
    pub fn sync_count(&self) -> u64 {
        *self.syncs.lock()
    }

    /// Whether the backend has frozen.
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
    }

    /// Freezes the backend now, as a crash between two durable operations would.
    pub fn freeze(&self) {
        let _order = self.syncs.lock();
        self.frozen.store(true, Ordering::SeqCst);
    }

    /// A copy of the contents: once frozen, as of just before the freezing operation; before
    /// that, as they are now.
    pub fn frozen_image(&self) -> MemoryBackend {
        let _order = self.syncs.lock();
        self.inner.clone()
    }

    fn check_frozen(&self, key: &str) -> Result<(), BackendError> {
        if self.is_frozen() {
            Err(frozen(key))
        } else {
            Ok(())
        }
    }

    /// Counts one durable operation and runs it unless the backend is or becomes frozen.
    fn durable(
        &self,
        key: &str,
        op: impl FnOnce(&MemoryBackend) -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        let mut syncs = self.syncs.lock();
        *syncs += 1;
        if Some(*syncs) == self.freeze_at {
            self.frozen.store(true, Ordering::SeqCst);
        }
        self.check_frozen(key)?;
        op(&self.inner)
    }
}

fn frozen(key: &str) -> BackendError {
    BackendError::io(key, io::Error::other(FROZEN_MESSAGE))
}

impl Backend for FreezingBackend {
    fn read(&self, key: &str) -> Result<Bytes, BackendError> {
        self.check_frozen(key)?;
        self.inner.read(key)
    }

    fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BackendError> {
        self.check_frozen(key)?;
        self.inner.read_range(key, offset, len)
    }

    fn write(&self, key: &str, data: Bytes) -> Result<(), BackendError> {
        validate_key(key)?;
        self.durable(key, |inner| inner.write(key, data))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        self.check_frozen(prefix)?;
        self.inner.list(prefix)
    }

    fn delete_prefix(&self, prefix: &str) -> Result<(), BackendError> {
        validate_key(prefix)?;
        self.durable(prefix, |inner| inner.delete_prefix(prefix))
    }

    fn size(&self, key: &str) -> Result<u64, BackendError> {
        self.check_frozen(key)?;
        self.inner.size(key)
    }

    fn read_versioned(&self, key: &str) -> Result<(Bytes, Version), BackendError> {
        self.check_frozen(key)?;
        self.inner.read_versioned(key)
    }

    fn write_if(
        &self,
        key: &str,
        data: Bytes,
        precondition: &Precondition,
    ) -> Result<Version, BackendError> {
        validate_key(key)?;
        let mut version = None;
        self.durable(key, |inner| {
            version = Some(inner.write_if(key, data, precondition)?);
            Ok(())
        })?;
        version.ok_or_else(|| frozen(key))
    }
}

/// The value of `result`, or a panic naming `what` and the error.
fn ok<T>(what: &str, result: Result<T, BackendError>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("{what}: unexpected error: {err}"),
    }
}

/// The error of `result`, or a panic naming `what`.
fn err<T: std::fmt::Debug>(what: &str, result: Result<T, BackendError>) -> BackendError {
    match result {
        Ok(value) => panic!("{what}: expected an error, got {value:?}"),
        Err(err) => err,
    }
}

fn assert_not_found<T: std::fmt::Debug>(what: &str, result: Result<T, BackendError>) {
    let err = err(what, result);
    assert!(
        matches!(err, BackendError::NotFound { .. }),
        "{what}: expected NotFound, got {err}"
    );
}

fn assert_invalid<T: std::fmt::Debug>(what: &str, result: Result<T, BackendError>) {
    let err = err(what, result);
    assert!(
        matches!(err, BackendError::InvalidKey { .. }),
        "{what}: expected InvalidKey, got {err}"
    );
}

/// Sets its flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Checks the behaviour every [`Backend`] shares, on an empty backend; panics with a message
/// naming the first difference. It leaves the backend empty.
///
/// Covers whole and ranged reads and their bounds, sizes, overwrites, empty objects, listing
/// (sorted names of direct children, objects and prefixes alike), deleting a prefix or a single
/// object, missing objects, invalid keys and prefixes, and readers racing an overwrite (they
/// see the old or the new object whole).
pub fn run_conformance_suite(backend: &dyn Backend) {
    // Empty.
    assert!(ok("list root", backend.list("")).is_empty());
    assert!(ok("list missing", backend.list("t")).is_empty());
    assert_not_found("read missing", backend.read("t/b/data"));
    assert_not_found("read_range missing", backend.read_range("t/b/data", 0, 1));
    assert_not_found("size missing", backend.size("t/b/data"));
    ok("delete missing", backend.delete_prefix("t/b"));
    let message = err("read missing", backend.read("t/b/missing")).to_string();
    assert!(message.contains("\"t/b/missing\""), "{message}");

    // Writes and reads.
    let data: Bytes = (0..10_000u32).map(|i| (i % 256) as u8).collect();
    ok("write", backend.write("t/b1/data", data.clone()));
    ok(
        "write",
        backend.write("t/b1/meta.json", Bytes::from_static(b"{}")),
    );
    ok(
        "write",
        backend.write("t/b2/data", Bytes::from_static(b"2")),
    );
    ok("write", backend.write("t/b10/x", Bytes::from_static(b"10")));
    ok(
        "write",
        backend.write("t-other/x", Bytes::from_static(b"o")),
    );
    ok("write", backend.write("u/y", Bytes::from_static(b"y")));
    ok("write", backend.write("t/b3/empty", Bytes::new()));
    ok("write", backend.write("top", Bytes::from_static(b"top")));
    assert_eq!(ok("read", backend.read("t/b1/data")), data);
    assert_eq!(ok("read", backend.read("t/b1/meta.json")), "{}");
    assert_eq!(ok("read", backend.read("top")), "top");
    assert_eq!(ok("size", backend.size("t/b1/data")), 10_000);
    assert_eq!(ok("read empty", backend.read("t/b3/empty")), "");
    assert_eq!(ok("size empty", backend.size("t/b3/empty")), 0);
    assert_eq!(
        ok("range empty", backend.read_range("t/b3/empty", 0, 0)),
        ""
    );

    // Ranges.
    assert_eq!(
        ok("range all", backend.read_range("t/b1/data", 0, 10_000)),
        data
    );
    assert_eq!(
        ok("range mid", backend.read_range("t/b1/data", 300, 500)),
        data.slice(300..800)
    );
    assert_eq!(
        ok("range end", backend.read_range("t/b1/data", 10_000, 0)),
        ""
    );
    match err("range past end", backend.read_range("t/b1/data", 9_999, 2)) {
        BackendError::OutOfRange {
            key,
            offset,
            len,
            size,
        } => {
            assert_eq!(
                (key.as_str(), offset, len, size),
                ("t/b1/data", 9_999, 2, 10_000)
            );
        }
        other => panic!("range past end: expected OutOfRange, got {other}"),
    }
    let overflow = err(
        "range overflow",
        backend.read_range("t/b1/data", u64::MAX, 2),
    );
    assert!(
        matches!(overflow, BackendError::OutOfRange { .. }),
        "{overflow}"
    );
    let empty_past = err("range past empty", backend.read_range("t/b3/empty", 0, 1));
    assert!(
        matches!(empty_past, BackendError::OutOfRange { .. }),
        "{empty_past}"
    );

    // Listing: names of direct children, sorted, objects and prefixes alike.
    assert_eq!(
        ok("list root", backend.list("")),
        ["t", "t-other", "top", "u"]
    );
    assert_eq!(ok("list t", backend.list("t")), ["b1", "b10", "b2", "b3"]);
    assert_eq!(
        ok("list block", backend.list("t/b1")),
        ["data", "meta.json"]
    );
    assert!(ok("list missing", backend.list("v")).is_empty());
    assert!(ok("list object", backend.list("t/b1/data")).is_empty());
    // Directories are not objects.
    assert_not_found("read prefix", backend.read("t/b1"));
    assert_not_found("size prefix", backend.size("t"));

    // Overwrite.
    ok(
        "overwrite",
        backend.write("t/b1/data", Bytes::from_static(b"shorter")),
    );
    assert_eq!(ok("read overwritten", backend.read("t/b1/data")), "shorter");
    assert_eq!(ok("size overwritten", backend.size("t/b1/data")), 7);
    assert_eq!(
        ok("range overwritten", backend.read_range("t/b1/data", 2, 3)),
        "ort"
    );

    // Invalid keys and prefixes.
    assert_invalid("read absolute", backend.read("/etc/passwd"));
    assert_invalid("read dot-dot", backend.read("t/../u/y"));
    assert_invalid("range backslash", backend.read_range("t\\b", 0, 1));
    assert_invalid("write empty key", backend.write("", Bytes::new()));
    assert_invalid("write empty segment", backend.write("t//x", Bytes::new()));
    assert_invalid(
        "write temp name",
        backend.write("t/.x~tmp-1-2", Bytes::new()),
    );
    assert_invalid("size NUL", backend.size("t/\0"));
    assert_invalid("list trailing slash", backend.list("t/"));
    assert_invalid("list absolute", backend.list("/"));
    assert_invalid("delete root", backend.delete_prefix(""));
    assert_invalid("delete dot-dot", backend.delete_prefix(".."));
    assert_eq!(
        ok("list root", backend.list("")),
        ["t", "t-other", "top", "u"]
    );

    // Readers racing an overwrite see the old or the new object, whole.
    let a = Bytes::from(vec![b'a'; 64 * 1024]);
    let b = Bytes::from(vec![b'b'; 48 * 1024]);
    ok("write", backend.write("race/obj", a.clone()));
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    let seen = ok("racing read", backend.read("race/obj"));
                    assert!(
                        seen == a || seen == b,
                        "a torn read of {} bytes",
                        seen.len()
                    );
                }
            });
        }
        // Stops the readers even if a write panics.
        let _stop = StopOnDrop(&done);
        for i in 0..20 {
            let next = if i % 2 == 0 { b.clone() } else { a.clone() };
            ok("racing write", backend.write("race/obj", next));
        }
    });
    assert_eq!(ok("read after race", backend.read("race/obj")), a);

    // Deleting a prefix, a single object, and a prefix that only shares a beginning.
    ok("delete block", backend.delete_prefix("t/b1"));
    assert_not_found("read deleted", backend.read("t/b1/data"));
    assert_not_found("read deleted", backend.read("t/b1/meta.json"));
    assert_eq!(
        ok("list after delete", backend.list("t")),
        ["b10", "b2", "b3"]
    );
    ok("delete object", backend.delete_prefix("t/b10/x"));
    assert_not_found("read deleted object", backend.read("t/b10/x"));
    assert_eq!(ok("list after delete", backend.list("t")), ["b2", "b3"]);
    ok("delete object", backend.delete_prefix("top"));
    ok("delete tenant", backend.delete_prefix("t"));
    ok("delete again", backend.delete_prefix("t"));
    assert_eq!(ok("read sibling", backend.read("t-other/x")), "o");
    assert_eq!(ok("list root", backend.list("")), ["race", "t-other", "u"]);

    // Leave it empty.
    for name in ok("list root", backend.list("")) {
        ok("delete rest", backend.delete_prefix(&name));
    }
    assert!(ok("list root", backend.list("")).is_empty());
}

/// Checks [`Backend::read_versioned`] and [`Backend::write_if`], on an empty backend that has
/// conditional writes; panics with a message naming the first difference. It leaves the
/// backend empty.
///
/// Covers creating only when absent, replacing only the version last read, the versions of
/// plain writes and missing objects. [`run_conditional_write_race`] checks that the
/// condition and the write are one atomic step.
pub fn run_conditional_write_suite(backend: &dyn Backend) {
    let key = "t/lease.json";
    let absent = Precondition::Absent;
    assert_not_found("read_versioned missing", backend.read_versioned(key));

    let v1 = ok(
        "create when absent",
        backend.write_if(key, Bytes::from_static(b"one"), &absent),
    );
    let failed = err(
        "create when present",
        backend.write_if(key, Bytes::from_static(b"two"), &absent),
    );
    assert!(failed.is_precondition_failed(), "{failed}");
    let (data, read) = ok("read_versioned", backend.read_versioned(key));
    assert_eq!((data.as_ref(), &read), (b"one".as_slice(), &v1));

    let v2 = ok(
        "replace the version read",
        backend.write_if(
            key,
            Bytes::from_static(b"two"),
            &Precondition::Matches(v1.clone()),
        ),
    );
    assert_ne!(v1, v2, "a new object has a new version");
    let stale = err(
        "replace an older version",
        backend.write_if(
            key,
            Bytes::from_static(b"three"),
            &Precondition::Matches(v1),
        ),
    );
    assert!(stale.is_precondition_failed(), "{stale}");
    assert_eq!(ok("read", backend.read(key)), "two");

    // A plain write changes the version too.
    ok(
        "plain write",
        backend.write(key, Bytes::from_static(b"four")),
    );
    let lost = err(
        "replace after a plain write",
        backend.write_if(key, Bytes::from_static(b"five"), &Precondition::Matches(v2)),
    );
    assert!(lost.is_precondition_failed(), "{lost}");

    // Matching an object that does not exist fails.
    let (_, v4) = ok("read_versioned", backend.read_versioned(key));
    ok("delete", backend.delete_prefix(key));
    let gone = err(
        "replace a deleted object",
        backend.write_if(key, Bytes::from_static(b"six"), &Precondition::Matches(v4)),
    );
    assert!(
        gone.is_precondition_failed() || gone.is_not_found(),
        "replace a deleted object: {gone}"
    );

    for name in ok("list root", backend.list("")) {
        ok("delete rest", backend.delete_prefix(&name));
    }
    assert!(ok("list root", backend.list("")).is_empty());
}

/// Checks that conditional writes are atomic: of writers racing to create an object, or to
/// replace the same version of it, exactly one wins each round. Leaves the backend empty.
///
/// S3, GCS and Azure pass it; some S3-compatible test servers check the condition and then
/// write in two steps, and do not (the lease that relies on it checks what it wrote).
pub fn run_conditional_write_race(backend: &dyn Backend) {
    let race = "race/lease";
    for round in 0..3u8 {
        let current = backend.read_versioned(race).ok().map(|(_, v)| v);
        assert_eq!(current.is_some(), round > 0, "round {round}");
        let wins = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for writer in 0..4u8 {
                let (current, wins) = (current.clone(), &wins);
                scope.spawn(move || {
                    let condition = current.map_or(Precondition::Absent, Precondition::Matches);
                    let data = Bytes::from(vec![round * 4 + writer; 8]);
                    match backend.write_if(race, data, &condition) {
                        Ok(_) => {
                            wins.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) if e.is_precondition_failed() => {}
                        Err(e) => panic!("racing conditional write: unexpected error: {e}"),
                    }
                });
            }
        });
        assert_eq!(wins.load(Ordering::SeqCst), 1, "round {round}: one winner");
    }
    for name in ok("list root", backend.list("")) {
        ok("delete rest", backend.delete_prefix(&name));
    }
    assert!(ok("list root", backend.list("")).is_empty());
}

#[cfg(feature = "s3")]
pub use s3::{ACCESS_KEY, Fault, FaultyProxy, S3Server, SECRET_KEY};

/// An S3-compatible server for tests, and a proxy that injects faults in front of it.
#[cfg(feature = "s3")]
mod s3 {
    use std::io::{self, Read, Write};
    use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use parking_lot::Mutex;

    use crate::backend::{BackendError, ObjectBackend, ObjectStoreOptions, S3Options};

    /// The access key of the test server.
    pub const ACCESS_KEY: &str = "tempo-test";
    /// The secret key of the test server.
    pub const SECRET_KEY: &str = "tempo-test-secret";

    /// An `s3s-fs` server (crates.io's `s3s-fs`, `cargo install s3s-fs --features binary`)
    /// on a loopback port over a temporary directory, stopped when dropped.
    #[derive(Debug)]
    pub struct S3Server {
        child: Child,
        addr: SocketAddr,
        root: PathBuf,
        /// Removed when the server stops.
        owned_root: bool,
    }

    impl S3Server {
        /// The `s3s-fs` program: `TEMPO_S3S_FS`, else `s3s-fs` on the `PATH` or in
        /// `~/.cargo/bin`.
        pub fn program() -> Option<PathBuf> {
            if let Some(path) = std::env::var_os("TEMPO_S3S_FS") {
                return Some(PathBuf::from(path));
            }
            let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default();
            if let Some(home) = std::env::var_os("HOME") {
                dirs.push(Path::new(&home).join(".cargo/bin"));
            }
            dirs.into_iter()
                .map(|d| d.join("s3s-fs"))
                .find(|p| p.is_file())
        }

        /// Starts a server with one bucket per name in `buckets`; `None` (after printing
        /// why) when `s3s-fs` is not installed, unless `TEMPO_REQUIRE_S3` is set, which
        /// makes that a panic (CI installs it).
        pub fn start(buckets: &[&str]) -> Option<S3Server> {
            let Some(program) = S3Server::program() else {
                let message = "s3s-fs is not installed (cargo install s3s-fs --version 0.14.1 \
                               --features binary --locked): the object storage test is skipped";
                assert!(
                    std::env::var_os("TEMPO_REQUIRE_S3").is_none(),
                    "{message}, but TEMPO_REQUIRE_S3 is set"
                );
                eprintln!("SKIPPED: {message}");
                return None;
            };
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let root = std::env::temp_dir().join(format!(
                "tempo-s3s-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::SeqCst)
            ));
            let mut server = S3Server::start_at(&program, &root, buckets);
            server.owned_root = true;
            Some(server)
        }

        /// Starts a server over `root` (kept when the server stops).
        pub fn start_at(program: &Path, root: &Path, buckets: &[&str]) -> S3Server {
            for bucket in buckets {
                if let Err(e) = std::fs::create_dir_all(root.join(bucket)) {
                    panic!("bucket directory {bucket}: {e}");
                }
            }
            for _attempt in 0..5 {
                let port = match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
                    Ok(addr) => addr.port(),
                    Err(e) => panic!("a free port: {e}"),
                };
                let child = Command::new(program)
                    .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                    .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                    .arg(root)
                    .stdin(Stdio::null())
                    .stdout(match std::env::var_os("TEMPO_S3S_LOG") {
                        Some(_) => Stdio::inherit(),
                        None => Stdio::null(),
                    })
                    .stderr(Stdio::null())
                    .spawn();
                let mut child = match child {
                    Ok(child) => child,
                    Err(e) => panic!("starting {}: {e}", program.display()),
                };
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(10) {
                    if let Ok(Some(_)) = child.try_wait() {
                        break;
                    }
                    if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                        return S3Server {
                            child,
                            addr,
                            root: root.to_owned(),
                            owned_root: false,
                        };
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
            panic!("s3s-fs did not start");
        }

        /// Where it listens.
        pub fn addr(&self) -> SocketAddr {
            self.addr
        }

        /// The directory its buckets are in.
        pub fn root(&self) -> &Path {
            &self.root
        }

        /// Settings of a backend on `bucket` at `endpoint` (`host:port`, plain HTTP), with
        /// few retries: s3s-fs answers 500 to a read of a "directory", which S3 answers 404.
        pub fn options_at(endpoint: &str, bucket: &str, prefix: &str) -> S3Options {
            S3Options {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
                endpoint: endpoint.to_owned(),
                region: "us-east-1".to_owned(),
                access_key: ACCESS_KEY.to_owned(),
                secret_key: SECRET_KEY.to_owned(),
                insecure: true,
                force_path_style: true,
                options: ObjectStoreOptions {
                    request_timeout: Duration::from_secs(5),
                    retry_timeout: Duration::from_secs(10),
                    max_retries: 3,
                    max_backoff: Duration::from_millis(500),
                    ..ObjectStoreOptions::default()
                },
                ..S3Options::default()
            }
        }

        /// A backend on `bucket` of this server.
        pub fn backend(&self, bucket: &str, prefix: &str) -> Result<ObjectBackend, BackendError> {
            ObjectBackend::s3(&S3Server::options_at(
                &self.addr.to_string(),
                bucket,
                prefix,
            ))
        }
    }

    impl Drop for S3Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            if self.owned_root {
                let _ = std::fs::remove_dir_all(&self.root);
            }
        }
    }

    /// What a [`FaultyProxy`] does to connections.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Fault {
        /// Passes them through.
        None,
        /// Answers every request `500 Internal Server Error`.
        ServerError,
        /// Resets every connection.
        Reset,
        /// Passes them through after this long.
        Slow(Duration),
    }

    struct ProxyState {
        fault: Mutex<Fault>,
        /// Connections open now, to cut when the fault changes.
        open: Mutex<Vec<TcpStream>>,
        stop: AtomicBool,
        /// Connections refused or cut by a fault.
        faulted: AtomicU64,
    }

    /// A TCP proxy on a loopback port in front of a server, which can answer 500s, reset
    /// connections or delay them, for tests of failures. Changing the fault cuts the
    /// connections open, so that pooled connections meet it too.
    pub struct FaultyProxy {
        addr: SocketAddr,
        state: Arc<ProxyState>,
    }

    impl std::fmt::Debug for FaultyProxy {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("FaultyProxy")
                .field("addr", &self.addr)
                .field("fault", &*self.state.fault.lock())
                .finish()
        }
    }

    impl FaultyProxy {
        /// A proxy to `upstream`, passing everything through for now.
        pub fn start(upstream: SocketAddr) -> io::Result<FaultyProxy> {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            let state = Arc::new(ProxyState {
                fault: Mutex::new(Fault::None),
                open: Mutex::new(Vec::new()),
                stop: AtomicBool::new(false),
                faulted: AtomicU64::new(0),
            });
            let accepting = state.clone();
            std::thread::Builder::new()
                .name("faulty-proxy".into())
                .spawn(move || {
                    for client in listener.incoming() {
                        if accepting.stop.load(Ordering::SeqCst) {
                            return;
                        }
                        let Ok(client) = client else { continue };
                        let state = accepting.clone();
                        let _ = std::thread::Builder::new()
                            .name("faulty-proxy-conn".into())
                            .spawn(move || serve(client, upstream, &state));
                    }
                })?;
            Ok(FaultyProxy { addr, state })
        }

        /// Where it listens.
        pub fn addr(&self) -> SocketAddr {
            self.addr
        }

        /// Sets the fault, and cuts the connections open.
        pub fn set(&self, fault: Fault) {
            *self.state.fault.lock() = fault;
            for conn in self.state.open.lock().drain(..) {
                let _ = conn.shutdown(Shutdown::Both);
            }
        }

        /// Connections refused, answered 500 or reset so far.
        pub fn faulted(&self) -> u64 {
            self.state.faulted.load(Ordering::SeqCst)
        }
    }

    impl Drop for FaultyProxy {
        fn drop(&mut self) {
            self.state.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr);
            self.set(Fault::None);
        }
    }

    fn serve(mut client: TcpStream, upstream: SocketAddr, state: &ProxyState) {
        let fault = *state.fault.lock();
        match fault {
            Fault::None => {}
            Fault::Slow(delay) => std::thread::sleep(delay),
            Fault::Reset => {
                state.faulted.fetch_add(1, Ordering::SeqCst);
                // Reading a little and closing with the rest unread resets the connection (RST).
                let _ = client.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = client.read(&mut [0u8; 64]);
                return;
            }
            Fault::ServerError => {
                state.faulted.fetch_add(1, Ordering::SeqCst);
                let _ = client.set_read_timeout(Some(Duration::from_millis(500)));
                let _ = read_head(&mut client);
                let _ = client.write_all(
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\n\
                      Content-Length: 0\r\nConnection: close\r\n\r\n",
                );
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
        }
        let Ok(server) = TcpStream::connect(upstream) else {
            return;
        };
        let (Ok(client_copy), Ok(server_copy)) = (client.try_clone(), server.try_clone()) else {
            return;
        };
        {
            let mut open = state.open.lock();
            open.extend(client.try_clone().ok());
            open.extend(server.try_clone().ok());
        }
        let up = std::thread::spawn(move || pipe(client_copy, server_copy));
        pipe(server, client);
        let _ = up.join();
    }

    /// Reads until the end of an HTTP request head.
    fn read_head(stream: &mut TcpStream) -> io::Result<()> {
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.len() < 64 * 1024 {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        Ok(())
    }

    fn pipe(mut from: TcpStream, mut to: TcpStream) {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
        let _ = from.shutdown(Shutdown::Read);
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn conformance_when_never_frozen() {
        let backend = FreezingBackend::new(None);
        run_conformance_suite(&backend);
        assert!(!backend.is_frozen());
        assert!(backend.sync_count() > 20);
    }

    #[test]
    fn freezes_at_the_nth_sync_and_exposes_the_image() {
        let backend = FreezingBackend::new(Some(3));
        backend.write("t/b/data", Bytes::from_static(b"d")).unwrap();
        backend
            .write("t/b/meta.json", Bytes::from_static(b"m"))
            .unwrap();
        // Invalid keys are refused before counting.
        assert!(backend.write("/x", Bytes::new()).is_err());
        assert_eq!(backend.sync_count(), 2);
        assert!(!backend.is_frozen());

        let err = backend.delete_prefix("t/b").unwrap_err();
        assert!(matches!(err, BackendError::Io { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "backend I/O on \"t/b\": backend frozen: simulated crash"
        );
        assert!(backend.is_frozen());
        assert!(backend.write("t/c/data", Bytes::new()).is_err());
        assert!(backend.read("t/b/data").is_err());
        assert!(backend.list("").is_err());
        assert!(backend.size("t/b/data").is_err());
        assert!(backend.read_range("t/b/data", 0, 1).is_err());
        assert_eq!(backend.sync_count(), 4);

        let image = backend.frozen_image();
        assert_eq!(image.keys(), ["t/b/data", "t/b/meta.json"]);

        // Reopening on the image: the data is there, and it can crash again.
        let reopened = FreezingBackend::wrapping(image, Some(2));
        assert_eq!(reopened.read("t/b/meta.json").unwrap(), "m");
        reopened.write("t/c/data", Bytes::new()).unwrap();
        assert!(reopened.write("t/c/meta.json", Bytes::new()).is_err());
        assert_eq!(reopened.frozen_image().keys().len(), 3);
    }

    #[test]
    fn frozen_from_the_start_or_on_demand() {
        let backend = FreezingBackend::new(Some(0));
        assert!(backend.is_frozen());
        assert!(backend.write("a", Bytes::new()).is_err());
        assert!(backend.frozen_image().keys().is_empty());

        let backend = FreezingBackend::new(None);
        backend.write("a", Bytes::new()).unwrap();
        backend.freeze();
        assert!(backend.write("b", Bytes::new()).is_err());
        assert_eq!(backend.frozen_image().keys(), ["a"]);
    }
}
