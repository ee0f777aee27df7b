//! The seal of a format-4 document: a digest of each fact that nothing else in the
//! document can be checked against.
//!
//! The cross-checks of `check.rs` see an edit that contradicts the rest of the document.
//! Some edits contradict nothing in it, only the world outside: an instance dropped (its
//! count adjusted), an action counter set back, a generation moved forward on both sides,
//! a target, stable or standby revision renamed, the strategy swapped mid-rollout. A
//! document with any of these restores into a rollout that leaks instances, reissues ids
//! or rolls out what nobody deployed. The seal keeps, for each such fact, a digest of it
//! as written; a restored document whose facts do not match is refused naming the fact.
//!
//! A seal is a check against accidents and careless edits (a script that "fixes" a
//! count, a person who "resets" a counter), not against forgery: whoever recomputes the
//! digests can still make the document say anything the cross-checks accept.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::RestoreError;
use crate::model::Revision;
use crate::rollout::core::Core;
use crate::rollout::stage::Stage;

/// The digests, one per sealed fact. Written as hexadecimal strings: a digest is a
/// 64-bit number, which tools that read JSON numbers as doubles (`jq`, JavaScript) would
/// round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Seal {
    fleet: Digest,
    next_action: Digest,
    next_instance: Digest,
    generation: Digest,
    acknowledged: Digest,
    stable: Digest,
    standby: Digest,
    target: Digest,
    strategy: Digest,
}

/// One digest, as 16 hexadecimal digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Digest(u64);

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{:016x}", self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        if text.len() != 16 {
            return Err(serde::de::Error::custom(
                "a seal digest is 16 hexadecimal digits",
            ));
        }
        u64::from_str_radix(&text, 16)
            .map(Digest)
            .map_err(|_| serde::de::Error::custom("a seal digest is 16 hexadecimal digits"))
    }
}

/// Reads a seal that must be present (a missing `Option` would otherwise read as
/// `None`): every format-4 document is written with one.
pub(super) fn required<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Seal>, D::Error> {
    <Seal as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// Digests `parts`, each length-prefixed so that no two lists of parts collide by
/// concatenation, under a seed per fact so that swapped digests do not match.
fn digest<'a>(seed: u64, parts: impl IntoIterator<Item = &'a [u8]>) -> Digest {
    let mut bytes = Vec::new();
    for part in parts {
        bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
        bytes.extend_from_slice(part);
    }
    Digest(xxh3_64_with_seed(&bytes, seed))
}

fn number(seed: u64, n: u64) -> Digest {
    digest(seed, [n.to_le_bytes().as_slice()])
}

fn revision(seed: u64, revision: Option<&Revision>) -> Digest {
    match revision {
        None => digest(seed, []),
        Some(r) => digest(seed, [b"some".as_slice(), r.as_str().as_bytes()]),
    }
}

impl Seal {
    /// The seal of `core`'s facts as they are now.
    pub(crate) fn of(core: &Core) -> Seal {
        // Fleet order is the map's (by id), so the digest does not depend on how the
        // document lists the instances.
        let fleet = core
            .fleet
            .iter()
            .flat_map(|i| [i.id.as_str().as_bytes(), i.revision.as_str().as_bytes()]);
        let target = match &core.stage {
            Stage::InFlight(flight) => Some(&flight.target),
            Stage::Aborted(aborted) => Some(&aborted.target),
            Stage::Idle | Stage::Completed { .. } => None,
        };
        Seal {
            fleet: digest(1, fleet),
            next_action: number(2, core.next_action),
            next_instance: number(3, core.next_instance),
            generation: number(4, core.rotation.published.generation()),
            acknowledged: number(5, core.rotation.acknowledged),
            stable: revision(6, core.stable.as_ref()),
            standby: revision(7, core.standby.as_ref()),
            target: revision(8, target),
            strategy: digest(9, [core.spec.strategy.kind().to_string().as_bytes()]),
        }
    }

    /// Refuses `core` if a sealed fact differs from what the document was written with,
    /// naming the first that does.
    pub(super) fn check(self, core: &Core) -> Result<(), RestoreError> {
        let found = Seal::of(core);
        let refuse = |field: &'static str, why: String| Err(RestoreError::Field { field, why });
        if found.fleet != self.fleet {
            return refuse(
                "rollout.fleet.instances",
                "the instances listed are not those the document was written with (one was added, dropped, renamed or moved to another revision): the world would run instances the rollout no longer knows".to_owned(),
            );
        }
        if found.next_action != self.next_action {
            return refuse(
                "rollout.next_action",
                format!(
                    "{} is not the counter the document was written with: action ids would be issued again, and answers attributed to the wrong action",
                    core.next_action
                ),
            );
        }
        if found.next_instance != self.next_instance {
            return refuse(
                "rollout.next_instance",
                format!(
                    "{} is not the counter the document was written with: instance ids would be issued again",
                    core.next_instance
                ),
            );
        }
        if found.generation != self.generation {
            return refuse(
                "rollout.rotation.published.generation",
                format!(
                    "{} is not the generation the document was written with: the next diff would start from a table the load balancer never saw",
                    core.rotation.published.generation()
                ),
            );
        }
        if found.acknowledged != self.acknowledged {
            return refuse(
                "rollout.rotation.acknowledged",
                format!(
                    "{} is not the acknowledged generation the document was written with",
                    core.rotation.acknowledged
                ),
            );
        }
        let named = |r: Option<&Revision>| r.map_or("none".to_owned(), |r| r.to_string());
        if found.stable != self.stable {
            return refuse(
                "rollout.stable",
                format!(
                    "{} is not the stable revision the document was written with: the rollout would fall back to a revision it never served",
                    named(core.stable.as_ref())
                ),
            );
        }
        if found.standby != self.standby {
            return refuse(
                "rollout.standby",
                format!(
                    "{} is not the standby revision the document was written with",
                    named(core.standby.as_ref())
                ),
            );
        }
        if found.target != self.target {
            return refuse(
                "rollout.stage",
                format!(
                    "the target, {}, is not the one the document was written with: a revision nobody deployed would be rolled out",
                    named(core.target())
                ),
            );
        }
        if found.strategy != self.strategy {
            return refuse(
                "rollout.spec.strategy",
                format!(
                    "the strategy is {}, not the one the document was written with: a rollout cannot change strategy (`update_spec` refuses it)",
                    core.spec.strategy.kind()
                ),
            );
        }
        Ok(())
    }
}
