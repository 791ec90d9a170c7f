//! generator: where do the series derived from spans go?
//!
//! The store's metrics generator (span metrics, service graphs) keeps each tenant's series in
//! memory; this module takes them out of the process, as Tempo's metrics generator does:
//!
//! - [`remote_write`]: every `registry.collection_interval`, each tenant's series are sent to
//!   every configured Prometheus remote-write endpoint, in the background, never in the way of
//!   ingestion;
//! - [`exposition`]: `GET /metrics/generator` serves a tenant's series for a scraper, in
//!   Prometheus' text format or in OpenMetrics with exemplars;
//! - [`proto`]: the remote-write messages.
//!
//! Both label a series the same way ([`SeriesRules`]): its own labels, cut to the configured
//! lengths, then the external labels and the tenant label, then `__name__`, sorted by name,
//! without empty values.

pub(crate) mod exposition;
pub(crate) mod proto;
pub(crate) mod remote_write;

use std::collections::BTreeMap;

use tempo_core::generator::GeneratedSeries;

use crate::config::GeneratorSettings;

/// How a generated series is labelled when it leaves the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeriesRules {
    /// Put on every series, replacing its own label of the same name.
    external_labels: Vec<(String, String)>,
    /// The label naming the tenant, when set.
    inject_tenant_id_as: Option<String>,
    /// Label names are cut to this many bytes (0: never).
    max_name: usize,
    /// Label values are cut to this many bytes (0: never).
    max_value: usize,
    /// The label of an exemplar's trace ID.
    pub(crate) trace_id_label_name: String,
}

impl Default for SeriesRules {
    fn default() -> SeriesRules {
        SeriesRules::new(&GeneratorSettings::default())
    }
}

impl SeriesRules {
    /// The rules of `settings`.
    pub(crate) fn new(settings: &GeneratorSettings) -> SeriesRules {
        SeriesRules {
            external_labels: settings.external_labels.clone(),
            inject_tenant_id_as: settings.inject_tenant_id_as.clone(),
            max_name: settings.max_label_name_length,
            max_value: settings.max_label_value_length,
            trace_id_label_name: settings.trace_id_label_name.clone(),
        }
    }

    /// The labels of `series` of `tenant` as sent, sorted by name, `__name__` among them.
    pub(crate) fn labels(&self, tenant: &str, series: &GeneratedSeries) -> Vec<(String, String)> {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &series.labels {
            if value.is_empty() {
                continue;
            }
            out.insert(
                cut(name, self.max_name).to_owned(),
                cut(value, self.max_value).to_owned(),
            );
        }
        for (name, value) in &self.external_labels {
            out.insert(name.clone(), value.clone());
        }
        if let Some(name) = &self.inject_tenant_id_as {
            out.insert(name.clone(), tenant.to_owned());
        }
        out.insert("__name__".to_owned(), series.name.clone());
        out.into_iter().filter(|(_, v)| !v.is_empty()).collect()
    }
}

/// `text` cut to at most `max` bytes, on a character boundary (0: not cut).
fn cut(text: &str, max: usize) -> &str {
    if max == 0 || text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// An exemplar's trace ID as Tempo writes it in exemplars: hex, leading zeros left out.
pub(crate) fn exemplar_trace_id(hex: &str) -> &str {
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() { "0" } else { trimmed }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tempo_core::generator::SeriesKind;

    use super::*;

    proptest! {
        #[test]
        fn labels_are_always_sorted_unique_named_and_within_bounds(
            labels in proptest::collection::vec(("\\PC{0,10}", "\\PC{0,10}"), 0..8),
            external in proptest::collection::vec(("[a-z_]{1,6}", "[a-z]{0,4}"), 0..3),
            max_name in 0usize..6,
            max_value in 0usize..6,
        ) {
            let settings = GeneratorSettings {
                external_labels: external,
                inject_tenant_id_as: Some("tenant".into()),
                max_label_name_length: max_name,
                max_label_value_length: max_value,
                ..GeneratorSettings::default()
            };
            let mut s = series(&[]);
            s.labels = labels;
            let out = SeriesRules::new(&settings).labels("team", &s);
            prop_assert!(out.windows(2).all(|w| w[0].0 < w[1].0), "{out:?}");
            prop_assert!(out.iter().all(|(_, v)| !v.is_empty()));
            prop_assert!(out.iter().any(|(k, v)| k == "__name__" && *v == s.name));
            prop_assert!(out.iter().any(|(k, v)| k == "tenant" && v == "team"));
            for (k, v) in &out {
                if !settings.external_labels.iter().any(|(n, _)| n == k)
                    && k != "__name__"
                    && k != "tenant"
                {
                    prop_assert!(max_name == 0 || k.len() <= max_name);
                    prop_assert!(max_value == 0 || v.len() <= max_value);
                }
            }
        }
    }

    fn series(labels: &[(&str, &str)]) -> GeneratedSeries {
        GeneratedSeries {
            name: "traces_spanmetrics_calls_total".into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            value: 1.0,
            kind: SeriesKind::Counter,
            exemplar: None,
            created_unix_nano: 0,
        }
    }

    #[test]
    fn labels_are_cut_overridden_sorted_and_named() {
        let settings = GeneratorSettings {
            external_labels: vec![
                ("cluster".into(), "eu".into()),
                ("span_kind".into(), "x".into()),
            ],
            inject_tenant_id_as: Some("tenant".into()),
            max_label_name_length: 6,
            max_label_value_length: 4,
            ..GeneratorSettings::default()
        };
        let rules = SeriesRules::new(&settings);
        let labels = rules.labels(
            "team-a",
            &series(&[
                ("service", "checkout"),
                ("span_kind", "SPAN_KIND_SERVER"),
                ("status_message", ""),
                ("zz", "é€xy"),
            ]),
        );
        let expected: Vec<(String, String)> = [
            ("__name__", "traces_spanmetrics_calls_total"),
            ("cluster", "eu"),
            ("servic", "chec"),
            ("span_k", "SPAN"),
            ("span_kind", "x"),
            ("tenant", "team-a"),
            // Cut on a character boundary: "é" is 2 bytes, "€" 3.
            ("zz", "é"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(labels, expected);
        let plain = SeriesRules::default().labels("t", &series(&[("b", "1"), ("a", "2")]));
        let names: Vec<&str> = plain.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["__name__", "a", "b"]);
    }

    #[test]
    fn exemplar_trace_ids_lose_their_leading_zeros() {
        assert_eq!(
            exemplar_trace_id("00000000000000000a0b0c0d0e0f1011"),
            "a0b0c0d0e0f1011"
        );
        assert_eq!(exemplar_trace_id("0000"), "0");
    }
}
