//! OTLP receivers.
