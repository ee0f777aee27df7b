//! A store in this process's memory, for tests and the simulator.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use super::{RolloutId, Store, StoreError, Stored, Version, check_len};

/// A [`Store`] in this process's memory: for tests, the simulator, and controllers
/// that need no persistence.
///
/// A clone is another handle on the same documents, as a second connection would be:
/// give one to each controller (or thread) that should compete for a rollout. It
/// keeps the whole contract except surviving a crash, and never fails
/// (its error is [`Infallible`]); nothing is ever removed.
///
/// # Examples
///
/// ```
/// use cutover::store::{MemoryStore, RolloutId, Store, Version};
///
/// let mut store = MemoryStore::new();
/// let id = RolloutId::new("web")?;
/// assert_eq!(store.load(&id)?, None);
/// let version = store.save(&id, b"doc", None)?;
/// let stored = store.load(&id)?.expect("saved");
/// assert_eq!((stored.version, &stored.document[..]), (version, &b"doc"[..]));
/// assert_eq!(store.save(&id, b"doc 2", Some(version))?, Version::new(2).unwrap());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    documents: Arc<Mutex<BTreeMap<RolloutId, Stored>>>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn documents(&self) -> std::sync::MutexGuard<'_, BTreeMap<RolloutId, Stored>> {
        // Every change is one insert made after all checks, so a thread that panicked
        // while holding the lock cannot have left a document half-changed.
        self.documents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for MemoryStore {
    type Error = Infallible;

    fn load(&mut self, id: &RolloutId) -> Result<Option<Stored>, StoreError<Infallible>> {
        Ok(self.documents().get(id).cloned())
    }

    fn save(
        &mut self,
        id: &RolloutId,
        document: &[u8],
        expected: Option<Version>,
    ) -> Result<Version, StoreError<Infallible>> {
        check_len(id, document)?;
        let mut documents = self.documents();
        let found = documents.get(id).map(|stored| stored.version);
        if found != expected {
            return Err(StoreError::Conflict {
                id: id.clone(),
                expected,
                found,
            });
        }
        // Versions here come only from this counter, and 2^64 saves would take
        // centuries: the `expect` cannot be reached by any input.
        let version = found
            .map_or(Some(Version::FIRST), Version::next)
            .expect("fewer than 2^64 saves");
        documents.insert(id.clone(), Stored::new(version, document.to_vec()));
        Ok(version)
    }
}
