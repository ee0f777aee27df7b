//! The rules every saved state obeys, checked on restore before the rollout acts: a
//! document breaking one was edited or corrupted, and is refused with the field named.

use std::collections::BTreeSet;

use crate::error::RestoreError;
use crate::model::{InstanceId, InstanceState};
use crate::output::Action;
use crate::rollout::core::{ActionKind, Core, Retire};

fn refuse<T>(field: &'static str, why: String) -> Result<T, RestoreError> {
    Err(RestoreError::Field { field, why })
}

pub(super) fn check(core: &Core) -> Result<(), RestoreError> {
    if core.fleet.min_ready() != core.spec.min_ready {
        return refuse(
            "rollout.fleet.min_ready",
            format!(
                "{} disagrees with the spec's min_ready {}",
                core.fleet.min_ready(),
                core.spec.min_ready
            ),
        );
    }
    if let Err(why) = core.rotation.check() {
        return refuse("rollout.rotation", why);
    }
    check_counters(core)?;
    if !(1..=crate::spec::MAX_DESIRED).contains(&core.sized_for) {
        return refuse(
            "rollout.sized_for",
            format!(
                "the fleet was sized for {} instances: no spec asks for that many",
                core.sized_for
            ),
        );
    }
    if let Some(id) = core
        .recycle_to
        .keys()
        .find(|id| !core.retiring.contains_key(*id))
    {
        return refuse(
            "rollout.recycle_to",
            format!("instance {id} is to be redeployed but is not on its way out"),
        );
    }
    check_analysis(core)?;
    check_table(core)?;
    check_actions(core)?;
    check_queue(core)?;
    Ok(())
}

/// Counters only grow; ids at or above them were never issued.
fn check_counters(core: &Core) -> Result<(), RestoreError> {
    // Counters this large cannot be reached by counting; stepping past them would wrap.
    let limit = u64::MAX / 2;
    for (field, value) in [
        ("rollout.next_action", core.next_action),
        ("rollout.next_instance", core.next_instance),
        (
            "rollout.rotation.published.generation",
            core.rotation.published.generation(),
        ),
    ] {
        if value >= limit {
            return refuse(field, format!("{value} is exhausted"));
        }
    }
    let issued = core
        .pending
        .keys()
        .copied()
        .chain(core.actions.iter().map(Action::id))
        .chain(core.retiring.values().filter_map(|stage| match stage {
            Retire::Draining { action, .. } | Retire::Terminating { action } => Some(*action),
            _ => None,
        }))
        .chain(
            core.stage
                .analysis()
                .into_iter()
                .chain(
                    core.cursor()
                        .checks
                        .iter()
                        .flat_map(|c| c.analysis.as_ref()),
                )
                .flat_map(|a| a.measuring.keys().copied()),
        )
        .chain(
            core.cursor()
                .checks
                .iter()
                .flat_map(|c| c.hooks.keys().copied()),
        );
    if let Some(id) = issued.max().filter(|id| id.0 >= core.next_action) {
        return refuse(
            "rollout.next_action",
            format!(
                "{} is not above action {id}, already issued: ids would be issued twice",
                core.next_action
            ),
        );
    }
    Ok(())
}

