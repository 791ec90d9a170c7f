use std::sync::Arc;

use proptest::prelude::*;

use super::reader::BlockReader;
use super::writer::{BlockWriter, nested_set};
use super::*;
use crate::backend::{Backend, MemoryBackend};
use crate::model::*;
use crate::spans::{SharedResource, SharedScope, StoredSpan};

fn any_value() -> impl Strategy<Value = Option<AnyValue>> {
    let leaf = prop_oneof![
        "[a-z]{0,6}".prop_map(Value::StringValue),
        any::<i64>().prop_map(Value::IntValue),
        any::<f64>()
            .prop_filter("NaN never equals itself", |f| !f.is_nan())
            .prop_map(Value::DoubleValue),
        any::<bool>().prop_map(Value::BoolValue),
        proptest::collection::vec(any::<u8>(), 0..4).prop_map(Value::BytesValue),
        proptest::collection::vec("[a-z]{0,3}", 0..3).prop_map(|v| Value::ArrayValue(ArrayValue {
            values: v
                .into_iter()
                .map(|s| AnyValue {
                    value: Some(Value::StringValue(s)),
                })
                .collect()
        })),
        Just(Value::KvlistValue(KeyValueList {
            values: vec![KeyValue::int("n", 1)]
        })),
    ];
    proptest::option::weighted(0.9, leaf.prop_map(|v| AnyValue { value: Some(v) }))
}

fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::btree_map("[a-e]\\.[a-z]{1,3}", any_value(), 0..5).prop_map(|m| {
        m.into_iter()
            .map(|(key, value)| KeyValue { key, value })
            .collect()
    })
}

fn span(trace: [u8; 16], index: u8) -> impl Strategy<Value = Span> {
    (
        "[a-z ]{0,8}",
        0..6i32,
        any::<u32>(),
        0..1_000_000u64,
        attributes(),
        proptest::option::of((0..3i32, "[a-z]{0,5}")),
        proptest::collection::vec((0..1000u64, "[a-z]{0,4}", attributes()), 0..2),
        proptest::collection::vec((any::<[u8; 16]>(), any::<[u8; 8]>(), attributes()), 0..2),
        (any::<u32>(), 0..3u32, "[a-z=]{0,4}"),
        0..(index as usize + 2),
    )
        .prop_map(
            move |(
                name,
                kind,
                start,
                dur,
                attributes,
                status,
                events,
                links,
                (flags, dropped, state),
                parent,
            )| {
                let base = 1_700_000_000_000_000_000u64 + u64::from(start);
                Span {
                    trace_id: trace.to_vec(),
                    span_id: vec![index + 1, 9, 9, 9, 9, 9, 9, trace[0]],
                    trace_state: state,
                    parent_span_id: match parent {
                        0 => Vec::new(),
                        p if p <= index as usize => vec![p as u8, 9, 9, 9, 9, 9, 9, trace[0]],
                        _ => vec![0xee; 8],
                    },
                    name,
                    kind,
                    start_time_unix_nano: base,
                    end_time_unix_nano: base + dur,
                    attributes,
                    dropped_attributes_count: dropped,
                    events: events
                        .into_iter()
                        .map(|(t, name, attributes)| Event {
                            time_unix_nano: base + t,
                            name,
                            attributes,
                            dropped_attributes_count: dropped,
                        })
                        .collect(),
                    dropped_events_count: dropped,
                    links: links
                        .into_iter()
                        .map(|(t, s, attributes)| Link {
                            trace_id: t.to_vec(),
                            span_id: s.to_vec(),
                            trace_state: String::new(),
                            attributes,
                            dropped_attributes_count: dropped,
                            flags,
                        })
                        .collect(),
                    dropped_links_count: dropped,
                    status: status.map(|(code, message)| Status { message, code }),
                    flags,
                }
            },
        )
}

type Trace = (TraceId, Vec<StoredSpan>);

