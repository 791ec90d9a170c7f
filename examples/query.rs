//! Run TraceQL against a store directory from the command line.
//!
//! ```text
//! cargo run --example query -- '{ status = error }'
//! cargo run --example query -- --dir /var/tempo '{ span.http.response.status_code >= 500 } | count() > 2'
//! cargo run --example query -- --trace 0af7651916cd43dd8448eb211c80319c
//! cargo run --example query -- --demo '{ resource.service.name = "checkout" && kind = server }'
//! ```
//!
//! The directory has `tempo-server`'s layout: `DIR/wal` (the write-ahead log) and `DIR/blocks`
//! (local blocks), by default `./tempo-data`, the server's own default. Do not point it at the
//! directory of a running server: opening a store replays and then appends to its WAL, and
//! two processes must not share one. Stop the server, or query it over its HTTP API.
//!
//! With `--demo` (or when the directory does not exist), it queries a throwaway store filled
//! with the standard synthetic workload instead.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use tempo::core::model::{TraceId, TracesData, Value};
use tempo::core::{Batch, SINGLE_TENANT, SearchRequest, SearchResponse, Store, TimeRange};
use tempo_workload::Workload;

const USAGE: &str = "\
query: run TraceQL against a tempo store directory

USAGE:
    cargo run --example query -- [OPTIONS] [QUERY]

    QUERY                 TraceQL [default: {}]

OPTIONS:
    --dir DIR             store directory, holding wal/ and blocks/ [default: ./tempo-data]
    --tenant ID           tenant [default: single-tenant]
    --limit N             traces to show at most [default: 20]
    --spss N              spans per spanset to show at most [default: 3]
    --trace ID            print one whole trace, by hex ID, instead of searching
    --demo                query a throwaway store of synthetic traces
    -h, --help            print this help
";

struct Args {
    dir: PathBuf,
    dir_given: bool,
    tenant: String,
    limit: usize,
    spss: usize,
    trace: Option<String>,
    demo: bool,
    query: String,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        dir: PathBuf::from("./tempo-data"),
        dir_given: false,
        tenant: SINGLE_TENANT.to_owned(),
        limit: 20,
        spss: 3,
        trace: None,
        demo: false,
        query: "{}".to_owned(),
    };
    let mut it = std::env::args().skip(1);
    let mut positional = Vec::new();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            "--dir" => {
                args.dir = PathBuf::from(value("--dir")?);
                args.dir_given = true;
            }
            "--tenant" => args.tenant = value("--tenant")?,
            "--limit" => args.limit = value("--limit")?.parse().context("--limit")?,
            "--spss" => args.spss = value("--spss")?.parse().context("--spss")?,
            "--trace" => args.trace = Some(value("--trace")?),
            "--demo" => args.demo = true,
            flag if flag.starts_with("--") => bail!("unknown option {flag}\n\n{USAGE}"),
            _ => positional.push(arg),
        }
    }
    if !positional.is_empty() {
        args.query = positional.join(" ");
    }
    Ok(args)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let demo_dir;
    let dir: &Path = if args.demo || (!args.dir_given && !args.dir.exists()) {
        if !args.demo {
            eprintln!(
                "{} does not exist: querying a demo store instead (pass --dir to query yours)",
                args.dir.display()
            );
        }
        demo_dir = tempfile::tempdir()?;
        fill_demo(demo_dir.path())?;
        demo_dir.path()
    } else {
        if !args.dir.join("wal").is_dir() && !args.dir.join("blocks").is_dir() {
            bail!(
                "{} has neither wal/ nor blocks/: not a store directory",
                args.dir.display()
            );
        }
        &args.dir
    };

    let opened = Instant::now();
    let store = Store::builder()
        .wal_dir(dir.join("wal"))
        .local_blocks(dir.join("blocks"))?
        .open()
        .with_context(|| format!("opening the store in {}", dir.display()))?;
    let blocks = store.blocks(&args.tenant).len();
    eprintln!(
        "opened {} in {:.0?}: {blocks} blocks, {} spans in the WAL's head (tenant {})",
        dir.display(),
        opened.elapsed(),
        store.stats().head_spans,
        args.tenant
    );

    let result = match &args.trace {
        Some(id) => print_trace(&store, &args.tenant, id),
        None => search(&store, &args),
    };
    store.close()?;
    result
}

