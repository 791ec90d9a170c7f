//! tenant: whose data is this?
//!
//! Tenant IDs follow the rules of Tempo (inherited from Cortex): at most 150 characters from
//! `a-z A-Z 0-9 ! - _ . * ' ( )`, and neither `.` nor `..`. They become directory names, so
//! the rules are enforced everywhere a tenant enters the store.

use crate::error::TenantError;

/// The longest tenant ID accepted.
pub const MAX_TENANT_LEN: usize = 150;

/// Checks a tenant ID.
pub fn validate_tenant(tenant: &str) -> Result<(), TenantError> {
    let invalid = |reason: &str| {
        Err(TenantError {
            tenant: tenant.chars().take(MAX_TENANT_LEN + 10).collect(),
            reason: reason.to_owned(),
        })
    };
    if tenant.is_empty() {
        return invalid("it is empty");
    }
    if tenant.len() > MAX_TENANT_LEN {
        return invalid("it is longer than 150 characters");
    }
    if tenant == "." || tenant == ".." {
        return invalid("it is '.' or '..'");
    }
    if let Some(c) = tenant
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "!-_.*'()".contains(*c)))
    {
        return invalid(&format!(
            "it contains {c:?}; allowed are letters, digits and !-_.*'()"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_rules() {
        assert!(validate_tenant("single-tenant").is_ok());
        assert!(validate_tenant("team_a.prod(1)").is_ok());
        assert!(validate_tenant("").is_err());
        assert!(validate_tenant("..").is_err());
        assert!(validate_tenant("a/b").is_err());
        assert!(validate_tenant(&"a".repeat(151)).is_err());
    }
}
