//! A run: the real [`Driver`] stepping a rollout against a [`SimWorld`], the clock
//! jumping from one step's wake-up to the next, every call checked (when asked) by
//! the shared [`Checker`](crate::invariants::Checker).

use std::collections::BTreeMap;

use super::report::{End, Failed, Report, Timeline};
use super::settings::Settings;
use super::world::SimWorld;
use crate::driver::{Call as DriverCall, Command, Driver, DriverConfig, Outcome, Step};
use crate::error::SpecError;
use crate::invariants::{Call, Checker};
use crate::model::{Instance, Revision};
use crate::output::{Action, Event};
use crate::rollout::{PauseReason, Phase, Rollout};
use crate::spec::RolloutSpec;
use crate::store::{MemoryStore, RolloutId};
use crate::time::{Duration, Timestamp};
use crate::traffic::{TrafficTable, Weight};

/// At most this many driver steps per run: a rollout that keeps the driver busy this
/// long without coming to rest is reported stalled.
const STEP_LIMIT: u64 = 1_000_000;

/// The most violations a report keeps.
const VIOLATIONS_KEPT: usize = 20;

/// A simulated rollout: a fleet of `spec.desired` instances of one revision, serving,
/// deployed to another, in a world of [`Settings`], for one seed.
///
/// # Examples
///
/// ```
/// use cutover::sim::{End, Settings, Simulation};
/// use cutover::RolloutSpec;
///
/// let spec = RolloutSpec { desired: 4, ..RolloutSpec::default() };
/// let report = Simulation::new(spec, Settings::ideal(), 7).checked(true).run()?;
/// assert_eq!(report.end, End::Completed);
/// assert_eq!(report.failed.rollout, 0);
/// assert!(report.violations.is_empty());
/// println!("{}", report.summary());
/// # Ok::<(), cutover::SpecError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Simulation {
    spec: RolloutSpec,
    settings: Settings,
    seed: u64,
    from: Revision,
    to: Revision,
    check: bool,
    timeline: bool,
}

impl Simulation {
    /// A rollout of `spec` from `v1` to `v2` in a world of `settings`, drawn from `seed`.
    #[must_use]
    pub fn new(spec: RolloutSpec, settings: Settings, seed: u64) -> Simulation {
        Simulation {
            spec,
            settings,
            seed,
            from: Revision::from("v1"),
            to: Revision::from("v2"),
            check: false,
            timeline: true,
        }
    }

    /// Rolls out `to` over a fleet of `from` (default `v1` to `v2`).
    #[must_use]
    pub fn revisions(mut self, from: &str, to: &str) -> Simulation {
        self.from = Revision::from(from);
        self.to = Revision::from(to);
        self
    }

    /// Whether every call is checked against the invariants (default off: it doubles
    /// the cost). Violations found are in [`Report::violations`].
    #[must_use]
    pub fn checked(mut self, check: bool) -> Simulation {
        self.check = check;
        self
    }

