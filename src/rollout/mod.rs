//! [`Rollout`]: the one state machine callers hold.

mod analysis;
mod commands;
mod core;
mod envelope;
mod inputs;
mod persist;
mod phase;
mod publish;
mod reconcile;
mod recycle;
mod retire;
mod rotation;
mod shaper;
mod stage;
mod status;
mod status_display;
mod steps;
#[cfg(test)]
mod tests;
mod timers;
mod traffic_report;

pub use self::core::Adoption;
pub use persist::FORMAT_VERSION;
#[cfg(feature = "serde")]
pub use persist::RolloutDocument;
pub use phase::{AbortReason, HaltReason, PauseReason, Phase};
pub use status::{AnalysisStatus, ChecksStatus, RevertStatus, StandbyStatus, Status, Waiting};

use crate::error::{CommandError, SpecError};
use crate::fleet::Fleet;
use crate::input::Input;
use crate::model::{Instance, Revision};
use crate::output::{Action, Event};
use crate::rollout::core::Core;
use crate::spec::{CapacityLimits, RolloutSpec};
use crate::time::Timestamp;
use crate::traffic::TrafficTable;

/// A deployment in progress (or at rest): a sans-IO state machine over a fleet of
/// instances and a load balancer's traffic table.
///
/// Its methods come in four kinds:
///
/// * **getters** (`&self`): [`status`](Rollout::status), [`phase`](Rollout::phase),
///   [`traffic`](Rollout::traffic), [`fleet`](Rollout::fleet), …
/// * **inputs**: [`handle_input`](Rollout::handle_input) for what the caller observed,
///   [`handle_timeout`](Rollout::handle_timeout) when the time from
///   [`poll_timeout`](Rollout::poll_timeout) has come;
/// * **commands**: [`deploy`](Rollout::deploy), [`pause`](Rollout::pause),
///   [`resume`](Rollout::resume), [`promote`](Rollout::promote),
///   [`promote_full`](Rollout::promote_full), [`abort`](Rollout::abort),
///   [`retry`](Rollout::retry), [`rollback`](Rollout::rollback),
///   [`scale`](Rollout::scale), [`update_spec`](Rollout::update_spec), each returning
///   a [`CommandError`] if it does not apply now (and then changing nothing);
/// * **outputs**: [`poll_action`](Rollout::poll_action),
///   [`poll_event`](Rollout::poll_event), [`poll_timeout`](Rollout::poll_timeout).
///
/// **After every input or command, drain the outputs in this order:** all actions (and
/// perform them), all events (and record them), then `poll_timeout` (and arm a timer).
/// Actions are ordered: perform them in the order polled.
///
/// Every `now` is the caller's clock in milliseconds; a `now` earlier than one already
/// seen is clamped to it (and reported as an event). The same inputs always give the same
/// outputs, and a rollout serialized at any point and restored continues identically.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollout {
    pub(crate) core: Core,
}

impl Rollout {
    /// A rollout at rest over `observed`, the instances that exist now, in any state
    /// and of any revisions (empty for a first deploy). The stable revision is inferred
    /// (see [`Adoption::stable`]); use [`Rollout::adopt`] to name it, or to continue a
    /// rollout that was in flight.
    ///
    /// Instances the caller marks `in_rotation` are taken to be in the load balancer's
    /// current table (generation 0); a ready one is trusted to be available, whatever
    /// `min_ready` says, since it already serves. Instances still provisioning are
    /// asked for again under their names (so their provisioner's answer has an action
    /// to name), starting ones are watched for health, draining ones are seen out.
    /// Right away the rollout reconciles: it may ask to put ready instances in
    /// rotation, take unready ones out, top the stable revision up to `desired` or
    /// scale other revisions away; drain the actions before anything else.
    ///
    /// # Errors
    ///
    /// [`SpecError`] if the spec is invalid or the fleet lists an instance twice.
    pub fn new<I>(now: Timestamp, spec: RolloutSpec, observed: I) -> Result<Rollout, SpecError>
    where
        I: IntoIterator<Item = Instance>,
    {
        Rollout::adopt(now, spec, observed, Adoption::default())
    }

    /// Like [`Rollout::new`], with the roles of the fleet's revisions named: the stable
    /// one, and a target whose rollout continues (progressing) from what exists.
    ///
    /// # Errors
    ///
    /// [`SpecError`] if the spec is invalid or the fleet lists an instance twice.
    pub fn adopt<I>(
        now: Timestamp,
        spec: RolloutSpec,
        observed: I,
        adoption: Adoption,
    ) -> Result<Rollout, SpecError>
    where
        I: IntoIterator<Item = Instance>,
    {
        Ok(Rollout {
            core: Core::new(now, spec, observed.into_iter().collect(), adoption)?,
        })
    }

