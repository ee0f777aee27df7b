//! Planning a canary of many steps (issue 19, item 7): validating a spec whose plan has
//! [`MAX_CANARY_STEPS`] `set_route` steps, each a route of 100 user keys. The settings in
//! force at each step are folded once, so this is linear in the steps: it once replayed
//! the plan from step 0 for every step (cloning every route on the way), quadratic.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use cutover::spec::{CanaryPlan, CanarySpec, CanaryStep, MAX_CANARY_STEPS};
use cutover::traffic::MatchCondition;
use cutover::{RolloutSpec, StrategySpec};

/// A canary of `steps` `set_route` steps, each routing its own 100 users.
fn route_steps(steps: usize) -> RolloutSpec {
    let plan = (0..steps)
        .map(|step| {
            let keys = (0..100).map(|user| format!("user-{step}-{user}"));
            CanaryStep::SetRoute(Some(MatchCondition::key_in(keys)))
        })
        .collect();
    RolloutSpec {
        desired: 10,
        strategy: StrategySpec::Canary(CanarySpec::with_plan(CanaryPlan::Steps(plan))),
        ..RolloutSpec::default()
    }
}

fn validate_route_steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("planning/validate_route_steps");
    group.sample_size(10);
    for steps in [100, MAX_CANARY_STEPS] {
        let spec = route_steps(steps);
        group.bench_with_input(BenchmarkId::from_parameter(steps), &steps, |b, _| {
            b.iter(|| black_box(&spec).validate().expect("a valid spec"))
        });
    }
    group.finish();
}

criterion_group!(benches, validate_route_steps);
criterion_main!(benches);
