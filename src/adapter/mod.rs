//! What a [`Driver`](crate::driver::Driver) acts on: one small trait per concern, each
//! with its own `Error`, each implemented by the caller (or the simulator).
//!
//! | trait | asks | observes |
//! |---|---|---|
//! | [`Provisioner`] | start an instance of a revision in a group; redeploy one; terminate one | — |
//! | [`HealthProbe`] | — | an instance's health, or that it is gone |
//! | [`LoadBalancer`] | apply a table of a generation; drain an instance | the applied generation; whether a drain is done |
//! | [`Metrics`] | answer a measurement | — |
//! | [`Hooks`] | start a hook | its outcome |
//! | [`Clock`] | — | now; wait until a deadline |
//! | [`Store`] | save a document (compare-and-swap) | load it |
//!
//! # Request, then observe
//!
//! Every call that changes the world returns once the request is **accepted**, not
//! once it is done; completion is observed by another call (a health probe, the load
//! balancer's applied generation, a drain's or a hook's state). Only [`Clock`] waits.
//! One shape serves real systems, a driver resuming after a crash, and the simulator.
//!
//! Because a driver saves before it acts, a crash between the save and the next one
//! makes it **ask again** for what it asked before: every request is idempotent — by
//! instance name for the provisioner and the drains, by generation for the load
//! balancer, by action id for hooks — and a repeated request must neither create a
//! second instance nor undo anything. A load balancer ignores a table older than the
//! one it applied (**fencing**), so a controller that lost its rollout to another
//! cannot set the traffic back.
//!
//! # What becomes of an error
//!
//! Adapter errors never stop the driver and never panic it. Each trait's methods say
//! what their error becomes: an [`Input`](crate::Input) the rollout decides on (a failed
//! provision, a lost instance, a hook error, a measurement error), or a request the
//! driver repeats at its next poll (a termination, a table, a drain) while the rollout's
//! own deadlines (`traffic_ack_timeout`, `drain_timeout`, hook timeouts, the progress
//! deadline) bound the wait. Retries with backoff live in the rollout; the driver itself
//! retries only transient store failures, and never a compare-and-swap conflict.
//!
//! # One world or separate adapters
//!
//! The driver takes one value implementing every trait ([`World`], implemented for
//! anything that implements them all, as the simulator does), or separate adapters
//! bundled in [`Adapters`]. Every trait is implemented for `&mut T` and `Box<T>`.

mod checks;
mod clock;
mod fleet;
mod traffic;

pub use checks::{HookOutcome, HookRun, Hooks, MeasureQuery, Metrics, Unconfigured};
pub use clock::{Clock, SystemClock, Wakeup};
pub use fleet::{HealthProbe, Probe, Provisioner};
pub use traffic::LoadBalancer;

pub use crate::store::Store;

use crate::analysis::Measurement;
use crate::model::{InstanceGroup, InstanceId, Revision};
use crate::output::ActionId;
use crate::time::{Duration, Timestamp};
use crate::traffic::{TableDiff, TrafficTable};

/// Everything a driver acts on: all six adapter traits in one value.
///
/// Implemented for every type that implements them all. A simulated world implements
/// them on one type; separate adapters go in an [`Adapters`].
pub trait World: Provisioner + HealthProbe + LoadBalancer + Metrics + Hooks + Clock {}

impl<T> World for T where
    T: Provisioner + HealthProbe + LoadBalancer + Metrics + Hooks + Clock + ?Sized
{
}

/// Separate adapters, one per concern, bundled into a [`World`]: each trait is
/// implemented by handing the call to its field.
///
/// # Examples
///
/// ```
/// use cutover::adapter::{Adapters, SystemClock, Unconfigured, World};
/// # use cutover::adapter::{HealthProbe, LoadBalancer, Probe, Provisioner};
/// # use cutover::{InstanceGroup, InstanceId, Revision, TrafficTable, Duration};
/// # use cutover::traffic::TableDiff;
/// # #[derive(Debug, thiserror::Error)] #[error("never")] struct Never;
/// # struct Cloud; struct Lb;
/// # impl Provisioner for Cloud { type Error = Never;
/// #   fn provision(&mut self, _: &InstanceId, _: &Revision, _: InstanceGroup) -> Result<(), Never> { Ok(()) }
/// #   fn redeploy(&mut self, _: &InstanceId, _: &Revision, _: &Revision) -> Result<(), Never> { Ok(()) }
/// #   fn terminate(&mut self, _: &InstanceId) -> Result<(), Never> { Ok(()) } }
/// # impl HealthProbe for Cloud { type Error = Never;
/// #   fn probe(&mut self, _: &InstanceId) -> Result<Probe, Never> { Ok(Probe::Healthy) } }
/// # impl LoadBalancer for Lb { type Error = Never;
/// #   fn apply(&mut self, _: &TrafficTable, _: &TableDiff) -> Result<(), Never> { Ok(()) }
/// #   fn applied_generation(&mut self) -> Result<u64, Never> { Ok(0) }
/// #   fn drain(&mut self, _: &InstanceId, _: Duration) -> Result<(), Never> { Ok(()) }
/// #   fn is_drained(&mut self, _: &InstanceId) -> Result<bool, Never> { Ok(true) } }
/// fn is_world(_: &impl World) {}
/// let adapters = Adapters {
///     provisioner: Cloud,           // your cloud API
///     health: &mut Cloud,           // a reference is an adapter too
///     load_balancer: Box::new(Lb),  // and so is a box
///     metrics: Unconfigured,        // no analysis: every measurement is an error
///     hooks: Unconfigured,          // no hooks: every hook fails
///     clock: SystemClock::new(),
/// };
/// is_world(&adapters);
/// ```
#[derive(Debug, Clone, Default)]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct Adapters<P, H, L, M, K, C> {
    /// Starts, redeploys and terminates instances.
    pub provisioner: P,
    /// Checks instances' health.
    pub health: H,
    /// Applies tables and drains instances.
    pub load_balancer: L,
    /// Answers measurements.
    pub metrics: M,
    /// Runs hooks.
    pub hooks: K,
    /// Tells the time and waits.
    pub clock: C,
}

