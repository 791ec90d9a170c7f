//! The TraceQL query language.
