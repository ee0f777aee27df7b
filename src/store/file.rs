//! The embedded store: a directory of documents on one machine.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_64;

use super::{MAX_DOCUMENT_LEN, RolloutId, Store, StoreError, Stored, Version, check_len};

/// The first bytes of every document file: the name and the format's number.
const MAGIC: [u8; 8] = *b"cutover1";
/// Magic, version, length, the document's hash, the header's hash: 8 bytes each.
const HEADER_LEN: usize = 40;

/// A [`Store`] keeping each rollout in one file of a directory, for a controller on
/// one machine.
///
/// # Layout
///
/// For a rollout `id`, the directory holds:
///
/// * `id.rollout`: the document and its version, in one file so that they change
///   together: a 40-byte header (`cutover1`, the version, the document's length, a
///   hash of the document and a hash of the header) and then the document's bytes.
/// * `id.lock`: an empty file whose exclusive lock a save holds (never removed:
///   removing a lock file others may hold open would let two saves run at once).
/// * `id.rollout.tmp`: the next document while a save writes it; a leftover from a
///   crash is ignored by loads and overwritten by the next save.
///
/// # Saving
///
/// A save takes the lock (waiting for another save to finish), reads the stored
/// version from the header, compares it with the one the caller read, writes the new
/// file beside the old one, flushes it to the disk (`fsync`), renames it over the old
/// one (atomic), flushes the directory (so the rename survives a power loss), and
/// lets go of the lock. A crash at any point leaves the old document or the new one
/// in place, whole; a torn or truncated temporary file never replaces a document.
/// Loads take no lock: a rename is atomic, so they read one complete file. A document
/// file that is damaged anyway (a disk fault, a hand edit) is reported as
/// [`FileStoreError::Corrupt`], never returned and never a panic.
///
/// # Limits
///
/// The lock is [`File::lock`]: advisory (it keeps out other file stores, not a
/// program writing the files without it) and released by the operating system when
/// the process holding it dies, so a crash never leaves a rollout locked. It works
/// between threads, handles and processes of **one machine** on a local file system.
/// On NFS, Linux maps it onto the server's byte-range locks, and clients cache file
/// attributes: controllers on two machines sharing a directory may both read a
/// stale version and both win. Past one machine, use the PostgreSQL store (feature
/// `postgres`). Flushing the directory is Unix's; elsewhere a power loss may undo
/// the last saves (never tear a document).
///
/// # Errors
///
/// Its error is a [`FileStoreError`]. Transient ([`StoreError::Transient`]): I/O
/// errors that may pass — interrupted, would block, timed out, resource busy, disk
/// or quota full, out of memory. Everything else is [`StoreError::Failed`]: other
/// I/O errors (a missing or read-only directory, a refused permission, a disk fault)
/// and corrupt documents.
///
/// # Examples
///
/// ```
/// use cutover::store::{FileStore, RolloutId, Store, Version};
///
/// let directory = std::env::temp_dir().join(format!("cutover-doc-{}", std::process::id()));
/// let mut store = FileStore::open(&directory)?;
/// let id = RolloutId::new("web")?;
/// let first = store.save(&id, b"{\"phase\":\"progressing\"}", None)?;
///
/// // Another handle (another process, after a restart) reads what was saved.
/// let mut reopened = FileStore::open(&directory)?;
/// let stored = reopened.load(&id)?.expect("saved above");
/// assert_eq!(stored.version, first);
/// assert_eq!(stored.document, b"{\"phase\":\"progressing\"}");
/// assert_eq!(reopened.save(&id, b"{}", Some(first))?, Version::new(2).unwrap());
/// # std::fs::remove_dir_all(&directory)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct FileStore {
    directory: PathBuf,
}

/// What went wrong in a [`FileStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileStoreError {
    /// The operating system refused or failed an operation on a file.
    #[error("{operation} {}", path.display())]
    Io {
        /// What the store was doing ("reading", "renaming", …).
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// A document file is damaged: it is not returned, and saves over it are refused
    /// unless its header is whole.
    #[error("{}: {why}", path.display())]
    Corrupt {
        /// The document file.
        path: PathBuf,
        /// What is wrong with it.
        why: CorruptDocument,
    },
}

