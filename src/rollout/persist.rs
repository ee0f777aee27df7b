//! Saving and restoring a rollout: a versioned document, checked for consistency on the
//! way in, so that a controller can persist after every call, crash, and go on.

#[cfg(feature = "serde")]
use crate::error::RestoreError;
#[cfg(feature = "serde")]
use crate::model::InstanceState;
#[cfg(feature = "serde")]
use crate::rollout::Rollout;
#[cfg(feature = "serde")]
use crate::rollout::core::{Core, Pending, Retire};

/// The document format this version writes and reads.
pub const FORMAT_VERSION: u32 = 1;

#[cfg(feature = "serde")]
impl serde::Serialize for Rollout {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Borrowed<'a> {
            format: u32,
            rollout: &'a Core,
        }
        Borrowed {
            format: FORMAT_VERSION,
            rollout: &self.core,
        }
        .serialize(serializer)
    }
}

/// A saved rollout as read from a document, before it is checked.
///
/// Deserializing a [`Rollout`] directly gives any [`RestoreError`] as the
/// deserializer's error message; reading a `RolloutDocument` first and converting it with
/// `Rollout::try_from` gives the typed error:
///
/// ```
/// use cutover::{RestoreError, Rollout, RolloutDocument};
/// let document: RolloutDocument = serde_json::from_str(r#"{"format": 99, "rollout": {}}"#).unwrap();
/// assert_eq!(
///     Rollout::try_from(document).unwrap_err(),
///     RestoreError::UnknownFormat { found: 99, supported: 1 }
/// );
/// ```
#[cfg(feature = "serde")]
#[derive(Debug)]
pub struct RolloutDocument {
    format: u32,
    /// `None` when the format is not this version's: its body is not read.
    rollout: Option<Box<Core>>,
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for RolloutDocument {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;

        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RolloutDocument;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a rollout document {\"format\": 1, \"rollout\": {...}}")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RolloutDocument, A::Error> {
                let mut format = None;
                let mut rollout = None;
                let mut seen_body = false;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "format" => format = Some(map.next_value::<u32>()?),
                        // A body in another format may not parse as this version's: skip
                        // it, and let the conversion refuse the format by name.
                        "rollout" if format.is_some_and(|f| f != FORMAT_VERSION) => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            seen_body = true;
                        }
                        "rollout" => {
                            rollout = Some(Box::new(map.next_value::<Core>()?));
                            seen_body = true;
                        }
                        other => {
                            return Err(A::Error::unknown_field(other, &["format", "rollout"]));
                        }
                    }
                }
                let format = format.ok_or_else(|| A::Error::missing_field("format"))?;
                if !seen_body {
                    return Err(A::Error::missing_field("rollout"));
                }
                Ok(RolloutDocument { format, rollout })
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

#[cfg(feature = "serde")]
impl TryFrom<RolloutDocument> for Rollout {
    type Error = RestoreError;

