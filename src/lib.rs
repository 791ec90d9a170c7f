//! Facade.
pub use tempo_core as core;
pub use tempo_otlp as otlp;
pub use tempo_traceql as traceql;
