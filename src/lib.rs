//! # cutover
//!
//! Zero-downtime deployment strategies — a rolling update with background metric
//! analysis, blue-green with checks and an instant rollback, and canary with step plans,
//! analysis steps and experiments — written as **sans-IO state machines**, plus a
//! constant-time weighted **router** for the traffic split they produce, adapter traits
//! and a driver for the world around them, and stores on which two controllers never
//! both act.
//!
//! `cutover` decides *what* must happen to a fleet of instances and to a load balancer's
//! traffic table, in which order, and when it is safe. The caller does the I/O —
//! starting VMs or pods, probing health, reprogramming the load balancer — and reports
//! back what happened. The state machines never read a clock, sleep, spawn threads, or
//! touch the network or the file system, so the same engine embeds in a CLI, a
//! Kubernetes controller, or a test, and every run can be replayed. For callers who
//! would rather implement a few small traits than write the loop, a blocking
//! [`Driver`](driver::Driver) runs a rollout against them (see *Adapters and the
//! driver* below).
//!
//! ## The run loop
//!
//! ```text
//!   caller (I/O)                          cutover (pure)
//!   observe the world ── Input ────────▶  Rollout::handle_input(now, input)
//!   an operator       ── command ──────▶  Rollout::deploy/pause/resume/abort/…(now)
//!   a timer fires     ─────────────────▶  Rollout::handle_timeout(now)
//!   perform           ◀────── Action ───  Rollout::poll_action()
//!   record / show     ◀────── Event ────  Rollout::poll_event()
//!   arm a timer       ◀───── deadline ──  Rollout::poll_timeout()
//! ```
//!
//! **After every input, timeout or command, drain the outputs in this order:** every
//! action (perform them in order), every event, then `poll_timeout`. Each [`Action`]
//! carries an [`ActionId`] and is answered by an [`Input`] naming it (a traffic update by
//! its generation); unknown, late or duplicated answers are ignored and reported as
//! events, never errors.
//!
//! A complete rolling update of three instances, against a world that answers every
//! action at once:
//!
//! ```
//! use cutover::{Action, Input, Instance, InstanceState, Phase, Rollout, RolloutSpec, Timestamp};
//!
//! // Three instances of v1, ready and in rotation.
//! let fleet = (0..3).map(|i| {
//!     let mut instance = Instance::new(format!("web-{i}"), "v1", InstanceState::Ready);
//!     instance.available = true;
//!     instance.in_rotation = true;
//!     instance
//! });
//! let spec = RolloutSpec { desired: 3, ..RolloutSpec::default() }; // rolling, 25% / 25%
//! let mut now = Timestamp::ZERO;
//! let mut rollout = Rollout::new(now, spec, fleet)?;
//! rollout.deploy(now, "v2")?;
//!
//! let mut answers = Vec::new();
//! while rollout.phase() != Phase::Completed {
//!     while let Some(action) = rollout.poll_action() {
//!         answers.extend(match action {
//!             Action::Provision { id, instance, .. } => vec![
//!                 Input::Provisioned { action: id },
//!                 Input::Health { instance, healthy: true },
//!             ],
//!             Action::UpdateTraffic { generation, .. } => vec![Input::TrafficApplied { generation }],
//!             Action::Drain { id, .. } => vec![Input::Drained { action: id }],
//!             Action::Terminate { id, .. } => vec![Input::Terminated { action: id }],
//!             _ => vec![],
//!         });
//!     }
//!     while let Some(event) = rollout.poll_event() {
//!         println!("{}: {:?}", event.at, event.kind);
//!     }
//!     now = Timestamp::from_millis(now.as_millis() + 100);
//!     for input in answers.drain(..) {
//!         rollout.handle_input(now, input);
//!     }
//!     if rollout.poll_timeout().is_some_and(|t| t <= now) {
//!         rollout.handle_timeout(now);
//!     }
//! }
//! assert_eq!(rollout.stable().map(|r| r.as_str()), Some("v2"));
//! assert_eq!(rollout.traffic().instance_count(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Time and randomness
//!
//! Time is a [`Timestamp`]: milliseconds on whatever clock the caller picks, passed as
//! the first argument of every call. A `now` earlier than one already seen is clamped
//! (and reported). Durations and weights in specs are written as people write them,
//! always with a unit (`"30s"`, `"1h30m"`, see [`Duration`]; `"10%"`, `"250bp"`, see
//! [`Weight`]). The state machines hold no randomness:
//! the same inputs give the same actions, and a [`Rollout`] serialized at any point and
//! restored continues identically. The [`Router`] takes its randomness from the caller (an RNG for
//! random splits, a key for sticky ones).
//!
//! ## The safety rules
//!
//! Strategies decide, the rollout core enforces. A strategy is a pure planner returning
//! a desired state ([`Plan`](crate::strategy::Plan): instances wanted per [`Role`](crate::strategy::Role), a [`TrafficIntent`](crate::strategy::TrafficIntent), step
//! bookkeeping); the core moves toward it inside one safety envelope, whatever the plan
//! asks. It never routes to an instance that is not ready and available; never drains
//! an instance before the load balancer has acknowledged a table without it; never
//! terminates one before it drained (or its drain timed out); never exceeds the
//! strategy's peak (`desired + max_surge` for rolling); never itself takes available
//! capacity below `desired - max_unavailable` — abort and rollback included, which go
//! back to the stable revision as fast as it can carry the traffic; never raises a
//! revision's weight past what its available instances carry (scale first, then
//! route; on the way down, route first, then scale); and **never lets traffic leak**:
//! a fault never raises a revision above the weight its plan gives it — green gets no
//! user before the switch, a canary at 5% never carries more than 5%. Revisions that
//! faults leave short run hot and say so ([`Status::shortfall`]); a share left with no
//! instance goes back to the known-good revisions, and only when none can serve does
//! [`RolloutSpec::emergency_routing`] decide, as a reported emergency. One traffic
//! shaper in the core owns all of it. Traffic updates are coalesced (at most one per
//! call) and incremental (a [`TableDiff`](crate::traffic::TableDiff) proportional to what changed).
//!
//! ## Strategies
//!
//! * **Rolling update** ([`RollingSpec`](crate::spec::RollingSpec)): Kubernetes' Deployment semantics —
//!   `max_surge`, `max_unavailable` (counts or percentages, with Kubernetes' rounding),
//!   `min_ready`, a progress deadline that reports or aborts, failed provisions retried
//!   with backoff. The arithmetic is public ([`rolling_step`](crate::strategy::rolling_step)) so tools can preview a
//!   rollout.
//! * **Blue-green** ([`BlueGreenSpec`](crate::spec::BlueGreenSpec)): Argo Rollouts' vocabulary — green built beside
//!   blue (at `preview_replicas`, then full size), a preview route to green while users
//!   stay on blue, pre- and post-promotion [`Checks`](crate::spec::Checks) (hooks the caller runs,
//!   [`Action::RunHook`] / [`Input::HookResult`], and analyses named in
//!   [`RolloutSpec::analyses`]), automatic or manual [`Promotion`](crate::spec::Promotion), the switch as one
//!   table update once every green instance is available, blue kept warm as the standby
//!   for an instant rollback. [`blue_green_cost`](crate::strategy::blue_green_cost) states the peak and the minimum
//!   available before anything runs.
//!
//! Strategies with steps (blue-green's preview, checks, promotion, switch) run on one
//! step machine in the engine: a step that waits for a time or a promotion pauses the
//! rollout ([`PauseReason::Step`]) while its plan stays in force; failed checks abort
//! inside the envelope; an inconclusive analysis pauses for a person.
//!
//! Operators can [`pause`](Rollout::pause), [`resume`](Rollout::resume),
//! [`promote`](Rollout::promote), [`abort`](Rollout::abort) (back to stable in one table
//! update when it can carry the traffic, else a reverse rolling update),
//! [`retry`](Rollout::retry), [`promote_full`](Rollout::promote_full),
//! [`rollback`](Rollout::rollback), [`scale`](Rollout::scale) and
//! [`update_spec`](Rollout::update_spec); a [`deploy`](Rollout::deploy) during a rollout
//! supersedes it (and a paused rollout stays paused). [`Rollout::adopt`] takes over a
//! fleet of any revisions and states.
//!
//! ## Analysis
//!
//! The [`analysis`](crate::analysis::AnalysisRun) building blocks are pure: [`rank_sum_test`](crate::analysis::rank_sum_test)
//! (R's `wilcox.test` numbers), a Kayenta-compatible judge ([`classify_metric`](crate::analysis::classify_metric),
//! [`judge`](crate::analysis::judge)), Argo Rollouts' conditions ([`evaluate_conditions`](crate::analysis::evaluate_conditions)) and run bookkeeping
//! ([`AnalysisRun`](crate::analysis::AnalysisRun): `next_due`, `record`, `phase`), plus a sequential test
//! ([`SequentialRankSum`](crate::analysis::SequentialRankSum)) that bounds the false-failure rate over all looks of a run.
//!
//! A rollout hosts one when its spec has a [`BackgroundAnalysis`](crate::analysis::BackgroundAnalysis): it asks for each
//! measurement with an [`Action::Measure`] on the analysis' schedule, takes the answer
//! as an [`Input::Measured`], and aborts (inside the safety envelope) or pauses as the
//! spec's policies say.
//!
//! ## Traffic tables and the router
//!
//! A [`TrafficTable`] splits requests between revisions in integer basis points that
//! always add up to exactly 10,000, lists the instances in rotation per revision (with
//! optional weights), and holds match routes (header, cookie, key allow-list) and a
//! mirror. Every way of building one validates it, including deserialization. A
//! [`Router`] compiles a table into a structure that picks a revision and an instance
//! per request in constant time: randomly with the caller's RNG, or sticky by a user or
//! session key (monotone as a canary grows; minimal disruption as instances come and go).
//!
//! ## Stores
//!
//! A controller persists its rollout's document after every call, before it acts, in
//! a [`Store`](store::Store) ([`cutover::store`](store)): every save names the
//! [`Version`](store::Version) it read, and a stale one is refused as a
//! [`Conflict`](store::StoreError::Conflict) — another controller owns the rollout,
//! and this one stops. [`MemoryStore`](store::MemoryStore) serves tests; the file
//! store (feature `file-store`, on by default) keeps documents crash-safe in a
//! directory on one machine; the PostgreSQL store (feature `postgres`) serves
//! controllers on several. These and the driver's clock ([`SystemClock`](adapter::SystemClock))
//! are the only parts of the crate that do I/O.
//!
//! ## Adapters and the driver
//!
//! [`cutover::adapter`](adapter) has one small trait per concern —
//! [`Provisioner`](adapter::Provisioner), [`HealthProbe`](adapter::HealthProbe),
//! [`LoadBalancer`](adapter::LoadBalancer), [`Metrics`](adapter::Metrics),
//! [`Hooks`](adapter::Hooks), [`Clock`](adapter::Clock) and the
//! [`Store`](store::Store) — each with its own `Error`, each "request, then
//! observe": a call returns once the request is accepted, and completion is observed
//! (a probe, the load balancer's applied generation). Their docs state their contract:
//! what is idempotent, what a repeated call must do, and which errors become inputs
//! and which are asked again. [`cutover::driver`](driver) (feature `driver`, on by
//! default) runs a rollout against them: [`Driver::step`](driver::Driver::step) is one
//! turn of the loop above — verbs, timer, answers, observations, then a **save before
//! acting**, then the actions in order — and [`run`](driver::Driver::run) steps and
//! sleeps on the clock until the rollout is at rest or waits for a person. A crash
//! repeats actions rather than losing them, and [`Driver::resume`](driver::Driver::resume)
//! continues a saved rollout; a save that meets another controller's version stops the
//! driver before it acts. Operators' verbs reach a running driver through a
//! [`DriverHandle`](driver::DriverHandle).
//!
//! A world that does everything at once, on a virtual clock, and a rolling update of
//! three instances run against it:
//!
//! ```
//! use std::collections::BTreeSet;
//! use std::convert::Infallible;
//!
//! use cutover::adapter::{
//!     Clock, HealthProbe, HookOutcome, HookRun, Hooks, LoadBalancer, MeasureQuery, Metrics,
//!     Probe, Provisioner, Unconfigured, Wakeup,
//! };
//! use cutover::driver::{Command, Driver, DriverConfig};
//! use cutover::store::{MemoryStore, RolloutId};
//! use cutover::{
//!     ActionId, Duration, Instance, InstanceGroup, InstanceId, Phase, Revision, Rollout,
//!     RolloutSpec, Timestamp, TrafficTable,
//! };
//! use cutover::analysis::Measurement;
//! use cutover::traffic::TableDiff;
//!
//! #[derive(Default)]
//! struct AtOnce {
//!     now: Timestamp,
//!     live: BTreeSet<InstanceId>,
//!     applied: u64,
//! }
//!
//! impl Provisioner for AtOnce {
//!     type Error = Infallible;
//!     fn provision(&mut self, id: &InstanceId, _: &Revision, _: InstanceGroup) -> Result<(), Infallible> {
//!         self.live.insert(id.clone()); // idempotent by name
//!         Ok(())
//!     }
//!     fn redeploy(&mut self, _: &InstanceId, _: &Revision, _: &Revision) -> Result<(), Infallible> {
//!         Ok(())
//!     }
//!     fn terminate(&mut self, id: &InstanceId) -> Result<(), Infallible> {
//!         self.live.remove(id);
//!         Ok(())
//!     }
//! }
//!
//! impl HealthProbe for AtOnce {
//!     type Error = Infallible;
//!     fn probe(&mut self, id: &InstanceId) -> Result<Probe, Infallible> {
//!         Ok(if self.live.contains(id) { Probe::Healthy } else { Probe::Gone })
//!     }
//! }
//!
//! impl LoadBalancer for AtOnce {
//!     type Error = Infallible;
//!     fn apply(&mut self, table: &TrafficTable, _: &TableDiff) -> Result<(), Infallible> {
//!         self.applied = self.applied.max(table.generation()); // never back: fencing
//!         Ok(())
//!     }
//!     fn applied_generation(&mut self) -> Result<u64, Infallible> {
//!         Ok(self.applied)
//!     }
//!     fn drain(&mut self, _: &InstanceId, _: Duration) -> Result<(), Infallible> {
//!         Ok(())
//!     }
//!     fn is_drained(&mut self, _: &InstanceId) -> Result<bool, Infallible> {
//!         Ok(true)
//!     }
//! }
//!
//! // No analysis and no hooks in this rollout: every measurement would be an error.
//! impl Metrics for AtOnce {
//!     type Error = Unconfigured;
//!     fn measure(&mut self, _: &MeasureQuery<'_>) -> Result<Measurement, Unconfigured> {
//!         Err(Unconfigured)
//!     }
//! }
//!
//! impl Hooks for AtOnce {
//!     type Error = Unconfigured;
//!     fn run_hook(&mut self, _: &HookRun<'_>) -> Result<(), Unconfigured> {
//!         Err(Unconfigured)
//!     }
//!     fn hook_result(&mut self, _: ActionId) -> Result<Option<HookOutcome>, Unconfigured> {
//!         Err(Unconfigured)
//!     }
//! }
//!
//! impl Clock for AtOnce {
//!     fn now(&mut self) -> Timestamp {
//!         self.now
//!     }
//!     fn sleep_until(&mut self, deadline: Timestamp, _: &Wakeup) {
//!         self.now = self.now.max(deadline); // virtual time: no waiting
//!     }
//! }
//!
//! let fleet: Vec<Instance> = (0..3).map(|i| Instance::serving(format!("web-{i}"), "v1")).collect();
//! let spec = RolloutSpec { desired: 3, ..RolloutSpec::default() };
//! let rollout = Rollout::new(Timestamp::ZERO, spec, fleet.clone())?;
//! let world = AtOnce { live: fleet.iter().map(|i| i.id.clone()).collect(), ..AtOnce::default() };
//! let store = MemoryStore::new(); // FileStore or PostgresStore to survive a crash
//! let id = RolloutId::new("checkout-web")?;
//! let mut driver = Driver::start(store.clone(), id.clone(), rollout, world, DriverConfig::default())?;
//!
//! driver.command(Command::Deploy("v2".into()))?;
//! let outcome = driver.run_with(|step| {
//!     for event in &step.events {
//!         println!("{event}");
//!     }
//! })?;
//! assert!(outcome.is_completed());
//! assert_eq!(driver.rollout().stable().map(|r| r.as_str()), Some("v2"));
//!
//! // The store holds where it ended: another controller resumes from there.
//! let resumed = Driver::resume(store, id, AtOnce::default(), DriverConfig::default())?;
//! assert_eq!(resumed.rollout().phase(), Phase::Completed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/rolling.rs`, `examples/blue_green.rs` and `examples/canary.rs` run the
//! driver against the simulated world of [`sim`] (below).
//!
//! ### An async loop
//!
//! Nothing in the crate is async; the driver blocks on its adapters and its store. A
//! tokio application either runs the whole driver with `tokio::task::spawn_blocking(move
//! || driver.run())` and sends verbs through a [`DriverHandle`](driver::DriverHandle)
//! (its `send` never blocks; wait for the [`Reply`](driver::Reply) in a blocking task
//! too, or poll [`try_wait`](driver::Reply::try_wait)), or writes the loop of
//! [`run`](driver::Driver::run) itself as a task: [`step`](driver::Driver::step)
//! (wrapped in `tokio::task::block_in_place` on a multi-threaded runtime, since it
//! calls blocking adapters), [`outcome`](driver::Driver::outcome) to know when to stop,
//! and the runtime's timer until [`Step::next`](driver::Step::next). That loop, runnable
//! here with a virtual clock and a minimal executor instead of tokio:
//!
//! ```
//! # use std::convert::Infallible;
//! # use cutover::adapter::*;
//! # use cutover::*;
//! # use cutover::{analysis::Measurement, traffic::TableDiff};
//! # #[derive(Default)] struct AtOnce { now: Timestamp, live: std::collections::BTreeSet<InstanceId>, applied: u64 }
//! # impl Provisioner for AtOnce { type Error = Infallible;
//! #   fn provision(&mut self, id: &InstanceId, _: &Revision, _: InstanceGroup) -> Result<(), Infallible> { self.live.insert(id.clone()); Ok(()) }
//! #   fn redeploy(&mut self, _: &InstanceId, _: &Revision, _: &Revision) -> Result<(), Infallible> { Ok(()) }
//! #   fn terminate(&mut self, id: &InstanceId) -> Result<(), Infallible> { self.live.remove(id); Ok(()) } }
//! # impl HealthProbe for AtOnce { type Error = Infallible;
//! #   fn probe(&mut self, id: &InstanceId) -> Result<Probe, Infallible> { Ok(if self.live.contains(id) { Probe::Healthy } else { Probe::Gone }) } }
//! # impl LoadBalancer for AtOnce { type Error = Infallible;
//! #   fn apply(&mut self, t: &TrafficTable, _: &TableDiff) -> Result<(), Infallible> { self.applied = self.applied.max(t.generation()); Ok(()) }
//! #   fn applied_generation(&mut self) -> Result<u64, Infallible> { Ok(self.applied) }
//! #   fn drain(&mut self, _: &InstanceId, _: Duration) -> Result<(), Infallible> { Ok(()) }
//! #   fn is_drained(&mut self, _: &InstanceId) -> Result<bool, Infallible> { Ok(true) } }
//! # impl Metrics for AtOnce { type Error = Unconfigured;
//! #   fn measure(&mut self, _: &MeasureQuery<'_>) -> Result<Measurement, Unconfigured> { Err(Unconfigured) } }
//! # impl Hooks for AtOnce { type Error = Unconfigured;
//! #   fn run_hook(&mut self, _: &HookRun<'_>) -> Result<(), Unconfigured> { Err(Unconfigured) }
//! #   fn hook_result(&mut self, _: ActionId) -> Result<Option<HookOutcome>, Unconfigured> { Err(Unconfigured) } }
//! # impl Clock for AtOnce { fn now(&mut self) -> Timestamp { self.now }
//! #   fn sleep_until(&mut self, d: Timestamp, _: &Wakeup) { self.now = self.now.max(d); } }
//! use std::future::Future;
//! use std::pin::pin;
//! use std::task::{Context, Poll, Waker};
//!
//! use cutover::driver::{Command, Driver, DriverConfig, DriverError, Outcome};
//! use cutover::store::{MemoryStore, RolloutId, Store};
//!
//! /// What a tokio task would run: `Driver::run`'s loop, the waiting left to the runtime.
//! async fn drive<S: Store>(driver: &mut Driver<S, AtOnce>) -> Result<Outcome, DriverError> {
//!     loop {
//!         // tokio: `tokio::task::block_in_place(|| driver.step())?`
//!         let step = driver.step()?;
//!         if let Some(outcome) = driver.outcome() {
//!             return Ok(outcome);
//!         }
//!         // tokio: `tokio::time::sleep(wait_until(step.next)).await`, in a `select!`
//!         // with whatever else the task listens to. Here: virtual time jumps.
//!         driver.world_mut().sleep_until(step.next, &Wakeup::new());
//!         yield_now().await;
//!     }
//! }
//!
//! /// Gives the executor back control once (tokio: `tokio::task::yield_now`).
//! async fn yield_now() {
//!     let mut yielded = false;
//!     std::future::poll_fn(|_| if std::mem::replace(&mut yielded, true) { Poll::Ready(()) } else { Poll::Pending }).await
//! }
//!
//! /// A minimal executor (tokio: the runtime).
//! fn block_on<F: Future>(future: F) -> F::Output {
//!     let mut future = pin!(future);
//!     let mut context = Context::from_waker(Waker::noop());
//!     loop {
//!         if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
//!             return output;
//!         }
//!     }
//! }
//!
//! let fleet: Vec<Instance> = (0..3).map(|i| Instance::serving(format!("web-{i}"), "v1")).collect();
//! let rollout = Rollout::new(Timestamp::ZERO, RolloutSpec { desired: 3, ..RolloutSpec::default() }, fleet.clone())?;
//! let world = AtOnce { live: fleet.iter().map(|i| i.id.clone()).collect(), ..AtOnce::default() };
//! let mut driver = Driver::start(MemoryStore::new(), RolloutId::new("web")?, rollout, world, DriverConfig::default())?;
//! let _deploy = driver.handle().send(Command::Deploy("v2".into())); // taken by the first step
//! let outcome = block_on(drive(&mut driver))?;
//! assert!(outcome.is_completed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Simulation and testing
//!
//! [`sim`] (feature `driver`) runs the real [`Driver`](driver::Driver) against a
//! deterministic simulated world implementing every adapter: one event queue keyed
//! `(time, seq)` on a virtual clock, ChaCha8 streams (one per source of chance) sampled
//! with integer code, so a seed replays byte for byte; faults (refused provisions,
//! crashes, flapping health), a revision's behaviour (a bad version is one line), and
//! requests routed with the real [`Router`] on the table the simulated load balancer
//! has applied, each failure counted by cause. A run gives a [`sim::Report`] (its
//! figures, a [`sim::Timeline`] as data and CSV, a summary line); [`sim::preview`]
//! shows a spec's plan step by step and [`sim::compare`] the three strategies'
//! trade-offs for a fleet. With [`sim::Simulation::checked`], every call is checked by
//! [`invariants::Checker`], the one set of invariant checks the test suite and the
//! fuzz targets use too.
//!
//! ## API themes
//!
//! * `handle_*` take inputs, `poll_*` give outputs, commands are verbs taking `now` and
//!   returning `Result<(), CommandError>`.
//! * Errors are grouped by who must act: [`SpecError`] (the configuration),
//!   [`CommandError`] (the operator), [`TrafficError`] (a table the caller built),
//!   [`RestoreError`] (a saved document). Failures of the world arrive as inputs, and a
//!   rollback is an outcome, never an `Err`.
//! * Public enums that will grow are `#[non_exhaustive]`.
//!
//! ## Crate features
//!
//! * `serde` (default): serialize and deserialize specs, tables, actions, inputs,
//!   events and whole rollouts (validated on the way in);
//!   [`RolloutSpec::from_document`] reads a spec document in any serde format and
//!   refuses with the path of the setting to change.
//! * `json` (default): [`RolloutSpec::from_json`], and the documented spec documents
//!   of [`docs::specs`].
//! * `schema`: the JSON Schema of spec documents (`schemars`), for editors
//!   ([`docs::ROLLOUT_SPEC_SCHEMA`] holds it without the feature).
//! * `file-store` (default): `store::FileStore`, the embedded store.
//! * `postgres`: `store::PostgresStore`, on the blocking `postgres` client.
//! * `driver` (default): `cutover::driver`, the blocking driver (its documents are
//!   JSON, written with `serde_json`). The adapter traits are always there.
//!
//! ## Map
//!
//! The root holds what a caller driving a rollout needs, and nothing else:
//!
//! <!-- root: Rollout Adoption RolloutSpec StrategySpec Status Phase PauseReason HaltReason AbortReason Input Action ActionId Event EventKind Instance InstanceId InstanceState InstanceGroup Revision Timestamp Duration Weight TrafficTable Router CommandError SpecError SpecDocumentError RestoreError TrafficError RolloutDocument FORMAT_VERSION -->
//!
//! | names | for |
//! |---|---|
//! | [`Rollout`], [`Adoption`] | the state machine, and how it takes over a fleet |
//! | [`RolloutSpec`], [`StrategySpec`] | what a rollout is asked to do |
//! | [`Status`], [`Phase`], [`PauseReason`], [`HaltReason`], [`AbortReason`] | where it is |
//! | [`Input`], [`Action`], [`ActionId`], [`Event`], [`EventKind`] | the loop's inputs and outputs |
//! | [`Instance`], [`InstanceId`], [`InstanceState`], [`InstanceGroup`], [`Revision`] | the fleet's nouns |
//! | [`Timestamp`], [`Duration`], [`Weight`] | time and shares |
//! | [`TrafficTable`], [`Router`] | the table a rollout publishes, and a router for it |
//! | [`CommandError`], [`SpecError`], [`SpecDocumentError`], [`RestoreError`], [`TrafficError`] | errors, by who must act |
//! | [`RolloutDocument`], [`FORMAT_VERSION`] | saved rollouts |
//!
//! And the public modules, each for one concern:
//!
//! | module | for | start at |
//! |---|---|---|
//! | [`spec`] | the per-strategy specs and their parts, as people write them | [`spec::CanarySpec`] |
//! | [`strategy`] | the planners and their arithmetic, for previews and peer comparisons | [`strategy::canary_cost`] |
//! | [`analysis`] | metric checks, the judge, sequential tests, analysis runs | [`analysis::MetricSpec`] |
//! | [`status`] | the parts of a [`Status`], and what it says about traffic | [`status::Waiting`] |
//! | [`traffic`] | the table's vocabulary: diffs, routes, mirrors | [`traffic::TableDiff`] |
//! | [`router`] | a router's decision and request | [`router::Decision`] |
//! | [`fleet`] | the fleet a rollout keeps, counted | [`fleet::Fleet`] |
//! | [`invariants`] | the design's invariants, checked of a running rollout | [`invariants::Checker`] |
//! | [`error`] | every error type | [`error::SpecError`] |
//! | [`adapter`] | the traits a caller implements for the world | [`adapter::LoadBalancer`] |
//! | [`driver`] | a blocking driver running a rollout against the adapters | [`driver::Driver`] |
//! | [`store`] | where a controller keeps its documents (compare-and-swap) | [`store::Store`] |
//! | [`docs`] | spec documents and their schema; a canary judged by its metrics, on the bare loop | [`docs::canary_with_analysis`] |
//! | [`sim`] | a deterministic simulated world, reports, timelines and plan previews | [`sim::Simulation`] |

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