fn traces() -> impl Strategy<Value = Vec<Trace>> {
    let resources: Vec<Arc<SharedResource>> = (0..3)
        .map(|i| {
            Arc::new(SharedResource {
                resource: (i != 2).then(|| Resource {
                    attributes: vec![KeyValue::string("service.name", format!("svc-{i}"))],
                    dropped_attributes_count: i,
                }),
                schema_url: format!("s{i}"),
            })
        })
        .collect();
    let scopes: Vec<Arc<SharedScope>> = (0..2)
        .map(|i| {
            Arc::new(SharedScope {
                scope: (i == 0).then(|| InstrumentationScope {
                    name: "lib".into(),
                    version: "1".into(),
                    attributes: vec![KeyValue::int("x", 3)],
                    dropped_attributes_count: 0,
                }),
                schema_url: String::new(),
            })
        })
        .collect();
    proptest::collection::btree_set(any::<[u8; 16]>(), 1..12).prop_flat_map(move |ids| {
        let resources = resources.clone();
        let scopes = scopes.clone();
        let per_trace: Vec<_> = ids
            .into_iter()
            .map(|id| {
                let resources = resources.clone();
                let scopes = scopes.clone();
                proptest::collection::vec((0..3usize, 0..2usize), 1..6).prop_flat_map(
                    move |placements| {
                        let resources = resources.clone();
                        let scopes = scopes.clone();
                        let spans: Vec<_> =
                            (0..placements.len()).map(|i| span(id, i as u8)).collect();
                        spans.prop_map(move |spans| {
                            let head: Vec<StoredSpan> = spans
                                .into_iter()
                                .zip(placements.iter())
                                .map(|(span, (r, s))| StoredSpan {
                                    resource: resources[*r].clone(),
                                    scope: scopes[*s].clone(),
                                    span,
                                })
                                .collect();
                            (TraceId(id), head)
                        })
                    },
                )
            })
            .collect();
        per_trace
    })
}

/// A comparable form: (resource, scope, span) with attributes sorted by key.
type Normal = (
    Option<Resource>,
    String,
    Option<InstrumentationScope>,
    String,
    Span,
);

fn normal(spans: &[StoredSpan]) -> Vec<Normal> {
    spans
        .iter()
        .map(|h| {
            let mut span = h.span.clone();
            span.attributes.sort_by(|a, b| a.key.cmp(&b.key));
            let mut resource = h.resource.resource.clone();
            if let Some(r) = resource.as_mut() {
                r.attributes.sort_by(|a, b| a.key.cmp(&b.key));
            }
            (
                resource,
                h.resource.schema_url.clone(),
                h.scope.scope.clone(),
                h.scope.schema_url.clone(),
                span,
            )
        })
        .collect()
}

fn write(backend: &MemoryBackend, traces: &[Trace]) -> BlockMeta {
    let mut w = BlockWriter::new("t", new_block_id(), traces.len(), 0, 0.01);
    for (id, spans) in traces {
        let refs: Vec<&StoredSpan> = spans.iter().collect();
        w.add_trace(*id, &refs).unwrap();
    }
    w.finish(backend).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_traces_read_back_equal(traces in traces()) {
        let backend = MemoryBackend::new();
        let meta = write(&backend, &traces);
        prop_assert_eq!(meta.traces as usize, traces.len());
        let backend: Arc<dyn Backend> = Arc::new(backend);
        let reader = BlockReader::open(backend, "t", &meta.block_id).unwrap();
        for (id, spans) in &traces {
            let back = reader.find(id).unwrap().unwrap();
            prop_assert_eq!(normal(&back), normal(spans));
        }
        let mut all = Vec::new();
        reader.for_each_trace(|t| { all.push(t); Ok(()) }).unwrap();
        prop_assert_eq!(all.len(), traces.len());
        for ((id, spans), (bid, bspans)) in traces.iter().zip(all.iter()) {
            prop_assert_eq!(id, bid);
            prop_assert_eq!(normal(spans), normal(bspans));
        }
    }
}

