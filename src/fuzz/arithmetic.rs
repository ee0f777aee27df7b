//! The `public_arithmetic` target: every public planning and cost function on arbitrary
//! numbers. None may panic or overflow (debug builds check every operation); each must
//! refuse what it cannot compute with a typed error, and keep its documented bounds.

use crate::spec::{
    BlueGreenSpec, CanaryPlan, CanarySpec, CanaryStep, CapacityLimits, MAX_DESIRED, ProvisionRetry,
    Quantity,
};
use crate::strategy::{
    CanaryScale, FleetView, Mode, PerRole, PlanInput, ProgressCounts, ReplicaCounts, RoleCounts,
    RoutedScaling, StepKind, StepState, blue_green_cost, blue_green_green_size, blue_green_plan,
    canary_basic_target, canary_cost, canary_plan, canary_routed_replicas, instances_for_weight,
    rolling_is_complete, rolling_is_progress, rolling_plan, rolling_preview, rolling_preview_from,
    rolling_scale_down_old, rolling_scale_up, rolling_step,
};
use crate::{Duration, Timestamp, Weight};

use super::Bytes;

/// A `desired` from the bytes: mostly small or near the bounds, sometimes anything.
fn desired(bytes: &mut Bytes<'_>) -> u32 {
    match bytes.byte() % 4 {
        0 => u32::from(bytes.byte()),
        1 => MAX_DESIRED - u32::from(bytes.byte()) % 3 + u32::from(bytes.byte()) % 3,
        2 => u32::MAX - u32::from(bytes.byte()),
        _ => bytes.u32(),
    }
}

fn flag(bytes: &mut Bytes<'_>) -> bool {
    bytes.byte() & 1 == 0
}

fn count(bytes: &mut Bytes<'_>) -> u32 {
    match bytes.byte() % 3 {
        0 => u32::from(bytes.byte()),
        1 => u32::MAX - u32::from(bytes.byte()),
        _ => bytes.u32(),
    }
}

fn quantity(bytes: &mut Bytes<'_>) -> Quantity {
    match bytes.byte() % 2 {
        0 => Quantity::Count(count(bytes)),
        _ => Quantity::Percent(count(bytes) % 300),
    }
}

fn weight(bytes: &mut Bytes<'_>) -> Weight {
    Weight::from_basis_points(u64::from(bytes.u16()) % 10_001).unwrap_or(Weight::FULL)
}

fn timestamp(bytes: &mut Bytes<'_>) -> Timestamp {
    match bytes.byte() % 3 {
        0 => Timestamp::from_millis(u64::from(bytes.u16())),
        1 => Timestamp::from_millis(u64::MAX - u64::from(bytes.byte())),
        _ => Timestamp::from_millis(bytes.u64()),
    }
}

fn duration(bytes: &mut Bytes<'_>) -> Duration {
    Duration::from_millis(timestamp(bytes).as_millis())
}

fn limits(bytes: &mut Bytes<'_>) -> Option<CapacityLimits> {
    let desired = desired(bytes);
    match bytes.byte() % 2 {
        0 => CapacityLimits::new(desired, count(bytes), count(bytes)).ok(),
        _ => CapacityLimits::resolve(desired, quantity(bytes), quantity(bytes)).ok(),
    }
}

fn replica_counts(bytes: &mut Bytes<'_>) -> ReplicaCounts {
    ReplicaCounts {
        new_replicas: count(bytes),
        new_available: count(bytes),
        old_replicas: count(bytes),
        old_available: count(bytes),
        terminating: count(bytes),
    }
}

fn role_counts(bytes: &mut Bytes<'_>) -> RoleCounts {
    RoleCounts::new(count(bytes), count(bytes), count(bytes))
}

fn plan_input(bytes: &mut Bytes<'_>, limits: CapacityLimits) -> PlanInput {
    let roles = PerRole::from_fn(|_| role_counts(bytes));
    let mut step = StepState::new(count(bytes), timestamp(bytes));
    step.promoted = flag(bytes);
    step.full = flag(bytes);
    step.checks = [None, Some(true), Some(false)][usize::from(bytes.byte() % 3)];
    step.is_rollback = flag(bytes);
    step.held = flag(bytes);
    step.aborted_at = (flag(bytes)).then(|| timestamp(bytes));
    step.standby_until = (flag(bytes)).then(|| timestamp(bytes));
    step.in_place_at = (flag(bytes)).then(|| timestamp(bytes));
    PlanInput {
        mode: [Mode::Rollout, Mode::Revert, Mode::Steady][usize::from(bytes.byte() % 3)],
        limits,
        view: FleetView::new(roles, count(bytes)),
        has_stable: flag(bytes),
        now: timestamp(bytes),
        step,
    }
}

fn blue_green_spec(bytes: &mut Bytes<'_>) -> BlueGreenSpec {
    BlueGreenSpec {
        preview_replicas: (flag(bytes)).then(|| count(bytes)),
        max_unavailable: quantity(bytes),
        ..BlueGreenSpec::default()
    }
}

