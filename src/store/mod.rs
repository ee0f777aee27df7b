//! Where a controller keeps its rollout documents: the [`Store`] contract
//! (compare-and-swap on a [`Version`]) and the stores that keep it.
//!
//! A controller saves its rollout's document before it performs the actions a call
//! produced, naming the version it read. If another controller saved in between, the
//! save is refused with [`StoreError::Conflict`]: the other controller owns the
//! rollout now, and this one stops without performing anything further. That is the
//! whole of the coordination between controllers; the document's traffic generation
//! fences the load balancer against a controller that has not noticed yet.
//!
//! | store | where | for |
//! |---|---|---|
//! | [`MemoryStore`] | this process | tests and the simulator |
//! | `FileStore` (feature `file-store`, on by default) | a directory on one machine | an embedded controller |
//! | `PostgresStore` (feature `postgres`) | a PostgreSQL server | controllers on several machines |
//!
//! Every store keeps the same contract, proven by one test suite run against all of
//! them (`tests/store_contract.rs`), two racing controllers included.
//!
//! # Examples
//!
//! ```
//! use cutover::store::{MemoryStore, RolloutId, Store, StoreError, Version};
//!
//! let mut store = MemoryStore::new();
//! let mut rival = store.clone(); // a second handle on the same documents
//! let id = RolloutId::new("checkout-web")?;
//!
//! // The first save creates the document: it must not exist yet.
//! let first = store.save(&id, b"{\"at\":1}", None)?;
//! assert_eq!(first, Version::FIRST);
//!
//! // Both controllers read version 1; the first to save wins ...
//! let read = store.load(&id)?.expect("saved above");
//! let second = rival.save(&id, b"{\"at\":2}", Some(read.version))?;
//! // ... and the other is refused: it stops.
//! match store.save(&id, b"{\"at\":3}", Some(read.version)) {
//!     Err(StoreError::Conflict { expected, found, .. }) => {
//!         assert_eq!(expected, Some(first));
//!         assert_eq!(found, Some(second));
//!     }
//!     other => panic!("a stale save must conflict: {other:?}"),
//! }
//! assert_eq!(store.load(&id)?.expect("saved").document, b"{\"at\":2}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::num::NonZeroU64;

#[cfg(feature = "file-store")]
mod file;
mod id;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;

#[cfg(feature = "file-store")]
pub use file::{CorruptDocument, FileStore, FileStoreError};
pub use id::{MAX_ROLLOUT_ID_LEN, RolloutId, RolloutIdError};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresStore, PostgresStoreError};

/// The largest document a store accepts, in bytes: 64 MiB.
///
/// A rollout of 100,000 instances (the most a spec may ask for) serializes to about
/// 21 MB of JSON mid-rollout, so every rollout fits with room to spare. A larger
/// save is refused with [`StoreError::TooLarge`]; a stored document claiming more is
/// reported as corrupt without being read into memory.
pub const MAX_DOCUMENT_LEN: usize = 64 * 1024 * 1024;

/// How many times a document has been saved: 1 after the save that created it, one
/// more after every save since.
///
/// A save names the version it read (see [`Store::save`]); versions of one document
/// strictly increase and are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(NonZeroU64);

impl Version {
    /// The version of a document just created.
    pub const FIRST: Version = Version(NonZeroU64::MIN);

    /// The version numbered `n`; `None` for 0, which no document has.
    #[must_use]
    pub const fn new(n: u64) -> Option<Version> {
        match NonZeroU64::new(n) {
            Some(n) => Some(Version(n)),
            None => None,
        }
    }