/// The table lists only instances that may serve, and every instance that may serve
/// and is not listed is on its way into the table or out of the fleet.
fn check_table(core: &Core) -> Result<(), RestoreError> {
    for backend in core.rotation.published.backends() {
        for (id, _) in backend.instances() {
            let Some(instance) = core.fleet.get(id) else {
                return refuse(
                    "rollout.rotation.published",
                    format!("instance {id} is in the table but not in the fleet"),
                );
            };
            if &instance.revision != backend.revision() {
                return refuse(
                    "rollout.rotation.published",
                    format!(
                        "instance {id} is listed under {} but runs {}",
                        backend.revision(),
                        instance.revision
                    ),
                );
            }
            if !core.may_serve(instance) {
                return refuse(
                    "rollout.rotation.published",
                    format!("instance {id} is in the table but cannot serve"),
                );
            }
        }
    }
    for instance in core.fleet.iter() {
        let listed = core.rotation.published.revision_of(&instance.id).is_some();
        if core.may_serve(instance) && !listed {
            return refuse(
                "rollout.rotation.published",
                format!(
                    "instance {} is ready and available but not in the table: it would never be put in rotation",
                    instance.id
                ),
            );
        }
        if instance.in_rotation && !listed && !core.rotation.is_leaving(&instance.id) {
            return refuse(
                "rollout.fleet.instances.in_rotation",
                format!(
                    "instance {} is marked in rotation but no table the load balancer may apply lists it",
                    instance.id
                ),
            );
        }
        if instance.state == InstanceState::Draining && !core.retiring.contains_key(&instance.id) {
            return refuse(
                "rollout.retiring",
                format!("instance {} is draining but not being removed", instance.id),
            );
        }
        let wanted = !core.retiring.contains_key(&instance.id);
        if wanted
            && instance.state == InstanceState::Starting
            && !core.starting.contains_key(&instance.id)
        {
            return refuse(
                "rollout.starting",
                format!("instance {} is starting with no health record", instance.id),
            );
        }
    }
    for id in core.starting.keys() {
        if core.fleet.get(id).map(|i| i.state) != Some(InstanceState::Starting) {
            return refuse(
                "rollout.starting",
                format!("instance {id} has a health record but is not starting"),
            );
        }
    }
    Ok(())
}

/// Every pending action matches its instance's stage, and every stage its action.
fn check_actions(core: &Core) -> Result<(), RestoreError> {
    let mut provisioning: BTreeSet<&InstanceId> = BTreeSet::new();
    for (action, pending) in &core.pending {
        let id = &pending.instance;
        let Some(instance) = core.fleet.get(id) else {
            return refuse(
                "rollout.pending",
                format!("action {action} is for unknown instance {id}"),
            );
        };
        let fits = match pending.kind {
            ActionKind::Provision => {
                provisioning.insert(id);
                match core.retiring.get(id) {
                    None => instance.state == InstanceState::Provisioning,
                    Some(stage) => *stage == Retire::AwaitProvisioned,
                }
            }
            ActionKind::Drain => {
                matches!(core.retiring.get(id), Some(Retire::Draining { action: a, .. }) if a == action)
            }
            ActionKind::Terminate => {
                matches!(core.retiring.get(id), Some(Retire::Terminating { action: a }) if a == action)
            }
        };
        if !fits {
            return refuse(
                "rollout.pending",
                format!("action {action} ({pending:?}) does not match its instance"),
            );
        }
    }
    for (id, stage) in &core.retiring {
        let state = core.fleet.get(id).map(|i| i.state);
        let fits = match stage {
            Retire::AwaitProvisioned => state == Some(InstanceState::Provisioning),
            Retire::AwaitExit => {
                matches!(
                    state,
                    Some(InstanceState::Starting | InstanceState::Ready | InstanceState::Draining)
                )
            }
            Retire::Draining { .. } => state == Some(InstanceState::Draining),
            Retire::Terminating { .. } => state.is_some_and(InstanceState::is_live),
        };
        if !fits {
            return refuse(
                "rollout.retiring",
                format!("retiring instance {id} ({stage:?}) is {state:?} in the fleet"),
            );
        }
        let waits = match stage {
            Retire::AwaitProvisioned => provisioning.contains(id),
            // Out of the table and of every unacknowledged table: it should have been
            // drained, and nothing would ever drain it now.
            Retire::AwaitExit => {
                let in_rotation = core.fleet.get(id).is_some_and(|i| i.in_rotation);
                !core.rotation.is_clear(id, in_rotation)
            }
            Retire::Draining { action, .. } | Retire::Terminating { action } => {
                core.pending.contains_key(action)
            }
        };
        if !waits {
            return refuse(
                "rollout.retiring",
                format!(
                    "retiring instance {id} ({stage:?}) waits for something that will never come"
                ),
            );
        }
    }
    if let Some(i) = core.fleet.iter().find(|i| {
        i.state == InstanceState::Provisioning
            && !provisioning.contains(&i.id)
            && !core.retiring.contains_key(&i.id)
    }) {
        return refuse(
            "rollout.pending",
            format!(
                "instance {} is provisioning with no provision pending",
                i.id
            ),
        );
    }
    Ok(())
}

