//! bucket: what are the other servers on this bucket doing?
//!
//! On a shared backend ([`Backend::is_shared`]: a bucket several servers write), each
//! server writes its own blocks and reads everyone's. Nothing coordinates them but the
//! bucket itself:
//!
//! - **Block list.** Every `blocklist_poll` a server lists each tenant's blocks, reads the
//!   ones it does not know, and forgets those that are gone or compacted away. Its own new
//!   blocks it reads at once. What compaction replaced is recorded in the tenant's
//!   `blocklist.json` (block ID and when), so that every server stops reading replaced blocks
//!   at its next poll, long before they are deleted.
//! - **Lease.** Compaction and retention of a tenant run on one server at a time: the one
//!   holding `<tenant>/compaction.lease`, taken with a conditional write (create if absent, or
//!   replace the version read once it has expired) and renewed the same way. A server that
//!   dies stops renewing; another takes over once the lease expires. After each take-over or
//!   renewal the holder reads the lease back, so that a server whose conditional writes are
//!   not atomic (some test servers) still has one holder.
//! - **Deletion.** The holder deletes replaced blocks once `compacted_block_retention` has
//!   passed since they were replaced (queries elsewhere that still read them finish), and
//!   blocks without `meta.json` older than `orphan_age` (the debris of an upload cut short by
//!   a crash; a younger one may be an upload in progress).
//!
//! A thread polls, and checks a failing backend every few seconds so that health (and
//! `/ready`) comes back once it answers.

use std::collections::{BTreeMap, HashSet};
use std::sync::Weak;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, BackendError, Precondition, Version};
use crate::block::inspect::{BlockState, block_state};
use crate::block::{block_key, is_block_id};
use crate::state::Shared;
use crate::tenant::validate_tenant;

/// The name of a tenant's lease object.
const LEASE: &str = "compaction.lease";
/// The name of a tenant's record of replaced blocks.
const BLOCKLIST: &str = "blocklist.json";
/// How often a failing backend is tried again.
const PROBE_EVERY: Duration = Duration::from_secs(5);

/// A tenant's lease object.
#[derive(Debug, Serialize, Deserialize)]
struct LeaseFile {
    holder: String,
    expires_unix_ms: u64,
}

/// A tenant's record of the blocks compaction replaced: block ID → when, unix milliseconds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct BlockList {
    #[serde(default)]
    compacted_unix_ms: BTreeMap<String, u64>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The poll thread: the block list every `period`, and a failing backend every few seconds.
pub(crate) fn run(shared: Weak<Shared>, stop: Receiver<()>, period: Duration) {
    let mut last_poll = Instant::now();
    let tick = period.min(PROBE_EVERY);
    loop {
        match stop.recv_timeout(tick) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let Some(backend) = shared.catalog.backend().cloned() else {
            return;
        };
        if backend.is_shared() && last_poll.elapsed() >= period {
            poll(&shared);
            for (tenant, _) in shared.catalog.all() {
                if holds(&shared, &tenant) {
                    delete_replaced(&shared, backend.as_ref(), &tenant, false);
                }
            }
            last_poll = Instant::now();
        } else if shared.meter.as_ref().is_some_and(|m| !m.stats().healthy) {
            // Any answer, even "nothing here", says the backend is back.
            let _ = backend.list("");
        }
    }
}

/// Reads every tenant's block list from the bucket.
pub(crate) fn poll(shared: &Shared) {
    let Some(backend) = shared.catalog.backend().cloned() else {
        return;
    };
    let tenants = match backend.list("") {
        Ok(tenants) => tenants,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the tenants of the bucket; tried again at the next poll");
            return;
        }
    };
    for tenant in tenants {
        if validate_tenant(&tenant).is_ok() {
            poll_tenant(shared, &backend, &tenant);
        }
    }
}

