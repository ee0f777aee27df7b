//! From plan to fleet: ask the strategy for its desired state (held at its step until
//! the load balancer applies the step's traffic), and move toward it inside the envelope
//! (`envelope.rs`); the table follows in `publish.rs`.

use crate::output::EventKind;
use crate::rollout::core::Core;
use crate::rollout::phase::{PauseReason, Phase};
use crate::rollout::stage::{Hold, Stage};
use crate::strategy::{
    ExplicitTraffic, FleetView, Mode, PerRole, Plan, PlanInput, Role, StepWait, TrafficIntent,
};
use crate::traffic::Weight;

impl Core {
    /// What the core asks the planner for in the current phase, and whether it may act
    /// on the answer (a paused or halted rollout only keeps its traffic in line).
    pub(crate) fn mode(&self) -> (Mode, bool) {
        match &self.stage {
            // A step's own wait keeps the plan in force (green instances replaced while
            // a promotion is awaited); an operator's pause stops everything.
            Stage::InFlight(flight) => match flight.hold {
                Hold::Progressing | Hold::Paused(PauseReason::Step { .. }) => (Mode::Rollout, true),
                Hold::Paused(_) | Hold::Halted(_) => (Mode::Rollout, false),
            },
            Stage::Aborted(_) => (Mode::Revert, true),
            Stage::Idle | Stage::Completed { .. } => (Mode::Steady, true),
        }
    }

    /// What the planner decides from, given the fleet as it is (`view`).
    pub(crate) fn plan_input(&self, view: FleetView) -> PlanInput {
        let (mode, _) = self.mode();
        PlanInput {
            mode,
            limits: self.limits,
            view,
            has_stable: self.stable.is_some() && self.stable.as_ref() != self.target(),
            now: self.now,
            step: self.step_state(),
        }
    }

    /// Each role's weight in the latest published table.
    pub(crate) fn published_weights(&self) -> PerRole<Weight> {
        let mut weights = PerRole::<Weight>::default();
        for backend in self.rotation.published.backends() {
            let role = self.role_of(backend.revision());
            let sum = weights[role].basis_points() + backend.weight().basis_points();
            weights[role] = Weight::from_basis_points(u64::from(sum)).unwrap_or(Weight::FULL);
        }
        weights
    }

    /// The strategy's desired state now (pure: status and previews call it too).
    pub(crate) fn plan(&self) -> Plan {
        self.plan_for(self.fleet_view())
    }

    /// The strategy's desired state for the fleet as it is (`view`), its step held
    /// until the load balancer applies the step's traffic. A step is done, and the
    /// rollout complete, only once the load balancer has acknowledged the plan's split;
    /// a step is in place (its checks start, its clock runs) only once it has
    /// acknowledged everything published, the step's instances included. Steps skipped
    /// outright (a full promotion, a rollback) are walked through without waiting for
    /// each one's table; completion always waits.
    pub(crate) fn plan_for(&self, view: FleetView) -> Plan {
        let input = self.plan_input(view);
        let mut plan = self.spec.strategy.planner().plan(&input);
        if input.mode == Mode::Revert && !input.has_stable {
            // Nothing to go back to (a first deploy): the abort stops the rollout and
            // keeps serving what serves, rather than taking it all down; what does not
            // serve yet goes. Users stay where they are (on the aborted target if none
            // was served yet).
            for &role in Role::ALL {
                plan.wanted[role] = view.roles[role].available;
            }
            if let TrafficIntent::Explicit(explicit) = &mut plan.traffic {
                let published = self.published_weights();
                let serving = Role::ALL.iter().any(|r| !published[*r].is_zero());
                *explicit = if serving {
                    ExplicitTraffic {
                        weights: published,
                        ..ExplicitTraffic::back_to(Role::Target)
                    }
                } else {
                    ExplicitTraffic::back_to(Role::Target)
                };
            }
        }
        if input.mode != Mode::Rollout || input.step.skips_checks() {
            plan.step.complete = plan.step.complete && self.traffic_in_force(&plan.traffic);
            return plan;
        }
        // Whether the split is in force matters only to a step that could be complete
        // or is in place; asking costs a walk of the pending changes, so ask only then.
        let split =
            (plan.step.complete || plan.step.in_place()) && self.traffic_in_force(&plan.traffic);
        if !split {
            plan.step.complete = false;
            if plan.step.in_place() {
                plan.step.done = false;
            }
        }
        let applied = split && !self.rotation.awaiting_ack();
        if !applied && !plan.step.done && plan.step.in_place() {
            plan.step.waiting = Some(StepWait::Traffic);
        }
        plan
    }

    /// Asks the strategy what it wants for the fleet as it is (`view`) and moves toward
    /// it, within the envelope.
    pub(crate) fn reconcile(&mut self, mut view: FleetView) -> Plan {
        let input = self.plan_input(view);
        let mut plan = self.plan_for(view);
        let (mode, acts) = self.mode();
        if acts && mode == Mode::Rollout {
            plan = self.advance_steps(view, plan);
        }
        // Advancing may have aborted (a check failed) or paused the rollout.
        let (mode, acts) = self.mode();
        if mode != input.mode {
            plan = self.plan_for(view);
        }
        // A resize is carried out first, whatever holds the rollout (an autoscaler does
        // not wait for a person): its plan resizes without making progress. Then the
        // rollout goes on from there, if it acts.
        if self.sized_for != self.limits.desired() {
            self.execute(&plan, &view, mode);
            self.sized_for = self.limits.desired();
            view = self.fleet_view();
            plan = self.plan_for(view);
        }
        if acts {
            self.execute(&plan, &view, mode);
        }
        if mode == Mode::Rollout {
            self.note_in_place(&plan);
        }
        plan
    }

    /// Completes the rollout once the plan's end state is reached *and* the load
    /// balancer has acknowledged the table that goes with it. Returns whether it did.
    pub(crate) fn check_completion(&mut self, plan: &Plan) -> bool {
        if self.phase() != Phase::Progressing || !plan.step.complete || self.rotation.awaiting_ack()
        {
            return false;
        }
        let Some(target) = self.target().cloned() else {
            return false;
        };
        self.end_analysis();
        self.end_checks();
        let rollback = self.stage.is_rollback();
        self.enter(Stage::Completed { rollback });
        // Rolling back onto the stable revision itself keeps the earlier fallback.
        if self.stable.as_ref() != Some(&target) {
            self.previous_stable = self.stable.replace(target);
            // Blue-green keeps the previous environment warm as the standby.
            let keep = self
                .spec
                .strategy
                .planner()
                .standby_after_completion(self.now);
            if let (Some(until), Some(previous)) = (keep, self.previous_stable.clone()) {
                self.standby = Some(previous.clone());
                self.standby_until = until;
                self.emit(EventKind::StandbyKept {
                    revision: previous,
                    until,
                });
            }
        }
        true
    }

    /// Forgets the standby revision once none of its instances is left.
    pub(crate) fn forget_empty_standby(&mut self) {
        let Some(standby) = &self.standby else {
            return;
        };
        if self.role_of(standby) != Role::Standby || self.fleet.counts(standby).live() == 0 {
            self.standby = None;
            self.standby_until = None;
        }
    }
}
