//! A blocking [`Driver`] that runs a [`Rollout`] against the [adapters](crate::adapter)
//! until it is at rest or waits for a person, saving it in a [`Store`] before it acts.
//!
//! # One step
//!
//! [`Driver::step`] is one turn of the sans-IO loop, with the I/O done:
//!
//! 1. the operator's verbs sent through a [`DriverHandle`], in order;
//! 2. `handle_timeout`, if the rollout's timer is due;
//! 3. the answers to what the last step performed (a provision accepted or refused,
//!    a measurement, a hook that could not start);
//! 4. observations, when due: the load balancer's applied generation, drains,
//!    terminations and hooks asked for (every `poll_interval`, and at once after a
//!    request), the health of every starting and ready instance (every
//!    `health_interval`);
//! 5. **save**: the rollout, the actions it produced and the requests being observed,
//!    in one document, under the version this driver last saved — whenever there are
//!    actions to perform, a verb was taken, the phase changed, or the rollout came to
//!    rest (so that the stored document says where a run ended);
//! 6. the actions, performed in order.
//!
//! A crash after the save repeats the actions on resume rather than losing them; every
//! adapter request is idempotent (see [`adapter`](crate::adapter)). A save that
//! finds another version stored ([`DriverError::Conflict`]) stops the driver before it
//! performs anything: another controller owns the rollout. Transient store failures are
//! retried `store_attempts` times with a doubling backoff; any other store failure
//! stops the driver too (resume it from the store once the store is back).
//!
//! Several table updates in one step are performed as one: the newest table, with the
//! changes of all of them (the load balancer acknowledges every generation up to the
//! one it applies).
//!
//! # Runs
//!
//! [`Driver::run`] steps and sleeps on the [`Clock`](crate::adapter::Clock) until
//! the rollout is at rest or waits for a person ([`Outcome`]); [`Driver::serve`] keeps
//! going until a [`DriverHandle::stop`], for a controller that takes verbs (a new
//! `deploy` included) for as long as it lives. [`Driver::resume`] continues a saved
//! rollout, after a crash or on another machine.

mod document;
mod handle;
mod observe;
mod perform;
mod report;

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};

pub use handle::{Command, DriverHandle, Reply, VerbError};
pub use report::{Call, DriverError, Outcome, Step};

use crate::adapter::World;
use crate::input::Input;
use crate::model::InstanceState;
use crate::output::Action;
use crate::rollout::{PauseReason, Phase, Rollout, Status};
use crate::store::{RolloutId, Store, StoreError, Version};
use crate::time::{Duration, Timestamp};
use document::Requests;
use handle::{Request, Shared};

/// How often a driver looks at the world, and how hard it tries its store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverConfig {
    /// How often every starting and ready instance is probed. Default 1s.
    pub health_interval: Duration,
    /// How often requests in flight (a table, drains, terminations, hooks) are
    /// observed, and refused ones asked again. Default 250ms.
    pub poll_interval: Duration,
    /// How many times a store call is made before a transient failure stops the
    /// driver (at least 1). Default 5.
    pub store_attempts: u32,
    /// The wait after the first transient store failure, doubled after each. Default
    /// 100ms.
    pub store_backoff: Duration,
}

impl Default for DriverConfig {
    fn default() -> DriverConfig {
        DriverConfig {
            health_interval: Duration::from_secs(1),
            poll_interval: Duration::from_millis(250),
            store_attempts: 5,
            store_backoff: Duration::from_millis(100),
        }
    }
}

/// Runs a [`Rollout`] against a [`World`] of adapters, saving it in a [`Store`]
/// before every action.
///
/// Built by [`start`](Driver::start) (a new rollout document) or
/// [`resume`](Driver::resume) (a saved one). See the [module docs](self) for what a
/// step does, and the crate docs for a complete example.
pub struct Driver<S: Store, W: World> {
    id: RolloutId,
    store: S,
    world: W,
    config: DriverConfig,
    rollout: Rollout,
    /// The version this driver last saved (or read, before its first save).
    version: Option<Version>,
    /// Actions polled from the rollout and not yet performed (saved, or about to be).
    perform: VecDeque<Action>,
    /// Requests whose completion is being observed.
    requests: Requests,
    /// Answers to actions performed, for the next step.
    answers: Vec<Input>,
    /// When requests in flight are observed next.
    poll_at: Timestamp,
    /// When instances are probed next.
    probe_at: Timestamp,
    /// The phase of the last document saved.
    saved_phase: Phase,
    /// Whether the rollout took a call since the last save.
    unsaved: bool,
    /// Whether the last save was made at rest (see [`Driver::outcome`]): a rollout
    /// at rest is saved once, not at every probe.
    saved_at_rest: bool,
    /// What stopped the driver for good.
    stopped: Option<DriverError>,
    /// The document being written (kept to reuse its allocation).
    buffer: Vec<u8>,
    receiver: mpsc::Receiver<Request>,
    handle: DriverHandle,
}

