//! A canary judged by its metrics, from the spec to the abort, on the bare sans-IO loop.
//!
//! The spec below sends 25% of the traffic to `v2`, then runs the analysis `latency`
//! as a step: its metric `p99-latency` is judged (Kayenta's way: a Mann-Whitney test
//! and an effect size) against the stable revision's samples, three times a minute
//! apart. Beside the steps, a background analysis watches the canary's error rate from
//! the first step on and aborts the rollout the moment it crosses 1%.
//!
//! The loop answers every action at once, as a world where everything works would,
//! and answers each `Measure` from a version whose latency is 60% worse than
//! the stable one's: the judge fails the step, the rollout aborts, traffic goes back to
//! `v1`, and the events say which metric failed, how it classified and how sure the
//! judge was. With the driver (`cutover::driver`) the same loop is
//! [`Driver::run`](crate::driver::Driver::run) over your adapters: the
//! [`Metrics`](crate::adapter::Metrics) adapter answers the `Measure` actions.
//!
//! ```
//! use cutover::analysis::{Measurement, RunPhase};
//! use cutover::{Action, EventKind, Input, Instance, Phase, Rollout, RolloutSpec, Timestamp};
//!
//! let spec = RolloutSpec::from_json(r#"{
//!   "desired": 4,
//!   "strategy": { "canary": {
//!     "plan": { "steps": [
//!       { "set_weight": "25%" },
//!       { "analysis": { "analysis": "latency" } },
//!       { "set_weight": "50%" },
//!       "pause"
//!     ] },
//!     "traffic_routing": true
//!   } },
//!   "analyses": {
//!     "latency": [ {
//!       "name": "p99-latency",
//!       "check": { "judge": { "direction": "increase", "critical": true } },
//!       "interval": "1m",
//!       "count": 3
//!     } ]
//!   },
//!   "background_analysis": {
//!     "metrics": [ {
//!       "name": "error-rate",
//!       "check": { "threshold": { "success": { "below": 0.01 } } },
//!       "interval": "1m"
//!     } ],
//!     "start": { "at_step": 0 }
//!   }
//! }"#)?;
//!
//! let fleet = (0..4).map(|i| Instance::serving(format!("web-{i}"), "v1"));
//! let mut now = Timestamp::ZERO;
//! let mut rollout = Rollout::new(now, spec, fleet)?;
//! rollout.deploy(now, "v2")?;
//!
//! // The bad version: its latency samples are 1.6 times the stable revision's.
//! let stable_latency: Vec<f64> = (0..50).map(|i| 100.0 + f64::from(i % 9)).collect();
//! let canary_latency: Vec<f64> = stable_latency.iter().map(|v| v * 1.6).collect();
//!
//! let mut events = Vec::new();
//! for _round in 0..200 {
//!     // Answer every action at once.
//!     let actions: Vec<Action> = std::iter::from_fn(|| rollout.poll_action()).collect();
//!     for action in actions {
//!         match action {
//!             Action::Provision { id, instance, .. } => {
//!                 rollout.handle_input(now, Input::Provisioned { action: id });
//!                 rollout.handle_input(now, Input::Health { instance, healthy: true });
//!             }
//!             Action::UpdateTraffic { generation, .. } => {
//!                 rollout.handle_input(now, Input::TrafficApplied { generation });
//!             }
//!             Action::Drain { id, .. } => rollout.handle_input(now, Input::Drained { action: id }),
//!             Action::Terminate { id, .. } => {
//!                 rollout.handle_input(now, Input::Terminated { action: id });
//!             }
//!             Action::Measure { id, metric, .. } => {
//!                 let measurement = match metric.as_str() {
//!                     "p99-latency" => Measurement::Samples {
//!                         canary: canary_latency.clone(),
//!                         baseline: stable_latency.clone(),
//!                     },
//!                     _ => Measurement::Value(0.002), // the error rate is fine
//!                 };
//!                 rollout.handle_input(now, Input::Measured { action: id, measurement });
//!             }
//!             _ => {}
//!         }
//!     }
//!     events.extend(std::iter::from_fn(|| rollout.poll_event()));
//!     if rollout.phase().is_terminal() {
//!         break;
//!     }
//!     // Nothing left to answer: sleep until the rollout's next deadline.
//!     match rollout.poll_timeout() {
//!         Some(deadline) => {
//!             now = deadline.max(now);
//!             rollout.handle_timeout(now);
//!         }
//!         None => break,
//!     }
//! }
//!
//! assert!(matches!(rollout.phase(), Phase::Aborted { .. }), "{}", rollout.status());
//! let verdict = events.iter().find_map(|event| match &event.kind {
//!     EventKind::AnalysisCompleted { phase: RunPhase::Failed, reason } => Some(reason.clone()),
//!     _ => None,
//! });
//! let verdict = verdict.expect("the judge says why");
//! // metric "p99-latency" assessed Failed: … classified as High (Critical): … (effect size 1.6…, p = 0.0000)
//! assert!(verdict.contains("p99-latency") && verdict.contains("p = "), "{verdict}");
//! // The background analysis saw a healthy error rate: the judge alone stopped v2.
//! println!("{}", rollout.status());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
