//! Tempo's HTTP API served in-process over a [`Store`] the test holds, so that it can ingest
//! directly and cut blocks (`Store::flush_blocks`) between two queries.
#![allow(dead_code, reason = "each test binary uses some of the helpers")]
#![expect(
    unreachable_pub,
    reason = "shared by the test binaries through `mod common`"
)]

use std::sync::Arc;
use std::time::Duration;

use tempo_core::backend::MemoryBackend;
use tempo_core::model::ResourceSpans;
use tempo_core::{Batch, SINGLE_TENANT, Store};

/// The API of one store, on a loopback port.
pub struct Embedded {
    /// The store the API reads.
    pub store: Store,
    base: String,
    _runtime: tokio::runtime::Runtime,
    _wal: tempfile::TempDir,
}

impl Embedded {
    /// A store with a write-ahead log and blocks in memory, never cutting blocks by itself,
    /// and its API.
    pub fn start() -> Embedded {
        Embedded::start_with(|b| b)
    }

    /// As [`Embedded::start`], with more settings.
    pub fn start_with(
        configure: impl FnOnce(tempo_core::StoreBuilder) -> tempo_core::StoreBuilder,
    ) -> Embedded {
        let wal = tempfile::tempdir().unwrap();
        let builder = Store::builder()
            .wal_dir(wal.path())
            .blocks(Arc::new(MemoryBackend::new()))
            .flush_check_period(Duration::from_secs(3600));
        let store = configure(builder).open().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = tempo_server::api_router(store.clone(), tempo_server::ApiOptions::default());
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Embedded {
            store,
            base: format!("http://{addr}"),
            _runtime: runtime,
            _wal: wal,
        }
    }

    /// Stores spans for the single tenant.
    pub fn ingest(&self, resource_spans: Vec<ResourceSpans>) -> tempo_core::IngestReceipt {
        self.store
            .ingest(SINGLE_TENANT, Batch::new(resource_spans))
            .unwrap()
    }

    /// Cuts everything in the head into blocks: what follows is read from blocks.
    pub fn flush(&self) {
        self.store.flush_blocks().unwrap();
        assert_eq!(self.store.stats().head_traces, 0, "the head is empty");
        assert!(
            !self.store.blocks(SINGLE_TENANT).is_empty(),
            "there are blocks"
        );
    }

    /// GET an API path: status, content type, body.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
        super::http_call("GET", &format!("{}{path}", self.base), headers, None)
    }

    /// GET an API path answering 200 with JSON.
    pub fn json(&self, path: &str) -> serde_json::Value {
        let (status, _, body) = self.get(path, &[]);
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
    }

    /// GET an API path answering 400; its message.
    pub fn bad_request(&self, path: &str) -> String {
        let (status, _, body) = self.get(path, &[]);
        let text = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(status, 400, "GET {path}: {text}");
        text
    }

    /// GET a search; `q` is percent-encoded here.
    pub fn search(&self, q: &str, more: &str) -> serde_json::Value {
        self.json(&format!("/api/search?q={}{more}", encode(q)))
    }
}

/// Percent-encodes a query parameter value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
