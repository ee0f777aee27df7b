//! The safety rules, in one place: turning a strategy's plan into actions.
//!
//! * Only ready and available instances are put in rotation ([`Core::flush`]).
//! * An instance leaves the table before it is drained, and is drained only once a table
//!   without it is acknowledged ([`Core::advance_retire`]); it is terminated only after
//!   it drained or its drain timed out.
//! * Scale-ups never take the instance count past `desired + max_surge`, counting
//!   instances on their way out; scale-downs never take available capacity below
//!   `desired - max_unavailable` (the arithmetic is in `strategy::rolling`).
//! * At most one table update per entry point, holding only what changed.

use crate::model::{InstanceId, InstanceState, Revision};
use crate::output::{Action, EventKind};
use crate::rollout::core::{Core, Pending, Retire};
use crate::rollout::phase::Phase;
use crate::rollout::rotation::proportional_weights;
use crate::strategy::{self, ReplicaCounts, ScaleStep};
use crate::traffic::{InstanceWeight, TableChange};

/// The states of an instance that is wanted and not yet ready, most disposable first:
/// these go before available ones when scaling down.
const NOT_YET_SERVING: [InstanceState; 2] = [InstanceState::Provisioning, InstanceState::Starting];

impl Core {
    /// Asks the strategy what to do next and does it, within the safety rules.
    pub fn reconcile(&mut self) {
        let plan_target = match self.phase {
            Phase::Progressing => self.target.clone(),
            // Frozen: only safety work (rotation, drains) continues.
            Phase::Paused | Phase::Halted { .. } => None,
            // Steady: keep the stable revision at `desired`.
            Phase::Idle | Phase::Completed | Phase::Aborted { .. } => self.stable.clone(),
        };
        if matches!(self.phase, Phase::Aborted { .. }) {
            self.remove_non_stable();
        }
        if let Some(target) = plan_target {
            let counts = self.replica_counts(&target);
            let mut step = strategy::plan(&self.spec.strategy, self.limits, counts);
            if matches!(self.phase, Phase::Aborted { .. }) {
                step.scale_down_old_available = self.abort_scale_down(counts, step);
            }
            self.execute(&target, step);
        }
        self.check_completion();
    }

    /// After an abort, while the stable revision cannot serve, the instances still
    /// serving are the only capacity there is: stop one only when the stable revision
    /// cannot get a slot any other way (none of it on its way up, nothing on its way out
    /// to free a slot, and nothing unavailable being removed in this step). Only specs
    /// that allow downtime get there.
    fn abort_scale_down(&self, counts: ReplicaCounts, step: ScaleStep) -> u32 {
        let stable_serves = counts.new_available > 0;
        if stable_serves {
            return step.scale_down_old_available;
        }
        let stuck = counts.new_replicas == 0
            && counts.terminating == 0
            && step.scale_down_old_unavailable == 0
            && counts.new_replicas + counts.old_replicas >= self.limits.max_total();
        u32::from(stuck).min(step.scale_down_old_available)
    }

    /// Head counts for the rolling arithmetic, in O(revisions).
    pub fn replica_counts(&self, target: &Revision) -> ReplicaCounts {
        let new = self.fleet.counts(target);
        let all = self.fleet.total();
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let new_replicas = new.pending() + new.ready();
        ReplicaCounts {
            new_replicas: count(new_replicas),
            new_available: count(new.available),
            old_replicas: count(all.pending() + all.ready() - new_replicas),
            old_available: count(all.available - new.available),
            terminating: count(all.get(InstanceState::Draining)),
        }
    }

