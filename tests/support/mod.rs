//! A scripted fake world for driving a `Rollout` in tests: it holds the actions the
//! rollout asked for, answers them when told to, and checks the safety invariants after
//! every call.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use cutover::{
    Action, ActionId, Event, EventKind, Input, Instance, InstanceId, InstanceState, Phase, Revision,
    Rollout, RolloutSpec, Timestamp, TrafficTable,
};

/// What the world has been asked and not yet answered.
#[derive(Default, Debug)]
pub struct Outstanding {
    pub provisions: BTreeMap<ActionId, (InstanceId, Revision)>,
    pub traffic: Vec<u64>,
    pub drains: BTreeMap<ActionId, InstanceId>,
    pub terminations: BTreeMap<ActionId, InstanceId>,
}

pub struct World {
    pub rollout: Rollout,
    pub now: Timestamp,
    pub outstanding: Outstanding,
    /// Instances that exist (provisioned, not terminated) and whether they are healthy.
    pub alive: BTreeMap<InstanceId, bool>,
    /// The table as the load balancer applies it (diffs applied on acknowledgement).
    pub lb: TrafficTable,
    /// The tables published, by generation, for applying diffs in order.
    pub published: BTreeMap<u64, cutover::TableDiff>,
    pub events: Vec<Event>,
    pub actions: Vec<Action>,
    /// Checks on by default; a test about a deliberately unsafe spec may turn them off.
    pub check: bool,
}

pub fn spec(desired: u32, surge: &str, unavailable: &str) -> RolloutSpec {
    RolloutSpec {
        desired,
        strategy: cutover::StrategySpec::Rolling(cutover::RollingSpec {
            max_surge: surge.parse().unwrap(),
            max_unavailable: unavailable.parse().unwrap(),
        }),
        ..RolloutSpec::default()
    }
}

/// `n` ready instances of `revision`, in rotation.
pub fn fleet(revision: &str, n: usize) -> Vec<Instance> {
    (0..n)
        .map(|i| {
            let mut instance = Instance::new(format!("{revision}-old-{i}"), revision, InstanceState::Ready);
            instance.available = true;
            instance.in_rotation = true;
            instance
        })
        .collect()
}

