//! [`MockWorld`]: one world behind every adapter trait, on a virtual clock, whose
//! answers are scripted per call (tower-test style: a queue of responses per adapter,
//! then the world's own behaviour once a queue is empty).
//!
//! The world is shared: clones are handles on the same state, so that a driver that
//! crashed and a driver that resumed (or two racing controllers) act on one world. It
//! keeps a log of every request and checks the adapters' promises as it goes: an
//! instance name is created once, a generation names one table, and the load
//! balancer's applied generation never goes back.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cutover::adapter::{
    Clock, HealthProbe, HookOutcome, HookRun, Hooks, LoadBalancer, MeasureQuery, Metrics, Probe,
    Provisioner, Wakeup,
};
use cutover::analysis::Measurement;
use cutover::traffic::TableDiff;
use cutover::{ActionId, Duration, InstanceGroup, InstanceId, Revision, Timestamp, TrafficTable};

/// An adapter's refusal, in words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MockError(pub String);

/// A scripted answer: `Err` refuses with that message.
pub type Scripted<T> = Result<T, String>;

/// How long the world takes to do things, once asked.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// From an accepted provision to passing health checks.
    pub boot: Duration,
    /// From an accepted table to its being applied.
    pub apply: Duration,
    /// From an accepted drain to no request in flight.
    pub drain: Duration,
    /// From an accepted termination to the instance being gone.
    pub terminate: Duration,
    /// From a hook's start to its outcome.
    pub hook: Duration,
}

impl Timing {
    /// Everything at once.
    pub const INSTANT: Timing = Timing {
        boot: Duration::ZERO,
        apply: Duration::ZERO,
        drain: Duration::ZERO,
        terminate: Duration::ZERO,
        hook: Duration::ZERO,
    };

    /// Seconds here and there, like a small real fleet.
    pub const REALISTIC: Timing = Timing {
        boot: Duration::from_secs(3),
        apply: Duration::from_millis(100),
        drain: Duration::from_secs(1),
        terminate: Duration::from_millis(500),
        hook: Duration::from_secs(2),
    };
}

/// One instance of the world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MockInstance {
    pub revision: Revision,
    pub group: InstanceGroup,
    /// When it passes health checks.
    pub ready_at: Timestamp,
    /// When it is gone (once asked to terminate, or lost).
    pub gone_at: Option<Timestamp>,
}

impl MockInstance {
    /// Whether it exists at `now`.
    pub fn exists(&self, now: Timestamp) -> bool {
        self.gone_at.is_none_or(|at| now < at)
    }
}

/// What a hook run does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookScript {
    /// It cannot be started.
    Refuse(String),
    /// It ends so after the world's hook time.
    End { passed: bool, reason: String },
    /// It never ends.
    Hang,
}

/// One request made of the world, as the log keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// Which controller made it (see [`MockWorld::controller`]).
    pub by: u32,
    pub at: Timestamp,
    pub what: Asked,
    /// Whether it was accepted.
    pub accepted: bool,
}

/// What was asked.
#[derive(Clone, Debug, PartialEq)]
pub enum Asked {
    Provision(InstanceId, Revision),
    Redeploy(InstanceId, Revision),
    Terminate(InstanceId),
    Apply(u64),
    Drain(InstanceId),
    Measure(ActionId),
    Hook(ActionId),
}

/// The world's state.
#[derive(Debug)]
pub struct State {
    pub now: Timestamp,
    pub timing: Timing,
    pub instances: BTreeMap<InstanceId, MockInstance>,
    /// How many times each name was created.
    pub created: BTreeMap<InstanceId, u32>,
    /// The generation in force, and every generation put in force, in order.
    pub applied: u64,
    pub applied_history: Vec<u64>,
    /// Tables accepted and not yet in force: (when, generation).
    pub applying: Vec<(Timestamp, u64)>,
    /// Every table asked for, by generation.
    pub tables: BTreeMap<u64, TrafficTable>,
    /// The instances in rotation at generation 0 (the fleet's, before any table).
    pub initial: BTreeSet<InstanceId>,
    /// Drains asked for: when each is done.
    pub drains: BTreeMap<InstanceId, Timestamp>,
    /// Hook runs, by action: the hook, and when it ends with what (`None`: never).
    pub hook_runs: BTreeMap<ActionId, (String, Option<(Timestamp, HookOutcome)>)>,
    /// Answers to measurements, by action (a repeated query must get the same answer).
    pub measured: BTreeMap<ActionId, Measurement>,
    pub log: Vec<Request>,
    /// Scripts: consumed one per call, then the world's own behaviour.
    pub provision_script: VecDeque<Scripted<()>>,
    pub terminate_script: VecDeque<Scripted<()>>,
    pub apply_script: VecDeque<Scripted<()>>,
    /// Extra delays for the tables accepted next (out-of-order application).
    pub apply_delays: VecDeque<Duration>,
    pub applied_generation_script: VecDeque<Scripted<()>>,
    pub drain_script: VecDeque<Scripted<()>>,
    pub probe_script: BTreeMap<InstanceId, VecDeque<Scripted<Probe>>>,
    pub measure_script: VecDeque<Scripted<Measurement>>,
    pub hook_script: BTreeMap<String, VecDeque<HookScript>>,
    /// How many of the next `hook_result` calls fail.
    pub hook_result_errors: usize,
    /// Panic ("crash") right after this many more requests.
    pub crash_after: Option<usize>,
}