impl<P: Provisioner, H, L, M, K, C> Provisioner for Adapters<P, H, L, M, K, C> {
    type Error = P::Error;

    fn provision(
        &mut self,
        instance: &InstanceId,
        revision: &Revision,
        group: InstanceGroup,
    ) -> Result<(), P::Error> {
        self.provisioner.provision(instance, revision, group)
    }

    fn redeploy(
        &mut self,
        instance: &InstanceId,
        from: &Revision,
        revision: &Revision,
    ) -> Result<(), P::Error> {
        self.provisioner.redeploy(instance, from, revision)
    }

    fn terminate(&mut self, instance: &InstanceId) -> Result<(), P::Error> {
        self.provisioner.terminate(instance)
    }
}

impl<P, H: HealthProbe, L, M, K, C> HealthProbe for Adapters<P, H, L, M, K, C> {
    type Error = H::Error;

    fn probe(&mut self, instance: &InstanceId) -> Result<Probe, H::Error> {
        self.health.probe(instance)
    }
}

impl<P, H, L: LoadBalancer, M, K, C> LoadBalancer for Adapters<P, H, L, M, K, C> {
    type Error = L::Error;

    fn apply(&mut self, table: &TrafficTable, diff: &TableDiff) -> Result<(), L::Error> {
        self.load_balancer.apply(table, diff)
    }

    fn applied_generation(&mut self) -> Result<u64, L::Error> {
        self.load_balancer.applied_generation()
    }

    fn drain(&mut self, instance: &InstanceId, timeout: Duration) -> Result<(), L::Error> {
        self.load_balancer.drain(instance, timeout)
    }

    fn is_drained(&mut self, instance: &InstanceId) -> Result<bool, L::Error> {
        self.load_balancer.is_drained(instance)
    }
}

impl<P, H, L, M: Metrics, K, C> Metrics for Adapters<P, H, L, M, K, C> {
    type Error = M::Error;

    fn measure(&mut self, query: &MeasureQuery<'_>) -> Result<Measurement, M::Error> {
        self.metrics.measure(query)
    }
}

impl<P, H, L, M, K: Hooks, C> Hooks for Adapters<P, H, L, M, K, C> {
    type Error = K::Error;

    fn run_hook(&mut self, run: &HookRun<'_>) -> Result<(), K::Error> {
        self.hooks.run_hook(run)
    }

    fn hook_result(&mut self, id: ActionId) -> Result<Option<HookOutcome>, K::Error> {
        self.hooks.hook_result(id)
    }
}

impl<P, H, L, M, K, C: Clock> Clock for Adapters<P, H, L, M, K, C> {
    fn now(&mut self) -> Timestamp {
        self.clock.now()
    }

    fn sleep_until(&mut self, deadline: Timestamp, wakeup: &Wakeup) {
        self.clock.sleep_until(deadline, wakeup);
    }
}

/// Implements an adapter trait for `&mut T` and `Box<T>` by handing every call on.
macro_rules! forward {
    ($trait:ident { $(fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)* }) => {
        impl<T: $trait + ?Sized> $trait for &mut T {
            type Error = T::Error;
            $(fn $name(&mut self $(, $arg: $ty)*) -> $ret { (**self).$name($($arg),*) })*
        }

        impl<T: $trait + ?Sized> $trait for Box<T> {
            type Error = T::Error;
            $(fn $name(&mut self $(, $arg: $ty)*) -> $ret { (**self).$name($($arg),*) })*
        }
    };
}
use forward;