impl<S: Store, W: World> Driver<S, W> {
    /// A driver for a new rollout: saves its first document under `id`, which must
    /// not exist yet. The actions the rollout asked for on creation are saved with
    /// it and performed by the first step.
    ///
    /// # Errors
    ///
    /// [`DriverError::Conflict`] if a document exists under `id` (a rollout of that
    /// name is someone's already: [`resume`](Driver::resume) it);
    /// [`DriverError::Store`] if the store fails.
    pub fn start(
        store: S,
        id: RolloutId,
        mut rollout: Rollout,
        world: W,
        config: DriverConfig,
    ) -> Result<Driver<S, W>, DriverError> {
        // Taken now, as after any call: they are saved with the document.
        let perform = std::iter::from_fn(|| rollout.poll_action()).collect();
        let mut driver = Driver::new(store, id, rollout, world, config, None);
        driver.perform = perform;
        driver.save()?;
        Ok(driver)
    }

    /// A driver for the rollout saved under `id`, claimed by saving its document back
    /// under the version read: of several controllers resuming one rollout, one gets
    /// a driver and the others a conflict. Its first step performs the actions the
    /// document holds (again, if they had been performed: they are idempotent) and
    /// keeps observing the requests it holds.
    ///
    /// # Errors
    ///
    /// [`DriverError::NotFound`] if there is no document; [`DriverError::Unreadable`]
    /// or [`DriverError::Restore`] if it is not one this version reads;
    /// [`DriverError::Conflict`] if another controller saved it first;
    /// [`DriverError::Store`] if the store fails.
    pub fn resume(
        mut store: S,
        id: RolloutId,
        mut world: W,
        config: DriverConfig,
    ) -> Result<Driver<S, W>, DriverError> {
        let wakeup = crate::adapter::Wakeup::new();
        let loaded = retrying(&mut world, &wakeup, &config, || store.load(&id));
        let stored = match loaded {
            Ok(Some(stored)) => stored,
            Ok(None) => return Err(DriverError::NotFound { id }),
            Err((error, attempts)) => return Err(store_error(&id, error, attempts)),
        };
        let (rollout, perform, requests) =
            document::decode(&stored.document).map_err(|e| match e {
                document::Unreadable::Restore(source) => DriverError::Restore {
                    id: id.clone(),
                    source,
                },
                other => DriverError::Unreadable {
                    id: id.clone(),
                    source: Arc::new(other),
                },
            })?;
        let mut driver = Driver::new(store, id, rollout, world, config, Some(stored.version));
        driver.perform = perform;
        driver.requests = requests;
        driver.save()?;
        Ok(driver)
    }

    fn new(
        store: S,
        id: RolloutId,
        rollout: Rollout,
        world: W,
        config: DriverConfig,
        version: Option<Version>,
    ) -> Driver<S, W> {
        let (sender, receiver) = mpsc::channel();
        let saved_phase = rollout.phase().clone();
        Driver {
            id,
            store,
            world,
            config,
            rollout,
            version,
            perform: VecDeque::new(),
            requests: Requests::default(),
            answers: Vec::new(),
            poll_at: Timestamp::ZERO,
            probe_at: Timestamp::ZERO,
            saved_phase,
            unsaved: false,
            saved_at_rest: false,
            stopped: None,
            buffer: Vec::new(),
            receiver,
            handle: DriverHandle {
                sender,
                shared: Arc::new(Shared::default()),
            },
        }
    }

    // ----- getters ----------------------------------------------------------------

