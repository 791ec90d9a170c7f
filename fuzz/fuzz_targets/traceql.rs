//! Fuzz the TraceQL parser: no input makes it panic, and every query it
//! accepts survives formatting: `parse(format(q)) == q`, and the canonical
//! text is a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The lenient entry point must not panic either.
    let _ = tempo_traceql::parse_lenient(text);
    match tempo_traceql::parse_unchecked(text) {
        Ok(query) => {
            let _ = tempo_traceql::validate(&query);
            let _ = tempo_traceql::explain(&query);
            let formatted = tempo_traceql::format(&query);
            let again = tempo_traceql::parse_unchecked(&formatted)
                .unwrap_or_else(|e| panic!("formatted query does not parse: {formatted:?}\n{e}"));
            assert_eq!(again, query, "round trip changed the query: {formatted:?}");
            assert_eq!(tempo_traceql::format(&again), formatted);
        }
        Err(err) => {
            // Rendering an error must not panic on any input.
            let _ = err.render(text);
            let _ = err.to_string();
        }
    }
});
