//! Asserting on a service's spans with TraceQL, in its own tests.
//!
//! ```text
//! cargo run --example test_harness      # runs the scenarios and prints a trace
//! cargo test --example test_harness     # the same scenarios as #[test]s
//! ```
//!
//! The code under test is instrumented with `tracing` (as most Rust services are); the test
//! routes its spans into a [`Harness`]: an in-memory trace store behind an OpenTelemetry tracer
//! provider, queried with TraceQL. Assertions read like the questions one asks of a trace in
//! Grafana: did the request fail, which spans are under which, how many queries did it run.
//! When one fails, the panic message shows the query and every trace as an indented tree.
//!
//! In a project of your own, add to `[dev-dependencies]`:
//!
//! ```toml
//! tempo-otlp = { version = "0.1", features = ["testing", "tracing"] }
//! ```
#![expect(
    clippy::expect_used,
    reason = "test code: a failed expectation is a failed test, with its message"
)]

use tempo::otlp::testing::Harness;

/// The code under test: a tiny order service.
mod shop {
    /// Why an order failed.
    #[derive(Debug)]
    pub(crate) enum OrderError {
        /// The payment provider said no.
        Declined,
    }

    /// Places an order for `items`, paying with `card`.
    #[tracing::instrument(
        name = "POST /orders",
        skip_all,
        fields(
            otel.kind = "server",
            http.request.method = "POST",
            http.route = "/orders",
            http.response.status_code,
            order.items = items.len() as i64,
        )
    )]
    pub(crate) fn place_order(items: &[&str], card: &str) -> Result<u64, OrderError> {
        let span = tracing::Span::current();
        for item in items {
            reserve(item);
        }
        match charge(card, items.len() as f64 * 9.5) {
            Ok(()) => {
                span.record("http.response.status_code", 201);
                Ok(42)
            }
            Err(e) => {
                span.record("http.response.status_code", 402);
                tracing::error!(error = ?e, "payment failed");
                Err(e)
            }
        }
    }

    #[tracing::instrument(
        name = "UPDATE stock",
        skip_all,
        fields(otel.kind = "client", db.system = "sqlite", db.statement = "UPDATE stock SET n = n - 1 WHERE sku = ?", sku = item)
    )]
    fn reserve(item: &str) {
        tracing::debug!(item, "reserved");
    }

    #[tracing::instrument(skip(card), fields(otel.kind = "client", payment.amount = amount))]
    fn charge(card: &str, amount: f64) -> Result<(), OrderError> {
        if card.starts_with("4000") {
            return Err(OrderError::Declined);
        }
        Ok(())
    }
}

/// A successful order: one server span, its queries and the charge under it.
fn order_succeeds() -> Harness {
    let harness = Harness::new("shop");
    let _guard = harness.set_tracing_default();
    shop::place_order(&["apple", "pear"], "4242 4242").expect("order placed");

    harness
        .assert_traceql(r#"{ kind = server && span.http.route = "/orders" }"#)
        .matches_traces(1);
    harness
        .assert_traceql("{ span.http.response.status_code = 201 }")
        .matches_spans(1);
    harness
        .assert_traceql("{ status = error }")
        .matches_nothing();
    // No N+1: at most one stock update per item.
    harness
        .assert_traceql(r#"{ span.db.system = "sqlite" } | count() > 2"#)
        .matches_nothing();
    harness.assert_tree(
        "{}",
        "
        POST /orders
          UPDATE stock
          UPDATE stock
          charge
        ",
    );
    harness
}

/// A declined card: the server span is an error, with the payment under it.
fn declined_card_is_an_error() -> Harness {
    let harness = Harness::new("shop");
    let _guard = harness.set_tracing_default();
    assert!(shop::place_order(&["apple"], "4000 0000").is_err());

    harness
        .assert_traceql(r#"{ status = error && span.http.response.status_code = 402 }"#)
        .matches_traces(1)
        .matches_spans(1);
    harness
        .assert_traceql(r#"{ kind = server } > { name = "charge" && span.payment.amount = 9.5 }"#)
        .matches_spans(1);
    harness
}

fn main() {
    let harness = order_succeeds();
    println!("order_succeeds: ok; the trace it stored:");
    print!("{}", harness.render().expect("rendering the traces"));
    declined_card_is_an_error();
    println!("declined_card_is_an_error: ok");

    // What a failure looks like: assert something false, without panicking.
    let failure = harness
        .assert_traceql(r#"{ name = "charge" && status = error }"#)
        .try_matches_traces(1)
        .expect_err("the successful order has no failed charge");
    println!("\nand a failing assertion's message:\n{failure}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn order_succeeds() {
        super::order_succeeds();
    }

    #[test]
    fn declined_card_is_an_error() {
        super::declined_card_is_an_error();
    }
}
