//! Stores that misbehave on cue, over a [`MemoryStore`]: transient and lasting
//! failures, and a crash right after a save.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use cutover::store::{MemoryStore, RolloutId, Store, StoreError, Stored, Version};

use super::mock::Crash;

/// A store failure, in words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreFault(pub String);

/// What the next save does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Fails transiently, writing nothing.
    Transient,
    /// Writes, then reports a transient failure (a lost reply).
    TransientAfterWrite,
    /// Fails for good.
    Failed,
}

/// A [`MemoryStore`] whose saves follow a script, and that can crash its process
/// right after a save. Clones share the documents and the script.
#[derive(Clone, Debug, Default)]
pub struct ScriptedStore {
    pub inner: MemoryStore,
    script: Arc<Mutex<Script>>,
}

#[derive(Debug, Default)]
struct Script {
    saves: VecDeque<Fault>,
    /// Panic ("crash") right after this many more successful saves.
    crash_after_saves: Option<usize>,
    saved: usize,
}

impl ScriptedStore {
    /// A store over `inner`.
    pub fn over(inner: MemoryStore) -> ScriptedStore {
        ScriptedStore {
            inner,
            script: Arc::default(),
        }
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next saves fail so.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.script().saves.extend(faults);
    }

    /// Crash right after `n` more successful saves (0: the next one).
    pub fn crash_after_saves(&self, n: usize) {
        self.script().crash_after_saves = Some(n);
    }

    /// Successful saves so far.
    pub fn saves(&self) -> usize {
        self.script().saved
    }
}

impl Store for ScriptedStore {
    type Error = StoreFault;

    fn load(&mut self, id: &RolloutId) -> Result<Option<Stored>, StoreError<StoreFault>> {
        self.inner.load(id).map_err(convert)
    }

    fn save(
        &mut self,
        id: &RolloutId,
        document: &[u8],
        expected: Option<Version>,
    ) -> Result<Version, StoreError<StoreFault>> {
        let fault = self.script().saves.pop_front();
        let fault_error = |why: &str| StoreFault(why.to_owned());
        match fault {
            Some(Fault::Transient) => return Err(StoreError::Transient(fault_error("timeout"))),
            Some(Fault::Failed) => return Err(StoreError::Failed(fault_error("disk full"))),
            _ => {}
        }
        let saved = self.inner.save(id, document, expected).map_err(convert)?;
        let mut script = self.script();
        script.saved += 1;
        if let Some(left) = &mut script.crash_after_saves {
            if *left == 0 {
                script.crash_after_saves = None;
                drop(script);
                std::panic::panic_any(Crash);
            }
            *left -= 1;
        }
        if fault == Some(Fault::TransientAfterWrite) {
            return Err(StoreError::Transient(fault_error("the reply was lost")));
        }
        Ok(saved)
    }
}

/// A memory store's refusal, as this store's (a memory store never fails).
fn convert(error: StoreError<std::convert::Infallible>) -> StoreError<StoreFault> {
    match error {
        StoreError::Conflict {
            id,
            expected,
            found,
        } => StoreError::Conflict {
            id,
            expected,
            found,
        },
        StoreError::TooLarge { id, len, limit } => StoreError::TooLarge { id, len, limit },
        other => panic!("a memory store failed: {other:?}"),
    }
}
