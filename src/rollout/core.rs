//! The engine's state, and how inputs, timers and commands change it.
//!
//! Every entry point follows one shape: clamp the clock, apply the change, then
//! [`Core::reconcile`] (plan, retire, provision) and [`Core::flush`] (publish at most one
//! table update). The safety rules live in `reconcile.rs` and `rotation.rs`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::error::{CommandError, SpecError};
use crate::fleet::Fleet;
use crate::input::Input;
use crate::model::{Instance, InstanceId, InstanceState, Revision};
use crate::output::{Action, ActionId, Event, EventKind};
use crate::rollout::phase::{AbortReason, Phase};
use crate::rollout::rotation::Rotation;
use crate::spec::{CapacityLimits, RolloutSpec};
use crate::time::Timestamp;
use crate::traffic::{TrafficTable, TrafficTableBuilder};

/// Where an instance the rollout no longer wants is on its way out.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
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

/// An action waiting for its result.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub(crate) enum Pending {
    Provision(InstanceId),
    Drain(InstanceId),
    Terminate(InstanceId),
}

impl Pending {
    /// The instance the action is for.
    pub fn instance(&self) -> &InstanceId {
        match self {
            Pending::Provision(id) | Pending::Drain(id) | Pending::Terminate(id) => id,
        }
    }

    /// What the action is, in the words of the input answering it.
    pub fn kind(&self) -> &'static str {
        match self {
            Pending::Provision(_) => "provision",
            Pending::Drain(_) => "drain",
            Pending::Terminate(_) => "termination",
        }
    }
}

/// All of a rollout's state. Serialized as is (inside a versioned document).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct Core {
    pub spec: RolloutSpec,
    pub limits: CapacityLimits,
    /// The latest time seen; earlier `now`s are clamped to it.
    pub now: Timestamp,
    pub fleet: Fleet,
    pub phase: Phase,
    pub stable: Option<Revision>,
    /// The revision being rolled out, while one is in flight.
    pub target: Option<Revision>,
    /// The target of the last rollout, for `retry` after an abort.
    pub last_target: Option<Revision>,
    /// The stable revision before the current one, for `rollback`.
    pub previous_stable: Option<Revision>,
    /// Whether the current (or last) rollout is a rollback.
    pub is_rollback: bool,
    pub rotation: Rotation,
    pub retiring: BTreeMap<InstanceId, Retire>,
    pub pending: BTreeMap<ActionId, Pending>,
    pub drain_deadlines: BTreeSet<(Timestamp, InstanceId)>,
    pub provision_failures: u32,
    pub backoff_until: Option<Timestamp>,
    pub last_progress: Timestamp,
    pub deadline_exceeded: bool,
    pub next_action: u64,
    pub next_instance: u64,
    /// Instances whose place in the table may have changed since the last flush.
    pub dirty: BTreeSet<InstanceId>,
    pub actions: VecDeque<Action>,
    pub events: VecDeque<Event>,
}