/// A handle on a shared world, acting as one controller.
#[derive(Clone, Debug)]
pub struct MockWorld {
    state: Arc<Mutex<State>>,
    by: u32,
}

impl MockWorld {
    /// A world of `fleet` (ready and in force under generation 0), at time zero.
    pub fn new(timing: Timing, fleet: &[cutover::Instance]) -> MockWorld {
        let instances = fleet
            .iter()
            .map(|i| {
                let instance = MockInstance {
                    revision: i.revision.clone(),
                    group: i.group,
                    ready_at: Timestamp::ZERO,
                    gone_at: None,
                };
                (i.id.clone(), instance)
            })
            .collect();
        let state = State {
            now: Timestamp::ZERO,
            timing,
            instances,
            created: BTreeMap::new(),
            applied: 0,
            applied_history: Vec::new(),
            applying: Vec::new(),
            tables: BTreeMap::new(),
            initial: fleet
                .iter()
                .filter(|i| i.in_rotation)
                .map(|i| i.id.clone())
                .collect(),
            hook_result_errors: 0,
            drains: BTreeMap::new(),
            hook_runs: BTreeMap::new(),
            measured: BTreeMap::new(),
            log: Vec::new(),
            provision_script: VecDeque::new(),
            terminate_script: VecDeque::new(),
            apply_script: VecDeque::new(),
            apply_delays: VecDeque::new(),
            applied_generation_script: VecDeque::new(),
            drain_script: VecDeque::new(),
            probe_script: BTreeMap::new(),
            measure_script: VecDeque::new(),
            hook_script: BTreeMap::new(),
            crash_after: None,
        };
        MockWorld {
            state: Arc::new(Mutex::new(state)),
            by: 0,
        }
    }

    /// Another handle on the same world, whose requests are logged as `by`'s.
    pub fn controller(&self, by: u32) -> MockWorld {
        MockWorld {
            state: Arc::clone(&self.state),
            by,
        }
    }

    /// The state, to read or script. (A crash leaves the lock poisoned: the state is
    /// whole, since every change is made before the crash.)
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Logs a request; crashes if the crash is due.
    fn log(&self, mut state: MutexGuard<'_, State>, what: Asked, accepted: bool) {
        let at = state.now;
        state.log.push(Request {
            by: self.by,
            at,
            what,
            accepted,
        });
        if let Some(left) = &mut state.crash_after {
            if *left == 0 {
                state.crash_after = None;
                drop(state);
                std::panic::panic_any(Crash);
            }
            *left -= 1;
        }
    }

    /// Instances that exist now.
    pub fn live(&self) -> BTreeMap<InstanceId, Revision> {
        let state = self.state();
        let now = state.now;
        state
            .instances
            .iter()
            .filter(|(_, i)| i.exists(now))
            .map(|(id, i)| (id.clone(), i.revision.clone()))
            .collect()
    }

    /// Makes `instance` disappear now (a lost host).
    pub fn lose(&self, instance: &str) {
        let mut state = self.state();
        let now = state.now;
        if let Some(i) = state.instances.get_mut(instance) {
            i.gone_at = Some(now);
        }
    }
}

impl State {
    /// Whether the table in force routes to `instance`.
    pub fn routes_to(&self, instance: &InstanceId) -> bool {
        match self.applied {
            0 => self.initial.contains(instance),
            generation => self.tables[&generation].revision_of(instance).is_some(),
        }
    }
}

