//! object: blocks in a bucket (S3 and compatible servers, GCS, Azure).
//!
//! [`ObjectBackend`] puts the [`Backend`] trait on the `object_store` crate. The trait is
//! synchronous and `object_store` is asynchronous: every request runs on one small tokio
//! runtime of the process's own (two worker threads named `tempo-object-store`), and the
//! calling thread waits for its answer on a channel. So the store stays usable from plain
//! threads and from inside any async runtime alike (where waiting blocks, as every other
//! backend's I/O does: callers run store work on blocking threads).
//!
//! - Keys map to object names under an optional prefix: `tenant/block/data` is
//!   `<prefix>/tenant/block/data`. Listing uses the `/` delimiter.
//! - Range reads are HTTP range requests; a read past the end is answered
//!   [`BackendError::OutOfRange`] with the object's size, as every backend does.
//! - A write is one `PUT` up to the part size, a multipart upload above it (parts sent a
//!   few at a time; aborted on failure, so no part is left to pay for).
//! - Requests that fail with a server error, a throttle or a broken connection are retried
//!   with exponential back-off and jitter, each request and the whole of its retries bounded
//!   in time ([`ObjectStoreOptions`]). What still fails is [`BackendError::Remote`].
//! - Conditional writes are `If-None-Match: *` and `If-Match: <etag>`.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    UpdateVersion, WriteMultipart,
};

use super::{Backend, BackendError, Precondition, Version, validate_key, validate_prefix};

/// How requests to an object store are bounded and retried, and how large objects are sent.
/// The defaults suit a store on the network; tests shorten them.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ObjectStoreOptions {
    /// Longest one HTTP request may take, body included (default 30 s).
    pub request_timeout: Duration,
    /// Longest a connection may take to open (default 5 s).
    pub connect_timeout: Duration,
    /// Most retries of one request (default 8).
    pub max_retries: usize,
    /// Longest one request is retried for, from its first attempt (default 60 s).
    pub retry_timeout: Duration,
    /// First wait before a retry; each next one doubles, with jitter (default 100 ms).
    pub min_backoff: Duration,
    /// Longest wait before a retry (default 5 s).
    pub max_backoff: Duration,
    /// Objects larger than this are sent as a multipart upload of parts this large
    /// (default 5 MiB, Tempo's `part_size` and the smallest part S3 accepts).
    pub part_size: usize,
    /// Parts of one upload sent at once (default 4).
    pub upload_concurrency: usize,
}

impl Default for ObjectStoreOptions {
    fn default() -> ObjectStoreOptions {
        ObjectStoreOptions {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_retries: 8,
            retry_timeout: Duration::from_secs(60),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            part_size: 5 << 20,
            upload_concurrency: 4,
        }
    }
}

impl ObjectStoreOptions {
    /// The longest a whole operation may take before it is given up (a request and all its
    /// retries, and for a multipart upload every part): past it, the operation fails with
    /// [`BackendError::Remote`] whatever the store is doing.
    fn deadline(&self) -> Duration {
        self.retry_timeout + self.request_timeout * 2
    }

    #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
    fn retry(&self) -> object_store::RetryConfig {
        object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: self.min_backoff,
                max_backoff: self.max_backoff.max(self.min_backoff),
                base: 2.0,
            },
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        }
    }

    #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
    fn client(&self, allow_http: bool) -> object_store::ClientOptions {
        object_store::ClientOptions::new()
            .with_timeout(self.request_timeout)
            .with_connect_timeout(self.connect_timeout)
            .with_allow_http(allow_http)
    }
}

/// The process's runtime for object store requests: two worker threads, started on first
/// use and never stopped (dropping a runtime inside another one's async context panics, and
/// a store may be dropped anywhere).
fn runtime() -> Result<&'static tokio::runtime::Runtime, BackendError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("tempo-object-store")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| BackendError::Remote {
            operation: "START",
            key: String::new(),
            message: format!("cannot start the object store runtime: {e}"),
        })
}

