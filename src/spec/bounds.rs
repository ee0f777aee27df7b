//! Bounds on every list, name and duration a spec accepts: a spec is read from documents
//! people and scripts write, and a typo (`999999999h`), an overflowed count or a runaway
//! generator must be refused by name, not run for centuries or kept in memory.
//!
//! The numbers a spec plans with have their own bounds beside them ([`MAX_DESIRED`],
//! [`MAX_CANARY_STEPS`]); this file bounds the rest, in one walk over the spec that
//! names each setting as a document spells it.
//!
//! [`MAX_DESIRED`]: crate::spec::MAX_DESIRED
//! [`MAX_CANARY_STEPS`]: crate::spec::MAX_CANARY_STEPS

use crate::analysis::MetricSpec;
use crate::error::SpecError;
use crate::spec::{CanaryPlan, CanaryStep, Checks, Promotion, RolloutSpec, StrategySpec};
use crate::time::Duration;
use crate::traffic::MatchCondition;

/// The longest duration a spec may hold: 366 days. Every timer of a rollout (a pause, a
/// promotion delay, a deadline, a hook's timeout, an analysis interval) is meant to
/// fire within a deploy's life; a longer one is a typo or a unit mistake.
pub const MAX_SPEC_DURATION: Duration = Duration::from_millis(366 * 24 * 60 * 60 * 1_000);

/// The most entries of each list a spec holds: the hooks of one stage's checks, the named
/// analyses, the metrics of one analysis.
pub const MAX_SPEC_LIST: usize = 100;

/// The most keys a `key_in` match condition in a spec lists: an A/B allow-list of users,
/// not a user database.
pub const MAX_MATCH_KEYS: usize = 10_000;

/// The longest name a spec or a document holds, in bytes: a hook's, an analysis', a
/// metric's, a header's or a cookie's name, and a revision or an instance id read from a
/// document (a DNS name's 253 bytes and an image reference with its digest both fit).
pub const MAX_NAME_BYTES: usize = 512;

/// The longest text a match condition compares, in bytes (a header value, a prefix, a
/// cookie value, one key).
pub const MAX_MATCH_VALUE_BYTES: usize = 4_096;

fn duration(field: impl FnOnce() -> String, value: Duration) -> Result<(), SpecError> {
    if value > MAX_SPEC_DURATION {
        return Err(SpecError::DurationTooLong {
            field: field(),
            duration: value,
            max: MAX_SPEC_DURATION,
        });
    }
    Ok(())
}

fn list(field: impl FnOnce() -> String, count: usize, max: usize) -> Result<(), SpecError> {
    if count > max {
        return Err(SpecError::TooMany {
            field: field(),
            count,
            max,
        });
    }
    Ok(())
}

fn text(field: impl FnOnce() -> String, value: &str, max: usize) -> Result<(), SpecError> {
    if value.len() > max {
        return Err(SpecError::TooLong {
            field: field(),
            bytes: value.len(),
            max,
        });
    }
    Ok(())
}