impl Core {
    pub fn new(
        now: Timestamp,
        spec: RolloutSpec,
        observed: Vec<Instance>,
    ) -> Result<Core, SpecError> {
        let limits = spec.validate()?;
        let mut fleet = Fleet::new(spec.min_ready);
        let mut in_rotation = Vec::new();
        for instance in observed {
            if instance.in_rotation {
                in_rotation.push((instance.revision.clone(), instance.id.clone()));
            }
            fleet.insert(now, instance)?;
        }
        let live: BTreeSet<&Revision> = fleet
            .iter()
            .filter(|i| i.state.is_live() && i.state != InstanceState::Draining)
            .map(|i| &i.revision)
            .collect();
        if live.len() > 1 {
            let revisions: Vec<&str> = live.iter().map(|r| r.as_str()).collect();
            return Err(SpecError::MixedFleet {
                revisions: revisions.join(", "),
            });
        }
        let stable = live.into_iter().next().cloned();
        let mut core = Core {
            limits,
            now,
            phase: Phase::Idle,
            stable,
            target: None,
            last_target: None,
            previous_stable: None,
            is_rollback: false,
            rotation: Rotation::new(initial_table(&in_rotation)),
            retiring: BTreeMap::new(),
            pending: BTreeMap::new(),
            drain_deadlines: BTreeSet::new(),
            provision_failures: 0,
            backoff_until: None,
            last_progress: now,
            deadline_exceeded: false,
            next_action: 1,
            next_instance: 1,
            dirty: fleet.iter().map(|i| i.id.clone()).collect(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            spec,
            fleet,
        };
        // Instances the caller reported failed or terminated are history, not capacity.
        let gone: Vec<InstanceId> = core
            .fleet
            .iter()
            .filter(|i| i.state.is_final() && !i.in_rotation)
            .map(|i| i.id.clone())
            .collect();
        for id in gone {
            core.fleet.remove(&id);
            core.dirty.remove(&id);
        }
        // A drain the caller started before us: see it through to termination.
        let draining: Vec<InstanceId> = core
            .fleet
            .iter()
            .filter(|i| i.state == InstanceState::Draining)
            .map(|i| i.id.clone())
            .collect();
        for id in draining {
            core.retiring.insert(id.clone(), Retire::AwaitExit);
            core.advance_retire(&id);
        }
        core.settle();
        Ok(core)
    }

    /// Clamps `now` to the latest time seen, and promotes instances whose `min_ready`
    /// has passed.
    pub fn begin(&mut self, now: Timestamp) {
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

    /// Plans, then publishes: the end of every entry point.
    pub fn settle(&mut self) {
        self.reconcile();
        self.flush();
    }

    pub fn emit(&mut self, kind: EventKind) {
        self.events.push_back(Event { at: self.now, kind });
    }

    pub fn next_action_id(&mut self) -> ActionId {
        let id = ActionId(self.next_action);
        self.next_action += 1;
        id
    }

    pub fn transition(&mut self, to: Phase) {
        if self.phase != to {
            let from = std::mem::replace(&mut self.phase, to.clone());
            self.emit(EventKind::PhaseChanged { from, to });
        }
    }

    pub fn made_progress(&mut self) {
        self.last_progress = self.now;
        self.deadline_exceeded = false;
    }

    fn became_available(&mut self, id: InstanceId) {
        let is_target = self
            .fleet
            .get(&id)
            .is_some_and(|i| Some(&i.revision) == self.target.as_ref());
        if is_target {
            self.made_progress();
        }
        self.dirty.insert(id.clone());
        self.emit(EventKind::InstanceAvailable { instance: id });
    }

    fn ignore(&mut self, input: &Input, reason: &str) {
        self.emit(EventKind::InputIgnored {
            input: format!("{input:?}"),
            reason: reason.to_owned(),
        });
    }

    // ----- inputs ---------------------------------------------------------------

    pub fn handle_input(&mut self, input: Input) {
        match &input {
            Input::Provisioned { action } => match self.answer(*action, "provision") {
                Ok(id) => self.provisioned(id),
                Err(why) => self.ignore(&input, why),
            },
            Input::ProvisionFailed { action, reason } => match self.answer(*action, "provision") {
                Ok(id) => self.provision_failed(id, reason.clone()),
                Err(why) => self.ignore(&input, why),
            },
            Input::Health { instance, healthy } => self.health(&input, instance, *healthy),
            Input::TrafficApplied { generation } => match self.rotation.acknowledge(*generation) {
                Some(acknowledged) => {
                    for id in acknowledged.entered {
                        self.fleet.set_in_rotation(&id, true);
                    }
                    for id in &acknowledged.exited {
                        self.fleet.set_in_rotation(id, false);
                    }
                    self.emit(EventKind::TrafficApplied {
                        generation: *generation,
                    });
                    for id in acknowledged.exited {
                        self.advance_retire(&id);
                        self.reap(&id);
                    }
                }
                None => self.ignore(&input, "generation already acknowledged or never published"),
            },
            Input::Drained { action } => match self.answer(*action, "drain") {
                Ok(id) => self.drained(id),
                Err(why) => self.ignore(&input, why),
            },
            Input::Terminated { action } => match self.answer(*action, "termination") {
                Ok(id) => self.terminated(id),
                Err(why) => self.ignore(&input, why),
            },
            Input::InstanceLost { instance, reason } => {
                match self.fleet.get(instance).map(|i| i.state) {
                    None | Some(InstanceState::Terminated | InstanceState::Failed) => {
                        self.ignore(&input, "unknown or already gone instance");
                    }
                    Some(_) => self.lost(instance.clone(), reason.clone()),
                }
            }
        }
    }

    /// Takes the pending action an answer names, if it is of the `kind` answered, and
    /// returns its instance; otherwise says why the answer is ignored.
    fn answer(&mut self, action: ActionId, kind: &str) -> Result<InstanceId, &'static str> {
        let pending = self.pending.get(&action).ok_or(
            "unknown or already answered action (late, duplicated, or a drain that timed out)",
        )?;
        if pending.kind() != kind {
            return Err("the action it names is of another kind");
        }
        let id = pending.instance().clone();
        self.pending.remove(&action);
        Ok(id)
    }

    fn provisioned(&mut self, id: InstanceId) {
        self.provision_failures = 0;
        if self.retiring.get(&id) == Some(&Retire::AwaitProvisioned) {
            // Unwanted before it existed, and never listed: nothing to drain.
            self.terminate(id);
        } else {
            self.fleet.set_state(self.now, &id, InstanceState::Starting);
        }
    }

    fn provision_failed(&mut self, id: InstanceId, reason: String) {
        let was_unwanted = self.retiring.remove(&id).is_some();
        self.fleet.set_state(self.now, &id, InstanceState::Failed);
        self.fleet.remove(&id);
        self.emit(EventKind::InstanceFailed {
            instance: id,
            reason: format!("provision failed: {reason}"),
        });
        if was_unwanted {
            // Nobody needs it any more (superseded or aborted): its failure says nothing
            // about the revision being provisioned now, and must not slow that down.
            return;
        }
        self.provision_failures = self.provision_failures.saturating_add(1);
        let retry = self.spec.provision_retry;
        if self.provision_failures >= retry.max_failures && self.phase == Phase::Progressing {
            self.transition(Phase::Halted {
                reason: crate::rollout::phase::HaltReason::ProvisionFailed {
                    failures: self.provision_failures,
                    last_error: reason,
                },
            });
            self.backoff_until = None;
        } else {
            let until = self.now + retry.backoff(self.provision_failures);
            self.backoff_until = Some(until);
            self.emit(EventKind::ProvisionBackoff {
                failures: self.provision_failures,
                until,
            });
        }
    }

    fn health(&mut self, input: &Input, id: &InstanceId, healthy: bool) {
        let Some(state) = self.fleet.get(id).map(|i| i.state) else {
            return self.ignore(input, "unknown instance");
        };
        match (state, healthy) {
            (InstanceState::Provisioning, _) => self.ignore(input, "instance not provisioned yet"),
            (InstanceState::Terminated | InstanceState::Failed, _) => {
                self.ignore(input, "instance already gone");
            }
            (InstanceState::Starting, true) => {
                self.fleet.set_state(self.now, id, InstanceState::Ready);
                self.dirty.insert(id.clone());
                self.emit(EventKind::InstanceReady {
                    instance: id.clone(),
                });
                if self.fleet.get(id).is_some_and(|i| i.available) {
                    self.became_available(id.clone());
                }
            }
            (InstanceState::Ready, false) => {
                self.fleet.set_state(self.now, id, InstanceState::Starting);
                self.dirty.insert(id.clone());
                self.emit(EventKind::InstanceFailed {
                    instance: id.clone(),
                    reason: "failed a health check; out of rotation until it passes again".into(),
                });
            }
            // Level-triggered: the same verdict again, or one about an instance on its
            // way out, changes nothing.
            _ => {}
        }
    }

    fn drained(&mut self, id: InstanceId) {
        if let Some(Retire::Draining { deadline, .. }) = self.retiring.get(&id) {
            self.drain_deadlines.remove(&(*deadline, id.clone()));
        }
        self.terminate(id);
    }

    fn terminated(&mut self, id: InstanceId) {
        self.retiring.remove(&id);
        self.fleet
            .set_state(self.now, &id, InstanceState::Terminated);
        self.emit(EventKind::InstanceTerminated {
            instance: id.clone(),
        });
        self.dirty.insert(id.clone());
        self.reap(&id);
    }

    fn lost(&mut self, id: InstanceId, reason: String) {
        if let Some(Retire::Draining { deadline, .. }) = self.retiring.remove(&id) {
            self.drain_deadlines.remove(&(deadline, id.clone()));
        }
        // Answers to actions on a lost instance are late by definition.
        self.pending.retain(|_, p| *p.instance() != id);
        self.fleet.set_state(self.now, &id, InstanceState::Failed);
        self.dirty.insert(id.clone());
        self.emit(EventKind::InstanceFailed {
            instance: id.clone(),
            reason: format!("lost: {reason}"),
        });
        self.reap(&id);
    }

    /// Forgets a terminated or failed instance once no table can still list it.
    pub fn reap(&mut self, id: &InstanceId) {
        let Some(instance) = self.fleet.get(id) else {
            return;
        };
        if instance.state.is_final() && self.rotation.is_clear(id, instance.in_rotation) {
            self.fleet.remove(id);
            self.dirty.remove(id);
        }
    }

    // ----- timers ---------------------------------------------------------------

    pub fn handle_timeout(&mut self) {
        let now = self.now;
        while let Some((deadline, _)) = self.drain_deadlines.first() {
            if *deadline > now {
                break;
            }
            let (_, id) = self.drain_deadlines.pop_first().expect("checked first");
            if let Some(Retire::Draining { action, .. }) = self.retiring.get(&id) {
                self.pending.remove(action);
                self.emit(EventKind::DrainTimedOut {
                    instance: id.clone(),
                });
                self.terminate(id);
            }
        }
        if self.backoff_until.is_some_and(|until| until <= now) {
            self.backoff_until = None;
        }
        if self.phase == Phase::Progressing
            && !self.deadline_exceeded
            && self.last_progress + self.spec.progress_deadline <= now
        {
            self.deadline_exceeded = true;
            self.emit(EventKind::ProgressDeadlineExceeded {
                last_progress: self.last_progress,
            });
            if self.spec.on_progress_deadline == crate::spec::OnDeadline::Abort {
                self.abort(AbortReason::ProgressDeadline);
            }
        }
    }

    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let deadline = (self.phase == Phase::Progressing && !self.deadline_exceeded)
            .then(|| self.last_progress + self.spec.progress_deadline);
        [
            deadline,
            self.backoff_until,
            self.fleet.next_available_at(),
            self.drain_deadlines.first().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ----- commands -------------------------------------------------------------

    fn refuse(&self, command: &'static str) -> CommandError {
        CommandError::InvalidPhase {
            command,
            phase: self.phase.to_string(),
        }
    }

    pub fn deploy(&mut self, revision: Revision, is_rollback: bool) -> Result<(), CommandError> {
        if revision.as_str().is_empty() {
            return Err(CommandError::EmptyRevision);
        }
        if self.phase.is_in_flight() {
            if self.target.as_ref() == Some(&revision) {
                return Err(CommandError::AlreadyInFlight { revision });
            }
        } else if self.stable.as_ref() == Some(&revision) {
            return Err(CommandError::AlreadyStable { revision });
        }
        let supersedes = if self.phase.is_in_flight() {
            self.target.take()
        } else {
            None
        };
        self.start(revision, supersedes, is_rollback);
        Ok(())
    }

    /// Starts rolling out `revision` from the first step, and says so.
    fn start(&mut self, revision: Revision, supersedes: Option<Revision>, is_rollback: bool) {
        self.emit(EventKind::RolloutStarted {
            revision: revision.clone(),
            stable: self.stable.clone(),
            supersedes,
        });
        self.target = Some(revision.clone());
        self.last_target = Some(revision);
        self.is_rollback = is_rollback;
        self.provision_failures = 0;
        self.backoff_until = None;
        self.made_progress();
        self.transition(Phase::Progressing);
    }

    pub fn pause(&mut self) -> Result<(), CommandError> {
        if self.phase != Phase::Progressing {
            return Err(self.refuse("pause"));
        }
        self.transition(Phase::Paused);
        Ok(())
    }

    pub fn resume(&mut self) -> Result<(), CommandError> {
        if self.phase != Phase::Paused {
            return Err(self.refuse("resume"));
        }
        // Time spent paused does not count against the progress deadline.
        self.made_progress();
        self.transition(Phase::Progressing);
        Ok(())
    }

    pub fn promote_full(&mut self) -> Result<(), CommandError> {
        match self.phase {
            Phase::Progressing => Ok(()),
            Phase::Paused => self.resume(),
            _ => Err(self.refuse("promote")),
        }
    }

    pub fn abort_command(&mut self, reason: AbortReason) -> Result<(), CommandError> {
        if !self.phase.is_in_flight() {
            return Err(self.refuse(if reason == AbortReason::Rollback {
                "roll back"
            } else {
                "abort"
            }));
        }
        self.abort(reason);
        Ok(())
    }

    /// Traffic back to the stable revision, everything else on its way out.
    pub fn abort(&mut self, reason: AbortReason) {
        self.target = None;
        self.backoff_until = None;
        self.provision_failures = 0;
        self.transition(Phase::Aborted { reason });
    }

    pub fn retry(&mut self) -> Result<(), CommandError> {
        let target = match (&self.phase, &self.target, &self.last_target) {
            (Phase::Halted { .. }, Some(target), _) | (Phase::Aborted { .. }, _, Some(target)) => {
                target.clone()
            }
            _ => return Err(self.refuse("retry")),
        };
        if self.stable.as_ref() == Some(&target) {
            return Err(CommandError::AlreadyStable { revision: target });
        }
        self.start(target, None, self.is_rollback);
        Ok(())
    }

    pub fn rollback(&mut self) -> Result<(), CommandError> {
        if self.phase.is_in_flight() {
            return self.abort_command(AbortReason::Rollback);
        }
        let previous = self
            .previous_stable
            .clone()
            .ok_or(CommandError::NothingToRollBackTo)?;
        self.deploy(previous, true)
    }
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
