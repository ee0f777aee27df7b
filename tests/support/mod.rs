//! A scripted fake world for driving a `Rollout` in tests: it holds the actions the
//! rollout asked for, answers them when told to (all at once, or one instance at a
//! time), and checks the safety invariants after every call.
//!
//! A script reads: do something (`deploy`, `provision("v2-1")`, `health("v2-1", true)`,
//! `ack_traffic()`, `advance(1_000)`, …), then look at what the rollout asked for since
//! the last look (`take()`, a [`Summary`] of the new actions) and at its state.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use cutover::{
    Action, ActionId, CommandError, Event, EventKind, Input, Instance, InstanceId, InstanceState,
    Phase, Revision, Rollout, RolloutSpec, TableChange, Timestamp, TrafficTable,
};

/// What the world has been asked and not yet answered.
#[derive(Default, Debug)]
pub struct Outstanding {
    pub provisions: BTreeMap<ActionId, (InstanceId, Revision)>,
    pub traffic: Vec<u64>,
    pub drains: BTreeMap<ActionId, InstanceId>,
    pub terminations: BTreeMap<ActionId, InstanceId>,
}

/// Extremes seen over the whole run (after every call).
#[derive(Debug, Clone, Copy)]
pub struct Watermarks {
    /// The most live instances (provisioning, starting, ready, draining) at once.
    pub peak_live: usize,
    /// The fewest available instances (ready for `min_ready`, not being removed).
    pub low_available: usize,
}

pub struct World {
    pub rollout: Rollout,
    pub now: Timestamp,
    pub outstanding: Outstanding,
    /// Instances that exist (provisioned, not terminated) and whether they are healthy.
    pub alive: BTreeMap<InstanceId, bool>,
    /// Instances `health_all` reports unhealthy (they never pass a check).
    pub sick: BTreeSet<InstanceId>,
    /// The table as the load balancer applies it (diffs applied on acknowledgement).
    pub lb: TrafficTable,
    /// The tables published, by generation, for applying diffs in order.
    pub published: BTreeMap<u64, cutover::TableDiff>,
    pub events: Vec<Event>,
    pub actions: Vec<Action>,
    /// Checks on by default; a test about a deliberately unsafe spec may turn them off.
    pub check: bool,
    /// Instances the world has been asked to drain or terminate: the load balancer must
    /// never route to them again.
    pub retired: BTreeSet<InstanceId>,
    pub watermarks: Watermarks,
    /// Available instances after the previous call (to see which ones a call retired).
    available_before: BTreeSet<InstanceId>,
    /// How many of `actions` / `events` `take` / `take_events` have handed out.
    action_cursor: usize,
    event_cursor: usize,
}

/// `surge` and `unavailable` are shorthand: `"25%"` a percentage, `"1"` a count (a
/// document writes a count as a number: `Quantity`'s string form is percentages only).
pub fn spec(desired: u32, surge: &str, unavailable: &str) -> RolloutSpec {
    let quantity = |text: &str| match text.strip_suffix('%') {
        Some(percent) => cutover::Quantity::Percent(percent.parse().unwrap()),
        None => cutover::Quantity::Count(text.parse().unwrap()),
    };
    RolloutSpec {
        desired,
        strategy: cutover::StrategySpec::Rolling(cutover::RollingSpec {
            max_surge: quantity(surge),
            max_unavailable: quantity(unavailable),
        }),
        ..RolloutSpec::default()
    }
}

/// `n` ready instances of `revision`, in rotation, named `<revision>-old-<i>`.
pub fn fleet(revision: &str, n: usize) -> Vec<Instance> {
    (0..n)
        .map(|i| {
            let mut instance = Instance::new(
                format!("{revision}-old-{i}"),
                revision,
                InstanceState::Ready,
            );
            instance.available = true;
            instance.in_rotation = true;
            instance
        })
        .collect()
}

/// The names `<revision>-old-<i>` for `i` in `range`, as `fleet` makes them.
pub fn old(revision: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{revision}-old-{i}")).collect()
}