    /// Whether the report keeps a timeline (default on).
    #[must_use]
    pub fn timeline(mut self, keep: bool) -> Simulation {
        self.timeline = keep;
        self
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The rollout (created, not yet deployed) and the world it starts in, for callers
    /// who drive a [`Driver`] themselves: a fleet of `spec.desired` instances of the
    /// first revision, serving, behind a load balancer that applies them all; advance
    /// the world's clock with [`SimWorld::advance`].
    ///
    /// ```
    /// use cutover::driver::{Command, Driver, DriverConfig};
    /// use cutover::sim::{Settings, Simulation};
    /// use cutover::store::{MemoryStore, RolloutId};
    /// use cutover::{Phase, RolloutSpec};
    ///
    /// let spec = RolloutSpec { desired: 3, ..RolloutSpec::default() };
    /// let (rollout, world) = Simulation::new(spec, Settings::ideal(), 1).world()?;
    /// let id = RolloutId::new("web")?;
    /// let mut driver = Driver::start(MemoryStore::new(), id, rollout, world, DriverConfig::default())?;
    /// let _ = driver.handle().send(Command::Deploy("v2".into()));
    /// while driver.outcome().is_none() || driver.rollout().phase() == Phase::Idle {
    ///     let step = driver.step()?;
    ///     driver.world_mut().advance(step.next);
    /// }
    /// assert_eq!(driver.rollout().phase(), Phase::Completed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The spec is not valid for the fleet.
    pub fn world(&self) -> Result<(Rollout, SimWorld), SpecError> {
        let fleet: Vec<Instance> = (0..self.spec.desired)
            .map(|i| Instance::serving(format!("web-{i}"), self.from.clone()))
            .collect();
        let table = TrafficTable::builder()
            .revision(
                self.from.as_str(),
                10_000,
                fleet.iter().map(|i| i.id.clone()),
            )
            .build()
            .map_err(|_| SpecError::ZeroDesired)?;
        let rollout = Rollout::new(Timestamp::ZERO, self.spec.clone(), fleet.clone())?;
        let mut metrics = BTreeMap::new();
        let specs = self.spec.analyses.values().flatten().chain(
            self.spec
                .background_analysis
                .iter()
                .flat_map(|b| b.metrics.iter()),
        );
        for metric in specs {
            metrics.insert(metric.name.clone(), metric.check.clone());
        }
        let mut world = SimWorld::new(self.settings.clone(), self.seed, &fleet, &table, metrics);
        world.target = Some(self.to.clone());
        Ok((rollout, world))
    }

    /// Runs the rollout until it comes to rest, waits for a person, or stops
    /// progressing, and reports.
    ///
    /// # Errors
    ///
    /// The spec is not valid for the fleet.
    pub fn run(&self) -> Result<Report, SpecError> {
        let mut run = Run::start(self)?;
        let end = run.go(self);
        Ok(run.report(self, end))
    }
}

/// The shadow rollout and the checker replaying every call of the driver.
struct Shadow {
    rollout: Rollout,
    checker: Checker,
    violations: Vec<String>,
}

impl Shadow {
    fn note(&mut self, found: Vec<crate::invariants::Violation>, at: Timestamp) {
        for v in found {
            if self.violations.len() < VIOLATIONS_KEPT {
                self.violations.push(format!("at {at}: {v}"));
            }
        }
    }

    fn drain(&mut self) -> (Vec<Action>, Vec<Event>) {
        let actions = std::iter::from_fn(|| self.rollout.poll_action()).collect();
        let events = std::iter::from_fn(|| self.rollout.poll_event()).collect();
        (actions, events)
    }