/// How a document file is damaged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptDocument {
    /// The file is shorter than its header.
    #[error("{len} bytes is too short for a header")]
    ShortHeader {
        /// The file's length.
        len: u64,
    },
    /// The file does not start with `cutover1`: it is not a document of this format.
    #[error("not a cutover document file")]
    Magic,
    /// The header does not match its hash.
    #[error("the header is damaged")]
    Header,
    /// The header claims version 0, which no document has.
    #[error("the header claims version 0")]
    VersionZero,
    /// The header claims version `u64::MAX`: no save can follow it.
    #[error("the header claims the last possible version")]
    LastVersion,
    /// The header claims a document over [`MAX_DOCUMENT_LEN`].
    #[error("the header claims a document of {len} bytes, over the limit")]
    TooLong {
        /// The length claimed.
        len: u64,
    },
    /// The file's length is not the header's plus the document's.
    #[error("the header claims a document of {claimed} bytes, but the file holds {held}")]
    Length {
        /// The document's length the header claims.
        claimed: u64,
        /// The bytes the file holds after the header.
        held: u64,
    },
    /// The document does not match its hash.
    #[error("the document is damaged")]
    Document,
}

impl FileStoreError {
    /// Whether the operation may succeed if repeated (see [`FileStore`]).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        use io::ErrorKind::*;
        match self {
            FileStoreError::Io { source, .. } => matches!(
                source.kind(),
                Interrupted
                    | WouldBlock
                    | TimedOut
                    | ResourceBusy
                    | StorageFull
                    | QuotaExceeded
                    | OutOfMemory
            ),
            FileStoreError::Corrupt { .. } => false,
        }
    }

    fn io(operation: &'static str, path: &Path) -> impl FnOnce(io::Error) -> FileStoreError {
        move |source| FileStoreError::Io {
            operation,
            path: path.to_owned(),
            source,
        }
    }
}

impl From<FileStoreError> for StoreError<FileStoreError> {
    fn from(error: FileStoreError) -> StoreError<FileStoreError> {
        if error.is_transient() {
            StoreError::Transient(error)
        } else {
            StoreError::Failed(error)
        }
    }
}

/// What a document file's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    version: Version,
    len: u64,
    document_hash: u64,
}

impl Header {
    fn of(version: Version, document: &[u8]) -> Header {
        Header {
            version,
            len: document.len() as u64,
            document_hash: xxh3_64(document),
        }
    }

    fn encode(self) -> [u8; HEADER_LEN] {
        let mut bytes = [0; HEADER_LEN];
        bytes[..8].copy_from_slice(&MAGIC);
        bytes[8..16].copy_from_slice(&self.version.get().to_le_bytes());
        bytes[16..24].copy_from_slice(&self.len.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.document_hash.to_le_bytes());
        let header_hash = xxh3_64(&bytes[..32]);
        bytes[32..].copy_from_slice(&header_hash.to_le_bytes());
        bytes
    }

    fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Header, CorruptDocument> {
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        if bytes[..8] != MAGIC {
            return Err(CorruptDocument::Magic);
        }
        if word(32) != xxh3_64(&bytes[..32]) {
            return Err(CorruptDocument::Header);
        }
        let version = Version::new(word(8)).ok_or(CorruptDocument::VersionZero)?;
        let len = word(16);
        if len > MAX_DOCUMENT_LEN as u64 {
            return Err(CorruptDocument::TooLong { len });
        }
        Ok(Header {
            version,
            len,
            document_hash: word(24),
        })
    }
}

impl FileStore {
    /// A store keeping its documents in `directory`, which is created if missing.
    ///
    /// # Errors
    ///
    /// [`FileStoreError::Io`] if the directory cannot be created or is not one.
    pub fn open(directory: impl Into<PathBuf>) -> Result<FileStore, FileStoreError> {
        let directory = directory.into();
        fs::create_dir_all(&directory).map_err(FileStoreError::io("creating", &directory))?;
        if !fs::metadata(&directory)
            .map_err(FileStoreError::io("reading", &directory))?
            .is_dir()
        {
            return Err(FileStoreError::Io {
                operation: "opening",
                source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
                path: directory,
            });
        }
        Ok(FileStore { directory })
    }

    /// The directory.
    #[must_use]
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// The file holding `id`'s document (see the layout above), for backups and
    /// inspection.
    #[must_use]
    pub fn document_path(&self, id: &RolloutId) -> PathBuf {
        self.directory.join(format!("{id}.rollout"))
    }

    fn temporary_path(&self, id: &RolloutId) -> PathBuf {
        self.directory.join(format!("{id}.rollout.tmp"))
    }

