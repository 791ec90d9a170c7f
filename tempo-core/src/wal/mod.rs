//! wal: did my spans survive a crash?
//!
//! The write-ahead log is a directory of append-only segment files. Every acknowledged batch is
//! a record in it; at open, the records are replayed into the head. Record and segment layouts
//! are in `FORMAT.md`.
//!
//! One writer thread owns the open segment. Callers hand it records over a channel and wait for
//! an [`Ack`]; the writer takes every record queued while it was busy, writes them with one
//! `write` and makes them durable with one sync (group commit), then acknowledges them all.

mod ack;
mod segment;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

pub use ack::Ack;
use ack::AckSender;
pub(crate) use ack::ack_pair;
pub(crate) use segment::RecordKind;
pub use segment::ReplayReport;

/// When the write-ahead log makes appended records durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Sync before acknowledging; concurrent appends share one sync. The default.
    #[default]
    Always,
    /// Sync at most once per interval; a crash may lose the last interval of acknowledged data.
    Interval(Duration),
    /// Never sync; the operating system decides. A crash of the machine may lose acknowledged
    /// data, a crash of the process does not.
    Never,
}

/// A failure of the write-ahead log.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// An I/O operation on a WAL file failed.
    #[error("write-ahead log {path}: {message}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The log was closed before the record was durable.
    #[error("write-ahead log is closed")]
    Closed,
    /// Another store (in this or another process) has the log open.
    #[error("write-ahead log {dir} is in use by another store (its LOCK file is locked)")]
    Locked {
        /// The log's directory.
        dir: PathBuf,
    },
    /// A record is larger than a segment may hold.
    #[error("record of {size} bytes is larger than the {limit}-byte record limit")]
    RecordTooLarge {
        /// Size of the record.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

impl WalError {
    fn io(path: &Path, err: std::io::Error) -> WalError {
        WalError::Io {
            path: path.to_owned(),
            message: err.to_string(),
        }
    }
}

/// Counters of the write-ahead log, for metrics.
#[derive(Debug, Default)]
pub(crate) struct WalCounters {
    pub(crate) appends: AtomicU64,
    pub(crate) syncs: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) groups: AtomicU64,
}

/// Settings of the write-ahead log.
#[derive(Debug, Clone)]
pub(crate) struct WalOptions {
    pub(crate) fsync: FsyncPolicy,
    pub(crate) segment_bytes: u64,
}

/// One record handed to the writer.
struct Pending {
    kind: RecordKind,
    tenant: Arc<str>,
    data: Bytes,
    ack: AckSender,
}

/// The write-ahead log: a handle to its writer thread.
pub(crate) struct Wal {
    tx: parking_lot::Mutex<Option<Sender<Pending>>>,
    /// Sequence of the segment the writer appends to.
    current: Arc<AtomicU64>,
    writer: parking_lot::Mutex<Option<JoinHandle<()>>>,
    counters: Arc<WalCounters>,
    dir: PathBuf,
    /// `LOCK` in the directory, locked while this log is open (until `close`): two stores
    /// appending to one log would corrupt it.
    lock: parking_lot::Mutex<Option<fs::File>>,
}

/// A record read back at replay.
pub(crate) struct ReplayedRecord {
    /// Sequence number of the segment holding the record.
    pub(crate) segment: u64,
    pub(crate) kind: RecordKind,
    pub(crate) tenant: String,
    pub(crate) data: Bytes,
}

