//! A saved rollout as a document `{"format": N, "rollout": {...}}`: written in the
//! current format, read in every format this version knows (earlier ones migrated).

use crate::error::RestoreError;
use crate::rollout::Rollout;
use crate::rollout::persist::FORMAT_VERSION;
use crate::rollout::persist::body::{Body, BodyRef};
use crate::rollout::persist::v3::BodyV3;
use crate::traffic::BareBasisPoints;

impl serde::Serialize for Rollout {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Document<'a> {
            format: u32,
            rollout: BodyRef<'a>,
        }
        Document {
            format: FORMAT_VERSION,
            rollout: BodyRef::from(&self.core),
        }
        .serialize(serializer)
    }
}

/// A saved rollout as read from a document, before it is checked.
///
/// Deserializing a [`Rollout`] directly gives any [`RestoreError`] as the
/// deserializer's error message; reading a `RolloutDocument` first and converting it
/// with `Rollout::try_from` gives the typed error. Documents of earlier formats are
/// migrated on the way.
///
/// # What a restore checks, and what it cannot
///
/// A restored document must be one this crate could have written. Every cross-reference
/// is checked (instances in the table are in the fleet and may serve, pending actions
/// match their instances' stages, queued actions match the state, action ids are below
/// their counter, generations are ordered, an analysis measures what the spec asks), and
/// the facts nothing else can be checked against are sealed: the instances' ids and
/// revisions, the action and instance counters, the published and acknowledged
/// generations, the stable, standby and target revisions, and the strategy's kind. An
/// edit of any of them is refused naming the field ([`RestoreError::Field`]).
///
/// What no check can see: an edit that also recomputes the seal (the seal guards against
/// accidents and careless scripts, not forgery); and edits of unsealed facts that leave
/// the document consistent — an instance's `state` or `ready_since` moved between states
/// that agree with the rest, a timestamp or deadline moved, the spec's settings other than
/// its strategy's kind changed (they are validated as a spec, and take effect as
/// [`Rollout::update_spec`] would), weights of a table that still sums to 10,000, or unpolled
/// events dropped. The `"format"` key must come before `"rollout"`
/// ([`RestoreError::FormatAfterBody`]); cutover always writes it so.
///
/// ```
/// use cutover::{RestoreError, Rollout, RolloutDocument};
/// let document: RolloutDocument = serde_json::from_str(r#"{"format": 99, "rollout": {}}"#).unwrap();
/// assert_eq!(
///     Rollout::try_from(document).unwrap_err(),
///     RestoreError::UnknownFormat { found: 99, supported: 4 }
/// );
/// ```
#[derive(Debug)]
pub struct RolloutDocument {
    format: u32,
    /// `None` when the format is not one this version reads: its body is not read.
    rollout: Option<Versioned>,
    /// Whether the body came before the format, and so could not be read.
    body_first: bool,
}

/// A body as read, in the format it was written in.
#[derive(Debug)]
enum Versioned {
    Current(Box<Body>),
    /// Formats 1 (migrated on read), 2 and 3.
    V3(Box<BodyV3>),
}

/// The most characters of the reader's message a [`RestoreError::Unreadable`] keeps: a
/// refusal quotes what it refuses (an unknown key, a bad value) only in part.
#[cfg(feature = "json")]
const READER_MESSAGE_CHARS: usize = 512;

#[cfg(feature = "json")]
impl RolloutDocument {
    /// Reads a saved rollout from JSON, refusing what is not a rollout document with a
    /// [`RestoreError::Unreadable`] whose message is bounded, whatever the input (serde's
    /// own message quotes an unknown key whole, however long). Then
    /// [`Rollout::try_from`] checks it and restores the rollout.
    ///
    /// # Errors
    ///
    /// [`RestoreError::Unreadable`] with the line and column where reading stopped.
    ///
    /// ```
    /// use cutover::{RestoreError, RolloutDocument};
    /// let key = "k".repeat(100_000);
    /// let error = RolloutDocument::from_json(&format!("{{\"{key}\": 1}}")).unwrap_err();
    /// assert!(matches!(error, RestoreError::Unreadable { line: 1, .. }));
    /// assert!(error.to_string().len() < 1_000);
    /// ```
    pub fn from_json(text: &str) -> Result<RolloutDocument, RestoreError> {
        serde_json::from_str(text).map_err(|error| RestoreError::Unreadable {
            line: error.line(),
            column: error.column(),
            message: crate::error::excerpt_of(&error.to_string(), READER_MESSAGE_CHARS),
        })
    }
}

impl<'de> serde::Deserialize<'de> for RolloutDocument {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;

        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RolloutDocument;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a rollout document {\"format\": 4, \"rollout\": {...}}")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RolloutDocument, A::Error> {
                let mut format = None;
                let mut rollout = None;
                let mut seen_body = false;
                let mut body_first = false;
                while let Some(key) = map.next_key::<String>()? {
                    match (key.as_str(), format) {
                        ("format", _) => format = Some(map.next_value::<u32>()?),
                        ("rollout", Some(FORMAT_VERSION)) => {
                            let body = map.next_value::<Body>()?;
                            rollout = Some(Versioned::Current(Box::new(body)));
                            seen_body = true;
                        }
                        // Format 3 only added fields with defaults to format 2.
                        ("rollout", Some(2 | 3)) => {
                            let _bare = BareBasisPoints::accept();
                            let body = map.next_value::<BodyV3>()?;
                            rollout = Some(Versioned::V3(Box::new(body)));
                            seen_body = true;
                        }
                        ("rollout", Some(1)) => {
                            let _bare = BareBasisPoints::accept();
                            let old = map.next_value::<super::v1::BodyV1>()?;
                            rollout = Some(Versioned::V3(Box::new(old.migrate())));
                            seen_body = true;
                        }
                        // A body before its format cannot be read (the format says
                        // how), nor one in a format this version does not know: it is
                        // skipped, and the conversion says which.
                        ("rollout", known) => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            body_first |= known.is_none();
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
                Ok(RolloutDocument {
                    format,
                    rollout,
                    body_first,
                })
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

impl TryFrom<RolloutDocument> for Rollout {
    type Error = RestoreError;

    fn try_from(document: RolloutDocument) -> Result<Rollout, RestoreError> {
        let body = match document.rollout {
            Some(Versioned::Current(body)) => *body,
            Some(Versioned::V3(old)) => old.migrate()?,
            // A format this version reads, named too late to read the body in it (a
            // format it does not read is refused as such, wherever it is).
            None if document.body_first && (1..=FORMAT_VERSION).contains(&document.format) => {
                return Err(RestoreError::FormatAfterBody);
            }
            None => {
                return Err(RestoreError::UnknownFormat {
                    found: document.format,
                    supported: FORMAT_VERSION,
                });
            }
        };
        Ok(Rollout {
            core: body.restore()?,
        })
    }
}

impl<'de> serde::Deserialize<'de> for Rollout {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let document = RolloutDocument::deserialize(deserializer)?;
        Rollout::try_from(document).map_err(serde::de::Error::custom)
    }
}
