//! The simulated world: instances, a load balancer and checks on a virtual clock, one
//! event queue keyed `(time, seq)`, implementing every adapter trait.

use std::collections::BTreeMap;

use super::random::{Source, Stream};
use super::settings::Settings;
use crate::adapter::{
    Clock, HealthProbe, HookOutcome, HookRun, Hooks, LoadBalancer, MeasureQuery, Metrics, Probe,
    Provisioner, Wakeup,
};
use crate::analysis::{Measurement, MetricCheck};
use crate::model::{Instance, InstanceGroup, InstanceId, Revision};
use crate::output::ActionId;
use crate::router::Router;
use crate::time::{Duration, Timestamp};
use crate::traffic::{TableDiff, TrafficTable};

/// An adapter call the simulated world refused (a provision failure drawn from its
/// stream, or a request about something it does not know).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SimError(String);

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Cause {
    /// It reached an instance the rollout had stopped, or not yet started.
    Rollout,
    /// The revision it reached failed it (its error rate).
    BadVersion,
    /// It reached an instance that crashed or is failing its checks.
    Crash,
    /// The table routed it nowhere.
    Unrouted,
}

/// Where one simulated instance is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Life {
    Provisioning,
    Booting,
    Running,
    Flapping,
    Crashed,
    Terminated,
}

#[derive(Clone, Debug)]
pub(super) struct SimInstance {
    pub(super) revision: Revision,
    pub(super) life: Life,
    /// Bumped on every redeploy and termination: events of an earlier life are void.
    pub(super) epoch: u32,
    pub(super) draining_until: Option<Timestamp>,
}

impl SimInstance {
    fn counts(&self) -> bool {
        !matches!(self.life, Life::Terminated | Life::Crashed)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Booted(InstanceId, u32),
    Ready(InstanceId, u32),
    Crash(InstanceId, u32),
    Flap(InstanceId, u32),
    Recover(InstanceId, u32),
    Gone(InstanceId, u32),
    Applied(u64),
    Request,
}

/// Counts of what happened to the requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Requests {
    pub(super) sent: u64,
    pub(super) rollout: u64,
    pub(super) bad_version: u64,
    pub(super) crash: u64,
    pub(super) unrouted: u64,
    /// Requests that reached the revision being rolled out.
    pub(super) to_target: u64,
    /// Crashes and flaps that happened.
    pub(super) faults: u64,
}

/// The world a simulated driver acts on: every adapter trait, over a virtual clock
/// ([`Simulation::world`](super::Simulation::world) makes one).
#[derive(Debug)]
pub struct SimWorld {
    pub(super) settings: Settings,
    pub(super) now: Timestamp,
    queue: BTreeMap<(Timestamp, u64), Event>,
    seq: u64,
    pub(super) instances: BTreeMap<InstanceId, SimInstance>,
    /// Tables asked for and not yet applied, by generation.
    pending: BTreeMap<u64, (TrafficTable, TableDiff)>,
    pub(super) router: Router,
    /// Hooks started: their outcome, and when it is known.
    hooks: BTreeMap<ActionId, (HookOutcome, Timestamp)>,
    metrics: BTreeMap<String, MetricCheck>,
    streams: BTreeMap<Source, Stream>,
    pub(super) requests: Requests,
    /// The revision being rolled out (requests reaching it are counted).
    pub(super) target: Option<Revision>,
    /// Instances alive now (not crashed or terminated) and the most at once.
    pub(super) live: usize,
    pub(super) peak_live: usize,
    /// Instances running and passing their checks now, and the fewest at once.
    pub(super) ready: usize,
    pub(super) min_ready: usize,
    /// Tables the load balancer applied.
    pub(super) lb_updates: u64,
    /// How long more than one revision had weight in the applied table.
    pub(super) mixed: Duration,
    mixed_since: Option<Timestamp>,
}

impl SimWorld {
    /// A world running `fleet` (its ready instances running and in `table`, applied).
    pub(super) fn new(
        settings: Settings,
        seed: u64,
        fleet: &[Instance],
        table: &TrafficTable,
        metrics: BTreeMap<String, MetricCheck>,
    ) -> SimWorld {
        let sources = [
            Source::Provisioning,
            Source::Crashes,
            Source::Flapping,
            Source::Requests,
            Source::Behaviour,
            Source::Metrics,
        ];
        let mut world = SimWorld {
            settings,
            now: Timestamp::ZERO,
            queue: BTreeMap::new(),
            seq: 0,
            instances: BTreeMap::new(),
            pending: BTreeMap::new(),
            router: Router::new(table),
            hooks: BTreeMap::new(),
            metrics,
            streams: sources
                .into_iter()
                .map(|s| (s, Stream::new(seed, s)))
                .collect(),
            requests: Requests::default(),
            target: None,
            live: 0,
            peak_live: 0,
            ready: 0,
            min_ready: 0,
            lb_updates: 0,
            mixed: Duration::ZERO,
            mixed_since: None,
        };
        for instance in fleet {
            world.instances.insert(
                instance.id.clone(),
                SimInstance {
                    revision: instance.revision.clone(),
                    life: Life::Running,
                    epoch: 0,
                    draining_until: None,
                },
            );
            world.live += 1;
            world.ready += 1;
            world.schedule_faults(&instance.id, 0);
        }
        world.peak_live = world.live;
        world.min_ready = world.ready;
        world.note_mixed();
        if world.settings.requests_per_second > 0 {
            world.push(Timestamp::ZERO, Event::Request);
        }
        world
    }

