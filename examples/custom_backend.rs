//! A block backend of your own: where a store keeps its blocks is a small trait.
//!
//! ```text
//! cargo run --example custom_backend
//! ```
//!
//! [`Backend`] has six methods (read, read a range, write atomically, list, delete a prefix,
//! size); implement them over any storage and hand the backend to
//! `Store::builder().blocks(..)`. The block format never knows which backend it is on.
//!
//! The backend here is a TOY: it "encrypts" every object by XOR with a fixed key, over the
//! in-memory backend. XOR with a repeating key is not encryption; it only shows that every
//! byte of every block goes through your code, range reads included. A real wrapper would use
//! an authenticated cipher with per-object nonces (and then range reads need a block-wise
//! mode).

use std::sync::Arc;

use bytes::Bytes;
use opentelemetry::KeyValue;
use opentelemetry::trace::{Status, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tempo::core::backend::{Backend, BackendError, MemoryBackend};
use tempo::core::model::TraceId;
use tempo::core::{SINGLE_TENANT, SearchRequest, Store, TimeRange};
use tempo::otlp::sdk::StoreExporter;

/// A TOY "encrypting" backend: XOR with a repeating key. Not secure in any way.
#[derive(Debug)]
struct XorBackend {
    inner: MemoryBackend,
    key: Vec<u8>,
}

impl XorBackend {
    /// XORs `data`, which starts at byte `offset` of its object, with the key stream.
    fn apply(&self, data: &[u8], offset: u64) -> Bytes {
        let len = self.key.len() as u64;
        data.iter()
            .enumerate()
            .map(|(i, b)| b ^ self.key[((offset + i as u64) % len) as usize])
            .collect::<Vec<u8>>()
            .into()
    }
}

impl Backend for XorBackend {
    fn read(&self, key: &str) -> Result<Bytes, BackendError> {
        Ok(self.apply(&self.inner.read(key)?, 0))
    }

    fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BackendError> {
        // The key stream depends on the position in the object only, so a range decrypts
        // on its own.
        Ok(self.apply(&self.inner.read_range(key, offset, len)?, offset))
    }

    fn write(&self, key: &str, data: Bytes) -> Result<(), BackendError> {
        self.inner.write(key, self.apply(&data, 0))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        self.inner.list(prefix)
    }

    fn delete_prefix(&self, prefix: &str) -> Result<(), BackendError> {
        self.inner.delete_prefix(prefix)
    }

    fn size(&self, key: &str) -> Result<u64, BackendError> {
        self.inner.size(key)
    }
}

fn main() -> anyhow::Result<()> {
    let backend = Arc::new(XorBackend {
        inner: MemoryBackend::new(),
        key: b"not-a-real-key".to_vec(),
    });

    // 1. A store whose blocks go to the backend; spans come from the OpenTelemetry SDK.
    let store = Store::builder().blocks(backend.clone()).open()?;
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name("vault").build())
        .with_simple_exporter(StoreExporter::new(store.clone()))
        .build();
    let tracer = provider.tracer("custom-backend-example");
    let mut failed = None;
    for i in 0..20_i64 {
        tracer.in_span(format!("GET /secrets/{}", i % 4), |cx| {
            cx.span().set_attribute(KeyValue::new(
                "http.response.status_code",
                200 + (i % 5 == 4) as i64 * 300,
            ));
            tracer.in_span("decrypt", |cx| {
                if i % 5 == 4 {
                    cx.span().set_status(Status::error("bad key"));
                    failed = Some(TraceId(cx.span().span_context().trace_id().to_bytes()));
                }
            });
        });
    }
    provider.shutdown()?;

    // 2. Cut everything into blocks now (normally done in the background when traces go idle).
    let blocks = store.flush_blocks()?;
    let spans: u64 = blocks.iter().map(|b| b.spans).sum();
    println!("flushed {} block(s) holding {spans} spans", blocks.len());
    store.close()?;
    drop(store);

    // What the backend holds is scrambled; through the wrapper it is a block again.
    let meta_key = backend
        .inner
        .keys()
        .into_iter()
        .find(|k| k.ends_with("/meta.json"))
        .ok_or_else(|| anyhow::anyhow!("no block was written"))?;
    let raw = backend.inner.read(&meta_key)?;
    let clear = backend.read(&meta_key)?;
    println!("{meta_key}, as stored: {:?}...", &raw[..24.min(raw.len())]);
    println!(
        "{meta_key}, through XorBackend: {}...",
        String::from_utf8_lossy(&clear[..60.min(clear.len())])
    );

    // 3. A new store over the same backend finds the traces in its blocks, and only there.
    let store = Store::builder().blocks(backend.clone()).open()?;
    assert_eq!(
        store.stats().head_spans,
        0,
        "the head is empty: reads go to blocks"
    );
    let query = "{ span.http.response.status_code = 500 } > { status = error }";
    let found = store.search(SINGLE_TENANT, &SearchRequest::new(query).limit(10))?;
    println!("\n{query} matches {} traces:", found.traces.len());
    for trace in &found.traces {
        let span = &trace.span_sets[0].spans[0];
        println!(
            "  {}  {} > {}",
            trace.trace_id,
            trace
                .root_trace_name
                .as_deref()
                .unwrap_or("<root not received>"),
            span.name
        );
    }
    assert_eq!(found.traces.len(), 4);

    let id = failed.ok_or_else(|| anyhow::anyhow!("no failed trace recorded"))?;
    let trace = store
        .find_trace(SINGLE_TENANT, id, TimeRange::ALL)?
        .ok_or_else(|| anyhow::anyhow!("trace {id} not found"))?;
    let names: Vec<&str> = trace
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.as_str())
        .collect();
    println!("\ntrace {id} by ID, from an XOR'd block: {names:?}");
    store.close()?;
    Ok(())
}
