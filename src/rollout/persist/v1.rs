//! Format 1, as cutover 0.1's first engine wrote it, and its migration to format 2.
//!
//! Format 1 dumped the engine's structs: it stored derived state (capacity limits,
//! drain deadlines, the set of instances to re-check, an index of removals) and wrote
//! pending actions as `{"provision": "<instance>"}`. The migration keeps the facts and
//! drops the derived parts, which the restore rebuilds from the facts and checks.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::fleet::Fleet;
use crate::model::{InstanceId, InstanceState, Revision};
use crate::output::{Action, ActionId, Event};
use crate::rollout::core::{ActionKind, Pending, Retire, Starting};
use crate::rollout::persist::v3::BodyV3;
use crate::rollout::phase::Phase;
use crate::rollout::rotation::Rotation;
use crate::spec::{CapacityLimits, RolloutSpec};
use crate::time::Timestamp;
use crate::traffic::TrafficTable;

/// A format-1 pending action.
#[derive(serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum PendingV1 {
    Provision(InstanceId),
    Drain(InstanceId),
    Terminate(InstanceId),
}

/// A format-1 rotation: `leaving_at` was stored, and is derived now.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RotationV1 {
    published: TrafficTable,
    acknowledged: u64,
    joining: BTreeMap<u64, Vec<InstanceId>>,
    leaving: BTreeMap<u64, Vec<InstanceId>>,
    #[allow(dead_code)]
    leaving_at: BTreeMap<InstanceId, u64>,
}

/// The body of a format-1 document, field for field.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BodyV1 {
    spec: RolloutSpec,
    #[allow(dead_code)]
    limits: CapacityLimits,
    now: Timestamp,
    fleet: Fleet,
    phase: Phase,
    stable: Option<Revision>,
    target: Option<Revision>,
    last_target: Option<Revision>,
    previous_stable: Option<Revision>,
    is_rollback: bool,
    rotation: RotationV1,
    retiring: BTreeMap<InstanceId, Retire>,
    pending: BTreeMap<ActionId, PendingV1>,
    #[allow(dead_code)]
    drain_deadlines: BTreeSet<(Timestamp, InstanceId)>,
    provision_failures: u32,
    backoff_until: Option<Timestamp>,
    last_progress: Timestamp,
    deadline_exceeded: bool,
    next_action: u64,
    next_instance: u64,
    #[allow(dead_code)]
    dirty: BTreeSet<InstanceId>,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
}

impl BodyV1 {
    /// The same rollout in format 2. Format 1 kept no health records: instances found
    /// starting are watched from the document's `now`. Whether the table was waiting
    /// for its acknowledgement is kept; since when is taken as the document's `now`.
    pub(super) fn migrate(mut self) -> BodyV3 {
        // Format 1 marked every instance on its way out `draining`, even one still being
        // provisioned; format 2 keeps states true (leaving is derived from `retiring`).
        for (id, stage) in &self.retiring {
            if *stage == Retire::AwaitProvisioned {
                self.fleet
                    .set_state(self.now, id, InstanceState::Provisioning);
            }
        }
        let pending = self
            .pending
            .into_iter()
            .map(|(id, p)| {
                let (kind, instance) = match p {
                    PendingV1::Provision(i) => (ActionKind::Provision, i),
                    PendingV1::Drain(i) => (ActionKind::Drain, i),
                    PendingV1::Terminate(i) => (ActionKind::Terminate, i),
                };
                (id, Pending { kind, instance })
            })
            .collect();
        let starting = self
            .fleet
            .iter()
            .filter(|i| i.state == InstanceState::Starting)
            .map(|i| {
                let record = Starting {
                    since: Some(self.now),
                    failures: 0,
                };
                (i.id.clone(), record)
            })
            .collect();
        let old = self.rotation;
        let waiting = old.published.generation() > old.acknowledged;
        // Format 1 did not say what the unacknowledged table changed: take it to change
        // the split, so that nothing waits on a split the load balancer may not have.
        let split_changed_at = old.published.generation();
        let rotation = Rotation::restored(
            old.published,
            old.acknowledged,
            old.joining,
            old.leaving,
            waiting.then_some(self.now),
            split_changed_at,
        );
        BodyV3 {
            spec: self.spec,
            now: self.now,
            instances: self.fleet.len(),
            fleet: self.fleet,
            phase: self.phase,
            stable: self.stable,
            target: self.target,
            standby: None,
            last_target: self.last_target,
            previous_stable: self.previous_stable,
            is_rollback: self.is_rollback,
            rotation,
            retiring: self.retiring,
            pending,
            starting,
            provision_failures: self.provision_failures,
            backoff_until: self.backoff_until,
            last_progress: self.last_progress,
            deadline_exceeded: self.deadline_exceeded,
            ack_overdue: false,
            revert_one_update: false,
            next_action: self.next_action,
            next_instance: self.next_instance,
            actions: self.actions,
            events: self.events,
            analysis: None,
            step: Default::default(),
            aborted_at: None,
            standby_until: None,
            held: None,
            reported: Default::default(),
            sized_for: None,
            recycle_to: Default::default(),
        }
    }
}
