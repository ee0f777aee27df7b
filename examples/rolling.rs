//! A rolling update of ten instances from `v1` to `v2`, driven against a small fake
//! world on a virtual clock: provisioning takes 2 s, health checks pass 3 s later, the
//! load balancer applies a table in 100 ms, drains take 1 s and terminations 0.5 s.
//!
//! Run it with `cargo run --example rolling`.

use std::collections::BTreeMap;

use cutover::{
    Action, Duration, Input, Instance, Quantity, RollingSpec, Rollout, RolloutSpec, StrategySpec,
    Timestamp,
};

/// Inputs the fake world will report, by the time it reports them. A `Vec` per instant
/// keeps inputs that fall due together in the order they were scheduled.
struct FakeWorld {
    due: BTreeMap<Timestamp, Vec<Input>>,
}

impl FakeWorld {
    fn schedule(&mut self, at: Timestamp, input: Input) {
        self.due.entry(at).or_default().push(input);
    }

    /// Turns an action into the inputs it will produce, later.
    fn perform(&mut self, now: Timestamp, action: Action) {
        match action {
            Action::Provision { id, instance, .. } => {
                self.schedule(
                    now + Duration::from_secs(2),
                    Input::Provisioned { action: id },
                );
                let healthy = Input::Health {
                    instance,
                    healthy: true,
                };
                self.schedule(now + Duration::from_secs(5), healthy);
            }
            Action::UpdateTraffic { generation, .. } => {
                self.schedule(
                    now + Duration::from_millis(100),
                    Input::TrafficApplied { generation },
                );
            }
            Action::Drain { id, .. } => {
                self.schedule(now + Duration::from_secs(1), Input::Drained { action: id });
            }
            Action::Terminate { id, .. } => {
                self.schedule(
                    now + Duration::from_millis(500),
                    Input::Terminated { action: id },
                );
            }
            other => println!("{now}: (ignoring an action this world does not know: {other:?})"),
        }
    }
}

fn main() {
    let spec = RolloutSpec {
        desired: 10,
        strategy: StrategySpec::Rolling(RollingSpec {
            max_surge: Quantity::Percent(25),
            max_unavailable: Quantity::Percent(25),
        }),
        min_ready: Duration::from_secs(5),
        ..RolloutSpec::default()
    };
    let fleet = (0..10).map(|i| Instance::serving(format!("web-{i}"), "v1"));
    let mut now = Timestamp::ZERO;
    let mut rollout = Rollout::new(now, spec, fleet).expect("the spec is valid");
    let mut world = FakeWorld {
        due: BTreeMap::new(),
    };

    rollout.deploy(now, "v2").expect("v2 is new");
    loop {
        // After every call: actions first, then events, then the timer.
        while let Some(action) = rollout.poll_action() {
            if let Action::UpdateTraffic {
                generation, diff, ..
            } = &action
            {
                println!(
                    "{now}: traffic table {generation}: {} change(s)",
                    diff.changes.len()
                );
            }
            world.perform(now, action);
        }
        while let Some(event) = rollout.poll_event() {
            println!("{event}");
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
    assert_eq!(status.phase, cutover::Phase::Completed);
}