/// Reads a tenant's block list: blocks unknown are read, blocks gone or replaced are
/// forgotten. The lease holder also removes old debris of interrupted uploads.
pub(crate) fn poll_tenant(shared: &Shared, backend: &std::sync::Arc<dyn Backend>, tenant: &str) {
    let Some(bucket) = &shared.bucket else {
        return;
    };
    let _one = bucket.polling.lock();
    // The record of replaced blocks first, the listing after: a block recorded as replaced
    // was replaced by one written before the record, which the listing then holds.
    let replaced = match read_blocklist(backend.as_ref(), tenant) {
        Ok((list, _)) => list.compacted_unix_ms,
        Err(e) => {
            tracing::warn!(tenant, error = %e, "cannot read the tenant's block list; tried again at the next poll");
            return;
        }
    };
    let ids: HashSet<String> = match backend.list(tenant) {
        Ok(names) => names.into_iter().filter(|n| is_block_id(n)).collect(),
        Err(e) => {
            tracing::warn!(tenant, error = %e, "cannot list the tenant's blocks; tried again at the next poll");
            return;
        }
    };
    let known = shared.catalog.known_ids(tenant);
    let mut added = 0;
    let holder = holds(shared, tenant);
    for id in &ids {
        if known.contains(id) || replaced.contains_key(id) {
            continue;
        }
        let key = block_key(tenant, id);
        match block_state(backend.as_ref(), tenant, id) {
            Ok(BlockState::Incomplete) => {
                let first_seen = *bucket
                    .incomplete
                    .lock()
                    .entry(key.clone())
                    .or_insert_with(Instant::now);
                if holder && first_seen.elapsed() >= shared.config.orphan_age {
                    match backend.delete_prefix(&key) {
                        Ok(()) => {
                            bucket.incomplete.lock().remove(&key);
                            tracing::info!(tenant, block = %id, "removed a block left without meta.json by an interrupted upload");
                        }
                        Err(e) => {
                            tracing::warn!(tenant, block = %id, error = %e, "cannot remove an interrupted upload; tried again later")
                        }
                    }
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(tenant, block = %id, error = %e, "cannot list a block's files; tried again at the next poll");
                continue;
            }
        }
        bucket.incomplete.lock().remove(&key);
        if shared.catalog.load_block(backend, tenant, id) {
            added += 1;
        }
    }
    // Only now, with the blocks that replaced them readable: a lookup meanwhile sees a
    // trace twice (and combines it), never not at all.
    let forgotten = shared
        .catalog
        .forget_where(tenant, |id| !ids.contains(id) || replaced.contains_key(id));
    if added > 0 || forgotten > 0 {
        tracing::info!(tenant, added, forgotten, "block list read from the bucket");
    }
}

fn read_blocklist(
    backend: &dyn Backend,
    tenant: &str,
) -> Result<(BlockList, Option<Version>), BackendError> {
    match backend.read_versioned(&format!("{tenant}/{BLOCKLIST}")) {
        Ok((bytes, version)) => {
            let list = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(tenant, error = %e, "the tenant's block list does not parse; rewritten");
                BlockList::default()
            });
            Ok((list, Some(version)))
        }
        Err(e) if e.is_not_found() => Ok((BlockList::default(), None)),
        Err(e) => Err(e),
    }
}