pub mod adapter;
pub mod analysis;
#[cfg(feature = "json")]
pub mod docs;
#[cfg(feature = "driver")]
pub mod driver;
pub mod error;
pub mod fleet;
mod input;
pub mod invariants;
mod model;
#[cfg(feature = "serde")]
mod one_key;
mod output;
mod rollout;
pub mod router;
#[cfg(feature = "driver")]
pub mod sim;
pub mod spec;
pub mod store;
pub mod strategy;
mod time;
pub mod traffic;

/// The README's example, compiled and run as a doc test so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(feature = "__fuzz")]
#[doc(hidden)]
pub mod fuzz;

/// What a rollout reports about itself: the [`Status`] snapshot and its parts, and what
/// the events and the status say about traffic that is not where the plan wants it.
pub mod status {
    pub use crate::output::{Emergency, HeldBack, Shortfall};
    pub use crate::rollout::{
        AnalysisStatus, ChecksStatus, RevertStatus, StandbyStatus, Status, Waiting,
    };
}

// The root: what a caller driving a rollout needs (the crate docs' module map lists it,
// and `tests/public_surface.rs` holds the two together).
pub use error::{CommandError, RestoreError, SpecDocumentError, SpecError, TrafficError};
pub use input::Input;
pub use model::{Instance, InstanceGroup, InstanceId, InstanceState, Revision};
pub use output::{Action, ActionId, Event, EventKind};
#[cfg(feature = "serde")]
pub use rollout::RolloutDocument;
pub use rollout::{AbortReason, Adoption, FORMAT_VERSION, HaltReason, PauseReason, Phase, Rollout};
pub use router::Router;
pub use spec::{RolloutSpec, StrategySpec};
pub use status::Status;
pub use time::{Duration, Timestamp};
pub use traffic::{TrafficTable, Weight};
