use std::fs;
use std::sync::Arc;

use bytes::Bytes;

use super::*;

fn options() -> WalOptions {
    WalOptions {
        fsync: FsyncPolicy::Always,
        segment_bytes: 1 << 20,
    }
}

fn open(dir: &Path) -> (Wal, ReplayReport, Vec<(String, Vec<u8>)>) {
    let mut records = Vec::new();
    let (wal, report) = Wal::open(dir, options(), |r| {
        records.push((r.tenant, r.data.to_vec()));
    })
    .unwrap();
    (wal, report, records)
}

fn append(wal: &Wal, tenant: &str, data: &[u8]) {
    wal.append(
        RecordKind::Spans,
        Arc::from(tenant),
        Bytes::copy_from_slice(data),
    )
    .wait()
    .unwrap();
}

fn only_segment(dir: &Path) -> PathBuf {
    let segments = segment::list(dir).unwrap();
    segments
        .into_iter()
        .rev()
        .find(|(_, p)| fs::metadata(p).unwrap().len() > segment::HEADER_LEN as u64)
        .unwrap()
        .1
}

#[test]
fn records_survive_reopen_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, records) = open(dir.path());
    assert!(records.is_empty());
    for i in 0..100u32 {
        append(&wal, if i % 2 == 0 { "a" } else { "b" }, &i.to_le_bytes());
    }
    wal.close();
    let (_wal, report, records) = open(dir.path());
    assert_eq!(report.records, 100);
    assert_eq!(report.corrupt_regions, 0);
    for (i, (tenant, data)) in records.iter().enumerate() {
        assert_eq!(tenant, if i % 2 == 0 { "a" } else { "b" });
        assert_eq!(data, &(i as u32).to_le_bytes());
    }
}

#[test]
fn torn_tail_is_truncated_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path());
    append(&wal, "t", b"first record");
    append(&wal, "t", b"second record, torn by a crash");
    wal.close();
    let path = only_segment(dir.path());
    let len = fs::metadata(&path).unwrap().len();
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len - 7).unwrap();
    drop(file);

    let (wal, report, records) = open(dir.path());
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].1, b"first record");
    assert!(report.truncated_bytes > 0);
    assert_eq!(report.corrupt_regions, 0);
    append(&wal, "t", b"third");
    wal.close();
    let (_wal, report, records) = open(dir.path());
    assert_eq!(
        report.truncated_bytes, 0,
        "the tail was truncated at the first open"
    );
    let data: Vec<_> = records.iter().map(|r| r.1.clone()).collect();
    assert_eq!(data, vec![b"first record".to_vec(), b"third".to_vec()]);
}

#[test]
fn corrupt_record_inside_a_segment_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path());
    append(&wal, "t", b"one");
    append(&wal, "t", b"two-two-two");
    append(&wal, "t", b"three");
    wal.close();
    let path = only_segment(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    let pos = bytes.windows(11).position(|w| w == b"two-two-two").unwrap();
    bytes[pos + 3] ^= 0xff;
    fs::write(&path, &bytes).unwrap();

    let (_wal, report, records) = open(dir.path());
    let data: Vec<_> = records.iter().map(|r| r.1.clone()).collect();
    assert_eq!(data, vec![b"one".to_vec(), b"three".to_vec()]);
    assert_eq!(report.corrupt_regions, 1);
    assert!(report.corrupt_bytes > 0);
}

#[test]
fn corrupt_length_field_resyncs_on_the_next_record() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path());
    append(&wal, "t", b"alpha");
    append(&wal, "t", b"beta");
    append(&wal, "t", b"gamma");
    wal.close();
    let path = only_segment(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    // The second record's length field: header, then the first record (12 + 3 + 1 + 5).
    let second = segment::HEADER_LEN + 12 + 3 + 1 + 5;
    bytes[second + 4..second + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    fs::write(&path, &bytes).unwrap();

    let (_wal, report, records) = open(dir.path());
    let data: Vec<_> = records.iter().map(|r| r.1.clone()).collect();
    assert_eq!(data, vec![b"alpha".to_vec(), b"gamma".to_vec()]);
    assert_eq!(report.corrupt_regions, 1);
}

#[test]
fn garbage_file_and_empty_segment_do_not_stop_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path());
    append(&wal, "t", b"kept");
    wal.close();
    fs::write(
        dir.path().join(segment::file_name(0)),
        b"not a wal segment at all",
    )
    .unwrap();
    let (_wal, report, records) = open(dir.path());
    assert_eq!(records.len(), 1);
    assert_eq!(report.corrupt_regions, 1);
}

#[test]
fn segments_rotate_and_replay_across_them() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(
        dir.path(),
        WalOptions {
            fsync: FsyncPolicy::Never,
            segment_bytes: 4096,
        },
        |_| {},
    )
    .unwrap();
    let payload = vec![7u8; 1000];
    for _ in 0..20 {
        append(&wal, "t", &payload);
    }
    wal.close();
    assert!(segment::list(dir.path()).unwrap().len() >= 5);
    let (_wal, report, records) = open(dir.path());
    assert_eq!(records.len(), 20);
    assert_eq!(report.corrupt_regions, 0);
}

#[test]
fn concurrent_appends_share_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path());
    let wal = Arc::new(wal);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                for i in 0..50u32 {
                    append(&wal, "t", &(t * 1000 + i).to_le_bytes());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let appends = wal.counters().appends.load(Ordering::Relaxed);
    let syncs = wal.counters().syncs.load(Ordering::Relaxed);
    assert_eq!(appends, 400);
    assert!(syncs <= appends, "{syncs} syncs for {appends} appends");
    wal.close();
    let (_wal, _, records) = open(dir.path());
    assert_eq!(records.len(), 400);
}

#[test]
fn appends_after_close_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path());
    wal.close();
    let result = wal
        .append(RecordKind::Spans, Arc::from("t"), Bytes::from_static(b"x"))
        .wait();
    assert!(matches!(result, Err(WalError::Closed)));
}
