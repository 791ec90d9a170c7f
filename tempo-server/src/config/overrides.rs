//! overrides: which limits does each tenant get?
//!
//! Tempo's tenant-specific overrides file (`overrides.per_tenant_override_config`): tenant
//! IDs, or `"*"` for every tenant not named, mapped to their limits, in either shape of
//! Tempo's overrides (`global.max_bytes_per_trace`, `compaction.block_retention` and
//! `ingestion.max_attribute_bytes`, or the legacy flat keys). The server reads it at start and again when it changes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use super::error::ConfigError;
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
    let (raw, unknown) = raw::from_yaml::<RawTenantOverrides>(&raw::read(path)?)?;
    let mut limits = HashMap::new();
    for (tenant, raw) in raw.overrides {
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
        std::fs::write(&path, "overrides:\n  a/b:\n    max_bytes_per_trace: 1\n").unwrap();
        let err = load_tenant_overrides(&path).unwrap_err().to_string();
        assert!(err.starts_with("overrides.a/b: invalid tenant ID"), "{err}");
    }
}
