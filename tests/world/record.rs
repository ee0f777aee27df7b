//! Bookkeeping of the rollout's outputs: what the caller was asked and has not yet
//! answered (the rules each action must obey are `cutover::invariants`').

use cutover::Action;

use super::harness::World;

impl World {
    /// Takes note of the actions of one call.
    pub(super) fn record(&mut self, actions: &[Action]) {
        for action in actions {
            self.last_action = self.last_action.max(action.id().0);
            match action {
                Action::Provision { id, instance, .. } => {
                    self.names.insert(instance.clone());
                    self.provisions.insert(*id, instance.clone());
                }
                Action::UpdateTraffic {
                    generation, diff, ..
                } => {
                    let mut table = self.tables[&self.published()].clone();
                    table
                        .apply(diff)
                        .expect("a published diff applies (else the checker says why)");
                    self.tables.insert(*generation, table);
                }
                Action::Drain { id, instance, .. } => {
                    self.drains.insert(*id, instance.clone());
                }
                Action::Terminate { id, instance } => {
                    self.terminations.insert(*id, instance.clone());
                }
                Action::Measure {
                    id,
                    metric,
                    baseline_group,
                    ..
                } => {
                    if !baseline_group.is_main() {
                        self.baseline_measures.push(metric.clone());
                    }
                    self.measures.insert(*id, metric.clone());
                }
                Action::Redeploy { id, instance, .. } => {
                    // A new life: its health is reported afresh.
                    self.alive.remove(instance);
                    self.provisions.insert(*id, instance.clone());
                }
                Action::RunHook { id, hook, .. } => {
                    self.hooks.insert(*id, hook.clone());
                }
                other => panic!("unexpected action {other:?}"),
            }
        }
    }
}
