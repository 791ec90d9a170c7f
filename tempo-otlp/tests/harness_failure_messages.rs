//! A failed harness assertion says what was expected, the query, and shows every trace as an
//! indented tree with the matched spans marked: the exact text is pinned here.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, Value};
use tempo_otlp::testing::Harness;

/// Two traces of the shop: a failed checkout and a health check.
fn shop() -> Harness {
    let harness = Harness::new("shop");
    let tracer = harness.tracer("shop.http");
    let mut root = tracer
        .span_builder("GET /checkout")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.response.status_code", 500_i64),
        ])
        .start(&tracer);
    root.set_status(Status::error("card declined"));
    let cx = Context::current_with_span(root);
    {
        let mut query = tracer
            .span_builder("SELECT orders")
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("db.system", "postgresql"),
                KeyValue::new("db.rows", 3_i64),
            ])
            .start_with_context(&tracer, &cx);
        query.end();
        let mut charge = tracer
            .span_builder("charge card")
            .with_attributes([
                KeyValue::new("payment.amount", 12.5_f64),
                KeyValue::new("payment.retried", true),
                KeyValue::new("payment.tags", Value::Array(vec![1_i64, 2].into())),
            ])
            .start_with_context(&tracer, &cx);
        charge.set_status(Status::error("declined"));
        charge.end();
    }
    cx.span().end();
    tracer
        .span_builder("GET /health")
        .with_kind(SpanKind::Server)
        .with_attributes([KeyValue::new("http.response.status_code", 200_i64)])
        .start(&tracer)
        .end();
    harness
}

#[test]
fn passing_assertions_pass() {
    let harness = shop();
    harness
        .assert_traceql("{ span.http.response.status_code = 500 }")
        .matches_traces(1)
        .matches_spans(1);
    harness
        .assert_traceql("{ status = error }")
        .matches_spans(2);
    harness
        .assert_traceql("{ kind = server }")
        .matches_traces(2);
    harness
        .assert_traceql(r#"{ name = "GET /checkout" } > { span.db.system = "postgresql" }"#)
        .matches_spans(1);
    harness
        .assert_traceql(r#"{ resource.service.name = "cart" }"#)
        .matches_nothing();
    harness.assert_tree(
        r#"{ name = "GET /checkout" }"#,
        "
        GET /checkout
          charge card
          SELECT orders
        ",
    );
    harness.assert_tree(opentelemetry::trace::TraceId::from(2_u128), "GET /health");
}

#[test]
fn wrong_trace_count_shows_the_query_and_both_sides() {
    let harness = shop();
    let failure = harness
        .assert_traceql("{ status = error }")
        .try_matches_traces(2)
        .unwrap_err();
    assert_eq!(
        failure.message(),
        r#"TraceQL assertion failed: expected 2 traces to match, found 1 trace
query: { status = error }

matched: 1 trace, 2 spans (marked *)
  trace 00000000000000000000000000000001 (3 spans)
  * GET /checkout  service=shop kind=server status=error statusMessage="card declined" http.request.method="GET" http.response.status_code=500
      SELECT orders  service=shop kind=client db.system="postgresql" db.rows=3
  *   charge card  service=shop status=error statusMessage="declined" payment.amount=12.5 payment.retried=true payment.tags=[1, 2]

not matched: 1 trace
  trace 00000000000000000000000000000002 (1 span)
    GET /health  service=shop kind=server http.response.status_code=200"#
    );
}

#[test]
fn unexpected_match_and_span_count() {
    let harness = shop();
    let failure = harness
        .assert_traceql(r#"{ span.db.system = "postgresql" }"#)
        .try_matches_nothing()
        .unwrap_err();
    assert_eq!(
        failure.message(),
        r#"TraceQL assertion failed: expected no match, found 1 trace (1 span)
query: { span.db.system = "postgresql" }

matched: 1 trace, 1 span (marked *)
  trace 00000000000000000000000000000001 (3 spans)
    GET /checkout  service=shop kind=server status=error statusMessage="card declined" http.request.method="GET" http.response.status_code=500
  *   SELECT orders  service=shop kind=client db.system="postgresql" db.rows=3
      charge card  service=shop status=error statusMessage="declined" payment.amount=12.5 payment.retried=true payment.tags=[1, 2]

not matched: 1 trace
  trace 00000000000000000000000000000002 (1 span)
    GET /health  service=shop kind=server http.response.status_code=200"#
    );
    let spans = harness
        .assert_traceql("{ kind = server }")
        .try_matches_spans(1)
        .unwrap_err();
    assert!(
        spans.message().starts_with(
            "TraceQL assertion failed: expected 1 span to match, found 2 spans\nquery: { kind = server }\n"
        ),
        "{spans}"
    );
}

#[test]
fn tree_mismatch_shows_expected_and_actual() {
    let harness = shop();
    let failure = harness
        .try_assert_tree(
            r#"{ name = "GET /checkout" }"#,
            "
            GET /checkout
              SELECT orders
                charge card
            ",
        )
        .unwrap_err();
    assert_eq!(
        failure.message(),
        r#"trace tree assertion failed for trace 00000000000000000000000000000001 (the one matching { name = "GET /checkout" })
expected:
  GET /checkout
    SELECT orders
      charge card
actual:
  GET /checkout  service=shop kind=server status=error statusMessage="card declined" http.request.method="GET" http.response.status_code=500
    SELECT orders  service=shop kind=client db.system="postgresql" db.rows=3
    charge card  service=shop status=error statusMessage="declined" payment.amount=12.5 payment.retried=true payment.tags=[1, 2]
(sibling order is not compared)"#
    );
}

#[test]
fn ambiguous_or_missing_trace_lists_the_traces() {
    let harness = shop();
    let failure = harness
        .try_assert_tree("{ kind = server }", "GET /health")
        .unwrap_err();
    assert_eq!(
        failure.message(),
        r#"trace tree assertion: query { kind = server } must match exactly one trace, it matches 2 traces
traces in the harness:
  trace 00000000000000000000000000000001 (3 spans)
    GET /checkout  service=shop kind=server status=error statusMessage="card declined" http.request.method="GET" http.response.status_code=500
      SELECT orders  service=shop kind=client db.system="postgresql" db.rows=3
      charge card  service=shop status=error statusMessage="declined" payment.amount=12.5 payment.retried=true payment.tags=[1, 2]
  trace 00000000000000000000000000000002 (1 span)
    GET /health  service=shop kind=server http.response.status_code=200"#
    );
    let missing = Harness::new("empty")
        .try_assert_tree(tempo_core::model::TraceId([9; 16]), "x")
        .unwrap_err();
    assert_eq!(
        missing.message(),
        "trace tree assertion: no trace 09090909090909090909090909090909\ntraces in the harness:\n  (no traces)"
    );
}

#[test]
fn bad_traceql_is_reported_with_the_parser_message() {
    let harness = shop();
    let failure = harness
        .assert_traceql("{ span.http.status_code = }")
        .try_matches_traces(1)
        .unwrap_err();
    assert!(
        failure
            .message()
            .starts_with("TraceQL assertion could not run\nquery: { span.http.status_code = }\n"),
        "{failure}"
    );
    let malformed = harness.try_assert_tree("{}", "a\n\tb").unwrap_err();
    assert_eq!(
        malformed.message(),
        "trace tree assertion: the expected tree is malformed: line 2: indent with spaces, not tabs: \"\\tb\""
    );
}

#[test]
fn the_panicking_form_panics_with_the_same_message() {
    let harness = shop();
    let expected = harness
        .assert_traceql("{ status = error }")
        .try_matches_nothing()
        .unwrap_err();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        harness
            .assert_traceql("{ status = error }")
            .matches_nothing();
    }))
    .unwrap_err();
    let message = panic
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert_eq!(message, expected.message());
}

