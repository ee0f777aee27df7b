//! Format 4: what a saved rollout holds — the facts, none of what follows from them, and
//! the data of a stage only inside that stage.

use std::collections::{BTreeMap, VecDeque};

use crate::error::RestoreError;
use crate::fleet::Fleet;
use crate::model::{InstanceId, Revision};
use crate::output::{Action, ActionId, Event, HeldBack};
use crate::rollout::core::{Core, Pending, Retire, Starting};
use crate::rollout::persist::seal::Seal;
use crate::rollout::rotation::Rotation;
use crate::rollout::stage::Stage;
use crate::rollout::timers::TimerTable;
use crate::rollout::traffic_report::Reported;
use crate::spec::RolloutSpec;
use crate::time::Timestamp;

/// The body of a format-4 document.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Body {
    pub spec: RolloutSpec,
    pub now: Timestamp,
    pub fleet: Fleet,
    /// How many instances `fleet` lists: not state, a seal, so that an instance dropped
    /// from the document (which nothing else references once it is out of the table) is
    /// noticed rather than leaked.
    pub instances: usize,
    /// Where the rollout is, with what is valid only there.
    pub stage: Stage,
    pub stable: Option<Revision>,
    pub standby: Option<Revision>,
    pub previous_stable: Option<Revision>,
    pub rotation: Rotation,
    pub retiring: BTreeMap<InstanceId, Retire>,
    pub pending: BTreeMap<ActionId, Pending>,
    pub starting: BTreeMap<InstanceId, Starting>,
    pub ack_overdue: bool,
    pub next_action: u64,
    pub next_instance: u64,
    /// Actions and events not yet polled when the document was written.
    pub actions: VecDeque<Action>,
    pub events: VecDeque<Event>,
    /// Until when the standby stays warm.
    pub standby_until: Option<Timestamp>,
    /// Standby instances on their way to being redeployed.
    pub recycle_to: BTreeMap<InstanceId, Revision>,
    /// What the envelope last held back: a fact about the events already emitted, so
    /// that a restored rollout does not report it again.
    pub held: Option<HeldBack>,
    /// What the events last said about traffic short of capacity or stranded by faults
    /// (a fact about the events already emitted, likewise).
    pub reported: Reported,
    /// The `desired` the fleet was last planned for.
    pub sized_for: u32,
    /// Digests of the facts nothing else in the document can be checked against
    /// (`seal.rs`): required in format 4, absent from migrated documents.
    #[serde(deserialize_with = "super::seal::required")]
    pub seal: Option<Seal>,
}

/// A format-4 body written straight from the engine's state, borrowing it: saving after
/// every call must not copy the whole rollout first. Field for field [`Body`], which
/// reads it back (the round-trip tests hold the two together).
#[derive(serde::Serialize)]
pub(crate) struct BodyRef<'a> {
    spec: &'a RolloutSpec,
    now: Timestamp,
    fleet: &'a Fleet,
    instances: usize,
    stage: &'a Stage,
    stable: &'a Option<Revision>,
    standby: &'a Option<Revision>,
    previous_stable: &'a Option<Revision>,
    rotation: &'a Rotation,
    retiring: &'a BTreeMap<InstanceId, Retire>,
    pending: &'a BTreeMap<ActionId, Pending>,
    starting: &'a BTreeMap<InstanceId, Starting>,
    ack_overdue: bool,
    next_action: u64,
    next_instance: u64,
    actions: &'a VecDeque<Action>,
    events: &'a VecDeque<Event>,
    standby_until: Option<Timestamp>,
    recycle_to: &'a BTreeMap<InstanceId, Revision>,
    held: Option<HeldBack>,
    reported: &'a Reported,
    sized_for: u32,
    seal: Seal,
}

impl<'a> From<&'a Core> for BodyRef<'a> {
    fn from(core: &'a Core) -> BodyRef<'a> {
        BodyRef {
            spec: &core.spec,
            now: core.now,
            fleet: &core.fleet,
            instances: core.fleet.len(),
            stage: &core.stage,
            stable: &core.stable,
            standby: &core.standby,
            previous_stable: &core.previous_stable,
            rotation: &core.rotation,
            retiring: &core.retiring,
            pending: &core.pending,
            starting: &core.starting,
            ack_overdue: core.ack_overdue,
            next_action: core.next_action,
            next_instance: core.next_instance,
            actions: &core.actions,
            events: &core.events,
            standby_until: core.standby_until,
            recycle_to: &core.recycle_to,
            held: core.held,
            reported: &core.reported,
            sized_for: core.sized_for,
            seal: Seal::of(core),
        }
    }
}

impl Body {
    /// The engine state this body describes, derived state rebuilt, every
    /// cross-reference checked first.
    pub(super) fn restore(self) -> Result<Core, RestoreError> {
        let limits = self.spec.validate()?;
        let sealed = self.instances;
        let seal = self.seal;
        let mut rotation = self.rotation;
        rotation.rebuild();
        let mut core = Core {
            limits,
            spec: self.spec,
            now: self.now,
            fleet: self.fleet,
            stage: self.stage,
            stable: self.stable,
            standby: self.standby,
            previous_stable: self.previous_stable,
            rotation,
            retiring: self.retiring,
            pending: self.pending,
            starting: self.starting,
            ack_overdue: self.ack_overdue,
            relayout: false,
            next_action: self.next_action,
            next_instance: self.next_instance,
            actions: self.actions,
            events: self.events,
            standby_until: self.standby_until,
            recycle_to: self.recycle_to,
            reported: self.reported,
            sized_for: self.sized_for,
            drain_index: Default::default(),
            startup_index: Default::default(),
            dirty: Default::default(),
            held: self.held,
            timers: TimerTable::default(),
        };
        for (id, stage) in &core.retiring {
            // Leaving is derived: every instance being retired is on its way out.
            core.fleet.set_leaving(id);
            if let Retire::Draining { deadline, .. } = stage {
                core.drain_index.insert((*deadline, id.clone()));
            }
        }
        for (id, record) in &core.starting {
            if let Some(since) = record.since {
                core.startup_index.insert((since, id.clone()));
            }
        }
        super::check::check(&core)?;
        // Last, so that an edit the cross-references catch is named by them.
        if sealed != core.fleet.len() {
            return Err(RestoreError::Field {
                field: "rollout.fleet.instances",
                why: format!(
                    "{} instances listed where the document was written with {sealed}: an instance was added or dropped",
                    core.fleet.len()
                ),
            });
        }
        if let Some(seal) = seal {
            seal.check(&core)?;
        }
        let wake = core.plan().wake_at;
        core.refresh_timers(wake);
        Ok(core)
    }
}