/// Actions not yet polled must still be what the state asks for: the caller performs
/// them as they are.
fn check_queue(core: &Core) -> Result<(), RestoreError> {
    let field = "rollout.actions";
    for action in &core.actions {
        let pending = core.pending.get(&action.id());
        let fits = match action {
            Action::Provision { id, instance, .. } | Action::Redeploy { id, instance, .. } => {
                pending.is_some_and(|p| {
                    p.kind == ActionKind::Provision && &p.instance == instance && *id == action.id()
                })
            }
            Action::Drain { instance, .. } => pending.is_some_and(|p| {
                p.kind == ActionKind::Drain
                    && &p.instance == instance
                    && core.rotation.published.revision_of(instance).is_none()
            }),
            Action::Measure { id, metric, .. } => core
                .stage
                .analysis()
                .into_iter()
                .chain(
                    core.cursor()
                        .checks
                        .iter()
                        .flat_map(|c| c.analysis.as_ref()),
                )
                .any(|a| a.measuring.get(id) == Some(metric)),
            Action::RunHook { id, hook, .. } => core
                .cursor()
                .checks
                .as_ref()
                .and_then(|c| c.hooks.get(id))
                .is_some_and(|h| &h.name == hook),
            Action::Terminate { instance, .. } => {
                pending.is_some_and(|p| p.kind == ActionKind::Terminate && &p.instance == instance)
            }
            Action::UpdateTraffic {
                generation, diff, ..
            } => {
                *generation > core.rotation.acknowledged
                    && *generation <= core.rotation.published.generation()
                    && diff.to_generation == *generation
            }
        };
        if !fits {
            return refuse(
                field,
                format!(
                    "queued action {} does not match the rollout's state: {action:?}",
                    action.id()
                ),
            );
        }
    }
    Ok(())
}

/// A hosted analysis measures what the spec says, and its specs still validate.
fn check_analysis(core: &Core) -> Result<(), RestoreError> {
    let Some(hosted) = core.stage.analysis() else {
        return Ok(());
    };
    let field = "rollout.analysis";
    let Some(spec) = &core.spec.background_analysis else {
        return refuse(field, "an analysis runs but the spec has none".to_owned());
    };
    let running: Vec<&str> = hosted.run.metrics().iter().map(|m| m.name()).collect();
    let wanted: Vec<&str> = spec.metrics.iter().map(|m| m.name.as_str()).collect();
    if running != wanted {
        return refuse(
            field,
            format!("it measures {running:?} where the spec asks for {wanted:?}"),
        );
    }
    for metric in hosted.run.metrics() {
        if let Err(error) = metric.spec().validate() {
            return refuse(field, format!("metric {:?}: {error}", metric.name()));
        }
    }
    for (action, metric) in &hosted.measuring {
        if hosted.run.metric(metric).is_none() {
            return refuse(
                field,
                format!("measurement {action} is of unknown metric {metric:?}"),
            );
        }
    }
    // A run measures the target of the rollout in flight: one that has not been acted
    // on outlives its rollout only in an edited document.
    if !hosted.acted && core.target().is_none() {
        return refuse(
            field,
            format!(
                "an analysis is still running while the rollout is {} with no target: nothing is left to measure",
                core.phase()
            ),
        );
    }
    Ok(())
}
