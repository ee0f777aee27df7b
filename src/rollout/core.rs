//! The engine's state, and the shape every entry point follows: clamp the clock
//! ([`Core::begin`]), apply the change, then [`Core::settle`] (plan inside the envelope,
//! publish at most one table update, refresh the timers).
//!
//! Where each rule lives: inputs in `inputs.rs`, commands in `commands.rs`, the plan and
//! the safety envelope in `reconcile.rs` and `envelope.rs`, an instance's way out in
//! `retire.rs`, the load balancer's generations in `rotation.rs`, deadlines in
//! `timers.rs`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::error::SpecError;
use crate::fleet::Fleet;
use crate::model::{Instance, InstanceGroup, InstanceId, InstanceState, Revision};
use crate::output::{Action, ActionId, Event, EventKind};
use crate::rollout::phase::Phase;
use crate::rollout::rotation::Rotation;
use crate::rollout::stage::{Flight, Hold, Stage};
use crate::rollout::timers::TimerTable;
use crate::spec::{CapacityLimits, RolloutSpec};
use crate::strategy::{FleetView, ProgressCounts, Role, RoleCounts};
use crate::time::Timestamp;
use crate::traffic::{TrafficTable, TrafficTableBuilder};

/// Where an instance the rollout no longer wants is on its way out.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "snake_case", deny_unknown_fields)
)]
pub(crate) enum Retire {
    /// Still being provisioned: terminate once it exists.
    AwaitProvisioned,
    /// Waiting for a table without it to be acknowledged.
    AwaitExit,
    /// Drain requested.
    Draining {
        /// The drain action.
        action: ActionId,
        /// When to give up waiting and terminate.
        deadline: Timestamp,
    },
    /// Termination requested.
    Terminating {
        /// The terminate action.
        action: ActionId,
    },
}

/// What an outstanding action asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub(crate) enum ActionKind {
    Provision,
    Drain,
    Terminate,
}

/// An action waiting for its result.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub(crate) struct Pending {
    pub kind: ActionKind,
    pub instance: InstanceId,
}

/// A starting instance's health record: how many checks in a row it failed, and, until
/// it has first become ready, since when it has been starting (the start-up timeout,
/// like Kubernetes' startup probe, applies only before the first success).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub(crate) struct Starting {
    pub since: Option<Timestamp>,
    pub failures: u32,
}

/// All of a rollout's state. What is persisted is `persist::Document`, not this.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Core {
    pub spec: RolloutSpec,
    /// Derived from the spec.
    pub limits: CapacityLimits,
    /// The latest time seen; earlier `now`s are clamped to it.
    pub now: Timestamp,
    pub fleet: Fleet,
    /// Where the rollout is, with what is valid only there.
    pub stage: Stage,
    pub stable: Option<Revision>,
    /// A previous environment kept warm (blue-green's reuse).
    pub standby: Option<Revision>,
    /// The stable revision before the current one, for `rollback`.
    pub previous_stable: Option<Revision>,
    pub rotation: Rotation,
    pub retiring: BTreeMap<InstanceId, Retire>,
    pub pending: BTreeMap<ActionId, Pending>,
    /// Health records of instances in `Starting`.
    pub starting: BTreeMap<InstanceId, Starting>,
    /// Whether the unacknowledged table's overdue event has been emitted.
    pub ack_overdue: bool,
    /// Set by a deploy: the next flush lays the new target out last even if it already
    /// holds keys (an adopted table listing it in the middle), moving them once as the
    /// rollout starts, so that from then on its keys depend on its own weight alone.
    /// Never outlives the call that set it, so it is not persisted.
    pub relayout: bool,
    pub next_action: u64,
    pub next_instance: u64,
    pub actions: VecDeque<Action>,
    pub events: VecDeque<Event>,
    /// Until when the standby revision stays warm; `None` keeps it (while there is one).
    pub standby_until: Option<Timestamp>,
    /// Standby instances on their way to being redeployed, and to which revision.
    pub recycle_to: BTreeMap<InstanceId, Revision>,
    /// What the events last said about traffic short of capacity or stranded by faults.
    pub reported: crate::rollout::traffic_report::Reported,
    /// The `desired` the fleet was last planned for: a resize differs from it until the
    /// plan that spreads it has been executed (Kubernetes' desired-replicas annotation).
    pub sized_for: u32,
    // ----- derived: rebuilt on restore, never persisted -----
    /// Drain deadlines in time order (from `retiring`).
    pub drain_index: BTreeSet<(Timestamp, InstanceId)>,
    /// Start-up deadlines in time order (from `starting`).
    pub startup_index: BTreeSet<(Timestamp, InstanceId)>,
    /// Instances whose place in the table may have changed since the last flush.
    pub dirty: BTreeSet<InstanceId>,
    /// What the envelope last held back, so that the event is not repeated every call.
    pub held: Option<crate::output::HeldBack>,
    pub timers: TimerTable,
}

