//! Formats 2 and 3, and their migration to format 4.
//!
//! Formats 2 and 3 kept the rollout's phase and its phase-specific data (target, step,
//! analysis, backoff, the abort's time and kind) as flat fields beside each other, so a
//! document could say things no engine could have written (an in-flight phase with no
//! target). Format 4 keeps them in the stage they belong to; the migration refuses the
//! combinations that do not fit.

use std::collections::{BTreeMap, VecDeque};

use crate::error::RestoreError;
use crate::fleet::Fleet;
use crate::model::{InstanceId, Revision};
use crate::output::{Action, ActionId, Event};
use crate::rollout::analysis::HostedAnalysis;
use crate::rollout::core::{Pending, Retire, Starting};
use crate::rollout::persist::body::Body;
use crate::rollout::phase::Phase;
use crate::rollout::rotation::Rotation;
use crate::rollout::stage::{Aborted, Flight, Hold, Stage};
use crate::rollout::steps::StepCursor;
use crate::spec::RolloutSpec;
use crate::time::Timestamp;

/// What a format-2 or format-3 document holds (format 3 only added fields with
/// defaults to format 2).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BodyV3 {
    pub spec: RolloutSpec,
    pub now: Timestamp,
    pub fleet: Fleet,
    /// How many instances `fleet` lists: not state, a seal, so that an instance
    /// dropped from the document (which nothing else references once it is out of
    /// the table) is noticed rather than leaked.
    pub instances: usize,
    pub phase: Phase,
    pub stable: Option<Revision>,
    pub target: Option<Revision>,
    #[serde(default)]
    pub standby: Option<Revision>,
    pub last_target: Option<Revision>,
    pub previous_stable: Option<Revision>,
    pub is_rollback: bool,
    pub rotation: Rotation,
    pub retiring: BTreeMap<InstanceId, Retire>,
    pub pending: BTreeMap<ActionId, Pending>,
    pub starting: BTreeMap<InstanceId, Starting>,
    pub provision_failures: u32,
    pub backoff_until: Option<Timestamp>,
    pub last_progress: Timestamp,
    pub deadline_exceeded: bool,
    pub ack_overdue: bool,
    pub revert_one_update: bool,
    pub next_action: u64,
    pub next_instance: u64,
    /// Actions and events not yet polled when the document was written.
    pub actions: VecDeque<Action>,
    pub events: VecDeque<Event>,
    /// The background analysis, if one ran.
    #[serde(default)]
    pub analysis: Option<HostedAnalysis>,
    /// The step machine (format 3; a format-2 document is at its first step).
    #[serde(default)]
    pub step: StepCursor,
    /// When the last abort happened (format 3).
    #[serde(default)]
    pub aborted_at: Option<Timestamp>,
    /// Until when the standby stays warm (format 3).
    #[serde(default)]
    pub standby_until: Option<Timestamp>,
    /// Standby instances on their way to being redeployed (format 3).
    #[serde(default)]
    pub recycle_to: BTreeMap<InstanceId, Revision>,
    /// What the envelope last held back (format 3): a fact about the events already
    /// emitted, so that a restored rollout does not report it again.
    #[serde(default)]
    pub held: Option<crate::output::HeldBack>,
    /// What the events last said about traffic short of capacity or stranded by
    /// faults (format 3, from 0.2): a fact about the events already emitted.
    #[serde(default)]
    pub reported: crate::rollout::traffic_report::Reported,
    /// The `desired` the fleet was last planned for (from 0.2; earlier documents
    /// were planned for their spec's).
    #[serde(default)]
    pub sized_for: Option<u32>,
}

fn refuse<T>(field: &'static str, why: String) -> Result<T, RestoreError> {
    Err(RestoreError::Field { field, why })
}

impl BodyV3 {
    /// The same facts in format 4: the phase and what belongs to it become the stage.
    pub(super) fn migrate(self) -> Result<Body, RestoreError> {
        let desired = self.spec.desired;
        let in_flight = |hold: Hold, target: Option<Revision>| {
            let Some(target) = target else {
                return refuse(
                    "rollout.target",
                    format!("phase {} has no target", self.phase),
                );
            };
            Ok(Stage::InFlight(Flight {
                target,
                hold,
                is_rollback: self.is_rollback,
                step: self.step.clone(),
                analysis: self.analysis.clone(),
                provision_failures: self.provision_failures,
                backoff_until: self.backoff_until,
                last_progress: self.last_progress,
                deadline_exceeded: self.deadline_exceeded,
            }))
        };
        let at_rest = |stage: Stage| {
            if let Some(target) = &self.target {
                return refuse(
                    "rollout.target",
                    format!("phase {} has a target, {target}", self.phase),
                );
            }
            Ok(stage)
        };
        let stage = match self.phase.clone() {
            Phase::Idle => at_rest(Stage::Idle)?,
            Phase::Completed => at_rest(Stage::Completed {
                rollback: self.is_rollback,
            })?,
            Phase::Progressing => in_flight(Hold::Progressing, self.target.clone())?,
            Phase::Paused { reason } => in_flight(Hold::Paused(reason), self.target.clone())?,
            Phase::Halted { reason } => in_flight(Hold::Halted(reason), self.target.clone())?,
            Phase::Aborted { reason } => {
                at_rest(Stage::Idle)?;
                let Some(target) = self.last_target.clone() else {
                    return refuse(
                        "rollout.last_target",
                        "an aborted rollout names no target it gave up".to_owned(),
                    );
                };
                Stage::Aborted(Aborted {
                    target,
                    reason,
                    at: self.aborted_at.unwrap_or(self.now),
                    one_update: self.revert_one_update,
                    is_rollback: self.is_rollback,
                    step: self.step.clone(),
                    analysis: self.analysis.clone(),
                })
            }
        };
        Ok(Body {
            spec: self.spec,
            now: self.now,
            fleet: self.fleet,
            instances: self.instances,
            stage,
            stable: self.stable,
            standby: self.standby,
            previous_stable: self.previous_stable,
            rotation: self.rotation,
            retiring: self.retiring,
            pending: self.pending,
            starting: self.starting,
            ack_overdue: self.ack_overdue,
            next_action: self.next_action,
            next_instance: self.next_instance,
            actions: self.actions,
            events: self.events,
            standby_until: self.standby_until,
            recycle_to: self.recycle_to,
            held: self.held,
            reported: self.reported,
            sized_for: self.sized_for.unwrap_or(desired),
            // Formats 2 and 3 had no seal: their facts are taken as written.
            seal: None,
        })
    }
}
