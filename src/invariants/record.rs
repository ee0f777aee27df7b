//! Bookkeeping of the rollout's outputs, with the rules each action must obey.

use super::{Checker, Found, Rule};
use crate::output::{Action, Event, EventKind};
use crate::rollout::{Phase, Rollout};
use crate::strategy::StepKind;

impl Checker {
    /// Takes note of the outputs of a call, checking the per-action rules (invariant 2
    /// among them). `rollout` is the rollout after the call.
    pub(super) fn record(
        &mut self,
        rollout: &Rollout,
        actions: &[Action],
        events: &[Event],
        found: &mut Found,
    ) {
        let mut updates = 0;
        let in_experiment =
            || rollout.status().step_kind.map(|s| s.0) == Some(StepKind::Experiment);
        for action in actions {
            found.ensure(action.id().0 > self.last_action, Rule::Bookkeeping, || {
                format!(
                    "action ids must increase: {action:?} after #{}",
                    self.last_action
                )
            });
            self.last_action = self.last_action.max(action.id().0);
            match action {
                Action::Provision {
                    instance,
                    revision,
                    group,
                    ..
                } => {
                    // A baseline is the stable revision's, made for an experiment step.
                    if !group.is_main() {
                        found.same(Some(revision), rollout.stable(), Rule::Bookkeeping, || {
                            "a baseline not of the stable revision".to_owned()
                        });
                        found.ensure(in_experiment(), Rule::Bookkeeping, || {
                            "a baseline provisioned outside an experiment".to_owned()
                        });
                    }
                    let fresh = self.names.insert(instance.clone())
                        || self.adopted_provisioning.remove(instance);
                    found.ensure(fresh, Rule::Bookkeeping, || {
                        format!("instance name {instance} minted twice")
                    });
                    let wanted = [rollout.target(), rollout.stable()];
                    // A call that aborted may have provisioned for the target first (at
                    // the end of time every deadline is due at once): the abort's
                    // revert takes care of it.
                    let aborted = events.iter().any(|e| {
                        matches!(
                            &e.kind,
                            EventKind::PhaseChanged {
                                to: Phase::Aborted { .. },
                                ..
                            }
                        )
                    });
                    found.ensure(
                        aborted || wanted.contains(&Some(revision)),
                        Rule::Bookkeeping,
                        || {
                            format!(
                                "provisioned {revision}, neither target {:?} nor stable {:?}",
                                rollout.target(),
                                rollout.stable()
                            )
                        },
                    );
                }
                Action::UpdateTraffic {
                    generation, diff, ..
                } => {
                    updates += 1;
                    let previous = self.published();
                    found.same(diff.from_generation, previous, Rule::Bookkeeping, || {
                        "diff from the wrong generation".to_owned()
                    });
                    found.same(diff.to_generation, previous + 1, Rule::Bookkeeping, || {
                        "generations go up by one".to_owned()
                    });
                    found.same(*generation, diff.to_generation, Rule::Bookkeeping, || {
                        "generation field and diff disagree".to_owned()
                    });
                    let mut table = self.tables.get(&previous).cloned().unwrap_or_default();
                    if let Err(e) = table.apply(diff) {
                        found.ensure(false, Rule::Bookkeeping, || {
                            format!("published diff does not apply: {e}: {diff:?}")
                        });
                        table = rollout.traffic().clone();
                    }
                    for backend in table.backends() {
                        self.ever_listed
                            .extend(backend.instances().map(|(id, _)| id.clone()));
                    }
                    self.tables.insert(*generation, table);
                }
                Action::Drain { instance, .. } => {
                    found.ensure(
                        self.drain_asked.insert(instance.clone()),
                        Rule::Bookkeeping,
                        || format!("{instance} drained twice"),
                    );
                }
                Action::Terminate { instance, .. } => {
                    found.ensure(
                        self.terminate_asked.insert(instance.clone()),
                        Rule::Bookkeeping,
                        || format!("{instance} terminated twice"),
                    );
                    found.ensure(
                        self.drain_asked.contains(instance) || !self.ever_listed.contains(instance),
                        Rule::Rotation,
                        || format!("{instance} was in rotation and is terminated without a drain"),
                    );
                }
                Action::Measure {
                    revision,
                    baseline,
                    baseline_group,
                    ..
                } => {
                    found.same(Some(revision), rollout.target(), Rule::Bookkeeping, || {
                        "measured a revision other than the target".to_owned()
                    });
                    found.same(
                        baseline.as_ref(),
                        rollout.stable(),
                        Rule::Bookkeeping,
                        || "compared with a revision other than stable".to_owned(),
                    );
                    // Only an experiment's own checks compare with its baseline.
                    if !baseline_group.is_main() {
                        found.ensure(in_experiment(), Rule::Bookkeeping, || {
                            "measured against a baseline outside an experiment".to_owned()
                        });
                    }
                }
                Action::Redeploy {
                    instance, revision, ..
                } => {
                    found.same(Some(revision), rollout.target(), Rule::Bookkeeping, || {
                        "redeployed to a revision other than the target".to_owned()
                    });
                    for (generation, table) in self.tables.range(self.acked..) {
                        found.ensure(
                            table.revision_of(instance).is_none(),
                            Rule::Rotation,
                            || format!("{instance} redeployed while table {generation} lists it"),
                        );
                    }
                    found.ensure(self.drain_asked.contains(instance), Rule::Rotation, || {
                        format!("{instance} redeployed without a drain")
                    });
                    // A new life: it may be listed, drained and terminated again.
                    self.drain_asked.remove(instance);
                    self.ever_listed.remove(instance);
                }
                Action::RunHook { revision, .. } => {
                    found.same(Some(revision), rollout.target(), Rule::Bookkeeping, || {
                        "a hook checks a revision other than the target".to_owned()
                    });
                }
            }
        }
        found.ensure(updates <= 1, Rule::Bookkeeping, || {
            format!("{updates} table updates from one call")
        });
        // Invariant 2, checked once every table of this call is known: no table the load
        // balancer may still apply (the acknowledged one and any newer) lists an instance
        // that is drained or terminated.
        for action in actions {
            if let Action::Drain { instance, .. } | Action::Terminate { instance, .. } = action {
                for (generation, table) in self.tables.range(self.acked..) {
                    found.ensure(
                        table.revision_of(instance).is_none(),
                        Rule::Rotation,
                        || {
                            format!(
                                "{action:?} while table {generation} (acknowledged {}) lists it",
                                self.acked
                            )
                        },
                    );
                }
            }
        }
        for event in events {
            if let EventKind::InternalError { detail } = &event.kind {
                found.ensure(false, Rule::Bookkeeping, || {
                    format!("internal error: {detail}")
                });
            }
        }
    }
}