/// A [`Backend`] on an object store: S3 or an S3-compatible server, Google Cloud Storage,
/// Azure Blob Storage (each behind its cargo feature), or any [`ObjectStore`].
///
/// Several servers may share one bucket ([`Backend::is_shared`] is `true`).
pub struct ObjectBackend {
    store: Arc<dyn ObjectStore>,
    /// Object names start with this, then `/`; empty for none.
    prefix: String,
    options: ObjectStoreOptions,
    /// What it is, for logs: `s3://bucket/prefix`.
    describe: String,
}

impl fmt::Debug for ObjectBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectBackend")
            .field("store", &self.describe)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl fmt::Display for ObjectBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe)
    }
}

/// A prefix as written in a configuration (`a/b/`, `/a`), as object names start: `a/b`.
fn clean_prefix(prefix: &str) -> Result<String, BackendError> {
    let trimmed = prefix.trim_matches('/');
    if !trimmed.is_empty() {
        validate_key(trimmed)?;
    }
    Ok(trimmed.to_owned())
}

impl ObjectBackend {
    /// A backend on `store`, with every object name under `prefix` (`""`: none).
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        options: ObjectStoreOptions,
    ) -> Result<ObjectBackend, BackendError> {
        let prefix = clean_prefix(prefix)?;
        let describe = format!("{store}/{prefix}");
        Ok(ObjectBackend {
            store,
            prefix,
            options,
            describe,
        })
    }

    /// The object store underneath.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The object name of a (valid) key or prefix; `""` is the root.
    fn path(&self, key: &str) -> Result<Path, BackendError> {
        let name = match (self.prefix.is_empty(), key.is_empty()) {
            (true, _) => key.to_owned(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{key}", self.prefix),
        };
        Path::parse(&name).map_err(|e| BackendError::InvalidKey {
            key: key.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Runs `future` on the object store runtime and waits for it, at most for the
    /// operation deadline.
    fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        key: &str,
        future: impl Future<Output = Result<T, object_store::Error>> + Send + 'static,
    ) -> Result<T, BackendError> {
        let deadline = self.options.deadline();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime()?.spawn(async move {
            let outcome = tokio::time::timeout(deadline, future).await;
            let _ = tx.send(outcome);
        });
        match rx.recv() {
            Ok(Ok(result)) => result.map_err(|e| remote_error(operation, key, e)),
            Ok(Err(_elapsed)) => Err(BackendError::Remote {
                operation,
                key: key.to_owned(),
                message: format!("no answer within {deadline:?}"),
            }),
            Err(_) => Err(BackendError::Remote {
                operation,
                key: key.to_owned(),
                message: "the request was dropped".to_owned(),
            }),
        }
    }

    /// `error`, or [`BackendError::NotFound`] when listing the key's parent shows no object
    /// at the key. S3 answers 404 for a key that is only a "directory" (a prefix of other
    /// keys), but file-system-backed servers may fail instead; the trait says a prefix is
    /// not an object. Only asked after a failure.
    fn unless_absent(&self, key: &str, error: BackendError) -> BackendError {
        // What such servers answer: 500, not a timeout, a reset or a 503.
        if !matches!(&error, BackendError::Remote { message, .. } if message.contains("500 Internal Server Error"))
        {
            return error;
        }
        let Ok(path) = self.path(key) else {
            return error;
        };
        let store = self.store.clone();
        let listed = self.run("LIST", key, async move { is_object(&*store, &path).await });
        match listed {
            Ok(false) => BackendError::not_found(key),
            _ => error,
        }
    }

    /// The object's size, for an answer to a range read that failed or fell short.
    fn out_of_range(&self, key: &str, offset: u64, len: u64) -> Result<BackendError, BackendError> {
        let size = self.size(key)?;
        Ok(BackendError::OutOfRange {
            key: key.to_owned(),
            offset,
            len,
            size,
        })
    }
}

/// Whether listing the parent of `path` shows an object at `path`.
async fn is_object(store: &dyn ObjectStore, path: &Path) -> Result<bool, object_store::Error> {
    let parent = path.parent().filter(|p| !p.is_root());
    let listed = store.list_with_delimiter(parent.as_ref()).await?;
    Ok(listed.objects.iter().any(|o| o.location == *path))
}

/// What an object store error means to the [`Backend`] trait.
fn remote_error(operation: &'static str, key: &str, error: object_store::Error) -> BackendError {
    match error {
        object_store::Error::NotFound { .. } => BackendError::not_found(key),
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            BackendError::precondition_failed(key)
        }
        object_store::Error::InvalidPath { source } => BackendError::InvalidKey {
            key: key.to_owned(),
            reason: source.to_string(),
        },
        other => BackendError::Remote {
            operation,
            key: key.to_owned(),
            message: error_chain(&other),
        },
    }
}

/// An error and its sources, `: `-separated, so that the status or the network failure
/// deep in the chain is in the message.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

fn version_of(e_tag: Option<String>, version: Option<String>) -> Version {
    Version(match (e_tag, version) {
        (Some(e_tag), Some(version)) => format!("{e_tag}|{version}"),
        (Some(e_tag), None) => e_tag,
        (None, Some(version)) => format!("|{version}"),
        (None, None) => String::new(),
    })
}

fn update_version(version: &Version) -> UpdateVersion {
    match version.0.split_once('|') {
        Some((e_tag, version)) => UpdateVersion {
            e_tag: (!e_tag.is_empty()).then(|| e_tag.to_owned()),
            version: Some(version.to_owned()),
        },
        None => UpdateVersion {
            e_tag: Some(version.0.clone()),
            version: None,
        },
    }
}

impl Backend for ObjectBackend {
    fn read(&self, key: &str) -> Result<Bytes, BackendError> {
        validate_key(key)?;
        let (store, path) = (self.store.clone(), self.path(key)?);
        self.run("GET", key, async move {
            let result = store.get_opts(&path, GetOptions::default()).await?;
            result.bytes().await
        })
        .map_err(|e| self.unless_absent(key, e))
    }

    fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, BackendError> {
        validate_key(key)?;
        let Some(end) = offset.checked_add(len) else {
            return Err(self.out_of_range(key, offset, len)?);
        };
        if len == 0 {
            // An empty range has no HTTP form: the size answers it.
            let size = self.size(key)?;
            if offset > size {
                return Err(BackendError::OutOfRange {
                    key: key.to_owned(),
                    offset,
                    len,
                    size,
                });
            }
            return Ok(Bytes::new());
        }
        let (store, path) = (self.store.clone(), self.path(key)?);
        let answer = self.run("GET", key, async move {
            let options = GetOptions {
                range: Some(GetRange::Bounded(offset..end)),
                ..GetOptions::default()
            };
            let result = store.get_opts(&path, options).await?;
            let size = result.meta.size;
            let data = result.bytes().await?;
            Ok((data, size))
        });
        match answer {
            Ok((data, size)) if size >= end && data.len() as u64 == len => Ok(data),
            Ok((_, size)) => Err(BackendError::OutOfRange {
                key: key.to_owned(),
                offset,
                len,
                size,
            }),
            // A range the store refuses (416: past the end) or answers oddly.
            Err(e @ BackendError::Remote { .. })
                if e.to_string().contains("416") || e.to_string().contains("ange") =>
            {
                match self.out_of_range(key, offset, len) {
                    Ok(out) if matches!(out, BackendError::OutOfRange { size, .. } if size < end) => {
                        Err(out)
                    }
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn write(&self, key: &str, data: Bytes) -> Result<(), BackendError> {
        validate_key(key)?;
        let (store, path) = (self.store.clone(), self.path(key)?);
        let part_size = self.options.part_size.max(5 << 20);
        if data.len() <= part_size {
            return self.run("PUT", key, async move {
                store.put(&path, PutPayload::from(data)).await.map(|_| ())
            });
        }
        let concurrency = self.options.upload_concurrency.max(1);
        self.run("PUT", key, async move {
            let upload = store.put_multipart(&path).await?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size);
            let mut at = 0;
            while at < data.len() {
                if let Err(e) = writer.wait_for_capacity(concurrency).await {
                    let _ = writer.abort().await;
                    return Err(e);
                }
                let next = (at + part_size).min(data.len());
                writer.put(data.slice(at..next));
                at = next;
            }
            match writer.finish().await {
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, BackendError> {
        validate_prefix(prefix)?;
        let (store, path) = (self.store.clone(), self.path(prefix)?);
        let root_path = (!path.is_root()).then(|| path.clone());
        let listed = self.run("LIST", prefix, async move {
            let root = (!path.is_root()).then_some(&path);
            store.list_with_delimiter(root).await
        })?;
        let mut names: Vec<String> = listed
            .common_prefixes
            .iter()
            .map(|p| p.filename().unwrap_or_default().to_owned())
            .chain(
                listed
                    .objects
                    .iter()
                    // A server with real directories (SeaweedFS) lists a directory's own
                    // entry in it.
                    .filter(|o| root_path.as_ref() != Some(&o.location))
                    .map(|o| o.location.filename().unwrap_or_default().to_owned()),
            )
            .filter(|name| !name.is_empty())
            .collect();
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    fn delete_prefix(&self, prefix: &str) -> Result<(), BackendError> {
        validate_key(prefix)?;
        let (store, path) = (self.store.clone(), self.path(prefix)?);
        self.run("DELETE", prefix, async move {
            // Everything below the prefix, or else the object at the prefix itself (a key
            // is never also a prefix of other keys). Not deleting a "directory" as an
            // object keeps file-system-backed servers, which refuse it, working.
            let below: Vec<Path> = store
                .list(Some(&path))
                .map(|meta| meta.map(|m| m.location))
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<_, _>>()?;
            if below.is_empty() {
                match store.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    // Nothing to delete, whatever a file-system-backed server says about
                    // the empty directory it left there.
                    Err(e) => match is_object(&*store, &path).await {
                        Ok(false) => {}
                        _ => return Err(e),
                    },
                }
                // The object was the last one of its prefix: on servers with real
                // directories, the directory goes too (see below).
                let parent: Path = path
                    .parts()
                    .take(path.parts().count().saturating_sub(1))
                    .collect();
                if parent.parts().count() > 0
                    && let Ok(listed) = store.list_with_delimiter(Some(&parent)).await
                    && listed.objects.iter().all(|o| o.location == parent)
                    && listed.common_prefixes.is_empty()
                {
                    let _ = store.delete(&parent).await;
                }
                return Ok(());
            }
            // The directories below the prefix, deepest first, for servers that keep them.
            let depth = path.parts().count();
            let mut dirs: Vec<Path> = below
                .iter()
                .flat_map(|l| {
                    let parts: Vec<_> = l.parts().collect();
                    (depth + 1..parts.len()).map(move |n| parts[..n].iter().cloned().collect())
                })
                .collect();
            dirs.sort_by_key(|d: &Path| std::cmp::Reverse(d.parts().count()));
            dirs.dedup();
            let locations = futures_util::stream::iter(below.into_iter().map(Ok)).boxed();
            let mut deleted = store.delete_stream(locations);
            while let Some(result) = deleted.next().await {
                match result {
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            drop(deleted);
            // Servers with real directories (SeaweedFS's filer) keep listing an emptied
            // prefix until the directory itself is deleted; others have no such object and
            // answer 404 or refuse, which is as good.
            for dir in dirs.iter().chain([&path]) {
                let _ = store.delete(dir).await;
            }
            Ok(())
        })
    }

    fn size(&self, key: &str) -> Result<u64, BackendError> {
        validate_key(key)?;
        let (store, path) = (self.store.clone(), self.path(key)?);
        self.run("HEAD", key, async move {
            store.head(&path).await.map(|m| m.size)
        })
        .map_err(|e| self.unless_absent(key, e))
    }

    fn read_versioned(&self, key: &str) -> Result<(Bytes, Version), BackendError> {
        validate_key(key)?;
        let (store, path) = (self.store.clone(), self.path(key)?);
        self.run("GET", key, async move {
            let result = store.get_opts(&path, GetOptions::default()).await?;
            let version = version_of(result.meta.e_tag.clone(), result.meta.version.clone());
            Ok((result.bytes().await?, version))
        })
        .map_err(|e| self.unless_absent(key, e))
    }

    fn write_if(
        &self,
        key: &str,
        data: Bytes,
        precondition: &Precondition,
    ) -> Result<Version, BackendError> {
        validate_key(key)?;
        let (store, path) = (self.store.clone(), self.path(key)?);
        let mode = match precondition {
            Precondition::Absent => PutMode::Create,
            Precondition::Matches(version) => PutMode::Update(update_version(version)),
        };
        let written = self.run("PUT", key, async move {
            let options = PutOptions {
                mode,
                ..PutOptions::default()
            };
            store
                .put_opts(&path, PutPayload::from(data), options)
                .await
                .map(|r| version_of(r.e_tag, r.version))
        });
        match written {
            // Replacing an object that was deleted meanwhile: its precondition failed.
            Err(e) if e.is_not_found() => Err(BackendError::precondition_failed(key)),
            other => other,
        }
    }

    fn is_shared(&self) -> bool {
        true
    }
}

/// Settings of an S3 or S3-compatible bucket, as Tempo's `storage.trace.s3` names them.
/// Credentials left empty come from the environment (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, a web identity token, the instance's
/// metadata), as in Tempo.
#[cfg(feature = "s3")]
#[derive(Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct S3Options {
    /// The bucket.
    pub bucket: String,
    /// Object names start with this (`a/b`: `a/b/<tenant>/...`); empty for none.
    pub prefix: String,
    /// The server, `host[:port]` (Tempo's form: the scheme follows `insecure`) or a URL;
    /// empty for AWS itself.
    pub endpoint: String,
    /// The region (empty: `AWS_REGION`, else `us-east-1`).
    pub region: String,
    /// Access key ID (empty: from the environment).
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// Session token of temporary credentials.
    pub session_token: String,
    /// Plain HTTP instead of HTTPS.
    pub insecure: bool,
    /// Address objects as `endpoint/bucket/key`, never `bucket.endpoint/key`. Without it,
    /// the style follows the endpoint as Tempo's client does: virtual-hosted for AWS, path
    /// style for any other server (MinIO and the like).
    pub force_path_style: bool,
    /// Bounds, retries and part sizes.
    pub options: ObjectStoreOptions,
}

#[cfg(feature = "s3")]
impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Options")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &redacted(&self.secret_key))
            .field("session_token", &redacted(&self.session_token))
            .field("insecure", &self.insecure)
            .field("force_path_style", &self.force_path_style)
            .field("options", &self.options)
            .finish()
    }
}

#[cfg(any(feature = "s3", feature = "azure"))]
fn redacted(secret: &str) -> &'static str {
    if secret.is_empty() { "" } else { "<redacted>" }
}

#[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
fn config_error(what: &str, error: object_store::Error) -> BackendError {
    BackendError::Remote {
        operation: "CONFIGURE",
        key: String::new(),
        message: format!("{what}: {}", error_chain(&error)),
    }
}

#[cfg(feature = "s3")]
impl ObjectBackend {
    /// A backend on an S3 bucket or an S3-compatible server (MinIO, SeaweedFS, Ceph...).
    /// Nothing is sent until the first request.
    pub fn s3(s3: &S3Options) -> Result<ObjectBackend, BackendError> {
        use object_store::aws::AmazonS3Builder;
        if s3.bucket.is_empty() {
            return Err(BackendError::Remote {
                operation: "CONFIGURE",
                key: String::new(),
                message: "S3: a bucket is required".to_owned(),
            });
        }
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&s3.bucket)
            .with_retry(s3.options.retry())
            .with_client_options(s3.options.client(s3.insecure))
            .with_allow_http(s3.insecure);
        let endpoint = s3.endpoint.trim();
        let mut aws = true;
        if !endpoint.is_empty() {
            let url = if endpoint.contains("://") {
                endpoint.to_owned()
            } else if s3.insecure {
                format!("http://{endpoint}")
            } else {
                format!("https://{endpoint}")
            };
            aws = url.contains("amazonaws.com");
            builder = builder.with_endpoint(url);
        }
        builder = builder.with_virtual_hosted_style_request(aws && !s3.force_path_style);
        if !s3.region.is_empty() {
            builder = builder.with_region(&s3.region);
        } else if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            builder = builder.with_region("us-east-1");
        }
        if !s3.access_key.is_empty() {
            builder = builder
                .with_access_key_id(&s3.access_key)
                .with_secret_access_key(&s3.secret_key);
            if !s3.session_token.is_empty() {
                builder = builder.with_token(&s3.session_token);
            }
        }
        let store = builder.build().map_err(|e| config_error("S3", e))?;
        let mut backend = ObjectBackend::new(Arc::new(store), &s3.prefix, s3.options.clone())?;
        backend.describe = format!("s3://{}/{}", s3.bucket, backend.prefix);
        Ok(backend)
    }
}

/// Settings of a Google Cloud Storage bucket, as Tempo's `storage.trace.gcs` names them.
/// Credentials come from the environment (`GOOGLE_APPLICATION_CREDENTIALS`,
/// `GOOGLE_SERVICE_ACCOUNT`, the instance's metadata), as in Tempo.
#[cfg(feature = "gcs")]
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct GcsOptions {
    /// The bucket.
    pub bucket_name: String,
    /// Object names start with this; empty for none.
    pub prefix: String,
    /// A service account key file (empty: from the environment).
    pub service_account_path: String,
    /// Bounds, retries and part sizes.
    pub options: ObjectStoreOptions,
}

#[cfg(feature = "gcs")]
impl ObjectBackend {
    /// A backend on a Google Cloud Storage bucket. Nothing is sent until the first request.
    pub fn gcs(gcs: &GcsOptions) -> Result<ObjectBackend, BackendError> {
        use object_store::gcp::GoogleCloudStorageBuilder;
        let mut builder = GoogleCloudStorageBuilder::from_env()
            .with_bucket_name(&gcs.bucket_name)
            .with_retry(gcs.options.retry())
            .with_client_options(gcs.options.client(false));
        if !gcs.service_account_path.is_empty() {
            builder = builder.with_service_account_path(&gcs.service_account_path);
        }
        let store = builder.build().map_err(|e| config_error("GCS", e))?;
        let mut backend = ObjectBackend::new(Arc::new(store), &gcs.prefix, gcs.options.clone())?;
        backend.describe = format!("gs://{}/{}", gcs.bucket_name, backend.prefix);
        Ok(backend)
    }
}

/// Settings of an Azure Blob Storage container, as Tempo's `storage.trace.azure` names
/// them. Credentials left empty come from the environment (`AZURE_STORAGE_ACCOUNT_KEY`,
/// a managed identity...).
#[cfg(feature = "azure")]
#[derive(Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct AzureOptions {
    /// The container.
    pub container_name: String,
    /// The storage account.
    pub storage_account_name: String,
    /// The account's key (empty: from the environment).
    pub storage_account_key: String,
    /// The endpoint's domain (default `blob.core.windows.net`).
    pub endpoint_suffix: String,
    /// Object names start with this; empty for none.
    pub prefix: String,
    /// Bounds, retries and part sizes.
    pub options: ObjectStoreOptions,
}

#[cfg(feature = "azure")]
impl fmt::Debug for AzureOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureOptions")
            .field("container_name", &self.container_name)
            .field("storage_account_name", &self.storage_account_name)
            .field("storage_account_key", &redacted(&self.storage_account_key))
            .field("endpoint_suffix", &self.endpoint_suffix)
            .field("prefix", &self.prefix)
            .field("options", &self.options)
            .finish()
    }
}

#[cfg(feature = "azure")]
impl ObjectBackend {
    /// A backend on an Azure Blob Storage container. Nothing is sent until the first
    /// request.
    pub fn azure(azure: &AzureOptions) -> Result<ObjectBackend, BackendError> {
        use object_store::azure::MicrosoftAzureBuilder;
        let mut builder = MicrosoftAzureBuilder::from_env()
            .with_container_name(&azure.container_name)
            .with_retry(azure.options.retry())
            .with_client_options(azure.options.client(false));
        if !azure.storage_account_name.is_empty() {
            builder = builder.with_account(&azure.storage_account_name);
        }
        if !azure.storage_account_key.is_empty() {
            builder = builder.with_access_key(&azure.storage_account_key);
        }
        let suffix = azure.endpoint_suffix.trim();
        if !suffix.is_empty() && suffix != "blob.core.windows.net" {
            builder =
                builder.with_endpoint(format!("https://{}.{suffix}", azure.storage_account_name));
        }
        let store = builder.build().map_err(|e| config_error("Azure", e))?;
        let mut backend =
            ObjectBackend::new(Arc::new(store), &azure.prefix, azure.options.clone())?;
        backend.describe = format!(
            "azure://{}/{}/{}",
            azure.storage_account_name, azure.container_name, backend.prefix
        );
        Ok(backend)
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use crate::backend::testing::{
        run_conditional_write_race, run_conditional_write_suite, run_conformance_suite,
    };

    fn in_memory(prefix: &str) -> ObjectBackend {
        let store = Arc::new(object_store::memory::InMemory::new());
        ObjectBackend::new(store, prefix, ObjectStoreOptions::default()).unwrap()
    }

    #[test]
    fn conformance_on_an_in_memory_store() {
        for prefix in ["", "a/b"] {
            let backend = in_memory(prefix);
            run_conformance_suite(&backend);
            run_conditional_write_suite(&backend);
            run_conditional_write_race(&backend);
        }
    }

    #[test]
    fn large_objects_go_in_parts_and_read_back_whole() {
        let backend = in_memory("p");
        let data: Bytes = (0..12_000_000u32).map(|i| (i % 251) as u8).collect();
        backend.write("t/b/data", data.clone()).unwrap();
        assert_eq!(backend.read("t/b/data").unwrap(), data);
        assert_eq!(
            backend.read_range("t/b/data", 5_999_990, 20).unwrap(),
            data.slice(5_999_990..6_000_010)
        );
    }

    #[test]
    fn prefixes_are_cleaned_and_checked() {
        assert_eq!(clean_prefix("/a/b/").unwrap(), "a/b");
        assert_eq!(clean_prefix("").unwrap(), "");
        assert!(clean_prefix("a/../b").is_err());
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let backend =
            ObjectBackend::new(store.clone(), "/tempo/", ObjectStoreOptions::default()).unwrap();
        backend.write("t/x", Bytes::from_static(b"1")).unwrap();
        let whole = ObjectBackend::new(store, "", ObjectStoreOptions::default()).unwrap();
        assert_eq!(whole.list("").unwrap(), ["tempo"]);
        assert_eq!(whole.read("tempo/t/x").unwrap(), "1");
        assert_eq!(backend.list("").unwrap(), ["t"]);
    }

    #[test]
    fn versions_round_trip() {
        for v in [
            version_of(Some("\"e\"".into()), None),
            version_of(Some("\"e\"".into()), Some("7".into())),
            version_of(None, Some("7".into())),
        ] {
            let u = update_version(&v);
            assert_eq!(version_of(u.e_tag, u.version), v);
        }
    }
}