    /// Replays one driver step, call by call, checking each.
    fn replay(&mut self, step: &Step) {
        let at = step.now;
        for call in &step.calls {
            let before = self.rollout.clone();
            let found = match call {
                DriverCall::Command { command, .. } => {
                    let result = command.apply(&mut self.rollout, at);
                    let (actions, events) = self.drain();
                    let resize = matches!(command, Command::Scale(_) | Command::UpdateSpec(_));
                    let call = Call::Command {
                        at,
                        resize,
                        refused: result.is_err(),
                    };
                    self.checker
                        .step(&before, &self.rollout, &call, &actions, &events)
                }
                DriverCall::Timeout => {
                    self.rollout.handle_timeout(at);
                    let (actions, events) = self.drain();
                    let call = Call::Timeout { at };
                    self.checker
                        .step(&before, &self.rollout, &call, &actions, &events)
                }
                DriverCall::Input(input) => {
                    self.rollout.handle_input(at, input.clone());
                    let (actions, events) = self.drain();
                    let call = Call::Input {
                        at,
                        input,
                        stale: false,
                    };
                    self.checker
                        .step(&before, &self.rollout, &call, &actions, &events)
                }
            };
            self.note(found, at);
        }
    }
}

struct Run {
    driver: Driver<MemoryStore, SimWorld>,
    shadow: Option<Shadow>,
    timeline: Timeline,
    steps: u64,
    /// When the rollout paused for a person, to promote it after the operator's delay.
    paused_at: Option<Timestamp>,
    /// When the operator aborted or rolled back, or the rollout aborted itself.
    aborted_at: Option<Timestamp>,
    rollback_time: Option<Duration>,
    abort_sent: bool,
}

impl Run {
    fn start(sim: &Simulation) -> Result<Run, SpecError> {
        let (rollout, world) = sim.world()?;
        let shadow = sim.check.then(|| {
            let table = world.router.table().clone();
            let fleet: Vec<Instance> = rollout.fleet().iter().cloned().collect();
            let mut shadow = Shadow {
                rollout: rollout.clone(),
                checker: Checker::new(table, &fleet),
                violations: Vec::new(),
            };
            let (actions, events) = shadow.drain();
            let found = shadow.checker.created(&shadow.rollout, &actions, &events);
            shadow.note(found, Timestamp::ZERO);
            shadow
        });
        let config = DriverConfig {
            health_interval: sim.settings.health_interval,
            poll_interval: sim.settings.poll_interval,
            ..DriverConfig::default()
        };
        let id = RolloutId::new("sim").expect("a valid name");
        let driver = Driver::start(MemoryStore::new(), id, rollout, world, config)
            .expect("a memory store takes the first document");
        let _ = driver.handle().send(Command::Deploy(sim.to.clone()));
        Ok(Run {
            driver,
            shadow,
            timeline: Timeline::default(),
            steps: 0,
            paused_at: None,
            aborted_at: None,
            rollback_time: None,
            abort_sent: false,
        })
    }

    /// Steps until the run ends; returns how.
    fn go(&mut self, sim: &Simulation) -> End {
        let limit = Timestamp::ZERO.saturating_add(sim.settings.time_limit);
        loop {
            let step = match self.driver.step() {
                Ok(step) => step,
                Err(error) => {
                    return End::Stalled {
                        reason: format!("the driver stopped: {error}"),
                    };
                }
            };
            self.steps += 1;
            if let Some(shadow) = &mut self.shadow {
                shadow.replay(&step);
            }
            self.observe(&step, sim);
            if let Some(end) = self.settle(&step, sim) {
                return end;
            }
            let mut next = step.next;
            if let Some(at) = self.operator_due(sim) {
                next = next.min(at).max(step.now);
            }
            if next > limit {
                return End::Stalled {
                    reason: format!(
                        "no rest by the time limit {}: {} ({})",
                        sim.settings.time_limit,
                        self.driver.rollout().phase(),
                        self.driver.rollout().status().message
                    ),
                };
            }
            if self.steps >= STEP_LIMIT {
                return End::Stalled {
                    reason: format!("{STEP_LIMIT} driver steps without rest"),
                };
            }
            self.driver.world_mut().advance(next);
        }
    }

    /// Takes note of a step: the timeline, the rollback's clock.
    fn observe(&mut self, step: &Step, sim: &Simulation) {
        let rollout = self.driver.rollout();
        let world = self.driver.world();
        if self.aborted_at.is_none() && matches!(rollout.phase(), Phase::Aborted { .. }) {
            self.aborted_at = Some(step.now);
        }
        if let Some(at) = self.aborted_at
            && self.rollback_time.is_none()
            && world.router.table().weight(&sim.from) == Weight::FULL
        {
            self.rollback_time = Some(step.now.saturating_duration_since(at));
        }
        if !sim.timeline || (step.calls.is_empty() && step.events.is_empty()) {
            return;
        }
        let failed = world.requests.rollout
            + world.requests.bad_version
            + world.requests.crash
            + world.requests.unrouted;
        let events = step.events.iter().map(|e| e.kind.to_string()).collect();
        let row = Timeline::row(
            step.now,
            rollout,
            world.router.table(),
            (world.requests.sent, failed),
            events,
        );
        self.timeline.rows.push(row);
    }

