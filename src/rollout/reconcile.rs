//! From plan to load balancer: ask the strategy for its desired state, move toward it
//! inside the envelope (`envelope.rs`), and publish at most one table update per call
//! holding only what changed.
//!
//! Only ready and available instances that are not on their way out are put in
//! rotation; traffic follows the plan's intent as fast as capacity allows.

use crate::model::Revision;
use crate::output::{Action, EventKind};
use crate::rollout::core::Core;
use crate::rollout::envelope::follow_capacity;
use crate::rollout::phase::{PauseReason, Phase};
use crate::rollout::rotation::{Layout, proportional_weights};
use crate::strategy::{
    self, ExplicitTraffic, FleetView, Mode, PerRole, Plan, PlanInput, Role, TrafficIntent,
};
use crate::traffic::{InstanceWeight, MatchRoute, Mirror, TableChange, Weight};

impl Core {
    /// What the core asks the planner for in the current phase, and whether it may act
    /// on the answer (a paused or halted rollout only keeps its traffic in line).
    pub fn mode(&self) -> (Mode, bool) {
        match self.phase {
            // A step's own wait keeps the plan in force (green instances replaced while
            // a promotion is awaited); an operator's pause stops everything.
            Phase::Progressing
            | Phase::Paused {
                reason: PauseReason::Step { .. },
            } => (Mode::Rollout, true),
            Phase::Paused { .. } | Phase::Halted { .. } => (Mode::Rollout, false),
            Phase::Aborted { .. } => (Mode::Revert, true),
            Phase::Idle | Phase::Completed => (Mode::Steady, true),
        }
    }

    /// What the planner decides from, given the fleet as it is (`view`).
    pub fn plan_input(&self, view: FleetView) -> PlanInput {
        let (mode, _) = self.mode();
        PlanInput {
            mode,
            limits: self.limits,
            view,
            has_stable: self.stable.is_some() && self.stable != self.target,
            now: self.now,
            step: self.step_state(),
            traffic: self.published_weights(),
            traffic_acknowledged: !self.rotation.awaiting_ack(),
        }
    }

    /// Each role's weight in the latest published table.
    pub fn published_weights(&self) -> PerRole<Weight> {
        let mut weights = PerRole::<Weight>::default();
        for backend in self.rotation.published.backends() {
            let role = self.role_of(backend.revision());
            let sum = weights[role].basis_points() + backend.weight().basis_points();
            weights[role] = Weight::from_basis_points(u64::from(sum)).unwrap_or(Weight::FULL);
        }
        weights
    }

    /// The strategy's desired state now (pure: status and previews call it too).
    pub fn plan(&self) -> Plan {
        strategy::plan(&self.spec.strategy, &self.plan_input(self.fleet_view()))
    }

    /// Asks the strategy what it wants for the fleet as it is (`view`) and moves toward
    /// it, within the envelope.
    pub fn reconcile(&mut self, view: FleetView) -> Plan {
        let input = self.plan_input(view);
        let mut plan = strategy::plan(&self.spec.strategy, &input);
        let (mode, acts) = self.mode();
        if acts && mode == Mode::Rollout {
            plan = self.advance_steps(view, plan);
        }
        // Advancing may have aborted (a check failed) or paused the rollout.
        let (mode, acts) = self.mode();
        if mode != input.mode {
            plan = strategy::plan(&self.spec.strategy, &self.plan_input(view));
        }
        if acts {
            self.execute(&plan, &input.view, mode);
        }
        if mode == Mode::Rollout {
            self.note_in_place(&plan);
        }
        plan
    }

    /// Completes the rollout once the plan's end state is reached *and* the load
    /// balancer has acknowledged the table that goes with it. Returns whether it did.
    pub fn check_completion(&mut self, plan: &Plan) -> bool {
        if self.phase != Phase::Progressing || !plan.step.complete || self.rotation.awaiting_ack() {
            return false;
        }
        let Some(target) = self.target.take() else {
            return false;
        };
        self.end_analysis();
        self.end_checks();
        // Rolling back onto the stable revision itself keeps the earlier fallback.
        if self.stable.as_ref() != Some(&target) {
            self.previous_stable = self.stable.replace(target);
            // Blue-green keeps the previous environment warm as the standby.
            let keep = strategy::standby_after_completion(&self.spec.strategy, self.now);
            if let (Some(until), Some(previous)) = (keep, self.previous_stable.clone()) {
                self.standby = Some(previous.clone());
                self.standby_until = until;
                self.emit(EventKind::StandbyKept {
                    revision: previous,
                    until,
                });
            }
        }
        self.transition(Phase::Completed);
        true
    }

