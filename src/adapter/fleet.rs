//! Instances: the [`Provisioner`] that starts and destroys them, the [`HealthProbe`]
//! that watches them.

use super::forward;
use crate::model::{InstanceGroup, InstanceId, Revision};

/// Starts, redeploys and destroys instances: a cloud API, a cluster, a process
/// supervisor.
///
/// # Contract
///
/// Every call returns once the request is accepted; what it leads to is observed with
/// a [`HealthProbe`]. Every call is **idempotent by instance name**: a driver that
/// crashed after asking asks again when it resumes, and a repeated request must not
/// create a second instance (nor fail because the first exists).
///
/// | call | `Ok` becomes | `Err` becomes |
/// |---|---|---|
/// | [`provision`](Provisioner::provision), [`redeploy`](Provisioner::redeploy) | [`Input::Provisioned`](crate::Input::Provisioned): the instance is starting, and probed from then on | [`Input::ProvisionFailed`](crate::Input::ProvisionFailed) with the error's message: the rollout retries with its backoff ([`ProvisionRetry`](crate::spec::ProvisionRetry)) and halts past its limit; the driver never retries itself |
/// | [`terminate`](Provisioner::terminate) | nothing yet: [`Input::Terminated`](crate::Input::Terminated) once a probe says [`Probe::Gone`] | the driver asks again at every poll until it is accepted (a termination has no failure input; the rollout waits for it) |
pub trait Provisioner {
    /// What went wrong.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Asks for an instance named `instance` running `revision`, labelled with `group`
    /// (so that metrics can tell a canary experiment's baseline from the rest).
    ///
    /// Returns once the request is accepted: the instance exists or will, running or
    /// not. An instance of that name that exists or is being created is accepted again
    /// without a second one.
    ///
    /// # Errors
    ///
    /// The instance will not be created (no capacity, a quota, a bad image): the
    /// rollout counts a failed provision.
    fn provision(
        &mut self,
        instance: &InstanceId,
        revision: &Revision,
        group: InstanceGroup,
    ) -> Result<(), Self::Error>;

    /// Asks for `instance`, which runs `from` and is out of every table and drained, to
    /// run `revision` instead, in place (blue-green's reuse of a warm standby).
    ///
    /// Returns once the request is accepted. An instance already running (or being
    /// moved to) `revision` is accepted again without a second redeploy.
    ///
    /// # Errors
    ///
    /// The redeploy will not happen: the rollout counts a failed provision.
    fn redeploy(
        &mut self,
        instance: &InstanceId,
        from: &Revision,
        revision: &Revision,
    ) -> Result<(), Self::Error>;

    /// Asks for `instance` to be destroyed.
    ///
    /// Returns once the request is accepted; the instance is gone when a probe says
    /// [`Probe::Gone`]. An instance already gone, being destroyed, or never created is
    /// accepted.
    ///
    /// # Errors
    ///
    /// The request was not accepted: the driver asks again at its next poll.
    fn terminate(&mut self, instance: &InstanceId) -> Result<(), Self::Error>;
}

/// What a health probe found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Probe {
    /// It passes its health check.
    Healthy,
    /// It failed its health check: the rollout counts the failure (a ready instance
    /// leaves rotation; `health.failure_threshold` failures in a row fail it).
    Unhealthy,
    /// It exists and has neither passed nor failed a check yet (it is booting): no
    /// verdict. The rollout's `health.startup_timeout` bounds how long an instance may
    /// stay so. An instance whose provisioning was accepted is `Starting`, not `Gone`,
    /// while it is being created.
    Starting,
    /// There is no such instance (any more).
    Gone,
}

/// Checks instances' health: a load balancer's health checks, a cluster's readiness
/// probes, an HTTP check of your own.
///
/// # Contract
///
/// [`probe`](HealthProbe::probe) reports the latest verdict without waiting for a
/// check to run. The driver probes every starting and ready instance every
/// `health_interval`, and every instance it asked to terminate every `poll_interval`:
///
/// | result | becomes |
/// |---|---|
/// | [`Probe::Healthy`], [`Probe::Unhealthy`] | [`Input::Health`](crate::Input::Health): the rollout counts failures in a row against `health.failure_threshold` |
/// | [`Probe::Starting`] | nothing: no verdict yet |
/// | [`Probe::Gone`] | [`Input::InstanceLost`](crate::Input::InstanceLost) for an instance the rollout counts on; [`Input::Terminated`](crate::Input::Terminated) for one it asked to terminate |
/// | `Err` | no verdict: the instance is probed again at the next interval, and keeps its last verdict meanwhile (the rollout's `health.startup_timeout` bounds how long a starting one may go unchecked) |
///
/// Repeating a probe is harmless: verdicts are level-triggered.
pub trait HealthProbe {
    /// What went wrong.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The latest verdict on `instance`.
    ///
    /// # Errors
    ///
    /// The probe could not be made (not: the instance failed it).
    fn probe(&mut self, instance: &InstanceId) -> Result<Probe, Self::Error>;
}

forward!(Provisioner {
    fn provision(&mut self, instance: &InstanceId, revision: &Revision, group: InstanceGroup) -> Result<(), Self::Error>;
    fn redeploy(&mut self, instance: &InstanceId, from: &Revision, revision: &Revision) -> Result<(), Self::Error>;
    fn terminate(&mut self, instance: &InstanceId) -> Result<(), Self::Error>;
});

forward!(HealthProbe {
    fn probe(&mut self, instance: &InstanceId) -> Result<Probe, Self::Error>;
});
