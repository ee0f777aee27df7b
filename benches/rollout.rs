//! The cost of driving a rollout: one typical input at a fleet size, and a whole rolling
//! update against a world that answers at once.
//!
//! Targets (issue 3): `rollout/event/10000` within 1.5x of `rollout/event/100`;
//! `rollout/full_rolling/10000` under 250 ms. `rollout/full_canary/{100,10000}` (issue
//! 10) runs a traffic-routed canary's five steps (three weights, two timed pauses) and
//! its promotion.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use cutover::spec::{CanaryPlan, CanarySpec, CanaryStep, Quantity, RollingSpec};
use cutover::{
    Action, Duration, Input, Instance, InstanceId, Phase, Rollout, RolloutSpec, StrategySpec,
    Timestamp, Weight,
};

fn spec(desired: u32) -> RolloutSpec {
    RolloutSpec {
        desired,
        strategy: StrategySpec::Rolling(RollingSpec {
            max_surge: Quantity::Percent(25),
            max_unavailable: Quantity::Percent(25),
        }),
        ..RolloutSpec::default()
    }
}

fn fleet(n: usize) -> Vec<Instance> {
    (0..n)
        .map(|i| Instance::serving(format!("web-{i:05}"), "v1"))
        .collect()
}

/// Answers every action at once (provisioned and healthy, applied, drained,
/// terminated), until the rollout has nothing more to ask. Returns the clock.
fn answer_everything(rollout: &mut Rollout, mut now: Timestamp) -> Timestamp {
    let mut inputs = Vec::new();
    loop {
        while let Some(action) = rollout.poll_action() {
            match action {
                Action::Provision { id, instance, .. } => {
                    inputs.push(Input::Provisioned { action: id });
                    inputs.push(Input::Health {
                        instance,
                        healthy: true,
                    });
                }
                Action::UpdateTraffic { generation, .. } => {
                    inputs.push(Input::TrafficApplied { generation })
                }
                Action::Drain { id, .. } => inputs.push(Input::Drained { action: id }),
                Action::Terminate { id, .. } => inputs.push(Input::Terminated { action: id }),
                _ => {}
            }
        }
        while rollout.poll_event().is_some() {}
        if inputs.is_empty() {
            return now;
        }
        now = Timestamp::from_millis(now.as_millis() + 1);
        for input in inputs.drain(..) {
            rollout.handle_input(now, input);
        }
    }
}

fn drain_outputs(rollout: &mut Rollout) -> Option<u64> {
    let mut generation = None;
    while let Some(action) = rollout.poll_action() {
        if let Action::UpdateTraffic { generation: g, .. } = action {
            generation = Some(g);
        }
    }
    while rollout.poll_event().is_some() {}
    generation
}

/// One typical input mid-rollout: an instance's health changes (it leaves or rejoins
/// rotation, so a table update is published), and the load balancer acknowledges it.
fn event(c: &mut Criterion) {
    let mut group = c.benchmark_group("rollout/event");
    for n in [100usize, 10_000] {
        let mut rollout = Rollout::new(Timestamp::ZERO, spec(n as u32), fleet(n)).unwrap();
        let mut now = answer_everything(&mut rollout, Timestamp::ZERO);
        rollout.deploy(now, "v2").unwrap();
        // Let the first batch of new instances come up, so the rollout is mid-flight.
        drain_outputs(&mut rollout);
        let instance = InstanceId::new(format!("web-{:05}", n - 1));
        let mut healthy = false;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                now = Timestamp::from_millis(now.as_millis() + 1);
                rollout.handle_input(
                    now,
                    Input::Health {
                        instance: instance.clone(),
                        healthy,
                    },
                );
                healthy = !healthy;
                if let Some(generation) = drain_outputs(&mut rollout) {
                    rollout.handle_input(now, Input::TrafficApplied { generation });
                    black_box(drain_outputs(&mut rollout));
                }
            });
        });
        assert!(rollout.phase().is_in_flight());
    }
    group.finish();
}

fn full_rolling(c: &mut Criterion) {
    let mut group = c.benchmark_group("rollout/full_rolling");
    group.sample_size(10);
    for n in [100usize, 10_000] {
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_batched(
                || Rollout::new(Timestamp::ZERO, spec(n as u32), fleet(n)).unwrap(),
                |mut rollout| {
                    let now = answer_everything(&mut rollout, Timestamp::ZERO);
                    rollout.deploy(now, "v2").unwrap();
                    answer_everything(&mut rollout, now);
                    assert_eq!(rollout.phase(), Phase::Completed);
                    rollout
                },
                criterion::BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

/// A five-step canary: 10%, a minute, 50%, a minute, 90%; then the promotion.
fn canary_spec(desired: u32) -> RolloutSpec {
    let weight = |p| CanaryStep::SetWeight(Weight::from_percent(p).expect("a percentage"));
    let pause = || CanaryStep::Pause {
        duration: Some(Duration::from_mins(1)),
    };
    RolloutSpec {
        desired,
        strategy: StrategySpec::Canary(CanarySpec::with_plan(CanaryPlan::Steps(vec![
            weight(10),
            pause(),
            weight(50),
            pause(),
            weight(90),
        ]))),
        ..RolloutSpec::default()
    }
}

fn full_canary(c: &mut Criterion) {
    let mut group = c.benchmark_group("rollout/full_canary");
    group.sample_size(10);
    for n in [100usize, 10_000] {
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_batched(
                || Rollout::new(Timestamp::ZERO, canary_spec(n as u32), fleet(n)).unwrap(),
                |mut rollout| {
                    let mut now = answer_everything(&mut rollout, Timestamp::ZERO);
                    rollout.deploy(now, "v2").unwrap();
                    // Answer everything; when nothing is asked, let the pause run out.
                    while rollout.phase() != Phase::Completed {
                        now = answer_everything(&mut rollout, now);
                        if let Some(at) = rollout.poll_timeout() {
                            now = now.max(at);
                            rollout.handle_timeout(now);
                        }
                    }
                    rollout
                },
                criterion::BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, event, full_rolling, full_canary);
criterion_main!(benches);
