//! TraceQL parse time: how long does turning query text into a validated
//! AST take, on a mix of typical queries?

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// Typical queries, most under 100 characters.
const QUERIES: &[&str] = &[
    "{}",
    r#"{ resource.service.name = "checkout" }"#,
    r#"{ span.http.response.status_code >= 500 && resource.service.name = "frontend" }"#,
    "{ span:duration > 250ms && span:kind = server }",
    r#"{ span.http.route =~ "/api/v[12]/.*" && status = error }"#,
    r#"{ resource.service.name = "api" } >> { span.db.system = "postgresql" }"#,
    "{ status = error } | count() > 3",
    "{ span:kind = server } | avg(duration) > 100ms",
    r#"{ } | rate() by (resource.service.name)"#,
    r#"{ span:name = "GET /" } | quantile_over_time(duration, .99, .5) by (resource.service.name)"#,
    r#"{ trace:rootService = "gateway" && span.rpc.method != nil } | select(span.rpc.method)"#,
    r#"({ .a = 1 } | count() > 1) && ({ .b = "x" } | max(duration) > 1s)"#,
];

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("traceql_parse");
    group.bench_function("mixed", |b| {
        b.iter(|| {
            for q in QUERIES {
                let _ = black_box(tempo_traceql::parse(black_box(q)));
            }
        })
    });
    group.bench_function("typical", |b| {
        let q =
            r#"{ span.http.response.status_code >= 500 && resource.service.name = "frontend" }"#;
        b.iter(|| black_box(tempo_traceql::parse(black_box(q))))
    });
    group.bench_function("regex", |b| {
        let q = r#"{ span.http.route =~ "/api/v[12]/.*" && status = error }"#;
        b.iter(|| black_box(tempo_traceql::parse(black_box(q))))
    });
    group.bench_function("format", |b| {
        let q = tempo_traceql::parse_unchecked(QUERIES[9]);
        b.iter(|| {
            q.as_ref()
                .map(|q| black_box(tempo_traceql::format(black_box(q))))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