/// What a batch of actions asked for, by instance name, in the order asked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Instances to provision.
    pub provision: Vec<String>,
    /// `UpdateTraffic` actions.
    pub tables: usize,
    /// Instances the table updates put in rotation.
    pub added: Vec<String>,
    /// Instances the table updates took out of rotation.
    pub removed: Vec<String>,
    /// Revisions the table updates removed entirely.
    pub revisions_removed: Vec<String>,
    /// Instances to drain.
    pub drain: Vec<String>,
    /// Instances to terminate.
    pub terminate: Vec<String>,
}

impl Summary {
    pub fn of(actions: &[Action]) -> Summary {
        let mut summary = Summary::default();
        for action in actions {
            match action {
                Action::Provision { instance, .. } => summary.provision.push(instance.to_string()),
                Action::UpdateTraffic { diff, .. } => {
                    summary.tables += 1;
                    for change in &diff.changes {
                        match change {
                            TableChange::AddInstance { instance, .. } => {
                                summary.added.push(instance.to_string());
                            }
                            TableChange::RemoveInstance { instance, .. } => {
                                summary.removed.push(instance.to_string());
                            }
                            TableChange::RemoveRevision { revision } => {
                                summary.revisions_removed.push(revision.to_string());
                            }
                            _ => {}
                        }
                    }
                }
                Action::Drain { instance, .. } => summary.drain.push(instance.to_string()),
                Action::Terminate { instance, .. } => summary.terminate.push(instance.to_string()),
                other => panic!("unexpected action {other:?}"),
            }
        }
        summary
    }

    /// The table changes in one line: `"+v2-1 -v1-old-0"` (instances put in rotation,
    /// then those taken out).
    pub fn swap(&self) -> String {
        let added = self.added.iter().map(|i| format!("+{i}"));
        let removed = self.removed.iter().map(|i| format!("-{i}"));
        added.chain(removed).collect::<Vec<_>>().join(" ")
    }

    /// Whether nothing was asked.
    pub fn is_empty(&self) -> bool {
        *self == Summary::default()
    }
}

/// Names of `revision`'s instances among `names`.
pub fn of_revision(names: &[String], revision: &str) -> Vec<String> {
    let prefix = format!("{revision}-");
    names
        .iter()
        .filter(|n| n.starts_with(&prefix))
        .cloned()
        .collect()
}

impl World {
    pub fn new(spec: RolloutSpec, observed: Vec<Instance>) -> World {
        let lb = {
            let mut by_rev: BTreeMap<Revision, Vec<InstanceId>> = BTreeMap::new();
            for i in observed.iter().filter(|i| i.in_rotation) {
                by_rev
                    .entry(i.revision.clone())
                    .or_default()
                    .push(i.id.clone());
            }
            let mut b = TrafficTable::builder();
            let n = by_rev.len() as u64;
            for (k, (rev, ids)) in by_rev.into_iter().enumerate() {
                let share = if k as u64 == n - 1 {
                    10_000 - (10_000 / n) * (n - 1)
                } else {
                    10_000 / n
                };
                b = b.revision(rev, share, ids);
            }
            b.build().unwrap_or_default()
        };
        let alive = observed
            .iter()
            .filter(|i| i.state.is_live())
            .map(|i| (i.id.clone(), i.state == InstanceState::Ready))
            .collect();
        let rollout = Rollout::new(Timestamp::ZERO, spec, observed).expect("valid spec");
        let available_before = available_ids(&rollout);
        let mut world = World {
            rollout,
            now: Timestamp::ZERO,
            outstanding: Outstanding::default(),
            alive,
            sick: BTreeSet::new(),
            lb,
            published: BTreeMap::new(),
            events: Vec::new(),
            actions: Vec::new(),
            check: true,
            retired: BTreeSet::new(),
            watermarks: Watermarks {
                peak_live: 0,
                low_available: available_before.len(),
            },
            available_before,
            action_cursor: 0,
            event_cursor: 0,
        };
        world.collect();
        world
    }

