//! What a simulated world is like: latencies, faults, how each revision behaves, and
//! what the operator does.

use std::collections::BTreeMap;

use crate::model::Revision;
use crate::time::Duration;

/// How a revision behaves once it runs: what its requests and metrics look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Behaviour {
    /// Requests that fail, in basis points (100 is 1%).
    pub error_basis_points: u32,
    /// The typical latency of a request, in milliseconds (one takes `latency_ms ±
    /// latency_ms / 2`, uniformly).
    pub latency_ms: u32,
    /// Whether its hooks pass.
    pub hooks_pass: bool,
}

impl Behaviour {
    /// A healthy revision: 0.1% errors, 50 ms, hooks pass.
    #[must_use]
    pub fn good() -> Behaviour {
        Behaviour {
            error_basis_points: 10,
            latency_ms: 50,
            hooks_pass: true,
        }
    }

    /// A bad version: 20% errors, 150 ms, hooks fail.
    #[must_use]
    pub fn bad() -> Behaviour {
        Behaviour {
            error_basis_points: 2_000,
            latency_ms: 150,
            hooks_pass: false,
        }
    }
}

impl Default for Behaviour {
    fn default() -> Behaviour {
        Behaviour::good()
    }
}

/// Faults the world throws at the rollout, each drawn from its own stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Faults {
    /// Provisions refused, in basis points.
    pub provision_failure_basis_points: u32,
    /// Mean time between crashes of one running instance (a crashed instance is gone);
    /// `None`: none crash.
    pub crash_every: Option<Duration>,
    /// Mean time between health flaps of one running instance; `None`: none flap.
    pub flap_every: Option<Duration>,
    /// How long a flap lasts (the instance fails its checks meanwhile).
    pub flap_for: Duration,
}

impl Faults {
    /// No faults.
    #[must_use]
    pub fn none() -> Faults {
        Faults::default()
    }

    /// Some of everything: 5% of provisions refused, an instance crashing every two
    /// hours and flapping for 3 s every hour on average.
    #[must_use]
    pub fn some() -> Faults {
        Faults {
            provision_failure_basis_points: 500,
            crash_every: Some(Duration::from_mins(120)),
            flap_every: Some(Duration::from_mins(60)),
            flap_for: Duration::from_secs(3),
        }
    }
}

/// What the operator of a simulated rollout does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Operator {
    /// Promotes a rollout paused by a step without a duration this long after it
    /// paused; `None`: never (the run ends there, waiting for a person).
    pub promote_after: Option<Duration>,
    /// Aborts once this many requests failed because of a bad version (an operator
    /// watching the error rate); `None`: never.
    pub abort_after_failures: Option<u64>,
    /// Aborts at this time after the deploy; `None`: never.
    pub abort_at: Option<Duration>,
}

impl Default for Operator {
    fn default() -> Operator {
        Operator {
            promote_after: Some(Duration::from_mins(1)),
            abort_after_failures: None,
            abort_at: None,
        }
    }
}

/// A simulated world's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Settings {
    /// From a provision asked for to the instance booting (± half).
    pub provision_latency: Duration,
    /// From booting to passing its checks (± half).
    pub startup: Duration,
    /// From a table asked for to the load balancer applying it.
    pub apply_latency: Duration,
    /// How long a drain takes (bounded by the rollout's drain timeout).
    pub drain_time: Duration,
    /// From a termination asked for to the instance gone.
    pub terminate_latency: Duration,
    /// How long a hook runs.
    pub hook_time: Duration,
    /// Requests per second sent through the load balancer (0: none).
    pub requests_per_second: u32,
    /// Samples per revision in a measurement that compares samples.
    pub samples: u32,
    /// Faults.
    pub faults: Faults,
    /// How each revision behaves; a revision not listed is [`Behaviour::good`].
    pub behaviours: BTreeMap<Revision, Behaviour>,
    /// The operator.
    pub operator: Operator,
    /// A run ends, stalled, at this virtual time if it has not come to rest.
    pub time_limit: Duration,
    /// How often the driver probes health (the driver's `health_interval`).
    pub health_interval: Duration,
    /// How often the driver polls requests in flight (its `poll_interval`).
    pub poll_interval: Duration,
}

impl Settings {
    /// An ideal world: everything works, quickly (1 s to boot, 100 ms to apply a
    /// table), no faults, 100 requests per second.
    #[must_use]
    pub fn ideal() -> Settings {
        Settings {
            provision_latency: Duration::from_millis(500),
            startup: Duration::from_secs(1),
            apply_latency: Duration::from_millis(100),
            drain_time: Duration::from_millis(500),
            terminate_latency: Duration::from_millis(200),
            hook_time: Duration::from_secs(2),
            requests_per_second: 100,
            samples: 30,
            faults: Faults::none(),
            behaviours: BTreeMap::new(),
            operator: Operator::default(),
            time_limit: Duration::from_mins(24 * 60),
            health_interval: Duration::from_secs(1),
            poll_interval: Duration::from_millis(250),
        }
    }

    /// A realistic world: 20 s to boot, half a second to apply a table, 5 s drains,
    /// [`Faults::some`].
    #[must_use]
    pub fn realistic() -> Settings {
        Settings {
            provision_latency: Duration::from_secs(5),
            startup: Duration::from_secs(20),
            apply_latency: Duration::from_millis(500),
            drain_time: Duration::from_secs(5),
            terminate_latency: Duration::from_secs(2),
            faults: Faults::some(),
            ..Settings::ideal()
        }
    }

    /// These settings with `revision` behaving as `behaviour` ("a bad version" is
    /// `.with_behaviour("v2", Behaviour::bad())`).
    #[must_use]
    pub fn with_behaviour(mut self, revision: &str, behaviour: Behaviour) -> Settings {
        self.behaviours.insert(Revision::from(revision), behaviour);
        self
    }

    /// How `revision` behaves.
    #[must_use]
    pub fn behaviour(&self, revision: &Revision) -> Behaviour {
        self.behaviours.get(revision).copied().unwrap_or_default()
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings::ideal()
    }
}