    /// Forgets the standby revision once none of its instances is left.
    pub fn forget_empty_standby(&mut self) {
        let Some(standby) = &self.standby else {
            return;
        };
        if self.role_of(standby) != Role::Standby || self.fleet.counts(standby).live() == 0 {
            self.standby = None;
            self.standby_until = None;
        }
    }

    /// Brings the table in line with the fleet and the plan's traffic intent: one
    /// update holding every instance that became eligible or stopped being eligible
    /// since the last flush, and any weight, route or mirror change.
    /// Returns whether it published (or amended) an update.
    pub fn flush(&mut self, intent: &TrafficIntent) -> bool {
        let dirty = std::mem::take(&mut self.dirty);
        let mut membership = Vec::new();
        let mut removed = Vec::new();
        for id in dirty {
            let listed = self.rotation.published.revision_of(&id).cloned();
            let instance = self.fleet.get(&id);
            let eligible = instance.is_some_and(|i| self.may_serve(i));
            match (eligible, listed, instance) {
                (true, None, Some(instance)) => membership.push(TableChange::AddInstance {
                    revision: instance.revision.clone(),
                    instance: id,
                    weight: InstanceWeight::ONE,
                }),
                (false, Some(revision), _) => {
                    removed.push(id.clone());
                    membership.push(TableChange::RemoveInstance {
                        revision,
                        instance: id,
                    });
                }
                _ => {}
            }
        }
        // Proportional weights change only with membership: with none, and no routes or
        // mirror to drop, there is nothing to publish (the common case, kept cheap).
        let table = &self.rotation.published;
        if membership.is_empty()
            && !self.relayout
            && matches!(intent, TrafficIntent::Proportional)
            && table.routes().is_empty()
            && table.mirror().is_none()
        {
            return false;
        }
        let floor = self.limits.min_available();
        let now = self.now;
        // The layout reads the core while the rotation is edited: split the borrow.
        let mut rotation = std::mem::take(&mut self.rotation);
        let queued = self.actions.iter().rposition(|a| {
            matches!(a, Action::UpdateTraffic { generation, .. }
                if *generation == rotation.published.generation() && *generation > rotation.acknowledged)
        });
        let amend = queued.is_some();
        // Revisions holding keys in the table the load balancer has (when not amending).
        let weighted: Vec<Revision> = rotation
            .published
            .backends()
            .iter()
            .filter(|b| !b.weight().is_zero())
            .map(|b| b.revision().clone())
            .collect();
        let sent = (!amend).then_some(weighted.as_slice());
        let relayout = std::mem::take(&mut self.relayout);
        let layout = |counts: &[(Revision, usize)]| match intent {
            TrafficIntent::Proportional => Layout {
                weights: proportional_weights(counts),
                order: self.target_last(counts, sent, relayout),
                ..Layout::default()
            },
            TrafficIntent::Explicit(explicit) => {
                self.explicit_layout(explicit, counts, floor, sent, relayout)
            }
        };
        // An update still queued has not reached the load balancer: fold this one into
        // it, so that one call (or one unpolled batch) sends one table update.
        let published = rotation.publish(now, membership, layout, amend);
        self.rotation = rotation;
        let changed = matches!(published, Ok(Some(_)));
        match published {
            Ok(Some(diff)) => match queued.and_then(|i| self.actions.get_mut(i)) {
                Some(Action::UpdateTraffic { diff: queued, .. }) => {
                    queued.changes.extend(diff.changes);
                }
                _ => {
                    let id = self.next_action_id();
                    self.actions.push_back(Action::UpdateTraffic {
                        id,
                        generation: diff.to_generation,
                        diff,
                    });
                }
            },
            Ok(None) => {}
            Err(error) => {
                debug_assert!(false, "the core's rules produced an invalid table: {error}");
                self.emit(EventKind::InternalError {
                    detail: format!("refused to publish an invalid table: {error}"),
                });
            }
        }
        // Instances that failed while listed can be forgotten once their exit is
        // acknowledged; ones that never made it into a table (an amended update took
        // them in and out before the load balancer saw it), now: drained or reaped.
        for id in removed {
            self.advance_retire(&id);
            self.reap(&id);
        }
        changed
    }