impl Wal {
    /// Opens the log in `dir`, replays every intact record through `replay`, and starts a new
    /// segment for appends.
    pub(crate) fn open(
        dir: &Path,
        options: WalOptions,
        mut replay: impl FnMut(ReplayedRecord),
    ) -> Result<(Wal, ReplayReport), WalError> {
        fs::create_dir_all(dir).map_err(|e| WalError::io(dir, e))?;
        let lock_path = dir.join("LOCK");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| WalError::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(WalError::Locked {
                    dir: dir.to_owned(),
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(WalError::io(&lock_path, e)),
        }
        let segments = segment::list(dir)?;
        let mut report = ReplayReport::default();
        let last = segments.last().map(|(seq, _)| *seq).unwrap_or(0);
        for (seq, path) in &segments {
            segment::replay(path, *seq, *seq == last, &mut report, &mut replay)?;
        }
        let next_seq = last + 1;
        let counters = Arc::new(WalCounters::default());
        let current = Arc::new(AtomicU64::new(next_seq));
        let (tx, rx) = crossbeam_channel::unbounded();
        let writer = Writer::create(
            dir.to_owned(),
            next_seq,
            options,
            counters.clone(),
            current.clone(),
        )?;
        let handle = std::thread::Builder::new()
            .name("tempo-wal".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| WalError::io(dir, e))?;
        Ok((
            Wal {
                tx: parking_lot::Mutex::new(Some(tx)),
                current,
                writer: parking_lot::Mutex::new(Some(handle)),
                counters,
                dir: dir.to_owned(),
                lock: parking_lot::Mutex::new(Some(lock)),
            },
            report,
        ))
    }

    /// Queues a record; the returned [`Ack`] completes once it is durable per the policy.
    pub(crate) fn append(&self, kind: RecordKind, tenant: Arc<str>, data: Bytes) -> Ack {
        let (ack, sender) = ack_pair();
        let size = data.len() + tenant.len() + segment::RECORD_OVERHEAD;
        if size > segment::MAX_RECORD_BYTES {
            sender.complete(Err(WalError::RecordTooLarge {
                size,
                limit: segment::MAX_RECORD_BYTES,
            }));
            return ack;
        }
        let pending = Pending {
            kind,
            tenant,
            data,
            ack: sender,
        };
        match &*self.tx.lock() {
            Some(tx) => {
                if let Err(err) = tx.send(pending) {
                    err.into_inner().ack.complete(Err(WalError::Closed));
                }
            }
            None => pending.ack.complete(Err(WalError::Closed)),
        }
        ack
    }

    /// Makes everything appended so far durable, whatever the policy.
    pub(crate) fn sync(&self) -> Result<(), WalError> {
        self.append(RecordKind::Sync, Arc::from(""), Bytes::new())
            .wait()
            .map(|_| ())
    }

    /// Closes the current segment and starts a new one; returns the new segment's sequence.
    pub(crate) fn rotate(&self) -> Result<u64, WalError> {
        self.append(RecordKind::Rotate, Arc::from(""), Bytes::new())
            .wait()
    }

    /// The sequence number of the segment appends currently go to.
    pub(crate) fn current_segment(&self) -> u64 {
        self.current.load(Ordering::Acquire)
    }

    /// Deletes every segment whose sequence is below `seq` (and below the current segment):
    /// their records are all in durable blocks.
    pub(crate) fn release_before(&self, seq: u64) -> Result<usize, WalError> {
        let limit = seq.min(self.current_segment());
        let mut removed = 0;
        for (s, path) in segment::list(&self.dir)? {
            if s >= limit {
                break;
            }
            fs::remove_file(&path).map_err(|e| WalError::io(&path, e))?;
            removed += 1;
        }
        if removed > 0 {
            sync_dir(&self.dir).map_err(|e| WalError::io(&self.dir, e))?;
            tracing::debug!(removed, below = limit, "released write-ahead log segments");
        }
        Ok(removed)
    }

    /// Stops the writer after it has written and synced everything queued.
    pub(crate) fn close(&self) {
        drop(self.tx.lock().take());
        if let Some(handle) = self.writer.lock().take()
            && handle.join().is_err()
        {
            tracing::error!(dir = %self.dir.display(), "write-ahead log writer panicked");
        }
        // Nothing more is appended: another store may open the log now.
        drop(self.lock.lock().take());
    }

    pub(crate) fn counters(&self) -> &WalCounters {
        &self.counters
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.close();
    }
}

/// The thread that owns the open segment.
struct Writer {
    dir: PathBuf,
    seq: u64,
    path: PathBuf,
    file: File,
    written: u64,
    options: WalOptions,
    counters: Arc<WalCounters>,
    buf: Vec<u8>,
    last_sync: Instant,
    dirty: bool,
    current: Arc<AtomicU64>,
}

/// The most bytes one group writes at once.
const MAX_GROUP_BYTES: usize = 64 << 20;

impl Writer {
    fn create(
        dir: PathBuf,
        seq: u64,
        options: WalOptions,
        counters: Arc<WalCounters>,
        current: Arc<AtomicU64>,
    ) -> Result<Writer, WalError> {
        let (path, file) = Self::new_segment(&dir, seq)?;
        Ok(Writer {
            dir,
            seq,
            path,
            file,
            written: segment::HEADER_LEN as u64,
            options,
            counters,
            buf: Vec::with_capacity(1 << 20),
            last_sync: Instant::now(),
            dirty: false,
            current,
        })
    }