/// Checks every bound of `spec`, naming the first setting past one.
pub(crate) fn check(spec: &RolloutSpec) -> Result<(), SpecError> {
    for (name, value) in [
        ("min_ready", Some(spec.min_ready)),
        ("progress_deadline", spec.progress_deadline),
        ("drain_timeout", Some(spec.drain_timeout)),
        (
            "provision_retry.backoff_initial",
            Some(spec.provision_retry.backoff_initial),
        ),
        (
            "provision_retry.backoff_max",
            Some(spec.provision_retry.backoff_max),
        ),
        ("health.startup_timeout", Some(spec.health.startup_timeout)),
        ("traffic_ack_timeout", Some(spec.traffic_ack_timeout)),
    ] {
        if let Some(value) = value {
            duration(|| name.to_owned(), value)?;
        }
    }
    if let Some(background) = &spec.background_analysis {
        metrics("background_analysis.metrics", &background.metrics)?;
    }
    list(|| "analyses".to_owned(), spec.analyses.len(), MAX_SPEC_LIST)?;
    for (name, analysis) in &spec.analyses {
        text(|| "analyses".to_owned(), name, MAX_NAME_BYTES)?;
        metrics(&format!("analyses.{name}"), analysis)?;
    }
    match &spec.strategy {
        StrategySpec::Rolling(_) => Ok(()),
        StrategySpec::BlueGreen(bg) => {
            let at = |field: &str| format!("strategy.blue_green.{field}");
            if let Promotion::Auto(after) = bg.promotion {
                duration(|| at("promotion.auto"), after)?;
            }
            duration(|| at("scale_down_delay"), bg.scale_down_delay)?;
            if let Some(delay) = bg.abort_scale_down_delay {
                duration(|| at("abort_scale_down_delay"), delay)?;
            }
            if let Some(route) = &bg.preview_route {
                condition(&at("preview_route"), route)?;
            }
            checks(&at("pre_promotion"), &bg.pre_promotion)?;
            checks(&at("post_promotion"), &bg.post_promotion)
        }
        StrategySpec::Canary(canary) => {
            let at = |field: &str| format!("strategy.canary.{field}");
            if let Some(delay) = canary.abort_scale_down_delay {
                duration(|| at("abort_scale_down_delay"), delay)?;
            }
            match &canary.plan {
                CanaryPlan::Canary { after, .. } => duration(|| at("plan.canary.after"), *after),
                CanaryPlan::Linear { every, .. } => duration(|| at("plan.linear.every"), *every),
                CanaryPlan::AllAtOnce => Ok(()),
                CanaryPlan::Steps(steps) => {
                    // The count is bounded by the canary's own check; each step here.
                    for (i, step) in steps.iter().enumerate() {
                        let at = |field: &str| format!("strategy.canary.plan.steps[{i}].{field}");
                        match step {
                            CanaryStep::Pause {
                                duration: Some(value),
                            } => duration(|| at("pause.duration"), *value)?,
                            CanaryStep::Experiment {
                                duration: Some(value),
                                ..
                            } => duration(|| at("experiment.duration"), *value)?,
                            CanaryStep::SetRoute(Some(route)) => {
                                condition(&at("set_route"), route)?;
                            }
                            _ => {}
                        }
                    }
                    Ok(())
                }
            }
        }
    }
}

fn checks(at: &str, checks: &Checks) -> Result<(), SpecError> {
    list(|| format!("{at}.hooks"), checks.hooks.len(), MAX_SPEC_LIST)?;
    for (i, hook) in checks.hooks.iter().enumerate() {
        text(
            || format!("{at}.hooks[{i}].name"),
            &hook.name,
            MAX_NAME_BYTES,
        )?;
        duration(|| format!("{at}.hooks[{i}].timeout"), hook.timeout)?;
    }
    Ok(())
}

fn metrics(at: &str, metrics: &[MetricSpec]) -> Result<(), SpecError> {
    list(|| at.to_owned(), metrics.len(), MAX_SPEC_LIST)?;
    for (i, metric) in metrics.iter().enumerate() {
        text(|| format!("{at}[{i}].name"), &metric.name, MAX_NAME_BYTES)?;
        if let Some(interval) = metric.interval {
            duration(|| format!("{at}[{i}].interval"), interval)?;
        }
        duration(|| format!("{at}[{i}].initial_delay"), metric.initial_delay)?;
    }
    Ok(())
}

fn condition(at: &str, condition: &MatchCondition) -> Result<(), SpecError> {
    match condition {
        MatchCondition::HeaderEquals { name, value: text_ }
        | MatchCondition::HeaderPrefix {
            name,
            prefix: text_,
        }
        | MatchCondition::CookieEquals { name, value: text_ } => {
            text(|| format!("{at}.name"), name, MAX_NAME_BYTES)?;
            text(|| format!("{at}.value"), text_, MAX_MATCH_VALUE_BYTES)
        }
        MatchCondition::KeyIn { keys } => {
            list(|| format!("{at}.keys"), keys.len(), MAX_MATCH_KEYS)?;
            for key in keys {
                text(|| format!("{at}.keys"), key, MAX_MATCH_VALUE_BYTES)?;
            }
            Ok(())
        }
    }
}