#[test]
fn metric_assertions_check_values_and_show_every_series_when_they_fail() {
    let harness = shop();
    harness
        .assert_metric("{ } | count_over_time()")
        .is(4.0)
        .has(r#"{__name__="count_over_time"}"#, 4.0);
    harness
        .assert_metric("{ status = error } | count_over_time() by (name)")
        .has(r#"{name="GET /checkout"}"#, 1.0)
        .has(r#"{name="charge card"}"#, 1.0);
    // An ungrouped count of nothing is 0; a grouped one has no series.
    harness
        .assert_metric(r#"{ name = "nothing" } | count_over_time()"#)
        .is(0.0);
    harness
        .assert_metric(r#"{ name = "nothing" } | count_over_time() by (name)"#)
        .is_empty();
    harness
        .assert_metric("{ } | max_over_time(span.db.rows)")
        .is(3.0);

    let failure = harness
        .assert_metric("{ } | count_over_time() by (span.http.response.status_code)")
        .try_has(r#"{span.http.response.status_code="500"}"#, 2.0)
        .unwrap_err();
    assert_eq!(
        failure.message(),
        "metrics assertion failed: expected {span.http.response.status_code=\"500\"} to be 2, \
         found 1\n\
         query: { } | count_over_time() by (span.http.response.status_code)\n\
         \n\
         series:\n  \
         {span.http.response.status_code=\"200\"} 1\n  \
         {span.http.response.status_code=\"500\"} 1\n  \
         {span.http.response.status_code=\"nil\"} 2"
    );
    let failure = harness
        .assert_metric("{ } | count_over_time() by (name)")
        .try_is(4.0)
        .unwrap_err();
    assert!(
        failure.message().starts_with(
            "metrics assertion failed: expected one series of value 4, found 4 series"
        ),
        "{}",
        failure.message()
    );
    let failure = harness
        .assert_metric("{ } | count_over_time(")
        .try_is(1.0)
        .unwrap_err();
    assert!(
        failure
            .message()
            .starts_with("metrics assertion could not run\nquery: { } | count_over_time(\n"),
        "{}",
        failure.message()
    );
}