    fn stream(&mut self, source: Source) -> &mut Stream {
        self.streams
            .get_mut(&source)
            .expect("every source has a stream")
    }

    fn push(&mut self, at: Timestamp, event: Event) {
        self.seq += 1;
        self.queue.insert((at, self.seq), event);
    }

    /// Processes every event up to `until` in `(time, seq)` order (instances booting,
    /// crashing, tables applied, requests), and moves the clock there: call it with a
    /// driver step's [`next`](crate::driver::Step::next).
    pub fn advance(&mut self, until: Timestamp) {
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > until {
                break;
            }
            let ((at, _), event) = entry.remove_entry();
            self.now = self.now.max(at);
            self.handle(event);
        }
        self.now = self.now.max(until);
    }

    fn set_life(&mut self, id: &InstanceId, life: Life) {
        let Some(instance) = self.instances.get_mut(id) else {
            return;
        };
        let (was_live, was_ready) = (instance.counts(), instance.life == Life::Running);
        instance.life = life;
        let (is_live, is_ready) = (instance.counts(), life == Life::Running);
        self.live = self.live + usize::from(is_live) - usize::from(was_live);
        self.ready = self.ready + usize::from(is_ready) - usize::from(was_ready);
        self.peak_live = self.peak_live.max(self.live);
        self.min_ready = self.min_ready.min(self.ready);
    }

    fn current(&self, id: &InstanceId, epoch: u32) -> Option<Life> {
        self.instances
            .get(id)
            .filter(|i| i.epoch == epoch)
            .map(|i| i.life)
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Booted(id, epoch) => {
                if self.current(&id, epoch) == Some(Life::Provisioning) {
                    self.set_life(&id, Life::Booting);
                    let startup = self.settings.startup.as_millis();
                    let after = self.stream(Source::Provisioning).around(startup);
                    self.push(
                        self.now + Duration::from_millis(after),
                        Event::Ready(id, epoch),
                    );
                }
            }
            Event::Ready(id, epoch) => {
                if self.current(&id, epoch) == Some(Life::Booting) {
                    self.set_life(&id, Life::Running);
                    self.schedule_faults(&id, epoch);
                }
            }
            Event::Crash(id, epoch) => {
                if matches!(
                    self.current(&id, epoch),
                    Some(Life::Running | Life::Flapping)
                ) {
                    self.requests.faults += 1;
                    self.set_life(&id, Life::Crashed);
                }
            }
            Event::Flap(id, epoch) => {
                if self.current(&id, epoch) == Some(Life::Running) {
                    self.requests.faults += 1;
                    self.set_life(&id, Life::Flapping);
                    let at = self.now + self.settings.faults.flap_for;
                    self.push(at, Event::Recover(id, epoch));
                }
            }
            Event::Recover(id, epoch) => {
                if self.current(&id, epoch) == Some(Life::Flapping) {
                    self.set_life(&id, Life::Running);
                    self.schedule_flap(&id, epoch);
                }
            }
            Event::Gone(id, epoch) => {
                // A crashed instance stays crashed: requests the load balancer still
                // sends it fail because of the crash, not the termination.
                if self
                    .current(&id, epoch)
                    .is_some_and(|life| life != Life::Crashed)
                {
                    self.set_life(&id, Life::Terminated);
                }
            }
            Event::Applied(generation) => self.applied(generation),
            Event::Request => {
                self.request();
                let rate = u64::from(self.settings.requests_per_second.max(1));
                // Requests at even intervals; the thousandths left over carry forward
                // so that the rate is exact over a second.
                let n = self.requests.sent;
                let next = (n * 1_000).div_ceil(rate);
                let at = Timestamp::from_millis(next).max(self.now);
                self.push(at, Event::Request);
            }
        }
    }

    fn schedule_faults(&mut self, id: &InstanceId, epoch: u32) {
        if let Some(every) = self.settings.faults.crash_every {
            let after = self
                .stream(Source::Crashes)
                .below(2 * every.as_millis() + 1);
            self.push(
                self.now + Duration::from_millis(after),
                Event::Crash(id.clone(), epoch),
            );
        }
        self.schedule_flap(id, epoch);
    }

    fn schedule_flap(&mut self, id: &InstanceId, epoch: u32) {
        if let Some(every) = self.settings.faults.flap_every {
            let after = self
                .stream(Source::Flapping)
                .below(2 * every.as_millis() + 1);
            self.push(
                self.now + Duration::from_millis(after),
                Event::Flap(id.clone(), epoch),
            );
        }
    }

    /// The load balancer applies `generation` (and anything older still pending is
    /// superseded: it acknowledges every generation up to the one it applies).
    fn applied(&mut self, generation: u64) {
        let Some((table, diff)) = self.pending.remove(&generation) else {
            return;
        };
        self.pending = self.pending.split_off(&(generation + 1));
        if generation <= self.router.generation() {
            return;
        }
        if diff.from_generation != self.router.generation() || self.router.apply(&diff).is_err() {
            self.router = Router::new(&table);
        }
        self.lb_updates += 1;
        self.note_mixed();
    }

    fn note_mixed(&mut self) {
        let live = self
            .router
            .table()
            .backends()
            .iter()
            .filter(|b| !b.weight().is_zero())
            .count();
        match (live > 1, self.mixed_since) {
            (true, None) => self.mixed_since = Some(self.now),
            (false, Some(since)) => {
                self.mixed = Duration::from_millis(
                    self.mixed.as_millis() + self.now.saturating_duration_since(since).as_millis(),
                );
                self.mixed_since = None;
            }
            _ => {}
        }
    }

    /// The mixed-version window so far (an open one counted up to now).
    pub(super) fn mixed_window(&self) -> Duration {
        let open = self.mixed_since.map_or(0, |since| {
            self.now.saturating_duration_since(since).as_millis()
        });
        Duration::from_millis(self.mixed.as_millis() + open)
    }

    /// One request, through the router on the applied table.
    fn request(&mut self) {
        self.requests.sent += 1;
        let mut stream = self.streams.remove(&Source::Requests).expect("a stream");
        let decision = self
            .router
            .route_random(stream.rng())
            .map(|d| (d.instance().clone(), d.revision().clone()));
        let cause = match decision {
            None => Some(Cause::Unrouted),
            Some((id, revision)) => {
                if self.target.as_ref() == Some(&revision) {
                    self.requests.to_target += 1;
                }
                match self.instances.get(&id).map(|i| i.life) {
                    Some(Life::Running) => {
                        let rate = self.settings.behaviour(&revision).error_basis_points;
                        stream.chance(rate).then_some(Cause::BadVersion)
                    }
                    Some(Life::Crashed | Life::Flapping) => Some(Cause::Crash),
                    _ => Some(Cause::Rollout),
                }
            }
        };
        self.streams.insert(Source::Requests, stream);
        match cause {
            Some(Cause::Rollout) => self.requests.rollout += 1,
            Some(Cause::BadVersion) => self.requests.bad_version += 1,
            Some(Cause::Crash) => self.requests.crash += 1,
            Some(Cause::Unrouted) => self.requests.unrouted += 1,
            None => {}
        }
    }

    fn begin(&mut self, id: &InstanceId, revision: &Revision, epoch: u32) -> Result<(), SimError> {
        let rate = self.settings.faults.provision_failure_basis_points;
        if self.stream(Source::Provisioning).chance(rate) {
            return Err(SimError("no capacity".to_owned()));
        }
        self.instances.insert(
            id.clone(),
            SimInstance {
                revision: revision.clone(),
                life: Life::Terminated,
                epoch,
                draining_until: None,
            },
        );
        self.set_life(id, Life::Provisioning);
        let latency = self.settings.provision_latency.as_millis();
        let after = self.stream(Source::Provisioning).around(latency);
        self.push(
            self.now + Duration::from_millis(after),
            Event::Booted(id.clone(), epoch),
        );
        Ok(())
    }

    /// A sample of `revision`'s latency (ms) or error share (percent of 100 requests).
    fn sample(&mut self, revision: &Revision, latency: bool) -> f64 {
        let behaviour = self.settings.behaviour(revision);
        let stream = self.stream(Source::Metrics);
        if latency {
            stream.around(u64::from(behaviour.latency_ms)) as f64
        } else {
            (0..100)
                .filter(|_| stream.chance(behaviour.error_basis_points))
                .count() as f64
        }
    }
}