/// The payload of a scripted crash.
#[derive(Debug)]
pub struct Crash;

/// Puts in force every accepted table that is due, in the order they become due (a
/// lower generation after a higher one is ignored: fencing).
fn settle_tables(state: &mut State) {
    let now = state.now;
    state.applying.sort();
    while let Some(&(due, generation)) = state.applying.first()
        && due <= now
    {
        state.applying.remove(0);
        if generation > state.applied {
            state.applied = generation;
            state.applied_history.push(generation);
        }
    }
}

fn refusal(script: &mut VecDeque<Scripted<()>>) -> Option<MockError> {
    match script.pop_front() {
        Some(Err(why)) => Some(MockError(why)),
        _ => None,
    }
}

impl Provisioner for MockWorld {
    type Error = MockError;

    fn provision(
        &mut self,
        instance: &InstanceId,
        revision: &Revision,
        group: InstanceGroup,
    ) -> Result<(), MockError> {
        let mut state = self.state();
        let what = Asked::Provision(instance.clone(), revision.clone());
        if let Some(error) = refusal(&mut state.provision_script) {
            self.log(state, what, false);
            return Err(error);
        }
        let now = state.now;
        let ready_at = now + state.timing.boot;
        match state.instances.get(instance) {
            Some(existing) if existing.exists(now) => assert_eq!(
                &existing.revision, revision,
                "{instance} asked for again with another revision"
            ),
            _ => {
                *state.created.entry(instance.clone()).or_default() += 1;
                let new = MockInstance {
                    revision: revision.clone(),
                    group,
                    ready_at,
                    gone_at: None,
                };
                state.instances.insert(instance.clone(), new);
            }
        }
        self.log(state, what, true);
        Ok(())
    }

    fn redeploy(
        &mut self,
        instance: &InstanceId,
        _from: &Revision,
        revision: &Revision,
    ) -> Result<(), MockError> {
        let mut state = self.state();
        let what = Asked::Redeploy(instance.clone(), revision.clone());
        if let Some(error) = refusal(&mut state.provision_script) {
            self.log(state, what, false);
            return Err(error);
        }
        let now = state.now;
        let ready_at = now + state.timing.boot;
        let accepted = match state.instances.get_mut(instance) {
            Some(existing) if existing.exists(now) => {
                if &existing.revision != revision {
                    existing.revision = revision.clone();
                    existing.ready_at = ready_at;
                }
                true
            }
            _ => false,
        };
        self.log(state, what, accepted);
        if accepted {
            Ok(())
        } else {
            Err(MockError(format!("{instance} does not exist")))
        }
    }

    fn terminate(&mut self, instance: &InstanceId) -> Result<(), MockError> {
        let mut state = self.state();
        let what = Asked::Terminate(instance.clone());
        if let Some(error) = refusal(&mut state.terminate_script) {
            self.log(state, what, false);
            return Err(error);
        }
        settle_tables(&mut state);
        assert!(
            !state.routes_to(instance),
            "{instance} terminated while the table in force ({}) routes to it",
            state.applied
        );
        let gone_at = state.now + state.timing.terminate;
        if let Some(existing) = state.instances.get_mut(instance) {
            existing.gone_at = Some(existing.gone_at.map_or(gone_at, |at| at.min(gone_at)));
        }
        self.log(state, what, true);
        Ok(())
    }
}

impl HealthProbe for MockWorld {
    type Error = MockError;

    fn probe(&mut self, instance: &InstanceId) -> Result<Probe, MockError> {
        let mut state = self.state();
        if let Some(scripted) = state
            .probe_script
            .get_mut(instance)
            .and_then(VecDeque::pop_front)
        {
            return scripted.map_err(MockError);
        }
        let now = state.now;
        Ok(match state.instances.get(instance) {
            Some(i) if !i.exists(now) => Probe::Gone,
            None => Probe::Gone,
            Some(i) if now < i.ready_at => Probe::Starting,
            Some(_) => Probe::Healthy,
        })
    }
}

impl LoadBalancer for MockWorld {
    type Error = MockError;

