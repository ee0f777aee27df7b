//! A canary of ten instances from `v1` to `v2` behind a traffic router, driven against a
//! small fake world on a virtual clock: 10% for a minute, then an experiment (a fresh
//! baseline of `v1` beside the canary for five minutes, the canary's error rate judged
//! against it), 50% until an operator promotes, then all traffic. Provisioning takes 2 s, health checks
//! pass 3 s later, the load balancer applies a table in 100 ms, drains take 1 s,
//! terminations 0.5 s, and every error-rate measurement reads 1%.
//!
//! Run it with `cargo run --example canary`.

use std::collections::BTreeMap;

use cutover::{
    Action, CanaryPlan, CanarySpec, CanaryStep, Condition, Duration, Input, Instance, Measurement,
    MetricCheck, MetricSpec, PauseReason, Phase, Rollout, RolloutSpec, StrategySpec, Timestamp,
    Weight,
};

/// Inputs the fake world will report, by the time it reports them.
struct FakeWorld {
    due: BTreeMap<Timestamp, Vec<Input>>,
}

impl FakeWorld {
    fn schedule(&mut self, at: Timestamp, input: Input) {
        self.due.entry(at).or_default().push(input);
    }

    /// Turns an action into the inputs it will produce, later.
    fn perform(&mut self, now: Timestamp, action: Action) {
        let after = |ms| now + Duration::from_millis(ms);
        match action {
            Action::Provision { id, instance, .. } => {
                self.schedule(after(2_000), Input::Provisioned { action: id });
                let healthy = Input::Health {
                    instance,
                    healthy: true,
                };
                self.schedule(after(5_000), healthy);
            }
            Action::UpdateTraffic {
                generation, diff, ..
            } => {
                println!(
                    "{now}: traffic table {generation}: {} change(s)",
                    diff.changes.len()
                );
                self.schedule(after(100), Input::TrafficApplied { generation });
            }
            Action::Drain { id, .. } => self.schedule(after(1_000), Input::Drained { action: id }),
            Action::Terminate { id, .. } => {
                self.schedule(after(500), Input::Terminated { action: id });
            }
            Action::Measure {
                id,
                metric,
                revision,
                baseline,
                baseline_group,
                ..
            } => {
                let against = baseline.map(|b| format!(" against {b} ({baseline_group} group)"));
                println!(
                    "{now}: measuring {metric} of {revision}{}: 1%",
                    against.unwrap_or_default()
                );
                let measured = Input::Measured {
                    action: id,
                    measurement: Measurement::Value(0.01),
                };
                self.schedule(after(10), measured);
            }
            other => println!("{now}: (ignoring an action this world does not know: {other:?})"),
        }
    }
}

fn main() {
    let percent = |p| Weight::from_percent(p).expect("a percentage");
    let mut spec = RolloutSpec {
        desired: 10,
        strategy: StrategySpec::Canary(CanarySpec::with_plan(CanaryPlan::Steps(vec![
            CanaryStep::SetWeight(percent(10)),
            CanaryStep::Pause {
                duration: Some(Duration::from_mins(1)),
            },
            // A fresh baseline of v1 beside the canary for five minutes, the canary's
            // error rate judged against it.
            CanaryStep::Experiment {
                duration: Some(Duration::from_mins(5)),
                analysis: Some("errors".into()),
                on_failure: Default::default(),
            },
            CanaryStep::SetWeight(percent(50)),
            CanaryStep::Pause { duration: None },
        ]))),
        ..RolloutSpec::default()
    };
    let errors = MetricCheck::Threshold {
        success: Some(Condition::Below(0.05)),
        failure: None,
    };
    spec.analyses
        .insert("errors".into(), vec![MetricSpec::new("error-rate", errors)]);
    let fleet = (0..10).map(|i| Instance::serving(format!("web-{i}"), "v1"));
    let mut now = Timestamp::ZERO;
    let mut rollout = Rollout::new(now, spec, fleet).expect("the spec is valid");
    let mut world = FakeWorld {
        due: BTreeMap::new(),
    };

    rollout.deploy(now, "v2").expect("v2 is new");
    loop {
        while let Some(action) = rollout.poll_action() {
            world.perform(now, action);
        }
        while let Some(event) = rollout.poll_event() {
            println!("{event}");
        }
        // The operator: promote the untimed pause once the rollout waits for it.
        let waiting = rollout.phase()
            == Phase::Paused {
                reason: PauseReason::Step { until: None },
            };
        if waiting && world.due.is_empty() {
            println!("{now}: {}", rollout.status().message);
            rollout
                .promote(now)
                .expect("a step's pause can be promoted");
            continue;
        }
        let timer = rollout.poll_timeout();
        let next_input = world.due.keys().next().copied();
        let Some(next) = [timer, next_input].into_iter().flatten().min() else {
            break;
        };
        now = next;
        if let Some(inputs) = world.due.remove(&now) {
            for input in inputs {
                rollout.handle_input(now, input);
            }
        }
        if timer.is_some_and(|t| t <= now) {
            rollout.handle_timeout(now);
        }
    }
    let status = rollout.status();
    println!("{now}: {}", status.message);
    assert_eq!(status.phase, Phase::Completed);
}
