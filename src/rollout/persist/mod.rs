//! Saving and restoring a rollout: an explicit, versioned document schema ([`Body`]),
//! not a dump of the engine's structs. What can be derived (capacity limits, deadline
//! indexes, the set of instances to re-check, the timer table) is not stored; it is
//! rebuilt on restore, after every cross-reference has been checked (`check.rs`).
//! Documents of earlier formats are migrated (`v1.rs`).

#[cfg(feature = "serde")]
mod check;
#[cfg(feature = "serde")]
mod v1;

/// The document format this version writes. It reads this one and every earlier one.
pub const FORMAT_VERSION: u32 = 3;

#[cfg(feature = "serde")]
use body::Body;

#[cfg(feature = "serde")]
mod body {
    use std::collections::{BTreeMap, VecDeque};

    use crate::error::RestoreError;
    use crate::fleet::Fleet;
    use crate::model::{InstanceId, Revision};
    use crate::output::{Action, ActionId, Event};
    use crate::rollout::Rollout;
    use crate::rollout::analysis::HostedAnalysis;
    use crate::rollout::core::{Core, Pending, Retire, Starting};
    use crate::rollout::phase::Phase;
    use crate::rollout::rotation::Rotation;
    use crate::rollout::steps::StepCursor;
    use crate::rollout::timers::TimerTable;
    use crate::spec::RolloutSpec;
    use crate::time::Timestamp;

    use super::FORMAT_VERSION;