    fn new_segment(dir: &Path, seq: u64) -> Result<(PathBuf, File), WalError> {
        let path = dir.join(segment::file_name(seq));
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| WalError::io(&path, e))?;
        file.write_all(&segment::header())
            .and_then(|()| file.sync_all())
            .map_err(|e| WalError::io(&path, e))?;
        sync_dir(dir).map_err(|e| WalError::io(dir, e))?;
        Ok((path, file))
    }

    fn run(mut self, rx: Receiver<Pending>) {
        let mut group: Vec<Pending> = Vec::new();
        loop {
            let first = match self.options.fsync {
                FsyncPolicy::Interval(interval) if self.dirty => {
                    let wait = interval.saturating_sub(self.last_sync.elapsed());
                    match rx.recv_timeout(wait) {
                        Ok(p) => p,
                        Err(RecvTimeoutError::Timeout) => {
                            if let Err(err) = self.sync() {
                                tracing::error!(error = %err, "write-ahead log sync failed");
                            }
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                _ => match rx.recv() {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let mut bytes = first.data.len();
            group.push(first);
            while bytes < MAX_GROUP_BYTES {
                match rx.try_recv() {
                    Ok(p) => {
                        bytes += p.data.len();
                        group.push(p);
                    }
                    Err(_) => break,
                }
            }
            let result = self.write_group(&group);
            for pending in group.drain(..) {
                pending.ack.complete(result.clone());
            }
        }
        if let Err(err) = self.sync() {
            tracing::error!(error = %err, "write-ahead log sync at close failed");
        }
    }

    fn write_group(&mut self, group: &[Pending]) -> Result<u64, WalError> {
        self.buf.clear();
        let mut force_sync = false;
        let mut rotate = false;
        let mut records = 0u64;
        for pending in group {
            match pending.kind {
                RecordKind::Sync => {
                    force_sync = true;
                    continue;
                }
                RecordKind::Rotate => {
                    rotate = true;
                    continue;
                }
                RecordKind::Spans => {}
            }
            segment::encode_record(&mut self.buf, pending.kind, &pending.tenant, &pending.data);
            records += 1;
        }
        if !self.buf.is_empty() {
            if self.written + self.buf.len() as u64 > self.options.segment_bytes
                && self.written > segment::HEADER_LEN as u64
            {
                self.rotate()?;
            }
            if let Err(err) = self.file.write_all(&self.buf) {
                let err = WalError::io(&self.path, err);
                // The segment may now end in a partial record: continue in a new one.
                if let Err(rotate_err) = self.rotate() {
                    tracing::error!(error = %rotate_err, "cannot start a new WAL segment");
                }
                return Err(err);
            }
            self.written += self.buf.len() as u64;
            self.dirty = true;
            self.counters.appends.fetch_add(records, Ordering::Relaxed);
            self.counters
                .bytes
                .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
            self.counters.groups.fetch_add(1, Ordering::Relaxed);
        }
        let sync_now = force_sync
            || match self.options.fsync {
                FsyncPolicy::Always => true,
                FsyncPolicy::Interval(interval) => self.last_sync.elapsed() >= interval,
                FsyncPolicy::Never => false,
            };
        if sync_now {
            self.sync()?;
        }
        let seq = self.seq;
        if rotate {
            self.rotate()?;
            return Ok(self.seq);
        }
        Ok(seq)
    }

    fn sync(&mut self) -> Result<(), WalError> {
        if !self.dirty {
            return Ok(());
        }
        self.file
            .sync_data()
            .map_err(|e| WalError::io(&self.path, e))?;
        self.dirty = false;
        self.last_sync = Instant::now();
        self.counters.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), WalError> {
        self.sync()?;
        let (path, file) = Self::new_segment(&self.dir, self.seq + 1)?;
        self.seq += 1;
        self.path = path;
        self.file = file;
        self.written = segment::HEADER_LEN as u64;
        self.current.store(self.seq, Ordering::Release);
        Ok(())
    }
}

/// Syncs a directory so that a file created in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Replays a WAL segment held in memory and returns the number of intact records. For fuzz
/// targets: any input must be handled without a panic.
#[doc(hidden)]
pub fn fuzz_replay_segment(data: &[u8]) -> usize {
    let mut report = ReplayReport::default();
    let mut spans = 0usize;
    let result = segment::replay_bytes(
        "fuzz",
        0,
        Bytes::copy_from_slice(data),
        true,
        &mut report,
        &mut |record| {
            if let Ok(traces) = <crate::model::TracesData as prost::Message>::decode(record.data) {
                spans += traces.resource_spans.len();
            }
        },
    );
    let _ = (result, spans);
    report.records
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests;