    /// Drains the rollout's outputs into the world and checks the invariants.
    pub fn collect(&mut self) {
        while let Some(action) = self.rollout.poll_action() {
            match &action {
                Action::Provision {
                    id,
                    instance,
                    revision,
                } => {
                    self.outstanding
                        .provisions
                        .insert(*id, (instance.clone(), revision.clone()));
                }
                Action::UpdateTraffic {
                    generation, diff, ..
                } => {
                    self.outstanding.traffic.push(*generation);
                    self.published.insert(*generation, diff.clone());
                }
                Action::Drain { id, instance, .. } => {
                    assert!(
                        self.lb.revision_of(instance).is_none(),
                        "drain of {instance} while the load balancer still routes to it"
                    );
                    self.retired.insert(instance.clone());
                    self.outstanding.drains.insert(*id, instance.clone());
                }
                Action::Terminate { id, instance } => {
                    assert!(
                        self.lb.revision_of(instance).is_none(),
                        "terminate of {instance} while the load balancer still routes to it"
                    );
                    self.retired.insert(instance.clone());
                    self.outstanding.terminations.insert(*id, instance.clone());
                }
                other => panic!("unexpected action {other:?}"),
            }
            self.actions.push(action);
        }
        while let Some(event) = self.rollout.poll_event() {
            if let EventKind::InternalError { detail } = &event.kind {
                panic!("internal error: {detail}");
            }
            self.events.push(event);
        }
        if self.check {
            check_invariants(&self.rollout);
        }
        self.watch_capacity();
    }

    /// Updates the watermarks and checks that the call just made did not retire an
    /// available instance below the capacity floor (invariant 3, abort and rollback
    /// included; the only exception is aborting a first deploy, with no stable revision
    /// whose capacity there is to keep).
    fn watch_capacity(&mut self) {
        let available = available_ids(&self.rollout);
        let fleet = self.rollout.fleet();
        let live = fleet.total().live();
        self.watermarks.peak_live = self.watermarks.peak_live.max(live);
        self.watermarks.low_available = self.watermarks.low_available.min(available.len());
        let first_deploy_abort = self.rollout.stable().is_none()
            && matches!(self.rollout.phase(), Phase::Aborted { .. });
        if self.check && !first_deploy_abort {
            let retired: Vec<&InstanceId> = self
                .available_before
                .iter()
                .filter(|id| {
                    fleet
                        .get(id)
                        .is_some_and(|i| i.state == InstanceState::Draining)
                })
                .collect();
            let floor = self.rollout.limits().min_available() as usize;
            assert!(
                retired.is_empty() || available.len() >= floor,
                "the rollout took {retired:?} out of service, leaving {} available, below \
                 desired - max_unavailable = {floor}",
                available.len()
            );
        }
        self.available_before = available;
    }

    /// The actions asked for since the previous `take`, summarized by instance name.
    pub fn take(&mut self) -> Summary {
        let summary = Summary::of(&self.actions[self.action_cursor..]);
        self.action_cursor = self.actions.len();
        summary
    }

    /// The events recorded since the previous `take_events`.
    pub fn take_events(&mut self) -> Vec<EventKind> {
        let events = self.events[self.event_cursor..]
            .iter()
            .map(|e| e.kind.clone())
            .collect();
        self.event_cursor = self.events.len();
        events
    }

    pub fn input(&mut self, input: Input) {
        self.rollout.handle_input(self.now, input);
        self.collect();
    }

    pub fn advance(&mut self, ms: u64) {
        self.now = Timestamp::from_millis(self.now.as_millis() + ms);
        self.rollout.handle_timeout(self.now);
        self.collect();
        if let Some(at) = self.rollout.poll_timeout() {
            assert!(
                at > self.now,
                "after handle_timeout({}), poll_timeout is {at}",
                self.now
            );
        }
    }