    /// What the operator does after a step, and whether the run is over.
    fn settle(&mut self, step: &Step, sim: &Simulation) -> Option<End> {
        let operator = sim.settings.operator;
        let phase = self.driver.rollout().phase();
        let bad = self.driver.world().requests.bad_version;
        let late = operator
            .abort_at
            .is_some_and(|at| step.now >= Timestamp::ZERO.saturating_add(at));
        let too_many = operator.abort_after_failures.is_some_and(|n| bad >= n);
        // The operator aborts a rollout in flight, and rolls a completed one back.
        let verb = if phase.is_in_flight() {
            Some(Command::Abort)
        } else if phase == Phase::Completed && self.driver.rollout().stable() == Some(&sim.to) {
            Some(Command::Rollback)
        } else {
            None
        };
        if let Some(verb) = verb
            && !self.abort_sent
            && (late || too_many)
        {
            self.abort_sent = true;
            self.aborted_at.get_or_insert(step.now);
            let _ = self.driver.handle().send(verb);
            return None;
        }
        match self.driver.outcome()? {
            Outcome::Finished(Phase::Completed) => Some(End::Completed),
            Outcome::Finished(phase @ Phase::Aborted { .. }) => Some(End::Aborted {
                phase: phase.to_string(),
            }),
            Outcome::Finished(phase) => Some(End::Stalled {
                reason: format!("at rest in {phase}"),
            }),
            Outcome::NeedsOperator(Phase::Paused {
                reason: PauseReason::Step { until: None },
            }) if operator.promote_after.is_some() => {
                let since = *self.paused_at.get_or_insert(step.now);
                let due = since.saturating_add(operator.promote_after.unwrap_or_default());
                if step.now >= due {
                    self.paused_at = None;
                    let _ = self.driver.handle().send(Command::Promote);
                }
                None
            }
            Outcome::NeedsOperator(phase) => Some(End::Stalled {
                reason: format!("waits for a person: {phase}"),
            }),
            Outcome::Stopped => Some(End::Stalled {
                reason: "stopped".to_owned(),
            }),
        }
    }

    /// When the operator acts next, if it will.
    fn operator_due(&self, sim: &Simulation) -> Option<Timestamp> {
        let operator = sim.settings.operator;
        let promote = self
            .paused_at
            .zip(operator.promote_after)
            .map(|(at, after)| at.saturating_add(after));
        let abort = operator
            .abort_at
            .filter(|_| !self.abort_sent)
            .map(|at| Timestamp::ZERO.saturating_add(at));
        promote.into_iter().chain(abort).min()
    }

    fn report(mut self, sim: &Simulation, end: End) -> Report {
        let mut violations = Vec::new();
        if let Some(shadow) = self.shadow.take() {
            violations = shadow.violations;
            if &shadow.rollout != self.driver.rollout() && violations.len() < VIOLATIONS_KEPT {
                violations.push(
                    "invariant 6: the driver's rollout is not what replaying its calls gives"
                        .to_owned(),
                );
            }
        }
        let world = self.driver.world();
        let now = world.now;
        let requests = world.requests;
        Report {
            seed: sim.seed,
            strategy: sim.spec.strategy.kind(),
            end,
            requests: requests.sent,
            failed: Failed {
                rollout: requests.rollout,
                bad_version: requests.bad_version,
                crash: requests.crash,
                unrouted: requests.unrouted,
            },
            to_target: requests.to_target,
            faults: requests.faults,
            peak_instances: world.peak_live,
            min_ready: world.min_ready,
            lb_updates: world.lb_updates,
            duration: now.saturating_duration_since(Timestamp::ZERO),
            mixed_window: world.mixed_window(),
            rollback_time: self.rollback_time,
            violations,
            timeline: self.timeline,
        }
    }
}