#[test]
#[expect(
    clippy::big_endian_bytes,
    reason = "trace IDs must ascend: big-endian counters sort as numbers"
)]
fn absent_traces_are_not_found_and_row_groups_split() {
    let backend = MemoryBackend::new();
    let resource = Arc::new(SharedResource {
        resource: None,
        schema_url: String::new(),
    });
    let scope = Arc::new(SharedScope {
        scope: None,
        schema_url: String::new(),
    });
    let traces: Vec<Trace> = (0..3000u32)
        .map(|i| {
            let mut id = [0u8; 16];
            id[12..].copy_from_slice(&(i * 2 + 1).to_be_bytes());
            let spans = (0..5u8)
                .map(|s| StoredSpan {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    span: Span {
                        trace_id: id.to_vec(),
                        span_id: vec![s + 1; 8],
                        name: "op".into(),
                        ..Span::default()
                    },
                })
                .collect();
            (TraceId(id), spans)
        })
        .collect();
    let meta = write(&backend, &traces);
    assert!(meta.row_groups >= 2, "{meta:?}");
    let backend = Arc::new(backend);
    let reader = BlockReader::open(backend.clone(), "t", &meta.block_id).unwrap();
    assert!(reader.repaired().is_none());
    // Rebuilt from the data file, the index is the one written, byte for byte.
    let written = backend.read(&format!("t/{}/index", meta.block_id)).unwrap();
    backend
        .delete_prefix(&format!("t/{}/index", meta.block_id))
        .unwrap();
    let rebuilt = BlockReader::open(backend.clone(), "t", &meta.block_id).unwrap();
    assert_eq!(rebuilt.repaired(), Some("corrupt block: index is missing"));
    assert_eq!(rebuilt.index, reader.index);
    assert_eq!(rebuilt.index_file(), written);
    for i in [0u32, 1500, 2999] {
        let mut id = [0u8; 16];
        id[12..].copy_from_slice(&(i * 2 + 1).to_be_bytes());
        assert_eq!(reader.find(&TraceId(id)).unwrap().unwrap().len(), 5);
        id[12..].copy_from_slice(&(i * 2).to_be_bytes());
        assert!(reader.find(&TraceId(id)).unwrap().is_none());
    }
}

#[test]
fn duplicate_keys_survive_through_overflow() {
    let backend = MemoryBackend::new();
    let h = StoredSpan {
        resource: Arc::new(SharedResource {
            resource: None,
            schema_url: String::new(),
        }),
        scope: Arc::new(SharedScope {
            scope: None,
            schema_url: String::new(),
        }),
        span: Span {
            trace_id: vec![1; 16],
            span_id: vec![1; 8],
            attributes: vec![KeyValue::string("k", "a"), KeyValue::int("k", 2)],
            ..Span::default()
        },
    };
    let meta = write(&backend, &[(TraceId([1; 16]), vec![h])]);
    let reader = BlockReader::open(Arc::new(backend), "t", &meta.block_id).unwrap();
    let back = reader.find(&TraceId([1; 16])).unwrap().unwrap();
    assert_eq!(
        back[0].span.attributes,
        vec![KeyValue::string("k", "a"), KeyValue::int("k", 2)]
    );
}

#[test]
fn nested_set_of_a_tree() {
    // 0 is the root; 1 and 2 its children; 3 a child of 1.
    let n = nested_set(&[None, Some(0), Some(0), Some(1)]);
    assert_eq!(n[0], (1, 8, 0));
    assert_eq!(n[1], (2, 5, 1));
    assert_eq!(n[3], (3, 4, 2));
    assert_eq!(n[2], (6, 7, 1));
    // A cycle does not hang.
    let n = nested_set(&[Some(1), Some(0)]);
    assert_eq!(n.len(), 2);
}