fn search(store: &Store, args: &Args) -> anyhow::Result<()> {
    let request = SearchRequest::new(args.query.as_str())
        .limit(args.limit)
        .spans_per_spanset(args.spss);
    let started = Instant::now();
    // A TraceQL error renders the query with a caret under the problem.
    let found: SearchResponse = match store.search(&args.tenant, &request) {
        Ok(found) => found,
        Err(e) => bail!("{e}"),
    };
    let m = &found.metrics;
    println!(
        "{} for {}  ({:.1?}; inspected {} traces, {} spans, {} blocks{})",
        plural(found.traces.len(), "trace"),
        args.query,
        started.elapsed(),
        m.inspected_traces,
        m.inspected_spans,
        m.total_blocks,
        if found.partial { "; PARTIAL" } else { "" }
    );
    for trace in &found.traces {
        println!(
            "\n{}  {}  {}: {}  {}",
            trace.trace_id,
            utc(trace.start_time_unix_nano),
            trace
                .root_service_name
                .as_deref()
                .unwrap_or("<root not received>"),
            trace.root_trace_name.as_deref().unwrap_or(""),
            millis(trace.duration_nanos),
        );
        for set in &trace.span_sets {
            for span in &set.spans {
                let attributes: Vec<String> = span
                    .attributes
                    .iter()
                    .map(|kv| {
                        format!(
                            "{}={}",
                            kv.key,
                            value(kv.value.as_ref().and_then(|v| v.value.as_ref()))
                        )
                    })
                    .collect();
                println!(
                    "    {}  {:<28} {:>10}  {}",
                    hex::encode(&span.span_id),
                    span.name,
                    millis(span.duration_nanos),
                    attributes.join(" ")
                );
            }
            let hidden = set.matched.saturating_sub(set.spans.len() as u64);
            if hidden > 0 {
                println!("    ... and {hidden} more matched");
            }
            for kv in &set.attributes {
                println!(
                    "    spanset {} = {}",
                    kv.key,
                    value(kv.value.as_ref().and_then(|v| v.value.as_ref()))
                );
            }
        }
    }
    Ok(())
}

fn print_trace(store: &Store, tenant: &str, hex_id: &str) -> anyhow::Result<()> {
    let id = TraceId::from_hex(hex_id)?;
    let Some(trace) = store.find_trace(tenant, id, TimeRange::ALL)? else {
        bail!("trace {id} not found");
    };
    print!("{}", render_trace(&trace));
    Ok(())
}

/// The trace as an indented tree: service, name, duration; children by start time.
fn render_trace(trace: &TracesData) -> String {
    struct Line<'a> {
        id: &'a [u8],
        parent: &'a [u8],
        start: u64,
        text: String,
    }
    let mut lines = Vec::new();
    for rs in &trace.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .map(|kv| value(kv.value.as_ref().and_then(|v| v.value.as_ref())))
            .unwrap_or_default();
        for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
            let error = span.status.as_ref().is_some_and(|s| s.code == 2);
            lines.push(Line {
                id: &span.span_id,
                parent: &span.parent_span_id,
                start: span.start_time_unix_nano,
                text: format!(
                    "{}  [{service}]  {}{}",
                    span.name,
                    millis(
                        span.end_time_unix_nano
                            .saturating_sub(span.start_time_unix_nano)
                    ),
                    if error { "  ERROR" } else { "" }
                ),
            });
        }
    }
    lines.sort_by_key(|l| l.start);
    let mut out = String::new();
    fn walk(out: &mut String, lines: &[Line<'_>], parent: &[u8], depth: usize) {
        for line in lines.iter().filter(|l| l.parent == parent) {
            out.push_str(&format!("{}{}\n", "  ".repeat(depth), line.text));
            if depth < 64 {
                walk(out, lines, line.id, depth + 1);
            }
        }
    }
    walk(&mut out, &lines, &[], 0);
    // Spans whose parent was never received.
    for line in lines
        .iter()
        .filter(|l| !l.parent.is_empty() && !lines.iter().any(|p| p.id == l.parent))
    {
        out.push_str(&format!("{}  (parent not received)\n", line.text));
        walk(&mut out, &lines, line.id, 1);
    }
    out
}

/// A throwaway store with 500 traces of the standard workload, in blocks and in the WAL.
fn fill_demo(dir: &Path) -> anyhow::Result<()> {
    let store = Store::builder()
        .wal_dir(dir.join("wal"))
        .local_blocks(dir.join("blocks"))?
        .open()?;
    let mut workload = Workload::new(7);
    for round in 0..5 {
        let data = workload.batch(100, None);
        store.ingest(SINGLE_TENANT, Batch::new(data.resource_spans))?;
        if round < 4 {
            // Most traces in blocks, the last hundred only in the WAL.
            store.flush_blocks()?;
        }
    }
    store.close()?;
    eprintln!("demo store: 500 synthetic traces in {}", dir.display());
    Ok(())
}

fn value(v: Option<&Value>) -> String {
    match v {
        None => "nil".to_owned(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(f)) => f.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::BytesValue(b)) => hex::encode(b),
        Some(Value::ArrayValue(a)) => format!(
            "[{}]",
            a.values
                .iter()
                .map(|v| value(v.value.as_ref()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(Value::KvlistValue(l)) => format!(
            "{{{}}}",
            l.values
                .iter()
                .map(|kv| format!(
                    "{}={}",
                    kv.key,
                    value(kv.value.as_ref().and_then(|v| v.value.as_ref()))
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn millis(nanos: u64) -> String {
    format!("{:.2} ms", nanos as f64 / 1e6)
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `2024-05-01T12:34:56Z` (RFC 3339, UTC) for unix nanoseconds.
fn utc(nanos: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos);
    humantime::format_rfc3339_seconds(time).to_string()
}
