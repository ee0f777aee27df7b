//! Bookkeeping of the rollout's outputs, with the rules each action must obey.

use cutover::{Action, Event, EventKind};

use super::harness::World;

impl World {
    /// Takes note of the outputs, checking the per-action rules (invariant 2 among them).
    pub(super) fn record_checked(&mut self, actions: &[Action], events: &[Event], context: &str) {
        let mut updates = 0;
        for action in actions {
            assert!(
                action.id().0 > self.last_action,
                "{context}: action ids must increase: {action:?} after #{}",
                self.last_action
            );
            self.last_action = action.id().0;
            match action {
                Action::Provision {
                    id,
                    instance,
                    revision,
                    group,
                } => {
                    // A baseline is the stable revision's, made for an experiment step.
                    if !group.is_main() {
                        assert_eq!(
                            Some(revision),
                            self.rollout.stable(),
                            "{context}: a baseline of {revision}, not of the stable revision"
                        );
                        assert_eq!(
                            self.rollout.status().step_kind.map(|s| s.0),
                            Some(cutover::strategy::StepKind::Experiment),
                            "{context}: a baseline provisioned outside an experiment"
                        );
                    }
                    assert!(
                        self.names.insert(instance.clone())
                            || self.adopted_provisioning.remove(instance),
                        "{context}: instance name {instance} minted twice"
                    );
                    let wanted = [self.rollout.target(), self.rollout.stable()];
                    // A call that aborted may have provisioned for the target first (at
                    // the end of time every deadline is due at once): the abort's
                    // revert takes care of it.
                    let aborted = events.iter().any(|e| {
                        matches!(
                            &e.kind,
                            EventKind::PhaseChanged {
                                to: cutover::Phase::Aborted { .. },
                                ..
                            }
                        )
                    });
                    assert!(
                        aborted || wanted.contains(&Some(revision)),
                        "{context}: provisioned {revision}, neither target {:?} nor stable {:?}",
                        self.rollout.target(),
                        self.rollout.stable()
                    );
                    self.provisions.insert(*id, instance.clone());
                }
                Action::UpdateTraffic {
                    generation, diff, ..
                } => {
                    updates += 1;
                    let previous = self.published();
                    assert_eq!(
                        diff.from_generation, previous,
                        "{context}: diff from the wrong generation"
                    );
                    assert_eq!(
                        diff.to_generation,
                        previous + 1,
                        "{context}: generations go up by one"
                    );
                    assert_eq!(
                        *generation, diff.to_generation,
                        "{context}: generation field and diff disagree"
                    );
                    let mut table = self.tables[&previous].clone();
                    table.apply(diff).unwrap_or_else(|e| {
                        panic!("{context}: published diff does not apply: {e}: {diff:?}")
                    });
                    for backend in table.backends() {
                        self.ever_listed
                            .extend(backend.instances().map(|(id, _)| id.clone()));
                    }
                    self.tables.insert(*generation, table);
                }
                Action::Drain { id, instance, .. } => {
                    assert!(
                        self.drain_asked.insert(instance.clone()),
                        "{context}: {instance} drained twice"
                    );
                    self.drains.insert(*id, instance.clone());
                }
                Action::Terminate { id, instance } => {
                    assert!(
                        self.terminate_asked.insert(instance.clone()),
                        "{context}: {instance} terminated twice"
                    );
                    assert!(
                        self.drain_asked.contains(instance) || !self.ever_listed.contains(instance),
                        "{context}: invariant 2: {instance} was in rotation and is terminated without a drain"
                    );
                    self.terminations.insert(*id, instance.clone());
                }
                Action::Measure {
                    id,
                    metric,
                    revision,
                    baseline,
                    baseline_group,
                    ..
                } => {
                    assert_eq!(
                        Some(revision),
                        self.rollout.target(),
                        "{context}: measured a revision other than the target"
                    );
                    assert_eq!(
                        baseline.as_ref(),
                        self.rollout.stable(),
                        "{context}: compared with a revision other than stable"
                    );
                    // Only an experiment's own checks compare with its baseline.
                    if !baseline_group.is_main() {
                        assert_eq!(
                            self.rollout.status().step_kind.map(|s| s.0),
                            Some(cutover::strategy::StepKind::Experiment),
                            "{context}: measured against a baseline outside an experiment"
                        );
                        self.baseline_measures.push(metric.clone());
                    }
                    self.measures.insert(*id, metric.clone());
                }
                Action::Redeploy {
                    id,
                    instance,
                    revision,
                    ..
                } => {
                    assert_eq!(
                        Some(revision),
                        self.rollout.target(),
                        "{context}: redeployed to a revision other than the target"
                    );
                    for (generation, table) in self.tables.range(self.acked..) {
                        assert!(
                            table.revision_of(instance).is_none(),
                            "{context}: invariant 2: {instance} redeployed while table {generation} lists it"
                        );
                    }
                    assert!(
                        self.drain_asked.contains(instance),
                        "{context}: {instance} redeployed without a drain"
                    );
                    // A new life: it may be listed, drained and terminated again.
                    self.drain_asked.remove(instance);
                    self.ever_listed.remove(instance);
                    self.alive.remove(instance);
                    self.provisions.insert(*id, instance.clone());
                }
                Action::RunHook {
                    id, hook, revision, ..
                } => {
                    assert_eq!(
                        Some(revision),
                        self.rollout.target(),
                        "{context}: a hook checks a revision other than the target"
                    );
                    self.hooks.insert(*id, hook.clone());
                }
                other => panic!("{context}: unexpected action {other:?}"),
            }
        }
        assert!(
            updates <= 1,
            "{context}: {updates} table updates from one call"
        );
        // Invariant 2, checked once every table of this call is known: no table the load
        // balancer may still apply (the acknowledged one and any newer) lists an instance
        // that is drained or terminated.
        for action in actions {
            if let Action::Drain { instance, .. } | Action::Terminate { instance, .. } = action {
                for (generation, table) in self.tables.range(self.acked..) {
                    assert!(
                        table.revision_of(instance).is_none(),
                        "{context}: invariant 2: {action:?} while table {generation} (acknowledged {}) lists it",
                        self.acked
                    );
                }
            }
        }
        for event in events {
            if let EventKind::InternalError { detail } = &event.kind {
                panic!("{context}: internal error: {detail}");
            }
        }
    }
}