    fn try_from(document: RolloutDocument) -> Result<Rollout, RestoreError> {
        match document.rollout {
            Some(core) if document.format == FORMAT_VERSION => {
                check(&core)?;
                Ok(Rollout { core: *core })
            }
            _ => Err(RestoreError::UnknownFormat {
                found: document.format,
                supported: FORMAT_VERSION,
            }),
        }
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Rollout {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let document = RolloutDocument::deserialize(deserializer)?;
        Rollout::try_from(document).map_err(serde::de::Error::custom)
    }
}

/// The rules every saved state obeys; a document breaking one was edited or corrupted.
#[cfg(feature = "serde")]
fn check(core: &Core) -> Result<(), RestoreError> {
    let inconsistent = |what: String| Err(RestoreError::Inconsistent { what });
    let limits = core.spec.validate()?;
    if limits != core.limits {
        return inconsistent(format!(
            "stored limits {:?} do not match the spec's {limits:?}",
            core.limits
        ));
    }
    if let Err(what) = core.rotation.check() {
        return inconsistent(what);
    }
    for backend in core.rotation.published.backends() {
        for (id, _) in backend.instances() {
            match core.fleet.get(id) {
                None => {
                    return inconsistent(format!(
                        "instance {id} is in the table but not in the fleet"
                    ));
                }
                Some(i) if &i.revision != backend.revision() => {
                    return inconsistent(format!(
                        "instance {id} is listed under {} but runs {}",
                        backend.revision(),
                        i.revision
                    ));
                }
                Some(_) => {}
            }
        }
    }
    for (action, pending) in &core.pending {
        if action.0 >= core.next_action {
            return inconsistent(format!(
                "action {action} is not below the next action id {}",
                core.next_action
            ));
        }
        let id = pending.instance();
        if core.fleet.get(id).is_none() {
            return inconsistent(format!("action {action} is for unknown instance {id}"));
        }
    }
    for (id, stage) in &core.retiring {
        match core.fleet.get(id) {
            Some(i) if i.state == InstanceState::Draining => {}
            _ => {
                return inconsistent(format!(
                    "retiring instance {id} is not draining in the fleet"
                ));
            }
        }
        if let Retire::Draining { deadline, .. } = stage {
            if !core.drain_deadlines.contains(&(*deadline, id.clone())) {
                return inconsistent(format!("drain of {id} has no deadline"));
            }
        }
    }
    if let Some(i) = core
        .fleet
        .iter()
        .find(|i| i.state == InstanceState::Draining && !core.retiring.contains_key(&i.id))
    {
        return inconsistent(format!(
            "instance {} is draining but not being removed",
            i.id
        ));
    }
    check_actions(core)?;
    check_rotation(core)?;
    // Counters this large cannot be reached by counting; stepping past them would wrap.
    let limit = u64::MAX / 2;
    for (name, value) in [
        ("next action id", core.next_action),
        ("next instance number", core.next_instance),
        ("table generation", core.rotation.published.generation()),
    ] {
        if value >= limit {
            return inconsistent(format!("the {name} {value} is exhausted"));
        }
    }
    if core.phase.is_in_flight() != core.target.is_some() {
        return inconsistent(format!(
            "phase {} does not fit target {:?}",
            core.phase, core.target
        ));
    }
    Ok(())
}

/// Every pending action matches its instance's stage, and every stage its action.
#[cfg(feature = "serde")]
fn check_actions(core: &Core) -> Result<(), RestoreError> {
    let inconsistent = |what: String| Err(RestoreError::Inconsistent { what });
    let mut provisioning = std::collections::BTreeSet::new();
    for (action, pending) in &core.pending {
        let fits = match pending {
            Pending::Provision(id) => {
                provisioning.insert(id);
                let state = core.fleet.get(id).map(|i| i.state);
                match core.retiring.get(id) {
                    None => state == Some(InstanceState::Provisioning),
                    Some(stage) => *stage == Retire::AwaitProvisioned,
                }
            }
            Pending::Drain(id) => {
                matches!(core.retiring.get(id), Some(Retire::Draining { action: a, .. }) if a == action)
            }
            Pending::Terminate(id) => {
                matches!(core.retiring.get(id), Some(Retire::Terminating { action: a }) if a == action)
            }
        };
        if !fits {
            return inconsistent(format!(
                "pending action {action} ({pending:?}) does not match its instance"
            ));
        }
    }
    for (id, stage) in &core.retiring {
        let has_action = match stage {
            Retire::AwaitProvisioned => provisioning.contains(id),
            Retire::AwaitExit => true,
            Retire::Draining { action, .. } | Retire::Terminating { action } => {
                core.pending.contains_key(action)
            }
        };
        if !has_action {
            return inconsistent(format!(
                "retiring instance {id} waits on an action that is not pending"
            ));
        }
    }
    if let Some(i) = core
        .fleet
        .iter()
        .find(|i| i.state == InstanceState::Provisioning && !provisioning.contains(&i.id))
    {
        return inconsistent(format!(
            "instance {} is provisioning with no provision pending",
            i.id
        ));
    }
    Ok(())
}

/// The table lists only instances that may serve; acknowledged rotation agrees with the
/// tables the load balancer may apply.
#[cfg(feature = "serde")]
fn check_rotation(core: &Core) -> Result<(), RestoreError> {
    let inconsistent = |what: String| Err(RestoreError::Inconsistent { what });
    for backend in core.rotation.published.backends() {
        for (id, _) in backend.instances() {
            let serving = core
                .fleet
                .get(id)
                .is_some_and(|i| i.state == InstanceState::Ready && i.available);
            if !serving || core.retiring.contains_key(id) {
                return inconsistent(format!("instance {id} is in the table but cannot serve"));
            }
        }
    }
    for instance in core.fleet.iter().filter(|i| i.in_rotation) {
        let listed = core.rotation.published.revision_of(&instance.id).is_some();
        if !listed && core.rotation.is_clear(&instance.id, false) {
            return inconsistent(format!(
                "instance {} is marked in rotation but no table the load balancer may apply lists it",
                instance.id
            ));
        }
    }
    Ok(())
}
