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

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Rollout {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;

        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Core;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a rollout document {\"format\": 1, \"rollout\": {...}}")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Core, A::Error> {
                let mut format = None;
                let mut core = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "format" => {
                            let found: u32 = map.next_value()?;
                            // Refuse a future format before reading a body it may not fit.
                            if found != FORMAT_VERSION {
                                return Err(A::Error::custom(RestoreError::UnknownFormat {
                                    found,
                                    supported: FORMAT_VERSION,
                                }));
                            }
                            format = Some(found);
                        }
                        "rollout" => core = Some(map.next_value::<Core>()?),
                        other => return Err(A::Error::unknown_field(other, &["format", "rollout"])),
                    }
                }
                format.ok_or_else(|| A::Error::missing_field("format"))?;
                core.ok_or_else(|| A::Error::missing_field("rollout"))
            }
        }
        let core = deserializer.deserialize_map(Visitor)?;
        check(&core).map_err(D::Error::custom)?;
        Ok(Rollout { core })
    }
}

/// The rules every saved state obeys; a document breaking one was edited or corrupted.
#[cfg(feature = "serde")]
fn check(core: &Core) -> Result<(), RestoreError> {
    let inconsistent = |what: String| Err(RestoreError::Inconsistent { what });
    let limits = core.spec.validate()?;
    if limits != core.limits {
        return inconsistent(format!("stored limits {:?} do not match the spec's {limits:?}", core.limits));
    }
    if let Err(what) = core.rotation.check() {
        return inconsistent(what);
    }
    for backend in core.rotation.published.backends() {
        for (id, _) in backend.instances() {
            match core.fleet.get(id) {
                None => return inconsistent(format!("instance {id} is in the table but not in the fleet")),
                Some(i) if &i.revision != backend.revision() => {
                    return inconsistent(format!("instance {id} is listed under {} but runs {}", backend.revision(), i.revision));
                }
                Some(_) => {}
            }
        }
    }
    for (action, pending) in &core.pending {
        if action.0 >= core.next_action {
            return inconsistent(format!("action {action} is not below the next action id {}", core.next_action));
        }
        let (Pending::Provision(id) | Pending::Drain(id) | Pending::Terminate(id)) = pending;
        if core.fleet.get(id).is_none() {
            return inconsistent(format!("action {action} is for unknown instance {id}"));
        }
    }
    for (id, stage) in &core.retiring {
        match core.fleet.get(id) {
            Some(i) if i.state == InstanceState::Draining => {}
            _ => return inconsistent(format!("retiring instance {id} is not draining in the fleet")),
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
        return inconsistent(format!("instance {} is draining but not being removed", i.id));
    }
    if core.phase.is_in_flight() != core.target.is_some() {
        return inconsistent(format!("phase {} does not fit target {:?}", core.phase, core.target));
    }
    Ok(())
}
