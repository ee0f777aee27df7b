//! Match routes and the mirror: the parts of a table that pick a revision by what a
//! request carries, or copy a share of it, before and beside the weighted split.

use std::collections::BTreeSet;

use crate::error::TrafficError;
use crate::model::Revision;
use crate::traffic::weight::Weight;

/// What a request must carry for a [`MatchRoute`] to take it.
///
/// Header names are compared without regard to ASCII case (as HTTP does); values,
/// cookies and keys exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "snake_case", tag = "match", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum MatchCondition {
    /// A header whose value equals `value`.
    HeaderEquals {
        /// Header name (any case).
        name: String,
        /// The exact value.
        value: String,
    },
    /// A header whose value starts with `prefix`.
    HeaderPrefix {
        /// Header name (any case).
        name: String,
        /// The prefix the value must start with.
        prefix: String,
    },
    /// A cookie whose value equals `value`.
    CookieEquals {
        /// Cookie name (exact case).
        name: String,
        /// The exact value.
        value: String,
    },
    /// A request whose sticky key (user or session id) is one of `keys`.
    KeyIn {
        /// The allow-list.
        keys: BTreeSet<String>,
    },
}

impl MatchCondition {
    /// A header equal to a value.
    #[must_use]
    pub fn header_equals(name: impl Into<String>, value: impl Into<String>) -> Self {
        MatchCondition::HeaderEquals {
            name: name.into(),
            value: value.into(),
        }
    }

    /// A header starting with a prefix.
    #[must_use]
    pub fn header_prefix(name: impl Into<String>, prefix: impl Into<String>) -> Self {
        MatchCondition::HeaderPrefix {
            name: name.into(),
            prefix: prefix.into(),
        }
    }

    /// A cookie equal to a value.
    #[must_use]
    pub fn cookie_equals(name: impl Into<String>, value: impl Into<String>) -> Self {
        MatchCondition::CookieEquals {
            name: name.into(),
            value: value.into(),
        }
    }

    /// A sticky key in an allow-list.
    #[must_use]
    pub fn key_in<I, K>(keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        MatchCondition::KeyIn {
            keys: keys.into_iter().map(Into::into).collect(),
        }
    }

    /// Checks the condition can match something and lower-cases header names, so that
    /// routing compares them without allocating.
    pub(crate) fn normalized(mut self) -> Result<Self, TrafficError> {
        match &mut self {
            MatchCondition::HeaderEquals { name, .. }
            | MatchCondition::HeaderPrefix { name, .. } => {
                if name.is_empty() {
                    return Err(TrafficError::EmptyMatch {
                        reason: "header name is empty",
                    });
                }
                name.make_ascii_lowercase();
            }
            MatchCondition::CookieEquals { name, .. } => {
                if name.is_empty() {
                    return Err(TrafficError::EmptyMatch {
                        reason: "cookie name is empty",
                    });
                }
            }
            MatchCondition::KeyIn { keys } => {
                if keys.is_empty() {
                    return Err(TrafficError::EmptyMatch {
                        reason: "key allow-list is empty",
                    });
                }
            }
        }
        Ok(self)
    }
}

/// Sends every request that meets `condition` to `revision`, whatever the weights say.
///
/// Routes are checked in table order, before the weighted split; the first match wins.
#[derive(Clone, Debug, PartialEq, Eq)]
// Written flat, the condition's fields beside `revision`. Not with `#[serde(flatten)]`,
// which cannot refuse unknown fields: through `RouteDocument`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(from = "RouteDocument", into = "RouteDocument")
)]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct MatchRoute {
    /// What the request must carry.
    pub condition: MatchCondition,
    /// Where such requests go.
    pub revision: Revision,
}

impl MatchRoute {
    /// A route sending requests that meet `condition` to `revision`.
    #[must_use]
    pub fn new(condition: MatchCondition, revision: impl Into<Revision>) -> Self {
        MatchRoute {
            condition,
            revision: revision.into(),
        }
    }
}

/// How a [`MatchRoute`] is written in documents: the condition's tag and fields, and
/// `revision`, in one object that refuses unknown fields.
#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "match", deny_unknown_fields)]
enum RouteDocument {
    HeaderEquals {
        name: String,
        value: String,
        revision: Revision,
    },
    HeaderPrefix {
        name: String,
        prefix: String,
        revision: Revision,
    },
    CookieEquals {
        name: String,
        value: String,
        revision: Revision,
    },
    KeyIn {
        keys: BTreeSet<String>,
        revision: Revision,
    },
}

