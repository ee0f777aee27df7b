//! A deterministic simulated world: every adapter trait implemented over a virtual
//! clock, driven by the same [`Driver`](crate::driver::Driver) users use, so a whole
//! rollout — with faults, a bad version and real request traffic — runs, replays,
//! previews and draws in milliseconds.
//!
//! * **One event queue keyed `(time, seq)`**: the world jumps from one event to the
//!   next and from one driver step's wake-up to the next; it never ticks and never
//!   reads a clock.
//! * **Randomness that replays byte for byte**: ChaCha8 (a named, portable
//!   generator), one stream per source of chance (provisioning, crashes, flapping,
//!   requests, behaviour, metrics), sampled with integer code: a seed gives the same
//!   run on every machine and release.
//! * **Requests through the real [`Router`](crate::Router)** on the table the simulated
//!   load balancer has *applied* (not the one just asked for); every request that
//!   reached an instance that could not serve it is counted, per cause ([`Failed`]).
//! * **Bounded runs**: a rollout that stops progressing (waiting for a person, past the
//!   time limit) ends in a [`Report`] with its seed and the reason ([`End::Stalled`]).
//! * **Checked**: with [`Simulation::checked`], every call the driver makes is replayed
//!   on a shadow rollout and checked by the shared
//!   [`Checker`](crate::invariants::Checker).
//!
//! A run gives a [`Report`] (requests, failures by cause, peak instances, the fewest
//! ready, load-balancer updates, duration, the mixed-version window) ending with its
//! [`summary`](Report::summary) line, and a [`Timeline`] (serde, and CSV). [`preview`]
//! runs a spec in an ideal world and returns its plan step by step; [`compare`] sets the
//! three strategies side by side for one fleet.
//!
//! ```
//! use cutover::sim::{Behaviour, End, Settings, Simulation};
//! use cutover::RolloutSpec;
//!
//! // A rolling update of six instances to a bad version, in a world with faults; the
//! // operator aborts after 20 failed requests.
//! let mut settings = Settings::realistic().with_behaviour("v2", Behaviour::bad());
//! settings.operator.abort_after_failures = Some(20);
//! let spec = RolloutSpec { desired: 6, ..RolloutSpec::default() };
//! let report = Simulation::new(spec, settings, 42).run()?;
//! assert!(matches!(report.end, End::Aborted { .. }));
//! assert_eq!(report.failed.rollout, 0);
//! println!("{}", report.summary());
//! # Ok::<(), cutover::SpecError>(())
//! ```

mod preview;
mod random;
mod report;
mod run;
mod settings;
mod world;

pub use preview::{Comparison, PlanRow, Preview, Trade, compare, preview, standard_specs};
pub use report::{CSV_HEADER, End, Failed, Report, RevisionRow, Row, Timeline};
pub use run::Simulation;
pub use settings::{Behaviour, Faults, Operator, Settings};
pub use world::{SimError, SimWorld};