    // ----- getters --------------------------------------------------------------

    /// A snapshot: phase, progress, counts, traffic, what it waits for, a message.
    #[must_use]
    pub fn status(&self) -> Status {
        self.core.status()
    }

    /// The current phase.
    #[must_use]
    pub fn phase(&self) -> Phase {
        self.core.phase()
    }

    /// The known-good revision, if any.
    #[must_use]
    pub fn stable(&self) -> Option<&Revision> {
        self.core.stable.as_ref()
    }

    /// The previous environment kept warm (blue-green's blue after the switch), if any.
    #[must_use]
    pub fn standby(&self) -> Option<&Revision> {
        self.core.standby.as_ref()
    }

    /// The revision being rolled out, while one is in flight.
    #[must_use]
    pub fn target(&self) -> Option<&Revision> {
        self.core.target()
    }

    /// The latest traffic table published (what `UpdateTraffic` diffs lead to).
    #[must_use]
    pub fn traffic(&self) -> &TrafficTable {
        &self.core.rotation.published
    }

    /// The generation the load balancer has acknowledged.
    #[must_use]
    pub fn acknowledged_generation(&self) -> u64 {
        self.core.rotation.acknowledged
    }

    /// Everything known about the instances.
    #[must_use]
    pub fn fleet(&self) -> &Fleet {
        &self.core.fleet
    }

    /// The spec.
    #[must_use]
    pub fn spec(&self) -> &RolloutSpec {
        &self.core.spec
    }

    /// The spec's capacity limits, resolved (derived from the spec).
    #[must_use]
    pub fn limits(&self) -> CapacityLimits {
        self.core.limits
    }