    fn apply(&mut self, table: &TrafficTable, diff: &TableDiff) -> Result<(), MockError> {
        let mut state = self.state();
        let generation = table.generation();
        assert_eq!(
            diff.to_generation, generation,
            "a diff to another generation than its table's"
        );
        let what = Asked::Apply(generation);
        if let Some(error) = refusal(&mut state.apply_script) {
            self.log(state, what, false);
            return Err(error);
        }
        if let Some(known) = state.tables.get(&generation) {
            assert_eq!(known, table, "generation {generation} named two tables");
        }
        state.tables.insert(generation, table.clone());
        let delay = state.apply_delays.pop_front().unwrap_or(Duration::ZERO);
        let due = state.now + state.timing.apply + delay;
        state.applying.push((due, generation));
        settle_tables(&mut state);
        self.log(state, what, true);
        Ok(())
    }

    fn applied_generation(&mut self) -> Result<u64, MockError> {
        let mut state = self.state();
        if let Some(error) = refusal(&mut state.applied_generation_script) {
            return Err(error);
        }
        settle_tables(&mut state);
        Ok(state.applied)
    }

    fn drain(&mut self, instance: &InstanceId, _timeout: Duration) -> Result<(), MockError> {
        let mut state = self.state();
        let what = Asked::Drain(instance.clone());
        if let Some(error) = refusal(&mut state.drain_script) {
            self.log(state, what, false);
            return Err(error);
        }
        settle_tables(&mut state);
        assert!(
            !state.routes_to(instance),
            "{instance} drained while the table in force ({}) routes to it",
            state.applied
        );
        let done = state.now + state.timing.drain;
        state.drains.entry(instance.clone()).or_insert(done);
        self.log(state, what, true);
        Ok(())
    }

    fn is_drained(&mut self, instance: &InstanceId) -> Result<bool, MockError> {
        let state = self.state();
        Ok(state
            .drains
            .get(instance)
            .is_none_or(|done| *done <= state.now))
    }
}

impl Metrics for MockWorld {
    type Error = MockError;

    fn measure(&mut self, query: &MeasureQuery<'_>) -> Result<Measurement, MockError> {
        let mut state = self.state();
        let what = Asked::Measure(query.id);
        // A query asked again (after a crash) gets the answer it got.
        if let Some(known) = state.measured.get(&query.id).cloned() {
            self.log(state, what, true);
            return Ok(known);
        }
        match state.measure_script.pop_front() {
            Some(Err(why)) => {
                self.log(state, what, false);
                Err(MockError(why))
            }
            scripted => {
                let measurement = scripted.map_or(Measurement::Value(0.01), Result::unwrap);
                state.measured.insert(query.id, measurement.clone());
                self.log(state, what, true);
                Ok(measurement)
            }
        }
    }
}

impl Hooks for MockWorld {
    type Error = MockError;

    fn run_hook(&mut self, run: &HookRun<'_>) -> Result<(), MockError> {
        let mut state = self.state();
        let what = Asked::Hook(run.id);
        if state.hook_runs.contains_key(&run.id) {
            self.log(state, what, true);
            return Ok(());
        }
        let script = state
            .hook_script
            .get_mut(run.hook)
            .and_then(VecDeque::pop_front)
            .unwrap_or(HookScript::End {
                passed: true,
                reason: "ok".into(),
            });
        let ends = state.now + state.timing.hook;
        let end = match script {
            HookScript::Refuse(why) => {
                self.log(state, what, false);
                return Err(MockError(why));
            }
            HookScript::End {
                passed: true,
                reason,
            } => Some((ends, HookOutcome::passed(reason))),
            HookScript::End { reason, .. } => Some((ends, HookOutcome::failed(reason))),
            HookScript::Hang => None,
        };
        state.hook_runs.insert(run.id, (run.hook.to_owned(), end));
        self.log(state, what, true);
        Ok(())
    }

    fn hook_result(&mut self, id: ActionId) -> Result<Option<HookOutcome>, MockError> {
        let mut state = self.state();
        if state.hook_result_errors > 0 {
            state.hook_result_errors -= 1;
            return Err(MockError("the hook runner does not answer".into()));
        }
        Ok(match state.hook_runs.get(&id) {
            Some((_, Some((ends, outcome)))) if *ends <= state.now => Some(outcome.clone()),
            _ => None,
        })
    }
}

impl Clock for MockWorld {
    fn now(&mut self) -> Timestamp {
        self.state().now
    }

    fn sleep_until(&mut self, deadline: Timestamp, _wakeup: &Wakeup) {
        let mut state = self.state();
        state.now = state.now.max(deadline);
    }
}
