//! overrides: which limits does each tenant get?
//!
//! Tempo's tenant-specific overrides file (`overrides.per_tenant_override_config`): tenant
//! IDs, or `"*"` for every tenant not named, mapped to their limits, in either shape of
//! Tempo's overrides (`global.max_bytes_per_trace`, `compaction.block_retention` and
//! `metrics_generator.processors`, `ingestion.max_attribute_bytes`, or the legacy flat keys
//! `max_bytes_per_trace`, `block_retention`, `metrics_generator_processors` and
//! `ingestion_max_attribute_bytes`). The server reads it at start and
//! again when it changes. A tenant's other generator settings (`metrics_generator.
//! max_active_series`, `trace_id_label_name`, `processor`, `collection_interval`,
//! `ingestion_time_range_slack`) are reported: here they are set for every tenant at once, in
//! the main file's `overrides.defaults` or `metrics_generator` block.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use super::error::ConfigError;
use super::generator;
use super::raw::{self, RawLimits};

/// A tenant-specific overrides file: `overrides:` mapping tenant IDs (or `"*"`, every tenant
/// not named) to their limits.
#[derive(Default, Deserialize)]
#[serde(default, expecting = "a mapping with an overrides section")]
struct RawTenantOverrides {
    overrides: BTreeMap<String, RawLimits>,
}

/// Reads a tenant-specific overrides file (`overrides.per_tenant_override_config`). Returns
/// the limits by tenant and the keys that have no effect here.
pub(crate) fn load_tenant_overrides(
    path: &Path,
) -> Result<(HashMap<String, tempo_core::TenantLimits>, Vec<String>), ConfigError> {
    let (raw, mut unknown) = raw::from_yaml::<RawTenantOverrides>(&raw::read(path)?)?;
    let mut limits = HashMap::new();
    for (tenant, mut raw) in raw.overrides {
        if tenant != "*" {
            tempo_core::validate_tenant(&tenant).map_err(|e| ConfigError::Invalid {
                key: format!("overrides.{tenant}"),
                message: e.to_string(),
            })?;
        }
        let mut l = tempo_core::TenantLimits::default();
        l.max_bytes_per_trace = raw.max_bytes_per_trace();
        l.block_retention = raw.block_retention();
        l.max_attribute_bytes = raw.max_attribute_bytes();
        let at = format!("overrides.{tenant}");
        if let Some((names, key)) = raw.generator_processors(&at) {
            l.generator_processors = Some(generator::processors(names, &key)?);
        }
        if raw.metrics_generator.max_active_series.is_some() {
            unknown.push(format!("{at}.metrics_generator.max_active_series"));
        }
        if raw.metrics_generator_max_active_series.is_some() {
            unknown.push(format!("{at}.metrics_generator_max_active_series"));
        }
        if let Some((_, key)) = raw.generator_trace_id_label_name(&at) {
            unknown.push(key);
        }
        let g = &raw.metrics_generator;
        for (present, name) in [
            (g.processor.is_some(), "processor"),
            (g.collection_interval.is_some(), "collection_interval"),
            (
                g.ingestion_time_range_slack.is_some(),
                "ingestion_time_range_slack",
            ),
        ] {
            if present {
                unknown.push(format!("{at}.metrics_generator.{name}"));
            }
        }
        limits.insert(tenant, l);
    }
    Ok((limits, unknown))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use std::time::Duration;

    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn tenant_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overrides.yaml");
        std::fs::write(
            &path,
            "overrides:\n  team-a:\n    global:\n      max_bytes_per_trace: 100\n    \
             ingestion:\n      rate_limit_bytes: 1\n      max_attribute_bytes: 10\n  \
             team-b:\n    max_bytes_per_trace: 200\n    block_retention: 24h\n    \
             ingestion_max_attribute_bytes: 20\n  \"*\":\n    compaction:\n      block_retention: 1h\n",
        )
        .unwrap();
        let (limits, unknown) = load_tenant_overrides(&path).unwrap();
        assert_eq!(unknown, ["overrides.team-a.ingestion.rate_limit_bytes"]);
        assert_eq!(limits["team-a"].max_attribute_bytes, Some(10));
        assert_eq!(limits["team-b"].max_attribute_bytes, Some(20));
        assert_eq!(limits["*"].max_attribute_bytes, None);
        assert_eq!(limits["team-a"].max_bytes_per_trace, Some(100));
        assert_eq!(limits["team-a"].block_retention, None);
        assert_eq!(limits["team-b"].max_bytes_per_trace, Some(200));
        assert_eq!(limits["team-b"].block_retention, Some(secs(24 * 3600)));
        assert_eq!(limits["*"].block_retention, Some(secs(3600)));
        assert_eq!(limits["team-a"].generator_processors, None);
        std::fs::write(&path, "overrides:\n  a/b:\n    max_bytes_per_trace: 1\n").unwrap();
        let err = load_tenant_overrides(&path).unwrap_err().to_string();
        assert!(err.starts_with("overrides.a/b: invalid tenant ID"), "{err}");
    }

    #[test]
    fn generator_processors_per_tenant_in_both_shapes() {
        use tempo_core::generator::Processors;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overrides.yaml");
        std::fs::write(
            &path,
            "overrides:\n  team-a:\n    metrics_generator:\n      processors: [span-metrics]\n      \
             max_active_series: 10\n  team-b:\n    metrics_generator_processors: [service-graphs, local-blocks]\n    \
             metrics_generator_trace_id_label_name: tid\n  team-c:\n    metrics_generator:\n      processors: []\n  \
             \"*\":\n    metrics_generator:\n      processors: [span-metrics, service-graphs]\n      \
             collection_interval: 30s\n      processor:\n        span_metrics:\n          dimensions: [a]\n",
        )
        .unwrap();
        let (limits, unknown) = load_tenant_overrides(&path).unwrap();
        assert_eq!(
            unknown,
            [
                "overrides.*.metrics_generator.processor",
                "overrides.*.metrics_generator.collection_interval",
                "overrides.team-a.metrics_generator.max_active_series",
                "overrides.team-b.metrics_generator_trace_id_label_name",
            ]
        );
        let processors = |t: &str| limits[t].generator_processors;
        assert_eq!(
            processors("team-a"),
            Some(Processors {
                span_metrics: true,
                service_graphs: false
            })
        );
        assert_eq!(
            processors("team-b"),
            Some(Processors {
                span_metrics: false,
                service_graphs: true
            })
        );
        assert_eq!(processors("team-c"), Some(Processors::NONE));
        assert_eq!(processors("*"), Some(Processors::ALL));
        std::fs::write(
            &path,
            "overrides:\n  t:\n    metrics_generator_processors: [nope]\n",
        )
        .unwrap();
        let err = load_tenant_overrides(&path).unwrap_err().to_string();
        assert!(
            err.starts_with("overrides.t.metrics_generator_processors: unknown metrics generator processor \"nope\""),
            "{err}"
        );
    }
}