impl World {
    pub fn new(spec: RolloutSpec, observed: Vec<Instance>) -> World {
        let lb = {
            let mut by_rev: BTreeMap<Revision, Vec<InstanceId>> = BTreeMap::new();
            for i in observed.iter().filter(|i| i.in_rotation) {
                by_rev.entry(i.revision.clone()).or_default().push(i.id.clone());
            }
            let mut b = TrafficTable::builder();
            let n = by_rev.len() as u64;
            for (k, (rev, ids)) in by_rev.into_iter().enumerate() {
                let share = if k as u64 == n - 1 { 10_000 - (10_000 / n) * (n - 1) } else { 10_000 / n };
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
        let mut world = World {
            rollout,
            now: Timestamp::ZERO,
            outstanding: Outstanding::default(),
            alive,
            lb,
            published: BTreeMap::new(),
            events: Vec::new(),
            actions: Vec::new(),
            check: true,
        };
        world.collect();
        world
    }

    /// Drains the rollout's outputs into the world and checks the invariants.
    pub fn collect(&mut self) {
        while let Some(action) = self.rollout.poll_action() {
            match &action {
                Action::Provision { id, instance, revision } => {
                    self.outstanding.provisions.insert(*id, (instance.clone(), revision.clone()));
                }
                Action::UpdateTraffic { generation, diff, .. } => {
                    self.outstanding.traffic.push(*generation);
                    self.published.insert(*generation, diff.clone());
                }
                Action::Drain { id, instance, .. } => {
                    assert!(
                        self.lb.revision_of(instance).is_none(),
                        "drain of {instance} while the load balancer still routes to it"
                    );
                    self.outstanding.drains.insert(*id, instance.clone());
                }
                Action::Terminate { id, instance } => {
                    assert!(
                        self.lb.revision_of(instance).is_none(),
                        "terminate of {instance} while the load balancer still routes to it"
                    );
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
    }

    pub fn input(&mut self, input: Input) {
        self.rollout.handle_input(self.now, input);
        self.collect();
    }

    pub fn advance(&mut self, ms: u64) {
        self.now = Timestamp::from_millis(self.now.as_millis() + ms);
        self.rollout.handle_timeout(self.now);
        self.collect();
    }

    /// Answers every outstanding provision with success.
    pub fn provision_all(&mut self) {
        let provisions = std::mem::take(&mut self.outstanding.provisions);
        for (action, (instance, _)) in provisions {
            self.alive.insert(instance, false);
            self.input(Input::Provisioned { action });
        }
    }

    /// Reports every live instance healthy.
    pub fn health_all(&mut self) {
        let ids: Vec<InstanceId> = self.alive.keys().cloned().collect();
        for id in ids {
            self.alive.insert(id.clone(), true);
            self.input(Input::Health { instance: id, healthy: true });
        }
    }

    /// Acknowledges the newest published table.
    pub fn ack_traffic(&mut self) {
        let Some(&latest) = self.outstanding.traffic.last() else { return };
        self.outstanding.traffic.clear();
        self.apply_tables_up_to(latest);
        self.input(Input::TrafficApplied { generation: latest });
    }

    pub fn apply_tables_up_to(&mut self, generation: u64) {
        while self.lb.generation() < generation {
            let next = self.lb.generation() + 1;
            let diff = self.published.get(&next).expect("published").clone();
            self.lb.apply(&diff).expect("diffs apply in order");
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

    /// Whether the world has nothing left to answer.
    pub fn quiet(&self) -> bool {
        let o = &self.outstanding;
        o.provisions.is_empty() && o.traffic.is_empty() && o.drains.is_empty() && o.terminations.is_empty()
    }

    /// Answers everything, healthily and at once, until nothing is outstanding; fails
    /// loudly if that takes more than `max_rounds`.
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
            self.provision_all();
            self.health_all();
            self.ack_traffic();
            self.drain_all();
            self.terminate_all();
        }
        panic!("did not settle in {max_rounds} rounds: {:?}", self.rollout.status());
    }

    pub fn phase(&self) -> Phase {
        self.rollout.phase().clone()
    }

    pub fn count(&self, revision: &str, state: InstanceState) -> usize {
        self.rollout.fleet().counts(&Revision::from(revision)).get(state)
    }

    pub fn traffic_updates(&self) -> usize {
        self.actions.iter().filter(|a| matches!(a, Action::UpdateTraffic { .. })).count()
    }

    pub fn saw(&self, pred: impl Fn(&EventKind) -> bool) -> bool {
        self.events.iter().any(|e| pred(&e.kind))
    }
}

/// Invariants 1–3 of DESIGN.md, as far as they can be read off a rollout at rest.
pub fn check_invariants(rollout: &Rollout) {
    let table = rollout.traffic();
    if !table.is_empty() {
        let total: u32 = table.backends().iter().map(|b| u32::from(b.weight().basis_points())).sum();
        assert_eq!(total, 10_000, "weights must sum to 10000");
    }
    let mut seen = BTreeSet::new();
    for backend in table.backends() {
        if !backend.weight().is_zero() {
            assert!(backend.instance_count() > 0, "weighted revision without instances");
        }
        for (id, _) in backend.instances() {
            assert!(seen.insert(id.clone()));
            let instance = rollout.fleet().get(id).unwrap_or_else(|| panic!("{id} in table, not in fleet"));
            assert_eq!(instance.state, InstanceState::Ready, "{id} in rotation but {}", instance.state);
            assert!(instance.available, "{id} in rotation before min_ready");
            assert_eq!(&instance.revision, backend.revision());
        }
    }
    let limits = rollout.limits();
    let live = rollout.fleet().total().live();
    assert!(
        live <= limits.max_total() as usize,
        "{live} live instances exceed desired {} + surge {}",
        limits.desired,
        limits.max_surge
    );
    let next = rollout.poll_timeout();
    if let Some(at) = next {
        let _ = at;
    }
}