/// Updates the tenant's record of replaced blocks with `update`, by a conditional write
/// (tried again if another writer came in between).
fn update_blocklist(
    backend: &dyn Backend,
    tenant: &str,
    update: impl Fn(&mut BlockList),
) -> Result<(), BackendError> {
    let key = format!("{tenant}/{BLOCKLIST}");
    for _ in 0..5 {
        let (mut list, version) = read_blocklist(backend, tenant)?;
        update(&mut list);
        let body = Bytes::from(serde_json::to_vec(&list).unwrap_or_default());
        let condition = version.map_or(Precondition::Absent, Precondition::Matches);
        match backend.write_if(&key, body, &condition) {
            Ok(_) => return Ok(()),
            Err(e) if e.is_precondition_failed() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(BackendError::precondition_failed(&key))
}

/// Records that compaction replaced `blocks` of the tenant now.
pub(crate) fn record_compacted(
    backend: &dyn Backend,
    tenant: &str,
    blocks: &[String],
) -> Result<(), BackendError> {
    let now = now_ms();
    update_blocklist(backend, tenant, |list| {
        for id in blocks {
            list.compacted_unix_ms.entry(id.clone()).or_insert(now);
        }
    })
}

/// How long a replaced block is kept: `compacted_block_retention`, and never less than two
/// polls of the block list, so that every server has read the block that replaced it (and
/// stopped reading it) before it goes.
fn replaced_grace(shared: &Shared) -> Duration {
    shared
        .config
        .compacted_block_retention
        .max(shared.config.blocklist_poll * 2)
}

/// Deletes the tenant's replaced blocks whose grace period is over (all of them with
/// `all`), and forgets them in the record.
pub(crate) fn delete_replaced(shared: &Shared, backend: &dyn Backend, tenant: &str, all: bool) {
    let grace = u64::try_from(replaced_grace(shared).as_millis()).unwrap_or(u64::MAX);
    let now = now_ms();
    let list = match read_blocklist(backend, tenant) {
        Ok((list, _)) => list,
        Err(e) => {
            tracing::warn!(tenant, error = %e, "cannot read the tenant's block list");
            return;
        }
    };
    let mut deleted = Vec::new();
    for (id, at) in &list.compacted_unix_ms {
        if !all && at.saturating_add(grace) > now {
            continue;
        }
        match backend.delete_prefix(&block_key(tenant, id)) {
            Ok(()) => deleted.push(id.clone()),
            Err(e) => {
                tracing::warn!(tenant, block = %id, error = %e, "deleting a compacted block failed; tried again later")
            }
        }
    }
    if deleted.is_empty() {
        return;
    }
    let result = update_blocklist(backend, tenant, |list| {
        for id in &deleted {
            list.compacted_unix_ms.remove(id);
        }
    });
    match result {
        Ok(()) => {
            tracing::info!(
                tenant,
                blocks = deleted.len(),
                "compacted blocks deleted after their grace period"
            )
        }
        Err(e) => tracing::warn!(tenant, error = %e, "cannot update the tenant's block list"),
    }
}

/// Whether this server holds the tenant's lease now (without asking the bucket).
pub(crate) fn holds(shared: &Shared, tenant: &str) -> bool {
    let Some(bucket) = &shared.bucket else {
        return true;
    };
    bucket
        .held
        .lock()
        .get(tenant)
        .is_some_and(|(_, expires)| *expires > now_ms())
}

/// Takes or renews the tenant's lease; says whether this server holds it. On a backend
/// that is not shared there is nothing to share: always `true`.
pub(crate) fn acquire(shared: &Shared, backend: &dyn Backend, tenant: &str) -> bool {
    let Some(bucket) = &shared.bucket else {
        return true;
    };
    let lease_ms = u64::try_from(shared.config.compaction_lease.as_millis()).unwrap_or(u64::MAX);
    let now = now_ms();
    if let Some((_, expires)) = bucket.held.lock().get(tenant)
        && expires.saturating_sub(now) > lease_ms / 2
    {
        return true;
    }
    let key = format!("{tenant}/{LEASE}");
    let condition = match backend.read_versioned(&key) {
        Err(e) if e.is_not_found() => Precondition::Absent,
        Err(e) => {
            tracing::warn!(tenant, error = %e, "cannot read the compaction lease");
            bucket.held.lock().remove(tenant);
            return false;
        }
        Ok((bytes, version)) => match serde_json::from_slice::<LeaseFile>(&bytes) {
            Ok(lease) if lease.holder != bucket.server_id && lease.expires_unix_ms > now => {
                bucket.held.lock().remove(tenant);
                return false;
            }
            // Ours, expired, or unreadable: replace that version.
            _ => Precondition::Matches(version),
        },
    };
    let expires = now.saturating_add(lease_ms);
    let body = serde_json::to_vec(&LeaseFile {
        holder: bucket.server_id.clone(),
        expires_unix_ms: expires,
    })
    .unwrap_or_default();
    let taken = matches!(condition, Precondition::Absent);
    match backend.write_if(&key, Bytes::from(body), &condition) {
        Ok(version) => {
            // Read it back: a server whose conditional writes are not atomic may have let
            // another writer in too; the last write is the holder.
            std::thread::sleep(Duration::from_millis(50));
            let confirmed = backend.read(&key).ok().and_then(|b| {
                serde_json::from_slice::<LeaseFile>(&b)
                    .ok()
                    .filter(|l| l.holder == bucket.server_id)
            });
            if confirmed.is_none() {
                bucket.held.lock().remove(tenant);
                return false;
            }
            let was_held = bucket
                .held
                .lock()
                .insert(tenant.to_owned(), (version, expires));
            if was_held.is_none() {
                tracing::info!(
                    tenant,
                    server = %bucket.server_id,
                    created = taken,
                    "compaction lease taken: this server compacts and expires the tenant's blocks"
                );
            }
            true
        }
        Err(e) => {
            if !e.is_precondition_failed() {
                tracing::warn!(tenant, error = %e, "cannot write the compaction lease");
            }
            bucket.held.lock().remove(tenant);
            false
        }
    }
}

/// Gives up the leases this server holds, so that another server takes over at once (at
/// shutdown).
pub(crate) fn release_all(shared: &Shared) {
    let (Some(bucket), Some(backend)) = (&shared.bucket, shared.catalog.backend()) else {
        return;
    };
    let held: Vec<(String, (Version, u64))> = bucket.held.lock().drain().collect();
    for (tenant, (version, _)) in held {
        let body = serde_json::to_vec(&LeaseFile {
            holder: String::new(),
            expires_unix_ms: 0,
        })
        .unwrap_or_default();
        let key = format!("{tenant}/{LEASE}");
        if let Err(e) = backend.write_if(&key, Bytes::from(body), &Precondition::Matches(version)) {
            tracing::debug!(tenant, error = %e, "compaction lease not released; it expires");
        }
    }
}
