//! nofile: how many files may this process open, and how many of them may be connections?
//!
//! Every connection is a file descriptor, and so are the write-ahead log's segments, the block
//! files being written or mapped, and the runtime's own. Many systems start a process with a
//! soft `RLIMIT_NOFILE` of 1024 and a far higher hard limit; Go programs such as Tempo raise
//! the soft limit to the hard one as they start, and so does this server ([`raise`]). The
//! connection caps that are not configured share the limit out ([`default_conn_limit`]), so
//! that the store always keeps descriptors, however many clients connect.

use std::fmt;

/// The open-files limit of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenFilesLimit {
    /// The limit in force.
    pub(crate) soft: u64,
    /// The most the soft limit may be raised to.
    pub(crate) hard: u64,
}

impl fmt::Display for OpenFilesLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "soft {}, hard {}", self.soft, self.hard)
    }
}

/// Assumed when the limit cannot be read: the usual soft limit.
const UNKNOWN_LIMIT: u64 = 1024;

/// Descriptors kept for everything but connections: a quarter of the limit, at least this.
const MIN_RESERVED: u64 = 256;

/// The smallest automatic cap, even under a tiny limit.
const MIN_DEFAULT_CONN_LIMIT: u64 = 32;

/// The largest automatic cap: past it, memory (tens of kilobytes per connection) matters more
/// than descriptors. A configured cap may be higher.
const MAX_DEFAULT_CONN_LIMIT: u64 = 16_384;

/// Raises the soft open-files limit to the hard limit and logs both, before and after.
/// Returns the limit in force; if it cannot be read, logs a warning and assumes 1024.
pub(crate) fn raise() -> OpenFilesLimit {
    match raise_inner() {
        Ok((before, after)) => {
            tracing::info!(
                soft = after.soft,
                hard = after.hard,
                soft_at_start = before.soft,
                "open files limit{}",
                if after.soft > before.soft {
                    ": soft limit raised to the hard limit"
                } else {
                    ""
                }
            );
            after
        }
        Err(err) => {
            tracing::warn!(error = %err, assumed = UNKNOWN_LIMIT, "cannot read or raise the open files limit");
            OpenFilesLimit {
                soft: UNKNOWN_LIMIT,
                hard: UNKNOWN_LIMIT,
            }
        }
    }
}

#[cfg(unix)]
fn raise_inner() -> std::io::Result<(OpenFilesLimit, OpenFilesLimit)> {
    let read = || -> std::io::Result<OpenFilesLimit> {
        let (soft, hard) = rlimit::Resource::NOFILE.get()?;
        Ok(OpenFilesLimit { soft, hard })
    };
    let before = read()?;
    if before.soft < before.hard
        && let Err(err) = rlimit::increase_nofile_limit(before.hard)
    {
        tracing::warn!(error = %err, limit = %before, "cannot raise the open files limit");
    }
    Ok((before, read()?))
}

#[cfg(not(unix))]
fn raise_inner() -> std::io::Result<(OpenFilesLimit, OpenFilesLimit)> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "no RLIMIT_NOFILE on this platform",
    ))
}

/// Descriptors that connections never take: a quarter of `limit`, at least 256.
pub(crate) fn reserved(limit: u64) -> u64 {
    (limit / 4).max(MIN_RESERVED)
}

/// The cap of a listener whose cap is not configured: an equal share, among `listeners`, of
/// what [`reserved`] leaves of `limit`, between 32 and 16384. Under the common limit of 1024
/// with three listeners, 256 each.
pub(crate) fn default_conn_limit(limit: u64, listeners: usize) -> usize {
    let listeners = u64::try_from(listeners.max(1)).unwrap_or(u64::MAX);
    let share = limit.saturating_sub(reserved(limit)) / listeners;
    let share = share.clamp(MIN_DEFAULT_CONN_LIMIT, MAX_DEFAULT_CONN_LIMIT);
    usize::try_from(share).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_leave_the_store_its_descriptors() {
        assert_eq!(default_conn_limit(1024, 3), 256);
        assert_eq!(default_conn_limit(1024, 1), 768);
        assert_eq!(default_conn_limit(4096, 3), 1024);
        assert_eq!(default_conn_limit(256, 3), 32);
        assert_eq!(default_conn_limit(0, 3), 32);
        assert_eq!(default_conn_limit(1 << 20, 3), 16_384);
        assert_eq!(default_conn_limit(u64::MAX, 0), 16_384);
        for limit in [1024u64, 2048, 65_536] {
            let total = default_conn_limit(limit, 3) as u64 * 3;
            assert!(total + reserved(limit) <= limit, "{limit}");
        }
    }

    #[test]
    fn raise_reports_a_soft_limit_no_higher_than_the_hard_one() {
        let limit = raise();
        assert!(limit.soft <= limit.hard, "{limit}");
        assert!(limit.soft > 0);
    }
}