impl Provisioner for SimWorld {
    type Error = SimError;

    fn provision(
        &mut self,
        instance: &InstanceId,
        revision: &Revision,
        _group: InstanceGroup,
    ) -> Result<(), SimError> {
        if self
            .instances
            .get(instance)
            .is_some_and(SimInstance::counts)
        {
            return Ok(());
        }
        let epoch = self.instances.get(instance).map_or(0, |i| i.epoch + 1);
        self.begin(instance, revision, epoch)
    }

    fn redeploy(
        &mut self,
        instance: &InstanceId,
        _from: &Revision,
        revision: &Revision,
    ) -> Result<(), SimError> {
        match self.instances.get(instance) {
            Some(i) if &i.revision == revision && i.counts() => Ok(()),
            Some(i) => {
                let epoch = i.epoch + 1;
                self.set_life(instance, Life::Terminated);
                self.begin(instance, revision, epoch)
            }
            None => Err(SimError(format!("no instance {instance} to redeploy"))),
        }
    }

    fn terminate(&mut self, instance: &InstanceId) -> Result<(), SimError> {
        if let Some(i) = self.instances.get(instance) {
            let epoch = i.epoch;
            let at = self.now + self.settings.terminate_latency;
            self.push(at, Event::Gone(instance.clone(), epoch));
        }
        Ok(())
    }
}

