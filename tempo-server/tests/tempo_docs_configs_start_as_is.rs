//! Grafana Tempo's own single-binary configurations start this server unchanged: the Tempo
//! 3.x docker-compose single binary, the Linux getting-started layout, the Tempo 2.x
//! docker-compose example and a metrics generator set up as Tempo's docs show it. They name fixed ports (3200, 4317, 4318) and absolute paths, so
//! they run one after another in this one test.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

mod common;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn wait_for(port: u16, deadline: Instant) -> bool {
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn tempo_single_binary_configs_start_unchanged() {
    for (name, ports) in [
        ("tempo-3x-single-binary.yaml", &[3200u16, 4317, 4318][..]),
        ("linux-getting-started.yaml", &[3200, 4317, 4318][..]),
        ("tempo-2x-docker-compose.yaml", &[3200, 4317][..]),
        ("metrics-generator.yaml", &[3200, 4317, 4318][..]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let mut child = Command::new(common::binary())
            .arg(format!("-config.file={}", fixture(name).display()))
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        for port in ports {
            let up = wait_for(*port, deadline);
            if !up {
                let _ = child.kill();
                panic!(
                    "{name}: port {port} never opened:\n{}",
                    std::fs::read_to_string(&log).unwrap()
                );
            }
        }
        let (status, _, body) = common::http_call("GET", "http://127.0.0.1:3200/ready", &[], None);
        assert_eq!((status, body.as_slice()), (200, &b"ready\n"[..]), "{name}");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let exit = child.wait().unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(exit.success(), "{name}: exit {exit}:\n{text}");
        // Keys this server does not act on are reported, never fatal.
        if name == "metrics-generator.yaml" {
            assert!(
                text.contains("metrics generator remote write"),
                "{name}:\n{text}"
            );
        }
        if name != "linux-getting-started.yaml" {
            assert!(
                text.contains("configuration key not supported"),
                "{name}:\n{text}"
            );
        }
    }
}