    /// Moves the clock to the rollout's next timer and fires it; returns how long that
    /// was, or `None` (and does nothing) if no timer is set.
    pub fn advance_to_timeout(&mut self) -> Option<u64> {
        let at = self.rollout.poll_timeout()?;
        let wait = at.as_millis().saturating_sub(self.now.as_millis());
        self.advance(wait);
        Some(wait)
    }

    // ----- commands ---------------------------------------------------------------

    pub fn deploy(&mut self, revision: &str) -> Result<(), CommandError> {
        let result = self.rollout.deploy(self.now, revision);
        self.collect();
        result
    }

    pub fn pause(&mut self) -> Result<(), CommandError> {
        let result = self.rollout.pause(self.now);
        self.collect();
        result
    }

    pub fn resume(&mut self) -> Result<(), CommandError> {
        let result = self.rollout.resume(self.now);
        self.collect();
        result
    }

    pub fn abort(&mut self) -> Result<(), CommandError> {
        let result = self.rollout.abort(self.now);
        self.collect();
        result
    }

    pub fn retry(&mut self) -> Result<(), CommandError> {
        let result = self.rollout.retry(self.now);
        self.collect();
        result
    }

    pub fn rollback(&mut self) -> Result<(), CommandError> {
        let result = self.rollout.rollback(self.now);
        self.collect();
        result
    }

    // ----- answering one instance at a time -----------------------------------------

    fn find(map: &BTreeMap<ActionId, InstanceId>, name: &str) -> ActionId {
        map.iter()
            .find(|(_, i)| i.as_str() == name)
            .map(|(a, _)| *a)
            .unwrap_or_else(|| panic!("nothing outstanding for {name}"))
    }

    fn take_provision(&mut self, name: &str) -> ActionId {
        let action = self
            .outstanding
            .provisions
            .iter()
            .find(|(_, (i, _))| i.as_str() == name)
            .map(|(a, _)| *a)
            .unwrap_or_else(|| panic!("no provision outstanding for {name}"));
        self.outstanding.provisions.remove(&action);
        action
    }

    /// Answers the provision of `name` with success (it exists, not yet healthy).
    pub fn provision(&mut self, name: &str) {
        let action = self.take_provision(name);
        self.alive.insert(name.into(), false);
        self.input(Input::Provisioned { action });
    }

    /// Answers the provision of `name` with a failure.
    pub fn fail_provision(&mut self, name: &str, reason: &str) {
        let action = self.take_provision(name);
        self.input(Input::ProvisionFailed {
            action,
            reason: reason.into(),
        });
    }

    /// Reports a health-check verdict for `name`.
    pub fn health(&mut self, name: &str, healthy: bool) {
        if let Some(h) = self.alive.get_mut(name) {
            *h = healthy;
        }
        self.input(Input::Health {
            instance: name.into(),
            healthy,
        });
    }

    /// Provisions `name` and reports it healthy.
    pub fn bring_up(&mut self, name: &str) {
        self.provision(name);
        self.health(name, true);
    }

    /// Answers the drain of `name`.
    pub fn drain(&mut self, name: &str) {
        let action = Self::find(&self.outstanding.drains, name);
        self.outstanding.drains.remove(&action);
        self.input(Input::Drained { action });
    }

    /// Answers the termination of `name`.
    pub fn terminate(&mut self, name: &str) {
        let action = Self::find(&self.outstanding.terminations, name);
        self.outstanding.terminations.remove(&action);
        self.alive.remove(name);
        self.input(Input::Terminated { action });
    }

    /// `name` disappears without being asked to.
    pub fn lose(&mut self, name: &str, reason: &str) {
        self.alive.remove(name);
        self.input(Input::InstanceLost {
            instance: name.into(),
            reason: reason.into(),
        });
    }

    /// Acknowledges table `generation` (and every earlier one).
    pub fn ack(&mut self, generation: u64) {
        self.outstanding.traffic.retain(|g| *g > generation);
        self.apply_tables_up_to(generation);
        self.input(Input::TrafficApplied { generation });
    }