impl HealthProbe for SimWorld {
    type Error = SimError;

    fn probe(&mut self, instance: &InstanceId) -> Result<Probe, SimError> {
        Ok(match self.instances.get(instance).map(|i| i.life) {
            None | Some(Life::Terminated | Life::Crashed) => Probe::Gone,
            Some(Life::Provisioning | Life::Booting) => Probe::Starting,
            Some(Life::Running) => Probe::Healthy,
            Some(Life::Flapping) => Probe::Unhealthy,
        })
    }
}

impl LoadBalancer for SimWorld {
    type Error = SimError;

    fn apply(&mut self, table: &TrafficTable, diff: &TableDiff) -> Result<(), SimError> {
        let generation = diff.to_generation;
        if generation <= self.router.generation() || self.pending.contains_key(&generation) {
            return Ok(());
        }
        self.pending
            .insert(generation, (table.clone(), diff.clone()));
        let at = self.now + self.settings.apply_latency;
        self.push(at, Event::Applied(generation));
        Ok(())
    }

    fn applied_generation(&mut self) -> Result<u64, SimError> {
        Ok(self.router.generation())
    }

    fn drain(&mut self, instance: &InstanceId, timeout: Duration) -> Result<(), SimError> {
        let time = self.settings.drain_time.min(timeout);
        let now = self.now;
        if let Some(i) = self.instances.get_mut(instance)
            && i.draining_until.is_none()
        {
            i.draining_until = Some(now + time);
        }
        Ok(())
    }

    fn is_drained(&mut self, instance: &InstanceId) -> Result<bool, SimError> {
        Ok(self
            .instances
            .get(instance)
            .and_then(|i| i.draining_until)
            .is_none_or(|until| until <= self.now))
    }
}

impl Metrics for SimWorld {
    type Error = SimError;

    fn measure(&mut self, query: &MeasureQuery<'_>) -> Result<Measurement, SimError> {
        let latency = query.metric.contains("latency");
        let compares = match self.metrics.get(query.metric) {
            Some(MetricCheck::Threshold { .. }) | None => false,
            Some(_) => true,
        };
        if !compares {
            let behaviour = self.settings.behaviour(query.revision);
            let value = if latency {
                f64::from(behaviour.latency_ms)
            } else {
                f64::from(behaviour.error_basis_points) / 10_000.0
            };
            return Ok(Measurement::Value(value));
        }
        let baseline = query
            .baseline
            .cloned()
            .ok_or_else(|| SimError(format!("{} compares, with no baseline", query.metric)))?;
        let n = self.settings.samples.max(1);
        let canary = (0..n)
            .map(|_| self.sample(query.revision, latency))
            .collect();
        let baseline = (0..n).map(|_| self.sample(&baseline, latency)).collect();
        Ok(Measurement::Samples { canary, baseline })
    }
}

impl Hooks for SimWorld {
    type Error = SimError;

    fn run_hook(&mut self, run: &HookRun<'_>) -> Result<(), SimError> {
        if self.hooks.contains_key(&run.id) {
            return Ok(());
        }
        let outcome = if self.settings.behaviour(run.revision).hooks_pass {
            HookOutcome::passed("the simulated checks pass")
        } else {
            HookOutcome::failed("the simulated checks fail on this revision")
        };
        let at = self.now + self.settings.hook_time;
        self.hooks.insert(run.id, (outcome, at));
        Ok(())
    }

    fn hook_result(&mut self, id: ActionId) -> Result<Option<HookOutcome>, SimError> {
        Ok(self
            .hooks
            .get(&id)
            .filter(|(_, at)| *at <= self.now)
            .map(|(outcome, _)| outcome.clone()))
    }
}

impl Clock for SimWorld {
    fn now(&mut self) -> Timestamp {
        self.now
    }

    fn sleep_until(&mut self, deadline: Timestamp, _wakeup: &Wakeup) {
        self.advance(deadline);
    }
}