    /// The layout order that puts the target last, if it is not there yet and moving
    /// it moves no key: only while the target has no weight (a revision of weight 0
    /// takes no room in the split). The split lays revisions out from the start of the
    /// key space, so the last one's keys depend on its own weight alone: whatever
    /// happens to the weights before it (a superseded revision's weight returning to
    /// stable, capacity moving weight between them after a fault), no key leaves the
    /// target while its share does not shrink. With superseded weights at 0, the target
    /// is next to stable, as the router's monotonicity theorem asks.
    ///
    /// A revision that comes (back) into the table while the target has weight (the
    /// stable revision returning after all its instances failed) goes before it: it
    /// held no keys, so placing it there moves none.
    ///
    /// `sent` lists the revisions with weight in the table the load balancer has; it is
    /// `None` while an update is amended (the load balancer has not seen the weights
    /// it moved), and then nothing is moved.
    ///
    /// `relayout` (the first flush of a new rollout) moves the target last whatever it
    /// holds: an adopted table may list it in the middle, where any weight moving
    /// between the revisions beside it would move its keys for the whole rollout.
    fn target_last(
        &self,
        counts: &[(Revision, usize)],
        sent: Option<&[Revision]>,
        relayout: bool,
    ) -> Option<Vec<Revision>> {
        let target = self.target.as_ref()?;
        let at = counts.iter().position(|(r, _)| r == target)?;
        if at + 1 == counts.len() {
            return None;
        }
        if !relayout {
            let sent = sent?;
            let keyless = |revision: &Revision| !sent.contains(revision);
            if !(keyless(target) || counts[at + 1..].iter().all(|(r, _)| keyless(r))) {
                return None;
            }
        }
        let mut order: Vec<Revision> = counts.iter().map(|(r, _)| r.clone()).collect();
        let moved = order.remove(at);
        order.push(moved);
        Some(order)
    }

    /// Explicit weights per revision, following capacity; routes and a mirror only to
    /// revisions that keep an instance in rotation (dropped in the same update as their
    /// target's last instance).
    fn explicit_layout(
        &self,
        explicit: &ExplicitTraffic,
        counts: &[(Revision, usize)],
        floor: u32,
        sent: Option<&[Revision]>,
        relayout: bool,
    ) -> Layout {
        let superseded_total: usize = counts
            .iter()
            .filter(|(r, _)| self.role_of(r) == Role::Superseded)
            .map(|(_, n)| n)
            .sum();
        let wanted: Vec<(Revision, u64)> = counts
            .iter()
            .map(|(revision, n)| {
                let role = self.role_of(revision);
                let share = u64::from(explicit.weights[role].basis_points());
                let bp = match role {
                    Role::Superseded if superseded_total > 0 => {
                        share * *n as u64 / superseded_total as u64
                    }
                    _ => share,
                };
                (revision.clone(), bp)
            })
            .collect();
        // Rounding among superseded revisions, and roles with no revision listed, can
        // leave basis points unassigned: `follow_capacity` hands them to whoever has
        // room, so the weights still add up.
        let wanted_bp: Vec<u16> = wanted
            .iter()
            .map(|(_, bp)| u16::try_from(*bp).unwrap_or(u16::MAX))
            .collect();
        let capacity: Vec<usize> = counts.iter().map(|(_, n)| *n).collect();
        let serving = |role: Role| {
            counts
                .iter()
                .find(|(r, n)| *n > 0 && self.role_of(r) == role && role != Role::Superseded)
                .map(|(r, _)| r.clone())
        };
        Layout {
            order: self.target_last(counts, sent, relayout),
            weights: follow_capacity(&wanted_bp, &capacity, floor),
            routes: explicit
                .routes
                .iter()
                .filter_map(|(condition, role)| {
                    serving(*role).map(|r| MatchRoute::new(condition.clone(), r))
                })
                .collect(),
            mirror: explicit
                .mirror
                .and_then(|(role, share)| serving(role).map(|r| Mirror::new(r, share))),
        }
    }
}
