//! Starting points: valid specs and initial fleets.

use cutover::spec::{
    BlueGreenSpec, CanaryPlan, CanarySpec, CanaryStep, Checks, HookSpec, OnDeadline, Promotion,
    ProvisionRetry, Quantity, RollingSpec,
};
use cutover::strategy::CanaryScale;
use cutover::traffic::MatchCondition;
use cutover::{Duration, Instance, InstanceState, RolloutSpec, StrategySpec, Weight};
use proptest::prelude::*;

/// Checks of up to two hooks with short or long timeouts.
fn checks_strategy() -> impl Strategy<Value = Checks> {
    let hook = (0usize..3, prop::sample::select(vec![50u64, 5_000, 600_000])).prop_map(
        |(name, timeout)| {
            HookSpec::new(["smoke", "e2e", "db"][name], Duration::from_millis(timeout))
        },
    );
    prop::collection::vec(hook, 0..=2).prop_map(|mut hooks| {
        hooks.sort_by(|a, b| a.name.cmp(&b.name));
        hooks.dedup_by(|a, b| a.name == b.name);
        Checks {
            hooks,
            analysis: None,
        }
    })
}

/// A blue-green strategy with every knob that changes the engine's path.
fn blue_green_strategy() -> impl Strategy<Value = StrategySpec> {
    (
        (prop::option::of(0u32..=6), 0u32..=2, prop::bool::ANY),
        checks_strategy(),
        checks_strategy(),
        prop::sample::select(vec![Some(0u64), Some(0), Some(1_000), None]),
        prop::sample::select(vec![0u64, 1_000, 30_000]),
        prop::sample::select(vec![Some(0u64), Some(30_000), None]),
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |((preview, unavailable, route), pre, post, promotion, delay, abort_delay, keep)| {
                StrategySpec::BlueGreen(BlueGreenSpec {
                    preview_replicas: preview,
                    max_unavailable: Quantity::Count(unavailable),
                    preview_route: route.then(|| MatchCondition::header_equals("x-preview", "1")),
                    pre_promotion: pre,
                    post_promotion: post,
                    promotion: match promotion {
                        Some(ms) => Promotion::Auto(Duration::from_millis(ms)),
                        None => Promotion::Manual,
                    },
                    scale_down_delay: Duration::from_millis(delay),
                    abort_scale_down_delay: abort_delay.map(Duration::from_millis),
                    keep_standby: keep,
                })
            },
        )
}

/// A canary step of any kind but analysis (the random world does not run named
/// analyses): weights, timed and untimed pauses, scales, routes, mirrors and timed
/// experiments (a baseline beside the canary).
fn canary_step() -> impl Strategy<Value = CanaryStep> {
    let percent = |p: u64| Weight::from_percent(p).expect("a percentage");
    prop_oneof![
        4 => prop::sample::select(vec![1u64, 10, 25, 50, 75, 100]).prop_map(move |p| CanaryStep::SetWeight(percent(p))),
        2 => prop::sample::select(vec![Some(0u64), Some(1_000), Some(30_000), None])
            .prop_map(|d| CanaryStep::Pause { duration: d.map(Duration::from_millis) }),
        1 => prop_oneof![
            (0u32..=2).prop_map(CanaryScale::Replicas),
            Just(CanaryScale::Weight(percent(50))),
            Just(CanaryScale::MatchTrafficWeight),
        ].prop_map(CanaryStep::SetCanaryScale),
        1 => prop::bool::ANY.prop_map(|on| CanaryStep::SetRoute(on.then(|| MatchCondition::header_equals("x-canary", "1")))),
        1 => prop::sample::select(vec![0u64, 10]).prop_map(move |p| CanaryStep::SetMirror(percent(p))),
        3 => prop::sample::select(vec![0u64, 1_000]).prop_map(|ms| CanaryStep::Experiment {
            duration: Some(Duration::from_millis(ms)),
            analysis: None,
            on_failure: Default::default(),
        }),
    ]
}

/// A canary strategy with every knob that changes the engine's path: routed or by
/// instance count, dynamic stable scale, steps or a preset.
fn canary_strategy() -> impl Strategy<Value = StrategySpec> {
    let plan = prop_oneof![
        4 => prop::collection::vec(canary_step(), 0..=6).prop_map(CanaryPlan::Steps),
        1 => Just(CanaryPlan::AllAtOnce),
        1 => Just(CanaryPlan::Canary { weight: Weight::from_percent(20).expect("20%"), after: Duration::from_millis(1_000) }),
        1 => Just(CanaryPlan::Linear { weight: Weight::from_percent(34).expect("34%"), every: Duration::from_millis(500) }),
    ];
    (
        plan,
        prop::bool::weighted(0.6),
        prop::bool::weighted(0.3),
        (0u32..=2, 0u32..=2, 0u32..=2),
        prop::sample::select(vec![Some(0u64), Some(30_000), None]),
    )
        .prop_map(
            |(plan, routed, dynamic, (surge, unavailable, min), abort_delay)| {
                StrategySpec::Canary(CanarySpec {
                    plan,
                    traffic_routing: routed,
                    dynamic_stable_scale: dynamic,
                    max_surge: Quantity::Count(surge),
                    max_unavailable: Quantity::Count(unavailable),
                    min_instances: min,
                    abort_scale_down_delay: abort_delay.map(Duration::from_millis),
                })
            },
        )
}

/// A valid spec for 1..=6 instances, with every knob that changes the engine's path:
/// rolling mostly, blue-green and canary a third of the time each.
pub fn spec_strategy() -> impl Strategy<Value = RolloutSpec> {
    let blue_green = prop_oneof![
        1 => Just(None),
        1 => blue_green_strategy().prop_map(Some),
        1 => canary_strategy().prop_map(Some),
    ];
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
        blue_green,
    )
        .prop_map(
            |(
                (desired, surge, unavailable, allow_downtime),
                min_ready,
                deadline,
                abort,
                drain,
                retry,
                blue_green,
            )| RolloutSpec {
                desired,
                strategy: blue_green.unwrap_or(StrategySpec::Rolling(RollingSpec {
                    max_surge: surge,
                    max_unavailable: unavailable,
                })),
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
