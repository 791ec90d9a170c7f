//! Two stores appending to one write-ahead log would corrupt it: the second open is refused
//! with a clear error while the first is open, and succeeds once it is closed.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use tempo_core::{OpenError, Store, WalError};

#[test]
fn a_second_store_on_the_same_wal_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::builder().wal_dir(dir.path()).open().unwrap();
    let err = Store::builder().wal_dir(dir.path()).open().unwrap_err();
    assert!(
        matches!(&err, OpenError::Wal(WalError::Locked { dir: d }) if d == dir.path()),
        "{err}"
    );
    assert!(err.to_string().contains("in use by another store"), "{err}");
    first.close().unwrap();
    drop(first);
    let again = Store::builder().wal_dir(dir.path()).open().unwrap();
    again.close().unwrap();
}