#[cfg(feature = "serde")]
impl From<RouteDocument> for MatchRoute {
    fn from(document: RouteDocument) -> Self {
        let (condition, revision) = match document {
            RouteDocument::HeaderEquals {
                name,
                value,
                revision,
            } => (MatchCondition::HeaderEquals { name, value }, revision),
            RouteDocument::HeaderPrefix {
                name,
                prefix,
                revision,
            } => (MatchCondition::HeaderPrefix { name, prefix }, revision),
            RouteDocument::CookieEquals {
                name,
                value,
                revision,
            } => (MatchCondition::CookieEquals { name, value }, revision),
            RouteDocument::KeyIn { keys, revision } => (MatchCondition::KeyIn { keys }, revision),
        };
        MatchRoute {
            condition,
            revision,
        }
    }
}

#[cfg(feature = "serde")]
impl From<MatchRoute> for RouteDocument {
    fn from(route: MatchRoute) -> Self {
        let revision = route.revision;
        match route.condition {
            MatchCondition::HeaderEquals { name, value } => RouteDocument::HeaderEquals {
                name,
                value,
                revision,
            },
            MatchCondition::HeaderPrefix { name, prefix } => RouteDocument::HeaderPrefix {
                name,
                prefix,
                revision,
            },
            MatchCondition::CookieEquals { name, value } => RouteDocument::CookieEquals {
                name,
                value,
                revision,
            },
            MatchCondition::KeyIn { keys } => RouteDocument::KeyIn { keys, revision },
        }
    }
}

/// Copies a share of requests to `revision` (responses from the copy are discarded).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct Mirror {
    /// Where the copies go.
    pub revision: Revision,
    /// The share of requests copied (in documents, basis points: `500` is 5%).
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::traffic::weight::basis_points")
    )]
    pub share: Weight,
}

impl Mirror {
    /// Copies `share` of requests to `revision`.
    #[must_use]
    pub fn new(revision: impl Into<Revision>, share: Weight) -> Self {
        Mirror {
            revision: revision.into(),
            share,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_lower_cased() {
        let condition = MatchCondition::header_equals("X-Canary", "Yes")
            .normalized()
            .unwrap();
        assert_eq!(condition, MatchCondition::header_equals("x-canary", "Yes"));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn routes_and_mirrors_are_written_flat_and_refuse_unknown_fields() {
        let route = MatchRoute::new(MatchCondition::key_in(["u1", "u2"]), "v2");
        let written = serde_json::to_string(&route).unwrap();
        assert_eq!(
            written,
            r#"{"match":"key_in","keys":["u1","u2"],"revision":"v2"}"#
        );
        assert_eq!(serde_json::from_str::<MatchRoute>(&written).unwrap(), route);
        for (doc, field) in [
            (
                r#"{"match":"cookie_equals","name":"c","value":"1","revision":"v2","weight":5}"#,
                "weight",
            ),
            // A field of another condition is refused, not ignored.
            (
                r#"{"match":"header_equals","name":"x","value":"1","prefix":"a","revision":"v2"}"#,
                "prefix",
            ),
            (r#"{"revision":"v2","share":100,"percent":1}"#, "percent"),
        ] {
            let error = match doc.contains("match") {
                true => serde_json::from_str::<MatchRoute>(doc).map(|_| ()),
                false => serde_json::from_str::<Mirror>(doc).map(|_| ()),
            }
            .unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains(&format!("unknown field `{field}`")),
                "{doc}: {error}"
            );
        }
        let error = serde_json::from_str::<MatchCondition>(
            r#"{"match":"header_prefix","name":"x","prefix":"a","value":"b"}"#,
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("unknown field `value`"),
            "{error}"
        );
    }

    #[test]
    fn empty_conditions_are_refused() {
        assert!(MatchCondition::header_prefix("", "a").normalized().is_err());
        assert!(MatchCondition::cookie_equals("", "a").normalized().is_err());
        assert!(
            MatchCondition::key_in(Vec::<String>::new())
                .normalized()
                .is_err()
        );
    }
}
