//! generated: which series has the metrics generator derived for a tenant?
//!
//! `GET /metrics/generator`: a tenant's span metrics and service graph series, for a scraper
//! when no remote-write receiver is at hand. The tenant is the request's (`X-Scope-OrgID`
//! with multi-tenancy on, else `single-tenant`), one at a time. The series are labelled as
//! remote write labels them (external labels, the tenant label, lengths cut), in Prometheus'
//! text format, or in OpenMetrics with the buckets' exemplars when `Accept` asks for
//! `application/openmetrics-text`. Tempo has no such endpoint: its generator only writes.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, header};

use super::error::{ApiError, TenantRejection};
use super::extract::Tenants;
use super::state::{ApiState, blocking};
use crate::generator::exposition::{Format, render};

/// `GET /metrics/generator`.
pub(crate) async fn generated(
    State(state): State<ApiState>,
    Tenants(tenants): Tenants,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let [tenant] = <[String; 1]>::try_from(tenants)
        .map_err(|_| ApiError::from(TenantRejection::GeneratedAcrossTenants))?;
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let store = state.store.clone();
    let rules = state.generator_rules.clone();
    let body = blocking(move || {
        let series = store.generated_series(&tenant);
        Ok::<_, tempo_core::Error>(render(&rules, &tenant, &series, format))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}