    // ----- answering everything ---------------------------------------------------

    /// Answers every outstanding provision with success.
    pub fn provision_all(&mut self) {
        let provisions = std::mem::take(&mut self.outstanding.provisions);
        for (action, (instance, _)) in provisions {
            self.alive.insert(instance, false);
            self.input(Input::Provisioned { action });
        }
    }

    /// Reports every live instance healthy, except the `sick` ones (reported unhealthy).
    pub fn health_all(&mut self) {
        let ids: Vec<InstanceId> = self.alive.keys().cloned().collect();
        for id in ids {
            let healthy = !self.sick.contains(&id);
            self.alive.insert(id.clone(), healthy);
            self.input(Input::Health {
                instance: id,
                healthy,
            });
        }
    }

    /// Acknowledges the newest published table.
    pub fn ack_traffic(&mut self) {
        let Some(&latest) = self.outstanding.traffic.last() else {
            return;
        };
        self.outstanding.traffic.clear();
        self.apply_tables_up_to(latest);
        self.input(Input::TrafficApplied { generation: latest });
    }

    pub fn apply_tables_up_to(&mut self, generation: u64) {
        while self.lb.generation() < generation {
            let next = self.lb.generation() + 1;
            let diff = self.published.get(&next).expect("published").clone();
            self.lb.apply(&diff).expect("diffs apply in order");
            let routed: Vec<&InstanceId> = self
                .lb
                .backends()
                .iter()
                .flat_map(|b| b.instances().map(|(id, _)| id))
                .collect();
            if let Some(bad) = routed.iter().find(|id| self.retired.contains(**id)) {
                panic!("table {next} routes to {bad}, which was already drained or terminated");
            }
        }
    }

    pub fn drain_all(&mut self) {
        let drains = std::mem::take(&mut self.outstanding.drains);
        for (action, _) in drains {
            self.input(Input::Drained { action });
        }
    }

    pub fn terminate_all(&mut self) {
        let terminations = std::mem::take(&mut self.outstanding.terminations);
        for (action, instance) in terminations {
            self.alive.remove(&instance);
            self.input(Input::Terminated { action });
        }
    }

    /// Lets removals run their course: acknowledges tables, answers drains and
    /// terminations, until none is outstanding (provisions and health are left alone).
    pub fn plumb(&mut self) {
        for _ in 0..100 {
            let o = &self.outstanding;
            if o.traffic.is_empty() && o.drains.is_empty() && o.terminations.is_empty() {
                return;
            }
            self.ack_traffic();
            self.drain_all();
            self.terminate_all();
        }
        panic!("removals did not settle: {:?}", self.rollout.status());
    }

    /// Answers everything outstanding once, healthily but for the `sick`.
    pub fn round(&mut self) {
        self.provision_all();
        self.health_all();
        self.ack_traffic();
        self.drain_all();
        self.terminate_all();
    }

    /// Whether the world has nothing left to answer.
    pub fn quiet(&self) -> bool {
        let o = &self.outstanding;
        o.provisions.is_empty()
            && o.traffic.is_empty()
            && o.drains.is_empty()
            && o.terminations.is_empty()
    }

    /// Answers everything, healthily (but for the `sick`) and at once, until nothing is
    /// outstanding; fails loudly if that takes more than `max_rounds`.
    pub fn drive(&mut self, max_rounds: usize) {
        for _ in 0..max_rounds {
            if self.quiet() {
                // Let min_ready and other timers run out.
                match self.rollout.poll_timeout() {
                    Some(at) if self.rollout.phase().is_in_flight() || at <= self.now => {
                        let wait = at.as_millis().saturating_sub(self.now.as_millis()).max(1);
                        self.advance(wait);
                        if self.quiet() {
                            return;
                        }
                    }
                    _ => return,
                }
            }
            self.round();
        }
        panic!(
            "did not settle in {max_rounds} rounds: {:?}",
            self.rollout.status()
        );
    }