    fn execute(&mut self, target: &Revision, step: ScaleStep) {
        if step.scale_down_new > 0 {
            // Not-yet-serving new instances go first, so capacity is kept.
            let ids = self
                .unavailable_ids(target)
                .chain(self.fleet.available_ids(target));
            first_n(step.scale_down_new, ids)
                .iter()
                .for_each(|id| self.retire(id));
        }
        let backing_off = self.backoff_until.is_some_and(|until| until > self.now);
        if !backing_off {
            for _ in 0..step.scale_up_new {
                self.provision(target.clone());
            }
        }
        let old = self.old_revisions(target);
        let unavailable = old.iter().flat_map(|r| self.unavailable_ids(r));
        let mut victims = first_n(step.scale_down_old_unavailable, unavailable);
        let available = old.iter().flat_map(|r| self.fleet.available_ids(r));
        victims.extend(first_n(step.scale_down_old_available, available));
        if !victims.is_empty() && self.phase == Phase::Progressing {
            self.made_progress();
        }
        victims.into_iter().for_each(|id| self.retire(&id));
    }

    /// Revisions other than `target`, intermediate ones first and the stable one last,
    /// so a superseded rollout is scaled away before the known-good revision.
    fn old_revisions(&self, target: &Revision) -> Vec<Revision> {
        let mut old: Vec<Revision> = self
            .fleet
            .revisions()
            .filter(|r| *r != target && Some(*r) != self.stable.as_ref())
            .cloned()
            .collect();
        if let Some(stable) = &self.stable {
            if stable != target {
                old.push(stable.clone());
            }
        }
        old
    }

