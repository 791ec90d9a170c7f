//! Shared by the integration tests: runs the real `tempo-server` binary on free ports.
#![allow(
    dead_code,
    clippy::unwrap_used,
    unreachable_pub,
    reason = "shared by the test binaries, each of which uses some of it; tests fail loudly"
)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod embedded;
pub mod grpc;
pub mod spans;

/// A running server process and where it listens.
pub struct Server {
    pub child: Option<Child>,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub api_port: u16,
    pub grpc_port: u16,
    pub http_port: u16,
    pub log: PathBuf,
    /// The open-files limit (soft, hard) the process starts with, when set.
    pub nofile: Option<(u64, u64)>,
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary under test: `TEMPO_SERVER_BIN` when set (the release build in CI), else cargo's.
pub fn binary() -> PathBuf {
    std::env::var_os("TEMPO_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tempo-server")))
}

/// What a test adds to the default configuration and environment.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// YAML lines under `server:` (`key: value`, one a line, unindented).
    pub server: String,
    /// YAML lines under the OTLP gRPC receiver (`...protocols.grpc`), unindented.
    pub grpc: String,
    /// YAML lines under the OTLP HTTP receiver (`...protocols.http`), unindented.
    pub http: String,
    /// YAML lines under `distributor.receivers:` beside `otlp` (the Jaeger and Zipkin
    /// receivers), unindented.
    pub receivers: String,
    /// YAML appended at the top level.
    pub extra: String,
    /// YAML lines under `storage.trace:` in place of the local backend (the WAL's path is
    /// kept), unindented.
    pub storage: Option<String>,
    /// The open-files limit (soft, hard) the process starts with.
    pub nofile: Option<(u64, u64)>,
}

fn indent(lines: &str, by: usize) -> String {
    lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("{:by$}{l}\n", ""))
        .collect()
}

impl Server {
    /// Writes a config for `dir` (extra YAML appended at the top level) and starts the server.
    pub fn start_in(dir: &Path, extra_yaml: &str) -> Server {
        Server::start_with(
            dir,
            Setup {
                extra: extra_yaml.to_owned(),
                ..Setup::default()
            },
        )
    }

    /// Writes a config for `dir` with the additions of `setup` and starts the server. Ports
    /// are picked free, but another test may take one before the server binds it: then the
    /// server is started again on new ones.
    pub fn start_with(dir: &Path, setup: Setup) -> Server {
        for _ in 0..4 {
            let mut server = Server::configure(dir, &setup);
            if server.try_spawn() {
                return server;
            }
            // The log of the failed attempt is kept for the next one to show.
        }
        let mut server = Server::configure(dir, &setup);
        server.spawn();
        server
    }

    fn configure(dir: &Path, setup: &Setup) -> Server {
        let (api_port, grpc_port, http_port) = (free_port(), free_port(), free_port());
        let config = dir.join("tempo.yaml");
        let yaml = format!(
            "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {api_port}\n{server}\
             distributor:\n  receivers:\n    otlp:\n      protocols:\n        grpc:\n          endpoint: 127.0.0.1:{grpc_port}\n{grpc}        http:\n          endpoint: 127.0.0.1:{http_port}\n{http}{receivers}\
             storage:\n  trace:\n    wal:\n      path: {wal}\n{storage}{extra_yaml}",
            server = indent(&setup.server, 2),
            grpc = indent(&setup.grpc, 10),
            http = indent(&setup.http, 10),
            receivers = indent(&setup.receivers, 4),
            extra_yaml = setup.extra,
            wal = dir.join("wal").display(),
            storage = match &setup.storage {
                Some(storage) => indent(storage, 4),
                None => format!(
                    "    backend: local\n    local:\n      path: {}\n",
                    dir.join("blocks").display()
                ),
            },
        );
        std::fs::write(&config, yaml).unwrap();
        Server {
            child: None,
            dir: dir.to_owned(),
            config,
            api_port,
            grpc_port,
            http_port,
            log: dir.join("server.log"),
            nofile: setup.nofile,
        }
    }

    /// Starts the process; `false` if it exited because a port was taken meanwhile.
    fn try_spawn(&mut self) -> bool {
        let before = self.log_text().len();
        self.start_process();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(_status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let log = self.log_text();
                if log[before.min(log.len())..].contains("ddress already in use") {
                    self.child = None;
                    return false;
                }
                panic!("server exited:\n{log}");
            }
            if self.is_ready() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server not ready:\n{}", self.log_text());
    }

