//! storage: which backend holds the blocks?
//!
//! `storage.trace.backend` picks it: a local directory (the default), memory, or a bucket
//! (S3 and S3-compatible servers, GCS, Azure; each behind a cargo feature, all on by
//! default). The settings are Tempo's keys; credentials left out come from the environment,
//! as in Tempo.

use std::sync::Arc;

use anyhow::Context as _;
use tempo_core::backend::Backend;

use crate::config::{Config, StorageBackend};

/// Opens the backend the configuration names.
pub(crate) fn open_backend(config: &Config) -> anyhow::Result<Arc<dyn Backend>> {
    Ok(match config.storage_backend {
        StorageBackend::Local => Arc::new(
            tempo_core::backend::LocalBackend::open(&config.local_path).with_context(|| {
                format!(
                    "opening the block directory {}",
                    config.local_path.display()
                )
            })?,
        ),
        StorageBackend::Memory => Arc::new(tempo_core::backend::MemoryBackend::new()),
        StorageBackend::S3 => s3(config)?,
        StorageBackend::Gcs => gcs(config)?,
        StorageBackend::Azure => azure(config)?,
    })
}

#[cfg(feature = "s3")]
fn s3(config: &Config) -> anyhow::Result<Arc<dyn Backend>> {
    let s3 = &config.s3;
    if s3.bucket.is_empty() {
        anyhow::bail!("storage.trace.s3.bucket: the S3 backend needs a bucket");
    }
    let mut options = tempo_core::backend::S3Options::default();
    options.bucket = s3.bucket.clone();
    options.prefix = s3.prefix.clone();
    options.endpoint = s3.endpoint.clone();
    options.region = s3.region.clone();
    options.access_key = s3.access_key.clone();
    options.secret_key = s3.secret_key.clone();
    options.session_token = s3.session_token.clone();
    options.insecure = s3.insecure;
    options.force_path_style = s3.forcepathstyle;
    if let Some(part_size) = s3.part_size.filter(|&n| n > 0) {
        options.options.part_size = usize::try_from(part_size).unwrap_or(usize::MAX);
    }
    let backend = tempo_core::backend::ObjectBackend::s3(&options)
        .context("storage.trace.s3: cannot set up the S3 backend")?;
    tracing::info!(store = %backend, "blocks in an S3 bucket");
    Ok(Arc::new(backend))
}

#[cfg(not(feature = "s3"))]
fn s3(_: &Config) -> anyhow::Result<Arc<dyn Backend>> {
    anyhow::bail!("storage.trace.backend: s3: this build has no S3 support (cargo feature s3)")
}

#[cfg(feature = "gcs")]
fn gcs(config: &Config) -> anyhow::Result<Arc<dyn Backend>> {
    let gcs = &config.gcs;
    if gcs.bucket_name.is_empty() {
        anyhow::bail!("storage.trace.gcs.bucket_name: the GCS backend needs a bucket");
    }
    let mut options = tempo_core::backend::GcsOptions::default();
    options.bucket_name = gcs.bucket_name.clone();
    options.prefix = gcs.prefix.clone();
    let backend = tempo_core::backend::ObjectBackend::gcs(&options)
        .context("storage.trace.gcs: cannot set up the GCS backend")?;
    tracing::info!(store = %backend, "blocks in a GCS bucket");
    Ok(Arc::new(backend))
}

#[cfg(not(feature = "gcs"))]
fn gcs(_: &Config) -> anyhow::Result<Arc<dyn Backend>> {
    anyhow::bail!("storage.trace.backend: gcs: this build has no GCS support (cargo feature gcs)")
}

#[cfg(feature = "azure")]
fn azure(config: &Config) -> anyhow::Result<Arc<dyn Backend>> {
    let azure = &config.azure;
    if azure.container_name.is_empty() {
        anyhow::bail!("storage.trace.azure.container_name: the Azure backend needs a container");
    }
    let mut options = tempo_core::backend::AzureOptions::default();
    options.container_name = azure.container_name.clone();
    options.storage_account_name = azure.storage_account_name.clone();
    options.storage_account_key = azure.storage_account_key.clone();
    options.endpoint_suffix = azure.endpoint_suffix.clone();
    options.prefix = azure.prefix.clone();
    let backend = tempo_core::backend::ObjectBackend::azure(&options)
        .context("storage.trace.azure: cannot set up the Azure backend")?;
    tracing::info!(store = %backend, "blocks in an Azure container");
    Ok(Arc::new(backend))
}

#[cfg(not(feature = "azure"))]
fn azure(_: &Config) -> anyhow::Result<Arc<dyn Backend>> {
    anyhow::bail!(
        "storage.trace.backend: azure: this build has no Azure support (cargo feature azure)"
    )
}
