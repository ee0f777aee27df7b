//! Starting points: valid specs and initial fleets.

use cutover::{
    Duration, Instance, InstanceState, OnDeadline, ProvisionRetry, Quantity, RollingSpec,
    RolloutSpec, StrategySpec,
};
use proptest::prelude::*;

/// A valid spec for 1..=6 instances, with every knob that changes the engine's path.
pub fn spec_strategy() -> impl Strategy<Value = RolloutSpec> {
    let quantity = || {
        prop_oneof![
            (0u32..=3).prop_map(Quantity::Count),
            prop::sample::select(vec![0u32, 10, 25, 34, 50, 100]).prop_map(Quantity::Percent),
        ]
    };
    let retry = (
        0u32..=4,
        prop::sample::select(vec![0u64, 10, 1_000]),
        prop::sample::select(vec![0u64, 5_000]),
    )
        .prop_map(|(max_failures, initial, extra)| ProvisionRetry {
            max_failures,
            backoff_initial: Duration::from_millis(initial),
            backoff_max: Duration::from_millis(initial + extra),
        });
    (
        (1u32..=6, quantity(), quantity(), prop::bool::weighted(0.15)),
        prop::sample::select(vec![0u64, 0, 1, 100, 5_000]),
        prop::sample::select(vec![1u64, 1_000, 30_000, 600_000, 600_000, 600_000]),
        prop::bool::ANY,
        prop::sample::select(vec![0u64, 1, 100, 30_000]),
        retry,
    )
        .prop_map(
            |(
                (desired, surge, unavailable, allow_downtime),
                min_ready,
                deadline,
                abort,
                drain,
                retry,
            )| RolloutSpec {
                desired,
                strategy: StrategySpec::Rolling(RollingSpec {
                    max_surge: surge,
                    max_unavailable: unavailable,
                }),
                min_ready: Duration::from_millis(min_ready),
                progress_deadline: Some(Duration::from_millis(min_ready + deadline)),
                on_progress_deadline: if abort {
                    OnDeadline::Abort
                } else {
                    OnDeadline::Report
                },
                drain_timeout: Duration::from_millis(drain),
                provision_retry: retry,
                allow_downtime,
                ..RolloutSpec::default()
            },
        )
        .prop_filter("the spec must validate", |spec| spec.validate().is_ok())
}

/// A spec and a starting fleet of up to `desired + 2` instances in every state, mostly of
/// `v1` but some of an older `v0` and a newer `v3` (the stable revision is then
/// inferred): serving ones (some still inside `min_ready`), ready ones out of rotation,
/// starting, provisioning, draining, failed and terminated ones.
pub fn start_strategy() -> impl Strategy<Value = (RolloutSpec, Vec<Instance>)> {
    spec_strategy().prop_flat_map(|spec| {
        let kind = prop::sample::select(vec![0u8, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7]);
        let revision = prop::sample::select(vec!["v1", "v1", "v1", "v1", "v0", "v3"]);
        let kinds = prop::collection::vec((kind, revision), 0..=spec.desired as usize + 2);
        (Just(spec), kinds.prop_map(mixed_fleet))
    })
}

/// Instances of the given kinds and revisions: 0 serving, 1 ready out of rotation, 2
/// starting, 3 provisioning, 4 draining, 5 failed, 6 terminated, 7 serving but inside
/// `min_ready` (ready, in rotation, not yet available).
pub fn mixed_fleet(kinds: Vec<(u8, &'static str)>) -> Vec<Instance> {
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, (kind, revision))| {
            let state = match kind {
                0 | 1 | 7 => InstanceState::Ready,
                2 => InstanceState::Starting,
                3 => InstanceState::Provisioning,
                4 => InstanceState::Draining,
                5 => InstanceState::Failed,
                _ => InstanceState::Terminated,
            };
            let mut instance = Instance::new(format!("{revision}-old-{i}"), revision, state);
            instance.available = matches!(kind, 0 | 1);
            instance.in_rotation = matches!(kind, 0 | 7);
            instance
        })
        .collect()
}

/// `v1` instances of the given kinds (0 ready in rotation, 1 ready out of rotation,
/// 2 starting).
pub fn initial_fleet(kinds: Vec<u8>) -> Vec<Instance> {
    mixed_fleet(kinds.into_iter().map(|k| (k, "v1")).collect())
}

/// `n` ready `v1` instances in rotation.
pub fn ready_fleet(n: usize) -> Vec<Instance> {
    initial_fleet(vec![0; n])
}

/// A rolling spec with counts for surge and unavailability, defaults otherwise: the
/// fixed cases' starting point.
pub fn counted_spec(desired: u32, surge: u32, unavailable: u32) -> RolloutSpec {
    RolloutSpec::rolling(
        desired,
        Quantity::Count(surge),
        Quantity::Count(unavailable),
    )
}

/// A count read from the environment variable `name` (a soak's cases, a search's
/// budget), or `default`.
pub fn env_count<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
