//! The name a rollout is stored under.

use std::fmt;

/// The longest [`RolloutId`], in bytes.
pub const MAX_ROLLOUT_ID_LEN: usize = 128;

/// The name a rollout's document is stored under: 1 to [`MAX_ROLLOUT_ID_LEN`]
/// lowercase ASCII letters, digits, `-`, `_` and `.`, starting with a letter or a
/// digit.
///
/// The rule makes every id a safe file name on every platform the file store runs
/// on: no separators, no `.` or `..`, no hidden files, and no two ids that a
/// case-insensitive file system would take for one.
///
/// # Examples
///
/// ```
/// use cutover::store::{RolloutId, RolloutIdError};
///
/// let id = RolloutId::new("checkout-web.eu_1")?;
/// assert_eq!(id.as_str(), "checkout-web.eu_1");
/// assert_eq!(
///     RolloutId::new("../etc/passwd"),
///     Err(RolloutIdError::Character { at: 2, character: '/' })
/// );
/// assert_eq!(RolloutId::new(".."), Err(RolloutIdError::Start { character: '.' }));
/// assert_eq!(
///     RolloutId::new("Web"),
///     Err(RolloutIdError::Character { at: 0, character: 'W' })
/// );
/// # Ok::<(), RolloutIdError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "String", into = "String")
)]
pub struct RolloutId(String);

/// Why a name cannot be a [`RolloutId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RolloutIdError {
    /// The name is empty.
    #[error("a rollout id cannot be empty")]
    Empty,
    /// The name is longer than [`MAX_ROLLOUT_ID_LEN`] bytes.
    #[error("a rollout id of {len} bytes is longer than {MAX_ROLLOUT_ID_LEN}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The name holds a character outside the allowed set.
    #[error(
        "a rollout id may hold lowercase ASCII letters, digits, '-', '_' and '.', not {character:?} (at byte {at})"
    )]
    Character {
        /// Where, in bytes from the start.
        at: usize,
        /// The character.
        character: char,
    },
    /// The name starts with something other than a letter or a digit.
    #[error("a rollout id starts with a letter or a digit, not {character:?}")]
    Start {
        /// The first character.
        character: char,
    },
}

impl RolloutId {
    /// Checks `name` against the rule (see [`RolloutId`]).
    ///
    /// # Errors
    ///
    /// A [`RolloutIdError`] saying what breaks the rule.
    pub fn new(name: impl Into<String>) -> Result<RolloutId, RolloutIdError> {
        let name = name.into();
        if name.len() > MAX_ROLLOUT_ID_LEN {
            return Err(RolloutIdError::TooLong { len: name.len() });
        }
        let Some(first) = name.chars().next() else {
            return Err(RolloutIdError::Empty);
        };
        if let Some((at, character)) = name
            .char_indices()
            .find(|&(_, c)| !matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
        {
            return Err(RolloutIdError::Character { at, character });
        }
        if !first.is_ascii_alphanumeric() {
            return Err(RolloutIdError::Start { character: first });
        }
        Ok(RolloutId(name))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RolloutId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RolloutId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RolloutId {
    type Error = RolloutIdError;

    fn try_from(name: String) -> Result<RolloutId, RolloutIdError> {
        RolloutId::new(name)
    }
}

impl From<RolloutId> for String {
    fn from(id: RolloutId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The rule, written once more as a plain reference.
    fn allowed(name: &str) -> bool {
        let bytes = name.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_ROLLOUT_ID_LEN
            && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(b))
    }

    #[test]
    fn each_refusal_says_why() {
        assert_eq!(RolloutId::new(""), Err(RolloutIdError::Empty));
        let long = "a".repeat(MAX_ROLLOUT_ID_LEN + 1);
        assert_eq!(
            RolloutId::new(long),
            Err(RolloutIdError::TooLong {
                len: MAX_ROLLOUT_ID_LEN + 1
            })
        );
        assert!(RolloutId::new("a".repeat(MAX_ROLLOUT_ID_LEN)).is_ok());
        assert_eq!(
            RolloutId::new("web/1"),
            Err(RolloutIdError::Character {
                at: 3,
                character: '/'
            })
        );
        assert_eq!(
            RolloutId::new("wéb"),
            Err(RolloutIdError::Character {
                at: 1,
                character: 'é'
            })
        );
        for name in [".", "..", ".hidden", "-x", "_x"] {
            assert!(
                matches!(RolloutId::new(name), Err(RolloutIdError::Start { .. })),
                "{name}"
            );
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn deserialization_checks_the_rule() {
        let id: RolloutId = serde_json::from_str("\"web-1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"web-1\"");
        let refused = serde_json::from_str::<RolloutId>("\".x\"").unwrap_err();
        assert!(refused.to_string().contains("starts with"), "{refused}");
    }

    proptest! {
        #[test]
        fn ids_are_exactly_the_names_the_rule_allows(name in "[a-z0-9._/A-Z -]{0,130}|\\PC{0,8}") {
            let id = RolloutId::new(name.clone());
            prop_assert_eq!(id.is_ok(), allowed(&name));
            if let Ok(id) = id {
                prop_assert_eq!(id.as_str(), name.as_str());
                // A safe file name: one path component, not special, not hidden.
                let path = std::path::Path::new(id.as_str());
                prop_assert_eq!(path.components().count(), 1);
                prop_assert!(matches!(
                    path.components().next(),
                    Some(std::path::Component::Normal(_))
                ));
            }
        }
    }
}
