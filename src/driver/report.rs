//! What a driver tells its caller: what one step did ([`Step`], [`Call`]), why a run
//! ended ([`Outcome`]), and what stops it ([`DriverError`]).

use std::sync::Arc;

use super::Command;
use crate::error::{CommandError, RestoreError};
use crate::input::Input;
use crate::output::{Action, Event};
use crate::rollout::{AbortReason, Phase};
use crate::store::{RolloutId, Version};
use crate::time::Timestamp;

/// What one [`Driver::step`](super::Driver::step) did.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Step {
    /// The time of the step (the clock's, when the step began).
    pub now: Timestamp,
    /// What the driver handed the rollout, in order: verbs, the timeout, inputs.
    pub calls: Vec<Call>,
    /// The actions performed, in order.
    pub actions: Vec<Action>,
    /// The events the rollout reported.
    pub events: Vec<Event>,
    /// The version the step saved, if it saved.
    pub saved: Option<Version>,
    /// When the next step has something to do: a timer, a poll, a probe (`now` if an
    /// answer is waiting to be handed over).
    pub next: Timestamp,
}

/// One call a driver made on its rollout.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Call {
    /// An operator's verb, and the rollout's answer.
    Command {
        /// The verb.
        command: Command,
        /// Whether the rollout took it.
        result: Result<(), CommandError>,
    },
    /// [`Rollout::handle_timeout`](crate::Rollout::handle_timeout): a timer was due.
    Timeout,
    /// [`Rollout::handle_input`](crate::Rollout::handle_input).
    Input(Input),
}

/// Why [`Driver::run`](super::Driver::run) (or `serve`) returned.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The rollout is at rest in a phase no input leaves: completed, aborted, or idle
    /// (nothing deployed). Nothing asked of the world is unanswered, no instance is on
    /// its way in or out, and no timer is armed.
    Finished(Phase),
    /// The rollout waits for a person: paused (by an operator, by a step until
    /// promoted, by an analysis that could not decide or failed) or halted. Nothing
    /// asked of the world is unanswered and no instance is on its way in or out.
    NeedsOperator(Phase),
    /// A [`DriverHandle::stop`](super::DriverHandle::stop) asked it to stop.
    Stopped,
}

impl Outcome {
    /// Whether the rollout completed.
    #[must_use]
    pub fn is_completed(&self) -> bool {
        matches!(self, Outcome::Finished(Phase::Completed))
    }

    /// Why the rollout was aborted, if it was.
    #[must_use]
    pub fn aborted(&self) -> Option<&AbortReason> {
        match self {
            Outcome::Finished(Phase::Aborted { reason }) => Some(reason),
            _ => None,
        }
    }
}

/// What stops a driver. Adapter failures never do: they become inputs or requests
/// asked again.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// A save (or the claim a resume makes) named a version that is no longer the
    /// stored one: another controller owns the rollout. The driver performed nothing
    /// after it, and every later step returns this again.
    #[error("rollout {id}: another controller owns it (the save expected {}, the store holds {}); this driver stopped", show(*.expected), show(*.found))]
    Conflict {
        /// The rollout.
        id: RolloutId,
        /// The version this driver read or last saved.
        expected: Option<Version>,
        /// The version the store holds.
        found: Option<Version>,
    },
    /// The store failed for good, or kept failing after the configured attempts. The
    /// actions waiting to be saved are kept: a later step saves before performing
    /// them.
    #[error("rollout {id}: the store failed ({attempts} attempt(s))")]
    Store {
        /// The rollout.
        id: RolloutId,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// [`Driver::resume`](super::Driver::resume) found no document.
    #[error("rollout {id}: no document to resume")]
    NotFound {
        /// The rollout.
        id: RolloutId,
    },
    /// The stored document is not one this version reads (not a driver's document,
    /// a later format, damaged).
    #[error("rollout {id}: the stored document cannot be read")]
    Unreadable {
        /// The rollout.
        id: RolloutId,
        /// Why.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The stored rollout does not restore (its cross-references do not hold).
    #[error("rollout {id}: the stored rollout does not restore")]
    Restore {
        /// The rollout.
        id: RolloutId,
        /// Why.
        #[source]
        source: RestoreError,
    },
    /// The document could not be written (a bug: please report it).
    #[error("rollout {id}: the document could not be written")]
    Encode {
        /// The rollout.
        id: RolloutId,
        /// Why.
        #[source]
        source: Arc<serde_json::Error>,
    },
}

impl DriverError {
    /// Whether another controller owns the rollout.
    #[must_use]
    pub fn is_conflict(&self) -> bool {
        matches!(self, DriverError::Conflict { .. })
    }
}

fn show(version: Option<Version>) -> String {
    version.map_or_else(|| "no document".to_owned(), |v| v.to_string())
}