    /// Starts (again) the process with the same config, and waits until it is ready.
    pub fn spawn(&mut self) {
        self.start_process();
        self.wait_ready();
    }

    fn start_process(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let config_arg = format!("-config.file={}", self.config.display());
        let mut command = match self.nofile {
            // The shell sets the limit, then becomes the server.
            Some((soft, hard)) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!(
                        "ulimit -S -n {soft} && ulimit -H -n {hard} && exec \"$0\" \"$@\""
                    ))
                    .arg(binary())
                    .arg(config_arg);
                c
            }
            None => {
                let mut c = Command::new(binary());
                c.arg(config_arg);
                c
            }
        };
        let child = command
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn is_ready(&self) -> bool {
        let ready = ureq::get(&self.api("/ready"))
            .call()
            .map(|r| r.status() == 200)
            .unwrap_or(false);
        ready
            && std::net::TcpStream::connect(("127.0.0.1", self.grpc_port)).is_ok()
            && std::net::TcpStream::connect(("127.0.0.1", self.http_port)).is_ok()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("server exited with {status}:\n{}", self.log_text());
            }
            if self.is_ready() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server not ready:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    pub fn api(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.api_port)
    }

    pub fn otlp_http(&self) -> String {
        format!("http://127.0.0.1:{}/v1/traces", self.http_port)
    }

    pub fn otlp_grpc(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGKILL: no chance to sync or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The value of one sample in `/metrics`, written as it appears there
    /// (`tempo_tcp_connections{protocol="http"}`); panics when it is missing.
    pub fn metric(&self, sample: &str) -> u64 {
        let (status, _, body) = self.get("/metrics", &[]);
        assert_eq!(status, 200);
        let text = String::from_utf8(body).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {sample} in /metrics:\n{text}"))
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// GET an API path; returns status, content type and body. Never fails on 4xx/5xx.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
        http_call("GET", &self.api(path), headers, None)
    }

    /// The v1 JSON of a trace, or `None` on 404.
    pub fn trace_v1(&self, hex_id: &str) -> Option<serde_json::Value> {
        let (status, _, body) = self.get(&format!("/api/traces/{hex_id}"), &[]);
        match status {
            200 => Some(serde_json::from_slice(&body).unwrap()),
            404 => None,
            other => panic!(
                "GET trace {hex_id}: {other} {}",
                String::from_utf8_lossy(&body)
            ),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Any HTTP call; returns status, content type and body, whatever the status.
pub fn http_call(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> (u16, String, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = match body {
        Some(b) => agent.run(req.body(b.to_vec()).unwrap()),
        None => agent.run(req.body(()).unwrap()),
    }
    .unwrap();
    let status = response.status().as_u16();
    let ct = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut body = response.into_body();
    let bytes = body.read_to_vec().unwrap();
    (status, ct, bytes)
}

/// Reads from `stream` until the server closes it (end of stream or reset) or `limit` passes.
/// Returns what was read, and how long after the call the connection closed (`None`: still
/// open at the limit).
pub fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Option<Duration>) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (out, Some(started.elapsed())),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if started.elapsed() >= limit {
                    return (out, None);
                }
            }
            Err(_) => return (out, Some(started.elapsed())),
        }
    }
}

/// Raises this process's open-files soft limit to at least `at_least` (tests that open many
/// sockets); panics if the hard limit is lower.
pub fn raise_own_open_files_limit(at_least: u64) {
    let soft = rlimit::increase_nofile_limit(at_least).unwrap();
    assert!(
        soft >= at_least,
        "this test needs {at_least} open files; the limit is {soft}"
    );
}

/// All spans of a v1 trace JSON, flattened.
pub fn spans_of(trace: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for batch in trace["batches"].as_array().into_iter().flatten() {
        for ss in batch["scopeSpans"].as_array().into_iter().flatten() {
            for span in ss["spans"].as_array().into_iter().flatten() {
                out.push(span.clone());
            }
        }
    }
    out
}

/// The base64 form of a hex ID, as Tempo writes IDs in JSON.
pub fn b64(hex_id: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(hex::decode(hex_id).unwrap())
}
