//! The file store's crash safety: torn writes, damaged files and the lock.
#![cfg(feature = "file-store")]

use std::fs::{self, File};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use cutover::store::{
    CorruptDocument, FileStore, FileStoreError, RolloutId, Store, StoreError, Stored, Version,
};

struct Fixture {
    _directory: tempfile::TempDir,
    store: FileStore,
    id: RolloutId,
}

impl Fixture {
    fn new() -> Fixture {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let store = FileStore::open(directory.path()).expect("opens");
        Fixture {
            _directory: directory,
            store,
            id: RolloutId::new("web").expect("valid"),
        }
    }

    fn document(&self) -> PathBuf {
        self.store.document_path(&self.id)
    }

    /// The temporary file of the documented layout.
    fn temporary(&self) -> PathBuf {
        self.store.directory().join("web.rollout.tmp")
    }

    fn corruption(&mut self) -> CorruptDocument {
        match self.store.load(&self.id) {
            Err(StoreError::Failed(FileStoreError::Corrupt { path, why })) => {
                assert_eq!(path, self.document());
                why
            }
            other => panic!("a damaged document must be reported as corrupt: {other:?}"),
        }
    }
}

/// The bytes a save of `document` at version 2 leaves in a document file.
fn file_bytes_of_a_second_save(document: &[u8]) -> Vec<u8> {
    let mut other = Fixture::new();
    other.store.save(&other.id, b"first", None).expect("saves");
    (other.store.save(&other.id, document, Some(Version::FIRST))).expect("saves");
    fs::read(other.document()).expect("reads")
}

/// A crash while the next document was being written leaves a temporary file cut
/// anywhere: the stored document stays whole and current, and the next save replaces
/// the leftover.
#[test]
fn a_torn_temporary_file_never_replaces_the_document() {
    let next = file_bytes_of_a_second_save(br#"{"phase":"next","pad":"0123456789"}"#);
    for cut in 0..=next.len() {
        let mut fixture = Fixture::new();
        let first = fixture.store.save(&fixture.id, b"current", None).unwrap();
        fs::write(fixture.temporary(), &next[..cut]).unwrap();
        let stored = fixture.store.load(&fixture.id).unwrap();
        assert_eq!(
            stored,
            Some(Stored::new(first, b"current".to_vec())),
            "cut at {cut}"
        );
        let second = fixture
            .store
            .save(&fixture.id, b"after", Some(first))
            .unwrap();
        assert!(!fixture.temporary().exists(), "the leftover was replaced");
        let stored = fixture.store.load(&fixture.id).unwrap();
        assert_eq!(
            stored,
            Some(Stored::new(second, b"after".to_vec())),
            "cut at {cut}"
        );
    }
}

/// A document file cut short anywhere (as a file system that lost the end of a write
/// might leave it) is reported as corrupt, never returned, never a panic; a save
/// refuses to guess its version unless the header is whole.
#[test]
fn a_truncated_document_is_reported_at_every_length() {
    let whole = file_bytes_of_a_second_save(br#"{"phase":"progressing"}"#);
    for cut in 0..whole.len() {
        let mut fixture = Fixture::new();
        fs::write(fixture.document(), &whole[..cut]).unwrap();
        let why = fixture.corruption();
        let expected = if cut < 40 {
            CorruptDocument::ShortHeader { len: cut as u64 }
        } else {
            CorruptDocument::Length {
                claimed: (whole.len() - 40) as u64,
                held: (cut - 40) as u64,
            }
        };
        assert_eq!(why, expected, "cut at {cut}");
        let save = fixture.store.save(&fixture.id, b"x", Version::new(2));
        if cut < 40 {
            assert!(
                matches!(
                    save,
                    Err(StoreError::Failed(FileStoreError::Corrupt { .. }))
                ),
                "cut at {cut}: {save:?}"
            );
        } else {
            // The header names version 2: a save from it replaces the damaged body.
            assert_eq!(save.unwrap(), Version::new(3).unwrap(), "cut at {cut}");
        }
    }
}

/// Any one byte changed anywhere in a document file is caught.
#[test]
fn a_changed_byte_anywhere_is_caught() {
    let whole = file_bytes_of_a_second_save(br#"{"phase":"progressing"}"#);
    let mut fixture = Fixture::new();
    for at in 0..whole.len() {
        let mut damaged = whole.clone();
        damaged[at] ^= 0x20;
        fs::write(fixture.document(), &damaged).unwrap();
        let why = fixture.corruption();
        let expected = match at {
            0..8 => CorruptDocument::Magic,
            8..40 => CorruptDocument::Header,
            _ => CorruptDocument::Document,
        };
        assert_eq!(why, expected, "byte {at}");
    }
}

#[test]
fn a_file_of_another_kind_is_refused() {
    let mut fixture = Fixture::new();
    fs::write(
        fixture.document(),
        br#"{"looks": "like a rollout document", "but": "no header"}"#,
    )
    .unwrap();
    assert_eq!(fixture.corruption(), CorruptDocument::Magic);
    assert!(matches!(
        fixture.store.save(&fixture.id, b"x", None),
        Err(StoreError::Failed(FileStoreError::Corrupt { .. }))
    ));
}

/// A header claiming a document far longer than the file is refused from the
/// header and the file's length, before anything is read into memory.
#[test]
fn a_header_claiming_more_than_the_file_holds_is_refused() {
    let whole = file_bytes_of_a_second_save(b"short");
    let mut fixture = Fixture::new();
    fs::write(fixture.document(), &whole).unwrap();
    // Grown: more bytes than the header claims.
    let mut grown = whole.clone();
    grown.extend_from_slice(b"tail");
    fs::write(fixture.document(), &grown).unwrap();
    assert_eq!(
        fixture.corruption(),
        CorruptDocument::Length {
            claimed: 5,
            held: 9
        }
    );
}

/// A save takes the rollout's lock: while another holds it (another process would),
/// the save waits, and it goes through once the lock is let go.
#[test]
fn a_save_waits_for_the_lock() {
    let fixture = Fixture::new();
    let lock = File::create(fixture.store.directory().join("web.lock")).unwrap();
    lock.lock().unwrap();
    let (done, finished) = mpsc::channel();
    let (mut store, id) = (fixture.store.clone(), fixture.id.clone());
    let saver = thread::spawn(move || {
        let saved = store.save(&id, b"doc", None);
        done.send(()).unwrap();
        saved
    });
    assert!(
        finished.recv_timeout(Duration::from_millis(300)).is_err(),
        "the save went through while the lock was held"
    );
    drop(lock);
    assert_eq!(saver.join().unwrap().unwrap(), Version::FIRST);
}

#[test]
fn a_save_leaves_only_the_document_and_its_lock() {
    let mut fixture = Fixture::new();
    let first = fixture.store.save(&fixture.id, b"one", None).unwrap();
    fixture
        .store
        .save(&fixture.id, b"two", Some(first))
        .unwrap();
    let mut names: Vec<String> = fs::read_dir(fixture.store.directory())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["web.lock", "web.rollout"]);
}
