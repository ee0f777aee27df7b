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
}

/// A body as read, in the format it was written in.
#[derive(Debug)]
enum Versioned {
    Current(Box<Body>),
    /// Formats 1 (migrated on read), 2 and 3.
    V3(Box<BodyV3>),
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
        let body = match document.rollout {
            Some(Versioned::Current(body)) => *body,
            Some(Versioned::V3(old)) => old.migrate()?,
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