    /// `revision`'s instances that are wanted but not available (provisioning, starting,
    /// or ready for less than `min_ready`), most disposable first.
    fn unavailable_ids<'a>(
        &'a self,
        revision: &'a Revision,
    ) -> impl Iterator<Item = &'a InstanceId> + 'a {
        NOT_YET_SERVING
            .into_iter()
            .flat_map(move |state| self.fleet.ids_in_state(revision, state))
            .chain(self.fleet.fresh_ids(revision))
    }

    /// After an abort: every instance not of the stable revision goes, but instances
    /// still serving stay until the stable revision can serve, so that no request is
    /// dropped for want of a backend; then they all leave in one table update.
    fn remove_non_stable(&mut self) {
        let stable_can_serve = self
            .stable
            .as_ref()
            .is_none_or(|s| self.fleet.counts(s).available > 0);
        let others: Vec<Revision> = self
            .fleet
            .revisions()
            .filter(|r| Some(*r) != self.stable.as_ref())
            .cloned()
            .collect();
        for revision in others {
            let mut victims: Vec<InstanceId> = Vec::new();
            for state in [
                InstanceState::Provisioning,
                InstanceState::Starting,
                InstanceState::Ready,
            ] {
                let ids = self.fleet.ids_in_state(&revision, state);
                victims.extend(
                    ids.filter(|id| {
                        stable_can_serve || !self.fleet.get(id).is_some_and(|i| i.available)
                    })
                    .cloned(),
                );
            }
            victims.iter().for_each(|id| self.retire(id));
        }
    }

    fn check_completion(&mut self) {
        if self.phase != Phase::Progressing {
            return;
        }
        let Some(target) = self.target.clone() else {
            return;
        };
        let new = self.fleet.counts(&target);
        let desired = self.limits.desired as usize;
        if new.available == desired && self.fleet.total().live() == desired {
            // Rolling back onto the stable revision itself keeps the earlier fallback.
            if self.stable.as_ref() != Some(&target) {
                self.previous_stable = self.stable.replace(target);
            }
            self.target = None;
            self.transition(Phase::Completed);
        }
    }

    fn provision(&mut self, revision: Revision) {
        let instance = loop {
            let candidate = InstanceId::new(format!("{revision}-{}", self.next_instance));
            self.next_instance += 1;
            if self.fleet.get(&candidate).is_none() {
                break candidate;
            }
        };
        let record = crate::model::Instance::new(
            instance.clone(),
            revision.clone(),
            InstanceState::Provisioning,
        );
        if self.fleet.insert(self.now, record).is_err() {
            return;
        }
        let id = self.next_action_id();
        self.pending
            .insert(id, Pending::Provision(instance.clone()));
        self.actions.push_back(Action::Provision {
            id,
            instance,
            revision,
        });
    }

    /// Starts taking an instance out: out of the plan now, out of rotation at the next
    /// flush, drained once that is acknowledged, then terminated.
    pub fn retire(&mut self, id: &InstanceId) {
        if self.retiring.contains_key(id) {
            return;
        }
        let stage = match self.fleet.get(id).map(|i| i.state) {
            Some(InstanceState::Provisioning) => Retire::AwaitProvisioned,
            Some(InstanceState::Starting | InstanceState::Ready) => Retire::AwaitExit,
            _ => return,
        };
        self.fleet.set_state(self.now, id, InstanceState::Draining);
        self.retiring.insert(id.clone(), stage);
        self.dirty.insert(id.clone());
        self.advance_retire(id);
    }

    /// Drains a retiring instance once no table the load balancer may apply lists it.
    pub fn advance_retire(&mut self, id: &InstanceId) {
        if self.retiring.get(id) != Some(&Retire::AwaitExit) {
            return;
        }
        let in_rotation = self.fleet.get(id).is_some_and(|i| i.in_rotation);
        let listed = self.rotation.published.revision_of(id).is_some();
        // A listed instance is removed by the next flush; only then can it exit.
        if listed || !self.rotation.is_clear(id, in_rotation) {
            return;
        }
        let action = self.next_action_id();
        let timeout = self.spec.drain_timeout;
        let deadline = self.now + timeout;
        self.retiring
            .insert(id.clone(), Retire::Draining { action, deadline });
        self.drain_deadlines.insert((deadline, id.clone()));
        self.pending.insert(action, Pending::Drain(id.clone()));
        self.actions.push_back(Action::Drain {
            id: action,
            instance: id.clone(),
            timeout,
        });
    }

    pub fn terminate(&mut self, id: InstanceId) {
        let action = self.next_action_id();
        self.retiring
            .insert(id.clone(), Retire::Terminating { action });
        self.pending.insert(action, Pending::Terminate(id.clone()));
        self.actions.push_back(Action::Terminate {
            id: action,
            instance: id,
        });
    }

    /// Brings the table in line with the fleet: one update holding every instance that
    /// became eligible or stopped being eligible since the last flush.
    pub fn flush(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        let mut membership = Vec::new();
        for id in dirty {
            let listed = self.rotation.published.revision_of(&id).cloned();
            let instance = self.fleet.get(&id);
            let eligible = instance.is_some_and(|i| {
                i.state == InstanceState::Ready && i.available && !self.retiring.contains_key(&id)
            });
            match (eligible, listed, instance) {
                (true, None, Some(instance)) => membership.push(TableChange::AddInstance {
                    revision: instance.revision.clone(),
                    instance: id,
                    weight: InstanceWeight::ONE,
                }),
                (false, Some(revision), _) => membership.push(TableChange::RemoveInstance {
                    revision,
                    instance: id,
                }),
                _ => {}
            }
        }
        let removed: Vec<InstanceId> = membership
            .iter()
            .filter_map(|c| match c {
                TableChange::RemoveInstance { instance, .. } => Some(instance.clone()),
                _ => None,
            })
            .collect();
        match self.rotation.publish(membership, proportional_weights) {
            Ok(Some(diff)) => {
                let id = self.next_action_id();
                self.actions.push_back(Action::UpdateTraffic {
                    id,
                    generation: diff.to_generation,
                    diff,
                });
            }
            Ok(None) => {}
            Err(error) => {
                debug_assert!(
                    false,
                    "the eligibility rules produced an invalid table: {error}"
                );
                self.emit(EventKind::InternalError {
                    detail: format!("refused to publish an invalid table: {error}"),
                });
            }
        }
        // Instances that failed while listed can be forgotten once their exit is
        // acknowledged; ones that never made it into a table, now.
        for id in removed {
            self.reap(&id);
        }
    }
}

/// The first `n` ids, owned.
fn first_n<'a>(n: u32, ids: impl Iterator<Item = &'a InstanceId>) -> Vec<InstanceId> {
    ids.take(n as usize).cloned().collect()
}
