//! The nouns every strategy shares: instances, revisions, and an instance's lifecycle.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use crate::time::Timestamp;

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// The text is shared, not copied: cloning a name (and so a table, a fleet or a
        /// router, which hold one per instance) costs a reference count, not an allocation.
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a name chosen by the caller (or minted by a rollout).
            #[must_use]
            pub fn new(name: impl Into<String>) -> Self {
                $name(Arc::from(name.into()))
            }

            /// The name as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name(Arc::from(value))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                $name(Arc::from(value))
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        // Written as a plain string, as the `String` this used to hold was.
        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            /// Refuses an empty name, and one longer than
            /// [`MAX_NAME_BYTES`](crate::spec::MAX_NAME_BYTES): no rollout could have
            /// written either.
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                if text.is_empty() {
                    return Err(serde::de::Error::custom(concat!("an empty ", stringify!($name))));
                }
                if text.len() > crate::spec::MAX_NAME_BYTES {
                    return Err(serde::de::Error::custom(format_args!(
                        concat!("a ", stringify!($name), " of {} bytes, longer than the {} allowed"),
                        text.len(),
                        crate::spec::MAX_NAME_BYTES
                    )));
                }
                Ok($name::from(text))
            }
        }
    };
}

name_type!(
    /// The name of one instance (a VM, a pod, a process): unique within a fleet.
    ///
    /// Instances that exist before a rollout keep the caller's names; instances a rollout
    /// asks for are named by it (`<revision>-<n>`), so the caller can create them under that
    /// name or keep its own mapping.
    InstanceId
);

name_type!(
    /// A version of the service being deployed: an image digest, a git sha, a tag.
    Revision
);

/// Where one instance is in its life.
///
/// ```text
/// Provisioning ──▶ Starting ──▶ Ready ──▶ Draining ──▶ Terminated
///       │              │          │          
///       └──────────────┴──────────┴──▶ Failed
/// ```
///
/// `Ready` instances may serve; of those, the ones ready for at least the spec's
/// `min_ready` are *available* (Kubernetes' `minReadySeconds`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum InstanceState {
    /// Asked for; the provisioner has not yet said it exists.
    Provisioning,
    /// Exists, but has not yet passed a health check.
    Starting,
    /// Passing health checks: may be put in rotation.
    Ready,
    /// Taken out of rotation and finishing in-flight requests.
    Draining,
    /// Gone for good.
    Terminated,
    /// Could not be provisioned, failed its health checks, or was lost.
    Failed,
}

impl InstanceState {
    /// Every state, in lifecycle order (for tables and counters indexed by state).
    pub const ALL: [InstanceState; 6] = [
        InstanceState::Provisioning,
        InstanceState::Starting,
        InstanceState::Ready,
        InstanceState::Draining,
        InstanceState::Terminated,
        InstanceState::Failed,
    ];

    /// A dense index in `0..6`, matching [`InstanceState::ALL`].
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Whether the instance occupies capacity (counts against the surge budget).
    #[must_use]
    pub const fn is_live(self) -> bool {
        matches!(
            self,
            InstanceState::Provisioning
                | InstanceState::Starting
                | InstanceState::Ready
                | InstanceState::Draining
        )
    }

    /// Whether no further transition is possible.
    #[must_use]
    pub const fn is_final(self) -> bool {
        matches!(self, InstanceState::Terminated | InstanceState::Failed)
    }
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            InstanceState::Provisioning => "provisioning",
            InstanceState::Starting => "starting",
            InstanceState::Ready => "ready",
            InstanceState::Draining => "draining",
            InstanceState::Terminated => "terminated",
            InstanceState::Failed => "failed",
        };
        f.write_str(name)
    }
}

/// Which group of its revision an instance belongs to. Groups let a rollout run
/// instances of one revision for different purposes: they serve in their revision's
/// row of the traffic table alike, and are counted, sized and removed apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum InstanceGroup {
    /// The revision's own instances: the ones its role sizes.
    #[default]
    Main,
    /// A canary experiment's baseline: fresh instances of the stable revision, as many
    /// as the canary has, so that the canary is judged against instances as young as
    /// itself rather than long-running ones (Spinnaker's advice). They serve stable
    /// traffic beside the stable instances and go when the experiment step ends.
    Baseline,
}

impl InstanceGroup {
    /// Every group, in index order.
    pub const ALL: [InstanceGroup; 2] = [InstanceGroup::Main, InstanceGroup::Baseline];

    /// A dense index in `0..2`, matching [`InstanceGroup::ALL`].
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Whether this is the main group (documents leave it out).
    #[must_use]
    pub fn is_main(&self) -> bool {
        *self == InstanceGroup::Main
    }
}

impl fmt::Display for InstanceGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InstanceGroup::Main => "main",
            InstanceGroup::Baseline => "baseline",
        })
    }
}

/// Everything known about one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct Instance {
    /// Its unique name.
    pub id: InstanceId,
    /// The revision it runs.
    pub revision: Revision,
    /// The group of its revision it belongs to (documents leave out the main group).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "InstanceGroup::is_main")
    )]
    pub group: InstanceGroup,
    /// Where it is in its lifecycle.
    pub state: InstanceState,
    /// When it last became ready; `None` unless `state` is `Ready`.
    pub ready_since: Option<Timestamp>,
    /// Whether it has been ready for at least `min_ready` (and so counts as available).
    pub available: bool,
    /// Whether a load-balancer table that includes it has been acknowledged.
    pub in_rotation: bool,
}

impl Instance {
    /// An instance of the main group in `state`, not yet available and not in rotation.
    #[must_use]
    pub fn new(
        id: impl Into<InstanceId>,
        revision: impl Into<Revision>,
        state: InstanceState,
    ) -> Self {
        Instance {
            id: id.into(),
            revision: revision.into(),
            group: InstanceGroup::Main,
            state,
            ready_since: None,
            available: false,
            in_rotation: false,
        }
    }
}

impl Instance {
    /// An instance that is already serving: ready, available and in the load balancer's
    /// current table. This is how a fleet running before the rollout is described.
    #[must_use]
    pub fn serving(id: impl Into<InstanceId>, revision: impl Into<Revision>) -> Self {
        Instance {
            available: true,
            in_rotation: true,
            ..Instance::new(id, revision, InstanceState::Ready)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_indexes_match_all() {
        for (i, state) in InstanceState::ALL.iter().enumerate() {
            assert_eq!(state.index(), i);
        }
    }

    #[test]
    fn live_and_final_partition_the_states() {
        for state in InstanceState::ALL {
            assert_ne!(state.is_live(), state.is_final(), "{state}");
        }
    }

    #[test]
    fn names_borrow_as_str_for_map_lookups() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(InstanceId::from("web-1"), 1);
        assert_eq!(map.get("web-1"), Some(&1));
        assert_eq!(Revision::from("v2").to_string(), "v2");
    }
}