fn canary_spec(bytes: &mut Bytes<'_>) -> CanarySpec {
    let plan = match bytes.byte() % 4 {
        0 => CanaryPlan::AllAtOnce,
        1 => CanaryPlan::Canary {
            weight: weight(bytes),
            after: duration(bytes),
        },
        2 => CanaryPlan::Linear {
            weight: weight(bytes),
            every: duration(bytes),
        },
        _ => CanaryPlan::Steps(
            (0..bytes.byte() % 8)
                .map(|_| match bytes.byte() % 5 {
                    0 => CanaryStep::SetWeight(weight(bytes)),
                    1 => CanaryStep::Pause {
                        duration: Some(duration(bytes)),
                    },
                    2 => CanaryStep::SetCanaryScale(scale(bytes)),
                    3 => CanaryStep::SetMirror(weight(bytes)),
                    _ => CanaryStep::Experiment {
                        duration: Some(duration(bytes)),
                        analysis: None,
                        on_failure: Default::default(),
                    },
                })
                .collect(),
        ),
    };
    CanarySpec {
        plan,
        traffic_routing: flag(bytes),
        max_surge: quantity(bytes),
        max_unavailable: quantity(bytes),
        min_instances: count(bytes),
        dynamic_stable_scale: flag(bytes),
        ..CanarySpec::default()
    }
}

fn scale(bytes: &mut Bytes<'_>) -> CanaryScale {
    match bytes.byte() % 3 {
        0 => CanaryScale::Replicas(count(bytes)),
        1 => CanaryScale::Weight(weight(bytes)),
        _ => CanaryScale::MatchTrafficWeight,
    }
}

/// Calls the public arithmetic named by each opcode of `data` on numbers read from the
/// bytes that follow it.
pub fn public_arithmetic(data: &[u8]) {
    let mut bytes = Bytes(data);
    while let Some(op) = bytes.next() {
        let bytes = &mut bytes;
        match op % 12 {
            0 => {
                let _ = quantity(bytes).resolve(desired(bytes), flag(bytes));
            }
            1 => {
                if let Some(limits) = limits(bytes) {
                    let counts = replica_counts(bytes);
                    let _ = rolling_scale_up(limits, counts);
                    let _ = rolling_scale_down_old(limits, counts);
                    let _ = rolling_step(limits, counts);
                    let _ = rolling_is_complete(limits, counts);
                }
            }
            2 => {
                if let Some(limits) = limits(bytes) {
                    // Documented: a rolling preview has at most `2 * desired + 4` steps.
                    let bound = 2 * limits.desired() as usize + 4;
                    assert!(rolling_preview(limits).len() <= bound);
                    let _ = rolling_preview_from(limits, replica_counts(bytes));
                }
            }
            3 => {
                let progress = |bytes: &mut Bytes<'_>| ProgressCounts {
                    updated: count(bytes),
                    old: count(bytes),
                    ready: count(bytes),
                    available: count(bytes),
                };
                let _ = rolling_is_progress(progress(bytes), progress(bytes));
            }
            4 => {
                let spec = blue_green_spec(bytes);
                let desired = desired(bytes);
                if let Ok(cost) = blue_green_cost(&spec, desired) {
                    let _ = format!("{cost:?}");
                }
                for step in [
                    StepKind::Preview,
                    StepKind::PrePromotion,
                    StepKind::Promotion,
                    StepKind::Switch,
                    StepKind::PostPromotion,
                ] {
                    let _ = blue_green_green_size(&spec, desired, step, flag(bytes));
                }
            }
            5 => {
                let spec = canary_spec(bytes);
                let _ = canary_cost(&spec, desired(bytes));
            }
            6 => {
                let _ = instances_for_weight(desired(bytes), weight(bytes));
                let _ = canary_basic_target(desired(bytes), weight(bytes), count(bytes));
            }
            7 => {
                let scaling = RoutedScaling {
                    min_instances: count(bytes),
                    dynamic_stable_scale: flag(bytes),
                    published: (flag(bytes)).then(|| PerRole::from_fn(|_| weight(bytes))),
                };
                let scale = (flag(bytes)).then(|| scale(bytes));
                let _ = canary_routed_replicas(desired(bytes), weight(bytes), scale, scaling);
            }
            8 => {
                if let Some(limits) = limits(bytes) {
                    let _ = rolling_plan(&plan_input(bytes, limits));
                }
            }
            9 => {
                let spec = blue_green_spec(bytes);
                if let Ok(limits) = spec.validate(desired(bytes), &Default::default()) {
                    let _ = blue_green_plan(&spec, &plan_input(bytes, limits));
                }
            }
            10 => {
                let spec = canary_spec(bytes);
                if let Ok(limits) = spec.validate(desired(bytes), &Default::default()) {
                    let _ = canary_plan(&spec, &plan_input(bytes, limits));
                }
            }
            _ => {
                let retry = ProvisionRetry {
                    backoff_initial: duration(bytes),
                    backoff_max: duration(bytes),
                    ..ProvisionRetry::default()
                };
                let _ = retry.backoff(count(bytes));
                let t = timestamp(bytes);
                let d = duration(bytes);
                let _ = (t + d, t.saturating_duration_since(timestamp(bytes)));
                let _ = d.saturating_mul(bytes.u64());
            }
        }
    }
}