    fn lock_path(&self, id: &RolloutId) -> PathBuf {
        self.directory.join(format!("{id}.lock"))
    }

    /// The stored document's header, read and checked; `None` if there is no document.
    fn read_header(path: &Path) -> Result<Option<(File, Header)>, FileStoreError> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(FileStoreError::io("opening", path)(error)),
        };
        let corrupt = |why| FileStoreError::Corrupt {
            path: path.to_owned(),
            why,
        };
        let mut bytes = [0; HEADER_LEN];
        let mut read = 0;
        while read < HEADER_LEN {
            match file.read(&mut bytes[read..]) {
                Ok(0) => {
                    let len = read as u64;
                    return Err(corrupt(CorruptDocument::ShortHeader { len }));
                }
                Ok(n) => read += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(FileStoreError::io("reading", path)(error)),
            }
        }
        let header = Header::decode(&bytes).map_err(corrupt)?;
        Ok(Some((file, header)))
    }

    fn read_document(path: &Path) -> Result<Option<Stored>, FileStoreError> {
        let Some((file, header)) = Self::read_header(path)? else {
            return Ok(None);
        };
        let corrupt = |why| FileStoreError::Corrupt {
            path: path.to_owned(),
            why,
        };
        let file_len = file
            .metadata()
            .map_err(FileStoreError::io("reading", path))?
            .len();
        let held = file_len.saturating_sub(HEADER_LEN as u64);
        if held != header.len {
            let claimed = header.len;
            return Err(corrupt(CorruptDocument::Length { claimed, held }));
        }
        // The header bounds the length, so this allocation is bounded; reading one
        // byte past it catches a file that grew since its length was taken.
        let mut document = Vec::with_capacity(header.len as usize);
        file.take(header.len + 1)
            .read_to_end(&mut document)
            .map_err(FileStoreError::io("reading", path))?;
        if document.len() as u64 != header.len {
            let (claimed, held) = (header.len, document.len() as u64);
            return Err(corrupt(CorruptDocument::Length { claimed, held }));
        }
        if xxh3_64(&document) != header.document_hash {
            return Err(corrupt(CorruptDocument::Document));
        }
        Ok(Some(Stored::new(header.version, document)))
    }

    /// Writes `document` at `version` to the temporary file and moves it over the
    /// document, durably. The caller holds the lock.
    fn replace(
        &self,
        id: &RolloutId,
        version: Version,
        document: &[u8],
    ) -> Result<(), FileStoreError> {
        let temporary = self.temporary_path(id);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temporary)
            .map_err(FileStoreError::io("creating", &temporary))?;
        file.write_all(&Header::of(version, document).encode())
            .and_then(|()| file.write_all(document))
            .map_err(FileStoreError::io("writing", &temporary))?;
        file.sync_all()
            .map_err(FileStoreError::io("syncing", &temporary))?;
        drop(file);
        let path = self.document_path(id);
        fs::rename(&temporary, &path).map_err(FileStoreError::io("renaming", &temporary))?;
        sync_directory(&self.directory)
    }
}

/// Flushes a directory's entries, so that a rename in it survives a power loss.
#[cfg(unix)]
fn sync_directory(directory: &Path) -> Result<(), FileStoreError> {
    File::open(directory)
        .and_then(|handle| handle.sync_all())
        .map_err(FileStoreError::io("syncing", directory))
}

/// Elsewhere a directory cannot be opened as a file to be flushed: the rename is as
/// durable as the file system makes it (on Windows, NTFS journals it, but may lose
/// the last renames at a power loss).
#[cfg(not(unix))]
fn sync_directory(_directory: &Path) -> Result<(), FileStoreError> {
    Ok(())
}

impl Store for FileStore {
    type Error = FileStoreError;

    fn load(&mut self, id: &RolloutId) -> Result<Option<Stored>, StoreError<FileStoreError>> {
        Ok(Self::read_document(&self.document_path(id))?)
    }