    /// What a format-2 document holds: the facts, none of what follows from them.
    #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct Body {
        pub spec: RolloutSpec,
        pub now: Timestamp,
        pub fleet: Fleet,
        /// How many instances `fleet` lists: not state, a seal, so that an instance
        /// dropped from the document (which nothing else references once it is out of
        /// the table) is noticed rather than leaked.
        pub instances: usize,
        pub phase: Phase,
        pub stable: Option<Revision>,
        pub target: Option<Revision>,
        #[serde(default)]
        pub standby: Option<Revision>,
        pub last_target: Option<Revision>,
        pub previous_stable: Option<Revision>,
        pub is_rollback: bool,
        pub rotation: Rotation,
        pub retiring: BTreeMap<InstanceId, Retire>,
        pub pending: BTreeMap<ActionId, Pending>,
        pub starting: BTreeMap<InstanceId, Starting>,
        pub provision_failures: u32,
        pub backoff_until: Option<Timestamp>,
        pub last_progress: Timestamp,
        pub deadline_exceeded: bool,
        pub ack_overdue: bool,
        pub revert_one_update: bool,
        pub next_action: u64,
        pub next_instance: u64,
        /// Actions and events not yet polled when the document was written.
        pub actions: VecDeque<Action>,
        pub events: VecDeque<Event>,
        /// The background analysis, if one ran.
        #[serde(default)]
        pub analysis: Option<HostedAnalysis>,
        /// The step machine (format 3; a format-2 document is at its first step).
        #[serde(default)]
        pub step: StepCursor,
        /// When the last abort happened (format 3).
        #[serde(default)]
        pub aborted_at: Option<Timestamp>,
        /// Until when the standby stays warm (format 3).
        #[serde(default)]
        pub standby_until: Option<Timestamp>,
        /// Standby instances on their way to being redeployed (format 3).
        #[serde(default)]
        pub recycle_to: BTreeMap<InstanceId, Revision>,
        /// What the envelope last held back (format 3): a fact about the events already
        /// emitted, so that a restored rollout does not report it again.
        #[serde(default)]
        pub held: Option<crate::output::HeldBack>,
        /// What the events last said about traffic short of capacity or stranded by
        /// faults (format 3, from 0.2): a fact about the events already emitted.
        #[serde(default)]
        pub reported: crate::rollout::traffic_report::Reported,
        /// The `desired` the fleet was last planned for (from 0.2; earlier documents
        /// were planned for their spec's).
        #[serde(default)]
        pub sized_for: Option<u32>,
    }

    impl From<&Core> for Body {
        fn from(core: &Core) -> Body {
            Body {
                spec: core.spec.clone(),
                now: core.now,
                fleet: core.fleet.clone(),
                instances: core.fleet.len(),
                phase: core.phase.clone(),
                stable: core.stable.clone(),
                target: core.target.clone(),
                standby: core.standby.clone(),
                last_target: core.last_target.clone(),
                previous_stable: core.previous_stable.clone(),
                is_rollback: core.is_rollback,
                rotation: core.rotation.clone(),
                retiring: core.retiring.clone(),
                pending: core.pending.clone(),
                starting: core.starting.clone(),
                provision_failures: core.provision_failures,
                backoff_until: core.backoff_until,
                last_progress: core.last_progress,
                deadline_exceeded: core.deadline_exceeded,
                ack_overdue: core.ack_overdue,
                revert_one_update: core.revert_one_update,
                next_action: core.next_action,
                next_instance: core.next_instance,
                actions: core.actions.clone(),
                events: core.events.clone(),
                analysis: core.analysis.clone(),
                step: core.step.clone(),
                aborted_at: core.aborted_at,
                standby_until: core.standby_until,
                held: core.held,
                reported: core.reported.clone(),
                sized_for: Some(core.sized_for),
                recycle_to: core.recycle_to.clone(),
            }
        }
    }

    impl Body {
        /// The engine state this body describes, derived state rebuilt, every
        /// cross-reference checked first.
        pub fn restore(self) -> Result<Core, RestoreError> {
            let limits = self.spec.validate()?;
            let sealed = self.instances;
            let mut rotation = self.rotation;
            rotation.rebuild();
            let mut core = Core {
                limits,
                spec: self.spec,
                now: self.now,
                fleet: self.fleet,
                phase: self.phase,
                stable: self.stable,
                target: self.target,
                standby: self.standby,
                last_target: self.last_target,
                previous_stable: self.previous_stable,
                is_rollback: self.is_rollback,
                rotation,
                retiring: self.retiring,
                pending: self.pending,
                starting: self.starting,
                provision_failures: self.provision_failures,
                backoff_until: self.backoff_until,
                last_progress: self.last_progress,
                deadline_exceeded: self.deadline_exceeded,
                ack_overdue: self.ack_overdue,
                revert_one_update: self.revert_one_update,
                relayout: false,
                next_action: self.next_action,
                next_instance: self.next_instance,
                actions: self.actions,
                events: self.events,
                analysis: self.analysis,
                step: self.step,
                aborted_at: self.aborted_at,
                standby_until: self.standby_until,
                drain_index: Default::default(),
                startup_index: Default::default(),
                dirty: Default::default(),
                held: self.held,
                reported: self.reported,
                sized_for: self.sized_for.unwrap_or(limits.desired()),
                recycle_to: self.recycle_to,
                timers: TimerTable::default(),
            };
            for (id, stage) in &core.retiring {
                // Leaving is derived: every instance being retired is on its way out.
                core.fleet.set_leaving(id);
                if let Retire::Draining { deadline, .. } = stage {
                    core.drain_index.insert((*deadline, id.clone()));
                }
            }
            for (id, record) in &core.starting {
                if let Some(since) = record.since {
                    core.startup_index.insert((since, id.clone()));
                }
            }
            super::check::check(&core)?;
            // Last, so that an edit the cross-references catch is named by them.
            if sealed != core.fleet.len() {
                return Err(RestoreError::Field {
                    field: "rollout.fleet.instances",
                    why: format!(
                        "{} instances listed where the document was written with {sealed}: an instance was added or dropped",
                        core.fleet.len()
                    ),
                });
            }
            let wake = core.plan().wake_at;
            core.refresh_timers(wake);
            Ok(core)
        }
    }

    impl serde::Serialize for Rollout {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            #[derive(serde::Serialize)]
            struct Document {
                format: u32,
                rollout: Body,
            }
            Document {
                format: FORMAT_VERSION,
                rollout: Body::from(&self.core),
            }
            .serialize(serializer)
        }
    }

    /// A saved rollout as read from a document, before it is checked.
    ///
    /// Deserializing a [`Rollout`] directly gives any [`RestoreError`] as the
    /// deserializer's error message; reading a `RolloutDocument` first and converting it
    /// with `Rollout::try_from` gives the typed error. Documents of format 1 are
    /// migrated on the way.
    ///
    /// ```
    /// use cutover::{RestoreError, Rollout, RolloutDocument};
    /// let document: RolloutDocument = serde_json::from_str(r#"{"format": 99, "rollout": {}}"#).unwrap();
    /// assert_eq!(
    ///     Rollout::try_from(document).unwrap_err(),
    ///     RestoreError::UnknownFormat { found: 99, supported: 3 }
    /// );
    /// ```
    #[derive(Debug)]
    pub struct RolloutDocument {
        format: u32,
        /// `None` when the format is not one this version reads: its body is not read.
        rollout: Option<Box<Body>>,
    }

    impl<'de> serde::Deserialize<'de> for RolloutDocument {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            use serde::de::Error;

            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = RolloutDocument;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a rollout document {\"format\": 3, \"rollout\": {...}}")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<RolloutDocument, A::Error> {
                    let mut format = None;
                    let mut rollout = None;
                    let mut seen_body = false;
                    while let Some(key) = map.next_key::<String>()? {
                        match (key.as_str(), format) {
                            ("format", _) => format = Some(map.next_value::<u32>()?),
                            // Format 3 only added fields with defaults to format 2.
                            ("rollout", Some(2 | FORMAT_VERSION)) => {
                                rollout = Some(Box::new(map.next_value::<Body>()?));
                                seen_body = true;
                            }
                            ("rollout", Some(1)) => {
                                let old = map.next_value::<super::v1::BodyV1>()?;
                                rollout = Some(Box::new(old.migrate()));
                                seen_body = true;
                            }
                            // A body in an unknown format (or before its format is
                            // known) is skipped, and the conversion refuses the format
                            // by name.
                            ("rollout", _) => {
                                map.next_value::<serde::de::IgnoredAny>()?;
                                seen_body = true;
                            }
                            (other, _) => {
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

    impl TryFrom<RolloutDocument> for Rollout {
        type Error = RestoreError;

        fn try_from(document: RolloutDocument) -> Result<Rollout, RestoreError> {
            match document.rollout {
                Some(body) => Ok(Rollout {
                    core: body.restore()?,
                }),
                None => Err(RestoreError::UnknownFormat {
                    found: document.format,
                    supported: FORMAT_VERSION,
                }),
            }
        }
    }

    impl<'de> serde::Deserialize<'de> for Rollout {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let document = RolloutDocument::deserialize(deserializer)?;
            Rollout::try_from(document).map_err(serde::de::Error::custom)
        }
    }
}

#[cfg(feature = "serde")]
pub use body::RolloutDocument;