    /// The latest `now` seen (later than or equal to every `now` given).
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.core.now
    }

    // ----- inputs ---------------------------------------------------------------

    /// Takes in one observation. Unknown, late, duplicated or out-of-order inputs are
    /// ignored and reported as events; none is an error.
    pub fn handle_input(&mut self, now: Timestamp, input: Input) {
        self.core.begin(now);
        self.core.handle_input(input);
        self.core.settle();
    }

    /// Fires every timer due at `now`. Calling it early, or twice, is harmless. After
    /// it, `poll_timeout` is `None` or later than `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.core.begin(now);
        // Firing a timer can arm another that is already due (a drain started now with
        // a zero timeout, or any timer saturated at the end of time): fire until none
        // is, so the caller's loop never spins. Each pass retires at least one timer
        // for good, so a few passes always suffice.
        for _ in 0..8 {
            self.core.handle_timeout();
            self.core.settle();
            if self.core.poll_timeout().is_none_or(|at| at > self.core.now) {
                break;
            }
            self.core.begin(self.core.now);
        }
    }

    // ----- commands -------------------------------------------------------------

    /// Runs a command at `now`. A refused command changes nothing at all, not even the
    /// clock: commands check before they change anything.
    fn command(
        &mut self,
        now: Timestamp,
        run: impl FnOnce(&mut Core) -> Result<(), CommandError>,
    ) -> Result<(), CommandError> {
        let seen = self.core.now;
        self.core.now = seen.max(now);
        let result = run(&mut self.core);
        self.core.now = seen;
        if result.is_ok() {
            self.core.begin(now);
            self.core.settle();
        }
        result
    }

    /// Starts rolling out `revision`. If another rollout is in flight, it is superseded:
    /// its revision is scaled away (before the stable one), the stable revision stays
    /// the one to fall back to, and `revision` starts from the first step.
    ///
    /// # Errors
    ///
    /// [`CommandError::AlreadyStable`], [`CommandError::AlreadyInFlight`],
    /// [`CommandError::EmptyRevision`].
    pub fn deploy(
        &mut self,
        now: Timestamp,
        revision: impl Into<Revision>,
    ) -> Result<(), CommandError> {
        let revision = revision.into();
        self.command(now, |core| core.deploy(revision, false))
    }

    /// Stops making progress (instances keep being put in or out of rotation as their
    /// health changes; started drains finish). The progress deadline stops counting.
    /// A `deploy` while paused starts the new revision paused, as Kubernetes does.
    /// Also applies over a step's own pause (which `resume` then returns to).
    ///
    /// # Errors
    ///
    /// [`CommandError::InvalidPhase`] unless progressing or paused by a step.
    pub fn pause(&mut self, now: Timestamp) -> Result<(), CommandError> {
        self.command(now, Core::pause)
    }

    /// Continues a paused rollout. Over an inconclusive check's pause, accepts it.
    ///
    /// # Errors
    ///
    /// [`CommandError::InvalidPhase`] unless paused, or if paused by a step (a wait for
    /// a time or a promotion: [`promote`](Rollout::promote) finishes it).
    pub fn resume(&mut self, now: Timestamp) -> Result<(), CommandError> {
        self.command(now, Core::resume)
    }

    /// Finishes the current pause or step: a step's pause ends (blue-green switches), a
    /// step's running checks are skipped, any other pause resumes (accepting an
    /// inconclusive check).
    ///
    /// # Errors
    ///
    /// [`CommandError::NothingToPromote`] while progressing with nothing to finish (a
    /// rolling update has no steps; a step waiting for instances to become available
    /// cannot be skipped); [`CommandError::InvalidPhase`] unless progressing or paused.
    pub fn promote(&mut self, now: Timestamp) -> Result<(), CommandError> {
        self.command(now, Core::promote)
    }

    /// Skips any remaining steps' waits and checks, going straight to the full rollout
    /// within the capacity limits (blue-green still switches only once green is fully
    /// available; a rolling update has no pauses, so this resumes it if paused).
    ///
    /// # Errors
    ///
    /// [`CommandError::InvalidPhase`] unless progressing or paused.
    pub fn promote_full(&mut self, now: Timestamp) -> Result<(), CommandError> {
        self.command(now, Core::promote_full)
    }

    /// Resizes the service to `desired` instances, in any phase (an autoscaler during a
    /// rollout, say): the strategy plans toward the new size within the new limits,
    /// which are resolved from the new `desired` as the spec's percentages say.
    ///
    /// Kubernetes spreads a resize over a Deployment's ReplicaSets in proportion to
    /// their sizes, because each is scaled on its own; here one plan covers every
    /// revision, so the rollout moves straight toward the new size (new instances of
    /// the target on the way up, the most disposable instances first on the way down),
    /// reaching the same end state and never leaving the envelope. Instances above a
    /// lowered peak are removed, never added to.
    ///
    /// # Errors
    ///
    /// [`CommandError::InvalidSpec`] if the spec with that size does not validate (0,
    /// too large, or downtime it does not allow).
    pub fn scale(&mut self, now: Timestamp, desired: u32) -> Result<(), CommandError> {
        self.command(now, |core| core.scale(desired))
    }

    /// Replaces the spec (limits, deadlines, timeouts, retries, size) in any phase; it
    /// takes effect at once, inside the new envelope.
    ///
    /// # Errors
    ///
    /// [`CommandError::InvalidSpec`] if it does not validate;
    /// [`CommandError::UnsupportedChange`] if it changes the strategy kind or
    /// `min_ready`.
    pub fn update_spec(&mut self, now: Timestamp, spec: RolloutSpec) -> Result<(), CommandError> {
        self.command(now, |core| core.update_spec(spec))
    }

    /// Gives up the rollout in flight: traffic goes back to the stable revision as fast
    /// as it can carry it. When the stable revision has the capacity, that is one table
    /// update; otherwise it is a reverse rolling update — the stable revision scaled up
    /// within the surge, the target kept serving and removed as stable instances become
    /// available — that never takes available capacity below the floor and ends with no
    /// target instance and no target weight left. [`Status::revert`] says which, and
    /// how far it is.
    ///
    /// # Errors
    ///
    /// [`CommandError::InvalidPhase`] unless progressing, paused or halted.
    pub fn abort(&mut self, now: Timestamp) -> Result<(), CommandError> {
        self.command(now, |core| core.abort_command(AbortReason::Operator))
    }

    /// Starts the aborted (or halted) rollout again from the first step.
    ///
    /// # Errors
    ///
    /// [`CommandError::InvalidPhase`] unless aborted or halted.
    pub fn retry(&mut self, now: Timestamp) -> Result<(), CommandError> {
        self.command(now, Core::retry)
    }

    /// Undoes: while a rollout is in flight, aborts it; once completed, rolls out the
    /// previous stable revision again (replacing instances within the capacity limits,
    /// since the previous revision has none left).
    ///
    /// # Errors
    ///
    /// [`CommandError::NothingToRollBackTo`] with nothing in flight and no earlier stable
    /// revision.
    pub fn rollback(&mut self, now: Timestamp) -> Result<(), CommandError> {
        self.command(now, Core::rollback)
    }

    // ----- outputs --------------------------------------------------------------

    /// The next action to perform, in order.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.core.actions.pop_front()
    }

    /// The next event to record, in order.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.core.events.pop_front()
    }

    /// When to call [`handle_timeout`](Rollout::handle_timeout) next; `None` if nothing
    /// is scheduled.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.core.poll_timeout()
    }
}