#[test]
#[expect(clippy::expect_used, reason = "tests: a failure is a panic")]
fn corrupt_files_are_errors_naming_the_block() {
    let backend = MemoryBackend::new();
    let resource = Arc::new(SharedResource {
        resource: None,
        schema_url: String::new(),
    });
    let scope = Arc::new(SharedScope {
        scope: None,
        schema_url: String::new(),
    });
    let traces: Vec<Trace> = (1..50u8)
        .map(|i| {
            (
                TraceId([i; 16]),
                vec![StoredSpan {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    span: Span {
                        trace_id: vec![i; 16],
                        span_id: vec![i; 8],
                        ..Span::default()
                    },
                }],
            )
        })
        .collect();
    let meta = write(&backend, &traces);
    let prefix = format!("t/{}", meta.block_id);
    for file in ["data", "index", "bloom-0", "meta.json"] {
        let key = format!("{prefix}/{file}");
        let original = backend.read(&key).unwrap();
        for cut in [original.len() / 2, original.len().saturating_sub(1)] {
            let damaged = MemoryBackend::new();
            for k in backend.keys() {
                damaged.write(&k, backend.read(&k).unwrap()).unwrap();
            }
            damaged.write(&key, original.slice(..cut)).unwrap();
            let opened = BlockReader::open(Arc::new(damaged), "t", &meta.block_id);
            if file == "index" || file == "bloom-0" {
                // Rebuilt from the data file, or bypassed: every trace is still found.
                let r = opened.unwrap();
                for (id, _) in &traces {
                    assert!(r.find(id).unwrap().is_some(), "{file} cut at {cut}: {id}");
                }
                assert_eq!(r.repaired().is_some(), file == "index");
                assert_eq!(r.bloom_damaged(), file == "bloom-0");
                continue;
            }
            let result = opened.and_then(|r| {
                for (id, _) in &traces {
                    r.find(id)?;
                }
                Ok(())
            });
            let err = result.expect_err(&format!("{file} cut at {cut} went unnoticed"));
            let message = err.to_string();
            assert!(
                message.contains(&meta.block_id) || matches!(err, BlockError::Backend(_)),
                "{message}"
            );
        }
    }
}

/// The `data` file's header is checked the first time the block's data is read: a damaged
/// magic, an unknown version or a file shorter than the header is an error naming the block,
/// never row groups read from a file of another format.
#[test]
fn a_damaged_data_header_is_an_error_naming_the_block() {
    let backend = MemoryBackend::new();
    let resource = Arc::new(SharedResource {
        resource: None,
        schema_url: String::new(),
    });
    let scope = Arc::new(SharedScope {
        scope: None,
        schema_url: String::new(),
    });
    let id = TraceId([3; 16]);
    let spans = vec![StoredSpan {
        resource,
        scope,
        span: Span {
            trace_id: vec![3; 16],
            span_id: vec![4; 8],
            name: "op".into(),
            ..Span::default()
        },
    }];
    let meta = write(&backend, &[(id, spans)]);
    let prefix = format!("t/{}", meta.block_id);
    let key = format!("{prefix}/data");
    let original = backend.read(&key).unwrap();
    assert_eq!(&original[..8], b"TEMPOBLK");
    assert_eq!(original[8..12], FORMAT_VERSION.to_le_bytes());

    let damaged = |data: Vec<u8>| {
        let copy = MemoryBackend::new();
        for k in backend.keys() {
            copy.write(&k, backend.read(&k).unwrap()).unwrap();
        }
        copy.write(&key, data.into()).unwrap();
        // The header is not read at open: the index locates every row group.
        let reader = BlockReader::open(Arc::new(copy), "t", &meta.block_id).unwrap();
        assert!(reader.repaired().is_none());
        (reader.find(&id).unwrap_err(), reader.find(&id).unwrap_err())
    };

    let mut bad_magic = original.to_vec();
    bad_magic[0] ^= 0xff;
    // Twice: a failed check is not remembered as a pass.
    let (first, second) = damaged(bad_magic);
    for err in [first, second] {
        match &err {
            BlockError::Corrupt {
                block: Some(block),
                message,
            } => {
                assert_eq!(block, &prefix);
                assert!(message.contains("magic"), "{message}");
            }
            other => panic!("bad magic: {other:?}"),
        }
        assert!(err.is_corrupt());
        assert!(err.to_string().contains(&meta.block_id), "{err}");
    }

    let mut next_version = original.to_vec();
    next_version[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let (err, _) = damaged(next_version);
    match &err {
        BlockError::UnsupportedVersion { block, version } => {
            assert_eq!(block, &prefix);
            assert_eq!(*version, FORMAT_VERSION + 1);
        }
        other => panic!("unknown version: {other:?}"),
    }
    assert!(err.to_string().contains(&meta.block_id), "{err}");

    let (err, _) = damaged(original[..10].to_vec());
    match &err {
        BlockError::Corrupt {
            block: Some(block),
            message,
        } => {
            assert_eq!(block, &prefix);
            assert!(message.contains("header"), "{message}");
        }
        other => panic!("truncated header: {other:?}"),
    }
}
