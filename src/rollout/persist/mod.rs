//! Saving and restoring a rollout: an explicit, versioned document schema (`body.rs`),
//! not a dump of the engine's structs. What can be derived (capacity limits, deadline
//! indexes, the set of instances to re-check, the timer table) is not stored; it is
//! rebuilt on restore, after every cross-reference has been checked (`check.rs`); what
//! nothing can be checked against is sealed (`seal.rs`).
//! Documents of earlier formats are migrated (`v1.rs`, `v3.rs`); `document.rs` reads
//! and writes the envelope that says which format a body is in.

#[cfg(feature = "serde")]
mod body;
#[cfg(feature = "serde")]
mod check;
#[cfg(feature = "serde")]
mod document;
#[cfg(feature = "serde")]
mod seal;
#[cfg(feature = "serde")]
mod v1;
#[cfg(feature = "serde")]
mod v3;

/// The document format this version writes. It reads this one and every earlier one.
pub const FORMAT_VERSION: u32 = 4;

#[cfg(feature = "serde")]
pub use document::RolloutDocument;
