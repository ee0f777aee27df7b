//! What a driver saves: the rollout's document, the actions it is about to perform,
//! and the requests it is waiting on, in one JSON document.
//!
//! ```json
//! {"driver": 1, "rollout": {"format": 3, "rollout": {…}}, "perform": [action, …],
//!  "requests": {"traffic": …, "drains": {…}, "terminations": {…}, "hooks": {…}}}
//! ```
//!
//! `perform` holds the actions polled from the rollout and not yet known to be
//! performed: a driver that resumes performs them (again). `requests` holds what was
//! asked of the world and is observed until done, so that a resumed driver keeps
//! observing it.

use std::collections::{BTreeMap, VecDeque};

use crate::error::RestoreError;
use crate::model::InstanceId;
use crate::output::{Action, ActionId};
use crate::rollout::{Rollout, RolloutDocument};
use crate::time::Duration;
use crate::traffic::TableDiff;

/// The format of the driver's document this version writes and reads.
pub(super) const DRIVER_FORMAT: u32 = 1;

/// Requests made of the world whose completion the driver observes.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct Requests {
    /// The newest table asked for and not yet seen applied: its diff from a table
    /// asked for before, and whether the load balancer accepted the request.
    pub traffic: Option<Asked<TableDiff>>,
    /// Drains asked for, by action.
    pub drains: BTreeMap<ActionId, Asked<Drain>>,
    /// Terminations asked for, by action.
    pub terminations: BTreeMap<ActionId, Asked<InstanceId>>,
    /// Hooks started, by action: the hook's name.
    pub hooks: BTreeMap<ActionId, String>,
}

impl Requests {
    /// Whether nothing is being waited on.
    pub(super) fn is_empty(&self) -> bool {
        self.traffic.is_none()
            && self.drains.is_empty()
            && self.terminations.is_empty()
            && self.hooks.is_empty()
    }
}

/// A request and whether the world accepted it (if not, it is asked again).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Asked<T> {
    pub what: T,
    pub accepted: bool,
}

/// A drain asked for.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Drain {
    pub instance: InstanceId,
    pub timeout: Duration,
}

#[derive(serde::Serialize)]
struct Out<'a> {
    driver: u32,
    rollout: &'a Rollout,
    perform: &'a VecDeque<Action>,
    requests: &'a Requests,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct In {
    /// Checked before the rest is read.
    #[serde(rename = "driver")]
    _format: u32,
    rollout: RolloutDocument,
    #[serde(default)]
    perform: VecDeque<Action>,
    #[serde(default)]
    requests: Requests,
}

/// Why a stored document is not a driver's document this version reads.
#[derive(Debug, thiserror::Error)]
pub(super) enum Unreadable {
    // Bounded as `RolloutDocument::from_json` bounds it: serde quotes an unknown key whole.
    #[error("not a driver's document: {}", crate::error::excerpt_of(&.0.to_string(), 512))]
    Json(#[from] serde_json::Error),
    #[error("driver document format {found}; this version reads {DRIVER_FORMAT}")]
    Format { found: u32 },
    #[error(transparent)]
    Restore(#[from] RestoreError),
}

/// Writes the document into `buffer` (emptied first).
pub(super) fn encode(
    buffer: &mut Vec<u8>,
    rollout: &Rollout,
    perform: &VecDeque<Action>,
    requests: &Requests,
) -> Result<(), serde_json::Error> {
    buffer.clear();
    serde_json::to_writer(
        &mut *buffer,
        &Out {
            driver: DRIVER_FORMAT,
            rollout,
            perform,
            requests,
        },
    )
}

/// Reads a document: the rollout restored, the actions to perform, the requests.
pub(super) fn decode(bytes: &[u8]) -> Result<(Rollout, VecDeque<Action>, Requests), Unreadable> {
    // The format first, so that a document of a later format is refused by name
    // rather than for a field this version does not know.
    #[derive(serde::Deserialize)]
    struct Format {
        driver: u32,
    }
    let format: Format = serde_json::from_slice(bytes)?;
    if format.driver != DRIVER_FORMAT {
        return Err(Unreadable::Format {
            found: format.driver,
        });
    }
    let document: In = serde_json::from_slice(bytes)?;
    let rollout = Rollout::try_from(document.rollout)?;
    Ok((rollout, document.perform, document.requests))
}