    /// The version's number (1 or more).
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0.get()
    }

    /// The version the next save gives; `None` only after `u64::MAX` saves.
    #[must_use]
    pub const fn next(self) -> Option<Version> {
        match self.0.checked_add(1) {
            Some(n) => Some(Version(n)),
            None => None,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// A document as a store holds it: the bytes last saved and their version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stored {
    /// The version of this document: name it in the next save.
    pub version: Version,
    /// The bytes exactly as they were saved.
    pub document: Vec<u8>,
}

impl Stored {
    /// A stored document (for stores written outside this crate).
    #[must_use]
    pub fn new(version: Version, document: Vec<u8>) -> Stored {
        Stored { version, document }
    }
}

/// Why a [`Store`] refused or failed a call, grouped by what the caller does next.
///
/// `E` is the store's own error ([`Store::Error`]), which says what went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError<E> {
    /// The save named a version that is not the stored one: another controller saved
    /// since this one read, or created the document first. Nothing was written. A
    /// driver stops: the rollout is another controller's now.
    #[error("rollout {id}: the save expected {} but the store holds {}", show(*.expected), show(*.found))]
    Conflict {
        /// The rollout.
        id: RolloutId,
        /// The version the save named (`None`: it meant to create the document).
        expected: Option<Version>,
        /// The version the store held when it refused (`None`: no document).
        found: Option<Version>,
    },
    /// The document is longer than [`MAX_DOCUMENT_LEN`]. Nothing was written.
    #[error("rollout {id}: a document of {len} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// The rollout.
        id: RolloutId,
        /// The document's length, in bytes.
        len: usize,
        /// The limit, [`MAX_DOCUMENT_LEN`].
        limit: usize,
    },
    /// A failure that may not happen again: the same call may succeed if repeated
    /// (after a pause). Each store documents which of its errors these are. After a
    /// transient failure of a save, the document may or may not have been written; a
    /// repeated save then reports a [`Conflict`](StoreError::Conflict) if it was.
    #[error("transient store failure (the call may be repeated)")]
    Transient(#[source] E),
    /// A failure that repeating will not mend (a corrupt document, a refused
    /// permission, a missing table): a person must look.
    #[error("store failure")]
    Failed(#[source] E),
}

impl<E> StoreError<E> {
    /// Whether the call may be repeated: a driver retries only these.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Transient(_))
    }

    /// Whether the save lost a compare-and-swap: another controller owns the rollout.
    #[must_use]
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

fn show(version: Option<Version>) -> String {
    version.map_or_else(|| "no document".to_owned(), |v| v.to_string())
}

/// Refuses a document over [`MAX_DOCUMENT_LEN`]: the one rule every store applies
/// before it writes.
fn check_len<E>(id: &RolloutId, document: &[u8]) -> Result<(), StoreError<E>> {
    if document.len() > MAX_DOCUMENT_LEN {
        return Err(StoreError::TooLarge {
            id: id.clone(),
            len: document.len(),
            limit: MAX_DOCUMENT_LEN,
        });
    }
    Ok(())
}

/// Where rollout documents are kept, with compare-and-swap saves.
///
/// # The contract
///
/// * [`load`](Store::load) returns the document last saved under `id` and its
///   version, byte for byte, or `None` if none was ever saved.
/// * [`save`](Store::save) names the version it read. It stores `document` only if
///   that is still the stored version — `None` meaning "no document yet": a create —
///   and returns the new version, one more than the old (1 for a create). Otherwise
///   it writes nothing and returns [`StoreError::Conflict`] naming both versions.
///   Check and write are one atomic step: of any number of saves naming the same
///   version, through any number of handles, processes or machines sharing the
///   store, exactly one succeeds, and no successful save is ever lost.
/// * A save that returned `Ok` is durable: a load after a crash (of the process, or
///   the machine for the file and PostgreSQL stores) returns it or a later one.
/// * A document longer than [`MAX_DOCUMENT_LEN`] is refused with
///   [`StoreError::TooLarge`]; no store reads more than that into memory.
/// * Failures are [`StoreError::Transient`] (repeat the call) or
///   [`StoreError::Failed`] (stop); each store documents which of its errors are
///   which. A failed or interrupted save leaves the stored document whole: the old
///   one or the new one, never a mix, never unreadable.
///
/// A driver saves before it acts and stops on a conflict; it retries only transient
/// failures. Stores are blocking; a store handle is used by one thread at a time
/// (`&mut self`), and several handles may share one store.
pub trait Store {
    /// What went wrong, when the store fails.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The document saved under `id`, and its version; `None` if there is none.
    ///
    /// # Errors
    ///
    /// [`StoreError::Transient`] or [`StoreError::Failed`] as the store documents;
    /// a stored document that is corrupt is `Failed`, never a panic.
    fn load(&mut self, id: &RolloutId) -> Result<Option<Stored>, StoreError<Self::Error>>;

    /// Stores `document` under `id` if the stored version is `expected` (`None`: if
    /// there is no document yet), and returns the new version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] if the stored version is not `expected`;
    /// [`StoreError::TooLarge`] over [`MAX_DOCUMENT_LEN`]; otherwise
    /// [`StoreError::Transient`] or [`StoreError::Failed`] as the store documents.
    fn save(
        &mut self,
        id: &RolloutId,
        document: &[u8],
        expected: Option<Version>,
    ) -> Result<Version, StoreError<Self::Error>>;
}

impl<S: Store + ?Sized> Store for &mut S {
    type Error = S::Error;

    fn load(&mut self, id: &RolloutId) -> Result<Option<Stored>, StoreError<S::Error>> {
        (**self).load(id)
    }

    fn save(
        &mut self,
        id: &RolloutId,
        document: &[u8],
        expected: Option<Version>,
    ) -> Result<Version, StoreError<S::Error>> {
        (**self).save(id, document, expected)
    }
}

impl<S: Store + ?Sized> Store for Box<S> {
    type Error = S::Error;

    fn load(&mut self, id: &RolloutId) -> Result<Option<Stored>, StoreError<S::Error>> {
        (**self).load(id)
    }

    fn save(
        &mut self,
        id: &RolloutId,
        document: &[u8],
        expected: Option<Version>,
    ) -> Result<Version, StoreError<S::Error>> {
        (**self).save(id, document, expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_start_at_one_and_count_up() {
        assert_eq!(Version::new(0), None);
        assert_eq!(Version::new(1), Some(Version::FIRST));
        assert_eq!(Version::FIRST.next().map(Version::get), Some(2));
        assert_eq!(Version::new(u64::MAX).and_then(Version::next), None);
        assert_eq!(Version::FIRST.to_string(), "v1");
    }

    #[test]
    fn a_conflict_names_both_versions() {
        let error = StoreError::<std::io::Error>::Conflict {
            id: RolloutId::new("web").unwrap(),
            expected: None,
            found: Version::new(3),
        };
        assert_eq!(
            error.to_string(),
            "rollout web: the save expected no document but the store holds v3"
        );
        assert!(error.is_conflict() && !error.is_transient());
    }

    #[test]
    fn the_limit_is_inclusive() {
        let id = RolloutId::new("web").unwrap();
        let at_limit = vec![0; MAX_DOCUMENT_LEN];
        assert!(check_len::<std::io::Error>(&id, &at_limit).is_ok());
        let over = vec![0; MAX_DOCUMENT_LEN + 1];
        assert!(matches!(
            check_len::<std::io::Error>(&id, &over),
            Err(StoreError::TooLarge { len, limit: MAX_DOCUMENT_LEN, .. }) if len == MAX_DOCUMENT_LEN + 1
        ));
    }
}