    /// The rollout as this driver holds it.
    #[must_use]
    pub fn rollout(&self) -> &Rollout {
        &self.rollout
    }

    /// The rollout's status.
    #[must_use]
    pub fn status(&self) -> Status {
        self.rollout.status()
    }

    /// The name the rollout is stored under.
    #[must_use]
    pub fn id(&self) -> &RolloutId {
        &self.id
    }

    /// The version this driver last saved.
    #[must_use]
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The adapters.
    #[must_use]
    pub fn world(&self) -> &W {
        &self.world
    }

    /// The adapters, to change.
    pub fn world_mut(&mut self) -> &mut W {
        &mut self.world
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &S {
        &self.store
    }

    /// A handle for other threads: verbs and stop.
    #[must_use]
    pub fn handle(&self) -> DriverHandle {
        self.handle.clone()
    }

    /// What [`run`](Driver::run) would return now, if it would return: the rollout
    /// at rest or waiting for a person, with nothing it asked of the world
    /// unanswered. For callers writing their own loop over [`step`](Driver::step).
    #[must_use]
    pub fn outcome(&self) -> Option<Outcome> {
        if !self.quiet() {
            return None;
        }
        let phase = self.rollout.phase();
        let at_rest = matches!(
            phase,
            Phase::Idle | Phase::Completed | Phase::Aborted { .. }
        ) && self.rollout.poll_timeout().is_none();
        if at_rest {
            return Some(Outcome::Finished(phase.clone()));
        }
        waits_for_a_person(&phase).then(|| Outcome::NeedsOperator(phase.clone()))
    }

    /// Whether nothing asked of the world is unanswered and no instance is on its way
    /// in or out.
    fn quiet(&self) -> bool {
        let total = self.rollout.fleet().total();
        let moving = [
            InstanceState::Provisioning,
            InstanceState::Starting,
            InstanceState::Draining,
        ];
        self.perform.is_empty()
            && self.answers.is_empty()
            && self.requests.is_empty()
            && self.rollout.acknowledged_generation() >= self.rollout.traffic().generation()
            && moving.iter().all(|state| total.get(*state) == 0)
    }

    // ----- the loop ---------------------------------------------------------------

    /// Applies `command` now, in a step of its own, and returns the rollout's answer
    /// once it is saved.
    ///
    /// # Errors
    ///
    /// [`VerbError::Refused`] if the rollout refused it (nothing changed);
    /// [`VerbError::Driver`] if the step stopped the driver before the verb was
    /// saved.
    pub fn command(&mut self, command: Command) -> Result<(), VerbError> {
        let reply = self.handle.send(command);
        self.step().map_err(VerbError::Driver)?;
        reply.try_wait().unwrap_or(Err(VerbError::DriverGone))
    }

    /// One turn of the loop (see the [module docs](self)): verbs, timer, answers,
    /// observations, save, actions. Returns what it did.
    ///
    /// # Errors
    ///
    /// What stops the driver ([`DriverError`]); once stopped, every step returns the
    /// same error and does nothing (verbs sent meanwhile are answered with it).
    pub fn step(&mut self) -> Result<Step, DriverError> {
        if let Some(error) = &self.stopped {
            let error = error.clone();
            while let Ok(request) = self.receiver.try_recv() {
                let _ = request.reply.send(Err(VerbError::Driver(error.clone())));
            }
            return Err(error);
        }
        let now = self.world.now();
        let mut step = Step {
            now,
            calls: Vec::new(),
            actions: Vec::new(),
            events: Vec::new(),
            saved: None,
            next: now,
        };
        let mut replies = Vec::new();
        let mut verbs_taken = false;
        while let Ok(request) = self.receiver.try_recv() {
            let result = request.command.apply(&mut self.rollout, now);
            self.drain_outputs(&mut step);
            verbs_taken |= result.is_ok();
            replies.push((request.reply, result.clone()));
            step.calls.push(Call::Command {
                command: request.command,
                result,
            });
        }
        if self.rollout.poll_timeout().is_some_and(|at| at <= now) {
            self.rollout.handle_timeout(now);
            self.drain_outputs(&mut step);
            step.calls.push(Call::Timeout);
        }
        for input in std::mem::take(&mut self.answers) {
            self.feed(now, input, &mut step);
        }
        if now >= self.poll_at && !self.requests.is_empty() {
            self.observe_requests(now, &mut step);
            self.poll_at = now.saturating_add(self.config.poll_interval);
        }
        if now >= self.probe_at {
            self.probe_health(now, &mut step);
            self.probe_at = now.saturating_add(self.config.health_interval);
        }
        self.unsaved |= !step.calls.is_empty();
        let came_to_rest = !self.saved_at_rest && self.outcome().is_some();
        if !self.perform.is_empty()
            || verbs_taken
            || self.rollout.phase() != self.saved_phase
            || came_to_rest
        {
            match self.save() {
                Ok(version) => step.saved = Some(version),
                Err(error) => {
                    for (reply, result) in replies {
                        let answer = match result {
                            Ok(()) => Err(VerbError::Driver(error.clone())),
                            Err(refused) => Err(VerbError::Refused(refused)),
                        };
                        let _ = reply.send(answer);
                    }
                    return Err(error);
                }
            }
        }
        for (reply, result) in replies {
            let _ = reply.send(result.map_err(VerbError::Refused));
        }
        while let Some(action) = self.perform.pop_front() {
            self.perform_action(now, &action);
            step.actions.push(action);
        }
        step.next = self.next_step_at(now);
        Ok(step)
    }

    /// Steps, sleeping on the clock between steps, until the rollout is at rest or
    /// waits for a person, or a handle stops it; saves the rollout's latest state
    /// before it returns.
    ///
    /// # Errors
    ///
    /// What stops the driver ([`DriverError`]).
    pub fn run(&mut self) -> Result<Outcome, DriverError> {
        self.run_with(|_| {})
    }

    /// [`run`](Driver::run), showing every step to `observe` (to log its events, say).
    ///
    /// # Errors
    ///
    /// What stops the driver ([`DriverError`]).
    pub fn run_with(&mut self, observe: impl FnMut(&Step)) -> Result<Outcome, DriverError> {
        self.run_until(true, observe)
    }

    /// Steps and sleeps until a [`DriverHandle::stop`], whatever the phase: for a
    /// controller that serves verbs (a new `deploy` after a completed rollout
    /// included) for as long as it lives, probing health all along.
    ///
    /// # Errors
    ///
    /// What stops the driver ([`DriverError`]).
    pub fn serve(&mut self) -> Result<Outcome, DriverError> {
        self.serve_with(|_| {})
    }

    /// [`serve`](Driver::serve), showing every step to `observe`.
    ///
    /// # Errors
    ///
    /// What stops the driver ([`DriverError`]).
    pub fn serve_with(&mut self, observe: impl FnMut(&Step)) -> Result<Outcome, DriverError> {
        self.run_until(false, observe)
    }

    fn run_until(
        &mut self,
        until_rest: bool,
        mut observe: impl FnMut(&Step),
    ) -> Result<Outcome, DriverError> {
        loop {
            if self.handle.shared.stop.swap(false, Ordering::SeqCst) {
                self.save_if_unsaved()?;
                return Ok(Outcome::Stopped);
            }
            let step = self.step()?;
            observe(&step);
            if until_rest && let Some(outcome) = self.outcome() {
                self.save_if_unsaved()?;
                return Ok(outcome);
            }
            if step.next > step.now {
                let wakeup = self.handle.shared.wakeup.clone();
                self.world.sleep_until(step.next, &wakeup);
            }
        }
    }

    fn save_if_unsaved(&mut self) -> Result<(), DriverError> {
        if self.unsaved {
            self.save()?;
        }
        Ok(())
    }

    /// Hands one input to the rollout, and notes the call.
    fn feed(&mut self, now: Timestamp, input: Input, step: &mut Step) {
        self.rollout.handle_input(now, input.clone());
        self.drain_outputs(step);
        step.calls.push(Call::Input(input));
    }

    /// Takes the rollout's actions (to perform once saved) and events, as it asks
    /// after every call: an action left in its queue may still be amended by the next
    /// call.
    fn drain_outputs(&mut self, step: &mut Step) {
        self.perform
            .extend(std::iter::from_fn(|| self.rollout.poll_action()));
        step.events
            .extend(std::iter::from_fn(|| self.rollout.poll_event()));
    }

    /// When the next step has something to do.
    fn next_step_at(&self, now: Timestamp) -> Timestamp {
        if !self.answers.is_empty() {
            return now;
        }
        let mut next = self.probe_at;
        if !self.requests.is_empty() {
            next = next.min(self.poll_at);
        }
        if let Some(timer) = self.rollout.poll_timeout() {
            next = next.min(timer);
        }
        next.max(now)
    }

    /// Saves the document under the version last saved; the driver stops on any
    /// failure but a transient one (retried).
    fn save(&mut self) -> Result<Version, DriverError> {
        let mut buffer = std::mem::take(&mut self.buffer);
        let result = self.save_document(&mut buffer);
        self.buffer = buffer;
        match result {
            Ok(version) => {
                self.version = Some(version);
                self.saved_phase = self.rollout.phase().clone();
                self.unsaved = false;
                self.saved_at_rest = self.outcome().is_some();
                Ok(version)
            }
            Err(error) => {
                self.stopped = Some(error.clone());
                Err(error)
            }
        }
    }

    fn save_document(&mut self, buffer: &mut Vec<u8>) -> Result<Version, DriverError> {
        document::encode(buffer, &self.rollout, &self.perform, &self.requests).map_err(|e| {
            DriverError::Encode {
                id: self.id.clone(),
                source: Arc::new(e),
            }
        })?;
        let expected = self.version;
        let (store, id) = (&mut self.store, &self.id);
        let mut repeated = false;
        let saved = retrying(
            &mut self.world,
            &self.handle.shared.wakeup,
            &self.config,
            || {
                let result = store.save(id, buffer, expected);
                let retry = repeated;
                repeated = true;
                match result {
                    // A save that failed transiently may have been written: then its
                    // repetition conflicts with itself. The stored document says so.
                    Err(StoreError::Conflict { found, .. })
                        if retry
                            && found == expected.map_or(Some(Version::FIRST), Version::next) =>
                    {
                        match store.load(id) {
                            Ok(Some(stored))
                                if Some(stored.version) == found && stored.document == *buffer =>
                            {
                                Ok(stored.version)
                            }
                            _ => result,
                        }
                    }
                    other => other,
                }
            },
        );
        saved.map_err(|(error, attempts)| store_error(id, error, attempts))
    }
}

impl<S: Store, W: World> std::fmt::Debug for Driver<S, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("phase", &self.rollout.phase())
            .field("perform", &self.perform.len())
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

/// Whether `phase` waits for a person: paused by an operator, by a step until
/// promoted, or by an analysis; or halted.
fn waits_for_a_person(phase: &Phase) -> bool {
    match phase {
        Phase::Paused { reason } => !matches!(reason, PauseReason::Step { until: Some(_) }),
        Phase::Halted { .. } => true,
        _ => false,
    }
}

/// Makes a store call, repeating it after a transient failure (up to the configured
/// attempts, with a doubling backoff on the clock). On failure, the error and the
/// attempts made.
fn retrying<T, E, W: World>(
    world: &mut W,
    wakeup: &crate::adapter::Wakeup,
    config: &DriverConfig,
    mut call: impl FnMut() -> Result<T, StoreError<E>>,
) -> Result<T, (StoreError<E>, u32)> {
    let mut backoff = config.store_backoff;
    let mut attempts = 0;
    loop {
        attempts += 1;
        match call() {
            Err(StoreError::Transient(_)) if attempts < config.store_attempts.max(1) => {
                let until = world.now().saturating_add(backoff);
                // Sleeping only on the clock: a ring cuts it short, and the loop
                // simply tries again sooner.
                world.sleep_until(until, wakeup);
                backoff = backoff.saturating_mul(2);
            }
            Err(error) => return Err((error, attempts)),
            Ok(value) => return Ok(value),
        }
    }
}

/// The driver's error for a store call that failed.
fn store_error<E: std::error::Error + Send + Sync + 'static>(
    id: &RolloutId,
    error: StoreError<E>,
    attempts: u32,
) -> DriverError {
    match error {
        StoreError::Conflict {
            id,
            expected,
            found,
        } => DriverError::Conflict {
            id,
            expected,
            found,
        },
        other => DriverError::Store {
            id: id.clone(),
            attempts,
            source: Arc::new(other),
        },
    }
}
