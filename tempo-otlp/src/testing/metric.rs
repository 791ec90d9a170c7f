//! Assertions on TraceQL metrics over everything a harness stored.

use std::fmt::Write as _;

use tempo_core::{MetricsRequest, MetricsResponse, SINGLE_TENANT, TimeSeries};

use super::{AssertionFailure, Harness, HarnessError};

/// How close a value must be to the expected one, relatively, to be equal: metrics are
/// floating point.
const RELATIVE_TOLERANCE: f64 = 1e-9;

impl Harness {
    /// Runs a TraceQL metrics query over everything the harness stored, as one instant
    /// query: each series has one value, over the spans from the first to the last. Counts
    /// (`count_over_time()`), ratios of counts, minimums, maximums, averages and quantiles
    /// read naturally this way; `rate()` is per second of that span of time.
    pub fn metrics(&self, query: &str) -> Result<MetricsResponse, HarnessError> {
        let found = self.search("{}")?;
        let start = found
            .traces
            .iter()
            .map(|t| t.start_time_unix_nano)
            .min()
            .unwrap_or(0);
        let end = found
            .traces
            .iter()
            .map(|t| t.start_time_unix_nano + t.duration_nanos)
            .max()
            .unwrap_or(0);
        // The range is open at its start: begin just before the first span.
        let request = MetricsRequest::instant(query, start.saturating_sub(1), end.max(start) + 1);
        Ok(self.store().metrics(SINGLE_TENANT, &request)?)
    }

    /// Starts an assertion on the values of a metrics query over everything the harness
    /// stored (see [`Harness::metrics`]):
    ///
    /// ```
    /// use opentelemetry::trace::{Span as _, Status, Tracer as _};
    /// use tempo_otlp::testing::Harness;
    ///
    /// let harness = Harness::new("checkout");
    /// let tracer = harness.tracer("shop");
    /// for i in 0..4 {
    ///     let mut span = tracer.start("GET /cart");
    ///     if i == 0 {
    ///         span.set_status(Status::error("out of stock"));
    ///     }
    ///     span.end();
    /// }
    /// harness.assert_metric("{ } | count_over_time()").is(4.0);
    /// harness
    ///     .assert_metric("{ status = error } | count_over_time() by (resource.service.name)")
    ///     .has(r#"{resource.service.name="checkout"}"#, 1.0);
    /// harness
    ///     .assert_metric("({ status = error } | count_over_time()) / ({ } | count_over_time())")
    ///     .is(0.25);
    /// ```
    pub fn assert_metric<'h>(&'h self, query: &str) -> MetricAssertion<'h> {
        MetricAssertion {
            harness: self,
            query: query.to_owned(),
        }
    }
}

/// An assertion on the values of one metrics query; see [`Harness::assert_metric`].
#[derive(Debug)]
#[must_use = "an assertion checks nothing until one of its methods is called"]
pub struct MetricAssertion<'h> {
    harness: &'h Harness,
    query: String,
}

impl MetricAssertion<'_> {
    /// Asserts that the query gives exactly one series, of value `expected`.
    ///
    /// # Panics
    ///
    /// When it does not, with the query and every series it gave in the message.
    #[track_caller]
    pub fn is(&self, expected: f64) -> &Self {
        self.or_panic(self.try_is(expected))
    }

    /// Asserts that the query gives a series with these labels, written as Prometheus writes
    /// them (`{resource.service.name="checkout"}`, `{__name__="count_over_time"}`), of value
    /// `expected`.
    ///
    /// # Panics
    ///
    /// When it does not, with the query and every series it gave in the message.
    #[track_caller]
    pub fn has(&self, labels: &str, expected: f64) -> &Self {
        self.or_panic(self.try_has(labels, expected))
    }

    /// Asserts that the query gives no series: no span matched a grouped query (an
    /// ungrouped count of nothing is a series of value 0, as in Tempo).
    ///
    /// # Panics
    ///
    /// When it does, with the query and every series it gave in the message.
    #[track_caller]
    pub fn is_empty(&self) -> &Self {
        self.or_panic(self.try_is_empty())
    }

    /// [`MetricAssertion::is`], returning the failure instead of panicking.
    pub fn try_is(&self, expected: f64) -> Result<(), AssertionFailure> {
        self.check(|series| match series {
            [one] if close(value(one), expected) => None,
            [one] => Some(format!("expected {expected}, found {}", show(value(one)))),
            _ => Some(format!(
                "expected one series of value {expected}, found {}",
                count(series.len())
            )),
        })
    }

    /// [`MetricAssertion::has`], returning the failure instead of panicking.
    pub fn try_has(&self, labels: &str, expected: f64) -> Result<(), AssertionFailure> {
        self.check(
            |series| match series.iter().find(|s| s.prom_labels() == labels) {
                Some(s) if close(value(s), expected) => None,
                Some(s) => Some(format!(
                    "expected {labels} to be {expected}, found {}",
                    show(value(s))
                )),
                None => Some(format!("expected a series {labels}, found none")),
            },
        )
    }

    /// [`MetricAssertion::is_empty`], returning the failure instead of panicking.
    pub fn try_is_empty(&self) -> Result<(), AssertionFailure> {
        self.check(|series| {
            (!series.is_empty())
                .then(|| format!("expected no series, found {}", count(series.len())))
        })
    }

    #[track_caller]
    fn or_panic(&self, result: Result<(), AssertionFailure>) -> &Self {
        if let Err(failure) = result {
            panic!("{failure}");
        }
        self
    }

    /// Runs the query; `verdict` says what is wrong with its series, if anything.
    fn check(
        &self,
        verdict: impl FnOnce(&[TimeSeries]) -> Option<String>,
    ) -> Result<(), AssertionFailure> {
        let query = &self.query;
        let answer = self.harness.metrics(query).map_err(|e| AssertionFailure {
            message: format!("metrics assertion could not run\nquery: {query}\n{e}"),
        })?;
        let Some(problem) = verdict(&answer.series) else {
            return Ok(());
        };
        let mut message = format!("metrics assertion failed: {problem}\nquery: {query}\n");
        if answer.series.is_empty() {
            message.push_str("\nno series\n");
        } else {
            message.push_str("\nseries:\n");
            for s in &answer.series {
                let _ = writeln!(message, "  {} {}", s.prom_labels(), show(value(s)));
            }
        }
        Err(AssertionFailure {
            message: message.trim_end().to_owned(),
        })
    }
}

/// The one value of an instant series.
fn value(s: &TimeSeries) -> Option<f64> {
    s.samples.first().map(|x| x.value)
}

fn close(found: Option<f64>, expected: f64) -> bool {
    found.is_some_and(|v| {
        v == expected || (v - expected).abs() <= RELATIVE_TOLERANCE * expected.abs().max(1.0)
    })
}

/// `1 series`, `2 series`.
fn count(n: usize) -> String {
    format!("{n} series")
}

fn show(v: Option<f64>) -> String {
    v.map_or_else(|| "no value".to_owned(), |v| v.to_string())
}
