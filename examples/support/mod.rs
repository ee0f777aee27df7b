//! The examples' world: one small fake of every adapter on a virtual clock, for the
//! driver to run against (until the simulator lands). Provisioning is accepted at
//! once and an instance passes its health checks 5 s later; the load balancer applies
//! a table 100 ms after it is asked; drains take 1 s and terminations 0.5 s; every
//! error-rate measurement reads 1%; hooks pass after 2 s.
//!
//! It says what it is asked to do that the rollout's events do not (the tables and
//! the measurements).

use std::collections::BTreeMap;
use std::convert::Infallible;

use cutover::adapter::{
    Clock, HealthProbe, HookOutcome, HookRun, Hooks, LoadBalancer, MeasureQuery, Metrics, Probe,
    Provisioner, Wakeup,
};
use cutover::analysis::Measurement;
use cutover::traffic::TableDiff;
use cutover::{
    ActionId, Duration, Instance, InstanceGroup, InstanceId, Revision, Timestamp, TrafficTable,
};

/// The fake world.
pub struct FakeWorld {
    now: Timestamp,
    /// Instances that exist: when they pass their checks, and when they are gone.
    instances: BTreeMap<InstanceId, (Timestamp, Option<Timestamp>)>,
    /// Tables asked for and when they apply; the generation in force.
    applying: Vec<(Timestamp, u64)>,
    applied: u64,
    drains: BTreeMap<InstanceId, Timestamp>,
    hooks: BTreeMap<ActionId, Timestamp>,
}

impl FakeWorld {
    /// A world where `fleet` exists and serves.
    pub fn new(fleet: &[Instance]) -> FakeWorld {
        FakeWorld {
            now: Timestamp::ZERO,
            instances: fleet
                .iter()
                .map(|i| (i.id.clone(), (Timestamp::ZERO, None)))
                .collect(),
            applying: Vec::new(),
            applied: 0,
            drains: BTreeMap::new(),
            hooks: BTreeMap::new(),
        }
    }

    fn after(&self, millis: u64) -> Timestamp {
        self.now + Duration::from_millis(millis)
    }
}

impl Provisioner for FakeWorld {
    type Error = Infallible;

    fn provision(
        &mut self,
        instance: &InstanceId,
        _: &Revision,
        _: InstanceGroup,
    ) -> Result<(), Infallible> {
        let ready = self.after(5_000);
        self.instances
            .entry(instance.clone())
            .or_insert((ready, None));
        Ok(())
    }

    fn redeploy(
        &mut self,
        instance: &InstanceId,
        _: &Revision,
        _: &Revision,
    ) -> Result<(), Infallible> {
        let ready = self.after(5_000);
        self.instances.insert(instance.clone(), (ready, None));
        Ok(())
    }

    fn terminate(&mut self, instance: &InstanceId) -> Result<(), Infallible> {
        let gone = self.after(500);
        if let Some((_, at)) = self.instances.get_mut(instance) {
            at.get_or_insert(gone);
        }
        Ok(())
    }
}

impl HealthProbe for FakeWorld {
    type Error = Infallible;

    fn probe(&mut self, instance: &InstanceId) -> Result<Probe, Infallible> {
        Ok(match self.instances.get(instance) {
            Some((_, Some(gone))) if *gone <= self.now => Probe::Gone,
            None => Probe::Gone,
            Some((ready, _)) if *ready > self.now => Probe::Starting,
            Some(_) => Probe::Healthy,
        })
    }
}

impl LoadBalancer for FakeWorld {
    type Error = Infallible;

    fn apply(&mut self, table: &TrafficTable, diff: &TableDiff) -> Result<(), Infallible> {
        println!(
            "{}: traffic table {}: {} change(s)",
            self.now,
            table.generation(),
            diff.changes.len()
        );
        let at = self.after(100);
        self.applying.push((at, table.generation()));
        Ok(())
    }

    fn applied_generation(&mut self) -> Result<u64, Infallible> {
        let now = self.now;
        for (_, generation) in self.applying.iter().filter(|(at, _)| *at <= now) {
            // A table older than the one in force is ignored.
            self.applied = self.applied.max(*generation);
        }
        self.applying.retain(|(at, _)| *at > now);
        Ok(self.applied)
    }

    fn drain(&mut self, instance: &InstanceId, _: Duration) -> Result<(), Infallible> {
        let done = self.after(1_000);
        self.drains.entry(instance.clone()).or_insert(done);
        Ok(())
    }

    fn is_drained(&mut self, instance: &InstanceId) -> Result<bool, Infallible> {
        Ok(self
            .drains
            .get(instance)
            .is_none_or(|done| *done <= self.now))
    }
}

impl Metrics for FakeWorld {
    type Error = Infallible;

    fn measure(&mut self, query: &MeasureQuery<'_>) -> Result<Measurement, Infallible> {
        let against = query
            .baseline
            .map(|b| format!(" against {b} ({} group)", query.baseline_group));
        println!(
            "{}: measuring {} of {}{}: 1%",
            self.now,
            query.metric,
            query.revision,
            against.unwrap_or_default()
        );
        Ok(Measurement::Value(0.01))
    }
}

impl Hooks for FakeWorld {
    type Error = Infallible;

    fn run_hook(&mut self, run: &HookRun<'_>) -> Result<(), Infallible> {
        let done = self.after(2_000);
        self.hooks.entry(run.id).or_insert(done);
        Ok(())
    }

    fn hook_result(&mut self, id: ActionId) -> Result<Option<HookOutcome>, Infallible> {
        let done = self.hooks.get(&id).is_some_and(|at| *at <= self.now);
        Ok(done.then(|| HookOutcome::passed("ok")))
    }
}

impl Clock for FakeWorld {
    fn now(&mut self) -> Timestamp {
        self.now
    }

    fn sleep_until(&mut self, deadline: Timestamp, _: &Wakeup) {
        self.now = self.now.max(deadline);
    }
}