    fn save(
        &mut self,
        id: &RolloutId,
        document: &[u8],
        expected: Option<Version>,
    ) -> Result<Version, StoreError<FileStoreError>> {
        check_len(id, document)?;
        let lock_path = self.lock_path(id);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(FileStoreError::io("creating", &lock_path))?;
        lock.lock()
            .map_err(FileStoreError::io("locking", &lock_path))?;
        let path = self.document_path(id);
        let found = Self::read_header(&path)?.map(|(_, header)| header.version);
        if found != expected {
            return Err(StoreError::Conflict {
                id: id.clone(),
                expected,
                found,
            });
        }
        let version =
            found
                .map_or(Some(Version::FIRST), Version::next)
                .ok_or(FileStoreError::Corrupt {
                    path,
                    why: CorruptDocument::LastVersion,
                })?;
        self.replace(id, version, document)?;
        // Closing the lock file lets go of the lock; say so rather than rely on it.
        drop(lock);
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_header_names_its_damage() {
        let good = Header::of(Version::FIRST, b"doc").encode();
        assert_eq!(
            Header::decode(&good),
            Ok(Header::of(Version::FIRST, b"doc"))
        );
        let mut other = good;
        other[0] = b'x';
        assert_eq!(Header::decode(&other), Err(CorruptDocument::Magic));
        let mut flipped = good;
        flipped[9] ^= 1;
        assert_eq!(Header::decode(&flipped), Err(CorruptDocument::Header));
    }

    /// A header that is whole but claims what no save writes, as a hand-made file may.
    fn forged(version: u64, len: u64) -> [u8; HEADER_LEN] {
        let mut bytes = [0; HEADER_LEN];
        bytes[..8].copy_from_slice(&MAGIC);
        bytes[8..16].copy_from_slice(&version.to_le_bytes());
        bytes[16..24].copy_from_slice(&len.to_le_bytes());
        let hash = xxh3_64(&bytes[..32]);
        bytes[32..].copy_from_slice(&hash.to_le_bytes());
        bytes
    }

    #[test]
    fn a_forged_header_is_refused_before_anything_is_allocated() {
        assert_eq!(
            Header::decode(&forged(0, 3)),
            Err(CorruptDocument::VersionZero)
        );
        assert_eq!(
            Header::decode(&forged(1, u64::MAX)),
            Err(CorruptDocument::TooLong { len: u64::MAX })
        );
        let at_limit = MAX_DOCUMENT_LEN as u64;
        assert!(Header::decode(&forged(1, at_limit)).is_ok());
    }

    #[test]
    fn the_last_version_cannot_be_saved_over() {
        let directory = tempfile::tempdir().unwrap();
        let mut store = FileStore::open(directory.path()).unwrap();
        let id = RolloutId::new("web").unwrap();
        let mut file = forged(u64::MAX, 0).to_vec();
        // `forged` leaves the document's hash 0: give it the empty document's.
        file[24..32].copy_from_slice(&xxh3_64(b"").to_le_bytes());
        let hash = xxh3_64(&file[..32]);
        file[32..].copy_from_slice(&hash.to_le_bytes());
        fs::write(store.document_path(&id), &file).unwrap();
        let last = Version::new(u64::MAX);
        assert_eq!(store.load(&id).unwrap().map(|s| s.version), last);
        assert!(matches!(
            store.save(&id, b"", last),
            Err(StoreError::Failed(FileStoreError::Corrupt {
                why: CorruptDocument::LastVersion,
                ..
            }))
        ));
    }

    #[test]
    fn only_passing_io_errors_are_transient() {
        let error = |kind| FileStoreError::Io {
            operation: "writing",
            path: PathBuf::from("x"),
            source: io::Error::from(kind),
        };
        assert!(error(io::ErrorKind::StorageFull).is_transient());
        assert!(error(io::ErrorKind::Interrupted).is_transient());
        assert!(!error(io::ErrorKind::PermissionDenied).is_transient());
        assert!(!error(io::ErrorKind::NotFound).is_transient());
        let corrupt = FileStoreError::Corrupt {
            path: PathBuf::from("x"),
            why: CorruptDocument::Document,
        };
        assert!(!corrupt.is_transient());
    }

    #[test]
    fn a_file_where_the_directory_should_be_is_refused() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("plain");
        fs::write(&file, b"").unwrap();
        assert!(matches!(
            FileStore::open(&file),
            Err(FileStoreError::Io { .. })
        ));
    }

    proptest! {
        #[test]
        fn headers_round_trip(version in 1..=u64::MAX, document in proptest::collection::vec(any::<u8>(), 0..64)) {
            let version = Version::new(version).unwrap();
            let header = Header::of(version, &document);
            prop_assert_eq!(Header::decode(&header.encode()), Ok(header));
        }
    }
}