/// How the caller says which revision is which when adopting a fleet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct Adoption {
    /// The known-good revision; inferred from the fleet when `None` (the revision with
    /// the most available instances, then the most instances, then the first name),
    /// and the choice reported as an event.
    pub stable: Option<Revision>,
    /// A revision whose rollout was in flight: it continues (progressing) from what
    /// exists. `None` adopts the fleet at rest.
    pub target: Option<Revision>,
    /// A previous environment kept warm (blue-green's standby): kept, not scaled away,
    /// for as long as the strategy keeps a standby after a rollout (blue-green's
    /// `scale_down_delay` from now, or for good with `keep_standby`).
    pub standby: Option<Revision>,
}

impl Core {
    pub(crate) fn new(
        now: Timestamp,
        spec: RolloutSpec,
        observed: Vec<Instance>,
        adoption: Adoption,
    ) -> Result<Core, SpecError> {
        let limits = spec.validate()?;
        let mut fleet = Fleet::new(spec.min_ready);
        let mut in_rotation = Vec::new();
        for mut instance in observed {
            // A ready instance the caller says is serving is trusted to be available:
            // taking it out for want of `min_ready` would be a self-inflicted outage.
            if instance.in_rotation && instance.state == InstanceState::Ready {
                instance.available = true;
            }
            if instance.in_rotation {
                in_rotation.push((instance.revision.clone(), instance.id.clone()));
            }
            fleet.insert(now, instance)?;
        }
        let inferred = adoption.stable.is_none();
        let stable = adoption.stable.or_else(|| infer_stable(&fleet));
        let target = adoption.target.filter(|t| Some(t) != stable.as_ref());
        let keep = spec.strategy.planner().standby_after_completion(now);
        let standby = adoption
            .standby
            .filter(|s| Some(s) != stable.as_ref() && Some(s) != target.as_ref())
            .filter(|_| keep.is_some());
        let stage = match target {
            Some(target) => Stage::InFlight(Flight::new(target, now, false)),
            None => Stage::Idle,
        };
        let mut core = Core {
            limits,
            now,
            stage,
            stable: stable.clone(),
            standby_until: keep.flatten().filter(|_| standby.is_some()),
            // A warm standby is what a rollback goes back to.
            previous_stable: standby.clone(),
            standby,
            rotation: Rotation::new(initial_table(&in_rotation)),
            retiring: BTreeMap::new(),
            pending: BTreeMap::new(),
            starting: BTreeMap::new(),
            ack_overdue: false,
            relayout: false,
            next_action: 1,
            next_instance: 1,
            dirty: fleet.iter().map(|i| i.id.clone()).collect(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            recycle_to: BTreeMap::new(),
            reported: Default::default(),
            sized_for: spec.desired,
            drain_index: BTreeSet::new(),
            startup_index: BTreeSet::new(),
            held: None,
            timers: TimerTable::default(),
            spec,
            fleet,
        };
        let revisions = core.fleet.revisions().count();
        if inferred
            && revisions > 1
            && let Some(stable) = stable
        {
            core.emit(EventKind::StableInferred { revision: stable });
        }
        core.adopt_instances();
        core.settle();
        Ok(core)
    }

    /// Gives every adopted instance a way forward from the state it is in.
    fn adopt_instances(&mut self) {
        let instances: Vec<(InstanceId, InstanceState, bool)> = self
            .fleet
            .iter()
            .map(|i| (i.id.clone(), i.state, i.in_rotation))
            .collect();
        for (id, state, in_rotation) in instances {
            match state {
                // History, not capacity.
                InstanceState::Terminated | InstanceState::Failed if !in_rotation => {
                    self.fleet.remove(&id);
                    self.dirty.remove(&id);
                }
                InstanceState::Terminated | InstanceState::Failed => {}
                // Its creation was asked for before us. Wanted: ask again under its
                // name (a provisioner treats that as "make sure it exists") so it has
                // an answer to wait for. Unwanted: make sure it is gone.
                InstanceState::Provisioning => {
                    let Some(instance) = self.fleet.get(&id) else {
                        continue;
                    };
                    let revision = instance.revision.clone();
                    // A baseline belongs to an experiment step, which a new rollout is not
                    // in.
                    if instance.group.is_main()
                        && matches!(self.role_of(&revision), Role::Stable | Role::Target)
                    {
                        self.request_provision(id, revision, InstanceGroup::Main);
                    } else {
                        self.fleet.set_leaving(&id);
                        self.terminate(id);
                    }
                }
                InstanceState::Starting => self.track_starting(&id, true),
                InstanceState::Ready => {}
                // A drain the caller started before us: see it through to termination.
                InstanceState::Draining => {
                    self.fleet.set_leaving(&id);
                    self.retiring.insert(id.clone(), Retire::AwaitExit);
                    self.advance_retire(&id);
                }
            }
        }
    }

    /// Clamps `now` to the latest time seen, and promotes instances whose `min_ready`
    /// has passed.
    pub(crate) fn begin(&mut self, now: Timestamp) {
        if now < self.now {
            self.emit(EventKind::ClockWentBackwards {
                given: now,
                kept: self.now,
            });
        } else {
            self.now = now;
        }
        for id in self.fleet.refresh(self.now) {
            self.became_available(id);
        }
    }

    /// Plans inside the envelope, publishes, and re-arms the timers: the end of every
    /// entry point. Progress is what Kubernetes counts, compared across the call.
    pub(crate) fn settle(&mut self) {
        let view = self.fleet_view();
        let before = Core::progress_counts(&view);
        let mut plan = self.reconcile(view);
        let mut changed = self.flush(&plan.traffic);
        let mut planned_from = view;
        // Plan until nothing changes. A publish changes what the plan is held by (a
        // step waits until the load balancer applies its table) and what the envelope
        // may remove (an instance whose revision's weight just left it), and can reap
        // instances that a removal no longer needs to wait for. The update is amended,
        // so it stays one per call.
        for _ in 0..4 {
            let now = self.fleet_view();
            if !changed && now == planned_from {
                break;
            }
            let before = (self.next_action, self.held);
            plan = self.reconcile(now);
            planned_from = now;
            changed = self.flush(&plan.traffic) || before != (self.next_action, self.held);
        }
        if self.check_completion(&plan) {
            // At rest, the strategy may want something else at once (a standby whose
            // warm time is already over): plan again, so that the call leaves nothing
            // undone. Completion needs the table acknowledged, so the first flush
            // published nothing and this stays one update per call.
            plan = self.reconcile(self.fleet_view());
            self.flush(&plan.traffic);
        }
        self.forget_empty_standby();
        self.report_traffic(&plan);
        self.start_analysis_if_due();
        if self.phase() == Phase::Progressing {
            let after = Core::progress_counts(&self.fleet_view());
            if crate::strategy::rolling_is_progress(before, after) {
                self.made_progress();
            }
        }
        self.refresh_timers(plan.wake_at);
    }

    pub(crate) fn emit(&mut self, kind: EventKind) {
        self.events.push_back(Event { at: self.now, kind });
    }

    pub(crate) fn next_action_id(&mut self) -> ActionId {
        let id = ActionId(self.next_action);
        self.next_action += 1;
        id
    }

    /// The public phase, derived from the stage.
    pub(crate) fn phase(&self) -> Phase {
        self.stage.phase()
    }

    /// The revision being rolled out, while one is in flight.
    pub(crate) fn target(&self) -> Option<&Revision> {
        self.stage.flight().map(|flight| &flight.target)
    }

    /// Moves to `stage`: every change of stage goes through here, and says so when the
    /// phase changes.
    pub(crate) fn enter(&mut self, stage: Stage) {
        let from = self.phase();
        self.stage = stage;
        self.said_phase_changed(from);
    }

    /// Changes what holds the rollout in flight (nothing if none is), and says so.
    pub(crate) fn hold(&mut self, hold: Hold) {
        let from = self.phase();
        if let Some(flight) = self.stage.flight_mut() {
            flight.hold = hold;
        }
        self.said_phase_changed(from);
    }

    fn said_phase_changed(&mut self, from: Phase) {
        let to = self.phase();
        if from != to {
            self.emit(EventKind::PhaseChanged { from, to });
        }
    }

    /// Progress as Kubernetes counts it: the progress deadline counts from now again.
    pub(crate) fn made_progress(&mut self) {
        let now = self.now;
        if let Some(flight) = self.stage.flight_mut() {
            flight.last_progress = now;
            flight.deadline_exceeded = false;
        }
    }

    pub(crate) fn became_available(&mut self, id: InstanceId) {
        self.dirty.insert(id.clone());
        self.emit(EventKind::InstanceAvailable { instance: id });
    }

    /// Whether an instance may be in rotation: ready, available, and not on its way
    /// out. The one statement of the rule; the table follows it and restores check it.
    pub(crate) fn may_serve(&self, instance: &Instance) -> bool {
        instance.state == InstanceState::Ready
            && instance.available
            && !self.retiring.contains_key(&instance.id)
    }

    /// The target of an aborted rollout, while the rollout stays aborted: it keeps the
    /// target's role (kept or removed as the strategy says) rather than counting as
    /// superseded.
    pub(crate) fn aborted_target(&self) -> Option<&Revision> {
        self.stage
            .aborted()
            .map(|aborted| &aborted.target)
            .filter(|t| Some(*t) != self.stable.as_ref())
    }

    /// The role `revision` plays now.
    /// (Rolling out onto the stable revision itself makes it the target.)
    pub(crate) fn role_of(&self, revision: &Revision) -> Role {
        if Some(revision) == self.target() || Some(revision) == self.aborted_target() {
            Role::Target
        } else if Some(revision) == self.stable.as_ref() {
            Role::Stable
        } else if Some(revision) == self.standby.as_ref() {
            Role::Standby
        } else {
            Role::Superseded
        }
    }

    /// The revisions playing `role`, in name order (several only for superseded).
    pub(crate) fn revisions_of(&self, role: Role) -> Vec<Revision> {
        match role {
            Role::Stable => self
                .stable
                .iter()
                .filter(|s| Some(*s) != self.target())
                .cloned()
                .collect(),
            Role::Target => self
                .target()
                .into_iter()
                .chain(self.aborted_target())
                .cloned()
                .collect(),
            Role::Standby => self.standby.iter().cloned().collect(),
            Role::Superseded => self
                .fleet
                .revisions()
                .filter(|r| self.role_of(r) == Role::Superseded)
                .cloned()
                .collect(),
            // Any revision's baseline instances are the baseline's to remove; new ones
            // are the stable revision's (`provision_revision`).
            Role::Baseline => self
                .fleet
                .revisions()
                .filter(|r| self.fleet.group_counts(r, InstanceGroup::Baseline).live() > 0)
                .cloned()
                .collect(),
        }
    }

    /// The revision new instances of `role` run: the baseline is made of the stable
    /// revision (a rollout onto the stable revision itself has no baseline to make).
    pub(crate) fn provision_revision(&self, role: Role) -> Option<Revision> {
        match role {
            Role::Baseline => self.revisions_of(Role::Stable).into_iter().next(),
            _ => self.revisions_of(role).into_iter().next(),
        }
    }

    /// The fleet counted by role, in O(revisions).
    pub(crate) fn fleet_view(&self) -> FleetView {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let mut view = FleetView::default();
        for (revision, group, counts) in self.fleet.all_group_counts() {
            let role = match group {
                InstanceGroup::Main => self.role_of(revision),
                InstanceGroup::Baseline => Role::Baseline,
            };
            view.roles[role].replicas += count(counts.pending() + counts.ready());
            view.roles[role].available += count(counts.available);
            view.roles[role].ready += count(counts.ready());
            view.leaving += count(counts.leaving);
        }
        // Standby instances being redeployed for the target are on their way in, not
        // out.
        let recycling = self.recycling_to_target();
        view.leaving -= recycling;
        view.roles[Role::Target].replicas += recycling;
        view
    }

    /// The counts Kubernetes' progress test compares, read off a view of the fleet.
    fn progress_counts(view: &FleetView) -> ProgressCounts {
        let target: RoleCounts = view.roles[Role::Target];
        ProgressCounts {
            updated: target.replicas,
            old: view.replicas_except(Role::Target),
            ready: Role::ALL.iter().map(|r| view.roles[*r].ready).sum(),
            available: view.available(),
        }
    }

    /// Starts tracking a starting instance's health: its failure count, and its
    /// start-up timeout if it has not been ready yet (`first_start`).
    pub(crate) fn track_starting(&mut self, id: &InstanceId, first_start: bool) {
        let since = first_start.then_some(self.now);
        let record = Starting { since, failures: 0 };
        if let Some(Starting {
            since: Some(old), ..
        }) = self.starting.insert(id.clone(), record)
        {
            self.startup_index.remove(&(old, id.clone()));
        }
        if let Some(since) = since {
            self.startup_index.insert((since, id.clone()));
        }
    }

    /// Stops tracking an instance's start-up.
    pub(crate) fn untrack_starting(&mut self, id: &InstanceId) {
        if let Some(Starting {
            since: Some(old), ..
        }) = self.starting.remove(id)
        {
            self.startup_index.remove(&(old, id.clone()));
        }
    }

    /// Asks the caller to create `instance` of `revision`.
    pub(crate) fn request_provision(
        &mut self,
        instance: InstanceId,
        revision: Revision,
        group: InstanceGroup,
    ) {
        let id = self.next_action_id();
        self.pending.insert(
            id,
            Pending {
                kind: ActionKind::Provision,
                instance: instance.clone(),
            },
        );
        self.actions.push_back(Action::Provision {
            id,
            instance,
            revision,
            group,
        });
    }
}

/// The revision with the most available instances, then the most live ones, then the
/// first by name.
fn infer_stable(fleet: &Fleet) -> Option<Revision> {
    fleet
        .revisions()
        .map(|r| {
            let counts = fleet.counts(r);
            (
                counts.available,
                counts.live(),
                std::cmp::Reverse(r.clone()),
            )
        })
        .filter(|(_, live, _)| *live > 0)
        .max()
        .map(|(_, _, std::cmp::Reverse(r))| r)
}

/// The table the load balancer applies when the rollout starts: the instances the
/// caller says are in rotation, weighted by their counts.
fn initial_table(in_rotation: &[(Revision, InstanceId)]) -> TrafficTable {
    let mut by_revision: BTreeMap<&Revision, Vec<InstanceId>> = BTreeMap::new();
    for (revision, id) in in_rotation {
        by_revision.entry(revision).or_default().push(id.clone());
    }
    let counts: Vec<(Revision, usize)> = by_revision
        .iter()
        .map(|(r, ids)| ((*r).clone(), ids.len()))
        .collect();
    let weights = crate::rollout::rotation::proportional_weights(&counts);
    let mut builder: TrafficTableBuilder = TrafficTable::builder();
    for ((revision, ids), weight) in by_revision.into_iter().zip(weights) {
        builder = builder.revision(revision.clone(), u64::from(weight.basis_points()), ids);
    }
    builder.build().unwrap_or_default()
}