    // ----- looking ----------------------------------------------------------------

    pub fn phase(&self) -> Phase {
        self.rollout.phase().clone()
    }

    pub fn count(&self, revision: &str, state: InstanceState) -> usize {
        self.rollout
            .fleet()
            .counts(&Revision::from(revision))
            .get(state)
    }

    /// Available instances of `revision` (ready for `min_ready`, not being removed).
    pub fn available(&self, revision: &str) -> usize {
        self.rollout
            .fleet()
            .counts(&Revision::from(revision))
            .available
    }

    /// Instances of `revision` the load balancer routes to (the applied table).
    pub fn lb_count(&self, revision: &str) -> usize {
        self.lb
            .backend(&Revision::from(revision))
            .map_or(0, |b| b.instance_count())
    }

    /// Instances of `revision` in the published table.
    pub fn table_count(&self, revision: &str) -> usize {
        self.rollout
            .traffic()
            .backend(&Revision::from(revision))
            .map_or(0, |b| b.instance_count())
    }

    /// Names of `revision`'s instances in `state`, in id order.
    pub fn ids(&self, revision: &str, state: InstanceState) -> Vec<String> {
        self.rollout
            .fleet()
            .ids_in_state(&Revision::from(revision), state)
            .map(ToString::to_string)
            .collect()
    }

    /// The revisions with instances in the fleet, in name order.
    pub fn revisions(&self) -> Vec<String> {
        self.rollout
            .fleet()
            .revisions()
            .map(ToString::to_string)
            .collect()
    }

    /// Names of instances with a provision outstanding, in the order asked.
    pub fn provisioning(&self) -> Vec<String> {
        self.outstanding
            .provisions
            .values()
            .map(|(i, _)| i.to_string())
            .collect()
    }

    pub fn traffic_updates(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| matches!(a, Action::UpdateTraffic { .. }))
            .count()
    }

    pub fn saw(&self, pred: impl Fn(&EventKind) -> bool) -> bool {
        self.events.iter().any(|e| pred(&e.kind))
    }
}

/// Ready instances that have been ready for `min_ready`.
fn available_ids(rollout: &Rollout) -> BTreeSet<InstanceId> {
    rollout
        .fleet()
        .iter()
        .filter(|i| i.state == InstanceState::Ready && i.available)
        .map(|i| i.id.clone())
        .collect()
}

/// Invariants 1–3 of DESIGN.md, as far as they can be read off a rollout at rest.
pub fn check_invariants(rollout: &Rollout) {
    let table = rollout.traffic();
    if !table.is_empty() {
        let total: u32 = table
            .backends()
            .iter()
            .map(|b| u32::from(b.weight().basis_points()))
            .sum();
        assert_eq!(total, 10_000, "weights must sum to 10000");
    }
    let mut seen = BTreeSet::new();
    for backend in table.backends() {
        if !backend.weight().is_zero() {
            assert!(
                backend.instance_count() > 0,
                "weighted revision without instances"
            );
        }
        for (id, _) in backend.instances() {
            assert!(seen.insert(id.clone()));
            let instance = rollout
                .fleet()
                .get(id)
                .unwrap_or_else(|| panic!("{id} in table, not in fleet"));
            assert_eq!(
                instance.state,
                InstanceState::Ready,
                "{id} in rotation but {}",
                instance.state
            );
            assert!(instance.available, "{id} in rotation before min_ready");
            assert_eq!(&instance.revision, backend.revision());
        }
    }
    // And the other way: an available instance is put in rotation at once.
    for id in available_ids(rollout) {
        assert!(
            table.revision_of(&id).is_some(),
            "{id} is available but not in the published table"
        );
    }
    let limits = rollout.limits();
    let live = rollout.fleet().total().live();
    assert!(
        live <= limits.max_total() as usize,
        "{live} live instances exceed desired {} + surge {}",
        limits.desired,
        limits.max_surge
    );
}
