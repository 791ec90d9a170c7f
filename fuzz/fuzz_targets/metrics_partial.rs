//! No byte string makes decoding a metrics query's partial answer panic, nor finishing one
//! that decodes; anything malformed is an error, and values off the query's axis are left
//! out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tempo_core::{MetricsPartial, MetricsRequest};

fuzz_target!(|data: &[u8]| {
    if let Ok(partial) = MetricsPartial::decode(data) {
        let req = MetricsRequest::range("{ } | quantile_over_time(duration, 0.5)", 0, 60_000_000_000);
        let _ = MetricsPartial::finish(&req, vec![partial]);
    }
});
