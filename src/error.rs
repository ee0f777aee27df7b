//! The crate's error types, grouped by who must act on them.
//!
//! * [`DurationError`], [`WeightError`], [`TrafficError`]: a document or a table the
//!   caller built is wrong.
//! * [`SpecError`], [`SpecDocumentError`]: a spec cannot run as written, or a spec
//!   document cannot be read (with the path of what it refuses).
//!
//! Failures of the world (an instance that never turns healthy, a provisioner that
//! refuses) are not Rust errors: they arrive as inputs and are answered with events.

use crate::model::{InstanceId, Revision};
use crate::spec::Quantity;

/// The most characters of a caller's text an error quotes.
const EXCERPT_CHARS: usize = 64;

/// `text` as an error quotes it: whole when it is at most [`EXCERPT_CHARS`] characters,
/// otherwise its first [`EXCERPT_CHARS`] characters (cut on a character boundary)
/// followed by `…` and its full length, so that a 10 MB input cannot make a 10 MB
/// message.
pub(crate) fn excerpt(text: &str) -> String {
    excerpt_of(text, EXCERPT_CHARS)
}

/// [`excerpt`] with room for `chars` characters (a whole message rather than a value).
pub(crate) fn excerpt_of(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
    }
}

/// The longest reason or description a saved rollout may hold, in bytes. The engine
/// bounds every text it keeps (caller text is quoted by [`excerpt`]), so a longer one was
/// put in the document by something else, and is refused rather than kept.
pub(crate) const MAX_TEXT_BYTES: usize = 4_096;

/// Reads a reason or description of a saved rollout, refusing one longer than
/// [`MAX_TEXT_BYTES`].
#[cfg(feature = "serde")]
pub(crate) fn bounded_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(deserializer)?;
    if text.len() > MAX_TEXT_BYTES {
        return Err(serde::de::Error::custom(format_args!(
            "a text of {} bytes, longer than the {MAX_TEXT_BYTES} a saved reason may hold",
            text.len()
        )));
    }
    Ok(text)
}

/// A duration in a document could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Not of the form `500ms`, `30s`, `5m`, `1h30m`, `1d` (largest unit first, each once).
    #[error("invalid duration {text:?}: write it like \"500ms\", \"30s\", \"5m\" or \"1h30m\"")]
    Invalid {
        /// The text as given; past 64 characters, its first 64, `…` and its length.
        text: String,
    },
    /// Larger than about 584 million years.
    #[error("duration {text:?} is too long to represent in milliseconds")]
    Overflow {
        /// The text as given; past 64 characters, its first 64, `…` and its length.
        text: String,
    },
    /// A number without a unit (`600` or `"600"`): seconds to one reader, milliseconds
    /// to another, so it is refused rather than guessed. Only zero needs no unit.
    #[error(
        "duration {amount} has no unit: write \"{amount}s\" (or \"{amount}ms\") — a duration needs a unit"
    )]
    MissingUnit {
        /// The number as given.
        amount: u64,
    },
}

/// A weight in a document could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WeightError {
    /// Not of the form `"10%"`, `"2.5%"` or `"250bp"`.
    #[error(
        "invalid weight {text:?}: write a percentage such as \"10%\" or \"2.5%\" (at most two decimals), or basis points such as \"250bp\""
    )]
    Invalid {
        /// The text as given; past 64 characters, its first 64, `…` and its length.
        text: String,
    },
    /// A number without a unit (`10` or `"10"`): 10% to someone used to Argo Rollouts'
    /// `setWeight`, 0.1% read as basis points, so it is refused rather than guessed. Only
    /// zero needs no unit.
    #[error(
        "weight {amount} has no unit: write \"{amount}%\" for {amount} percent (basis points are written \"250bp\")"
    )]
    MissingUnit {
        /// The number as given.
        amount: String,
    },
    /// A percentage with more than two decimals: finer than a basis point.
    #[error(
        "weight {text:?} is finer than a basis point: write at most two decimals (\"0.25%\" is 25 basis points)"
    )]
    TooPrecise {
        /// The text as given; past 64 characters, its first 64, `…` and its length.
        text: String,
    },
    /// More than 100%.
    #[error(
        "weight {text:?} is above 100%: a weight is a share of traffic, from \"0%\" to \"100%\""
    )]
    OutOfRange {
        /// The text as given; past 64 characters, its first 64, `…` and its length.
        text: String,
    },
}

/// A traffic table (or an edit to one) that would route requests wrongly.
///
/// Tables are validated whenever they are built, edited or deserialized, so a
/// [`TrafficTable`](crate::TrafficTable) value is always valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrafficError {
    /// Not a traffic table: malformed JSON, a wrong type, an unknown field
    /// ([`TrafficTable::from_json`](crate::TrafficTable::from_json)).
    #[error("traffic table unreadable at line {line}, column {column}: {message}")]
    Unreadable {
        /// The line where reading stopped (1-based).
        line: usize,
        /// The column where reading stopped (1-based).
        column: usize,
        /// The reader's message, cut to a bounded excerpt.
        message: String,
    },
    /// The revision weights do not add up to 10,000 basis points (100%).
    #[error(
        "revision weights add up to {total} basis points; they must add up to exactly 10000 (100%)"
    )]
    WeightsDoNotSum {
        /// The sum that was found.
        total: u64,
    },
    /// A weight larger than 10,000 basis points.
    #[error("weight {basis_points} is out of range: weights are basis points from 0 to 10000")]
    WeightOutOfRange {
        /// The weight that was given.
        basis_points: u64,
    },
    /// A revision would receive traffic but has no instance in rotation.
    #[error(
        "revision {revision} has weight {basis_points} but no instance in rotation: its requests would be dropped"
    )]
    WeightWithoutInstances {
        /// The revision.
        revision: Revision,
        /// Its weight in basis points.
        basis_points: u16,
    },
    /// One instance is listed twice (in one revision or in two).
    #[error("instance {instance} is listed twice (under {first} and under {second})")]
    DuplicateInstance {
        /// The instance.
        instance: InstanceId,
        /// The revision it was first listed under.
        first: Revision,
        /// The revision it was listed under again.
        second: Revision,
    },
    /// One revision has two entries.
    #[error("revision {revision} is listed twice")]
    DuplicateRevision {
        /// The revision.
        revision: Revision,
    },
    /// A match route or the mirror names a revision that is not in the table.
    #[error("the {context} names revision {revision}, which is not in the table")]
    UnknownRevision {
        /// The revision named.
        revision: Revision,
        /// What named it: "match route", "mirror", "edit".
        context: &'static str,
    },
    /// A match route or the mirror targets a revision with no instance in rotation.
    #[error(
        "the {context} sends requests to revision {revision}, which has no instance in rotation"
    )]
    TargetWithoutInstances {
        /// The revision targeted.
        revision: Revision,
        /// What targets it: "match route" or "mirror".
        context: &'static str,
    },
    /// An edit names an instance that is not in the named revision.
    #[error("instance {instance} is not in rotation under revision {revision}")]
    UnknownInstance {
        /// The instance.
        instance: InstanceId,
        /// The revision it was looked for under.
        revision: Revision,
    },
    /// A per-instance weight outside `1..=256`.
    #[error(
        "instance {instance} has weight {weight}; instance weights run from 1 to 256 (remove the instance instead of weighting it 0)"
    )]
    InstanceWeightOutOfRange {
        /// The instance.
        instance: InstanceId,
        /// The weight that was given.
        weight: u32,
    },
    /// A match route with an empty header or cookie name, or an empty allow-list.
    #[error("a match route is empty: {reason}")]
    EmptyMatch {
        /// What is missing.
        reason: &'static str,
    },
    /// A diff was made against a different table generation than the one it is applied to.
    #[error("the diff goes from generation {expected} but the table is at generation {found}")]
    StaleDiff {
        /// The generation the diff starts from.
        expected: u64,
        /// The generation of the table it was applied to.
        found: u64,
    },
    /// A diff changes the table but does not move it to a newer generation, so a load
    /// balancer fencing on generations could not tell the old table from the new.
    #[error(
        "the diff changes the table but goes from generation {from} to {to}: a changed table needs a newer generation (set it with the builder's `generation` or `set_generation`)"
    )]
    GenerationNotNewer {
        /// The generation the diff starts from.
        from: u64,
        /// The generation it would leave the table at.
        to: u64,
    },
}

/// A fleet was described inconsistently.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// Two instances share one id.
    #[error("instance {instance} is listed twice in the fleet")]
    DuplicateInstance {
        /// The id.
        instance: InstanceId,
    },
}

/// A rollout spec (or the fleet it starts from) that cannot be run as written.
///
/// Each message says what to change.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// `desired` is 0.
    #[error("desired is 0: a rollout needs at least 1 instance (set desired to 1 or more)")]
    ZeroDesired,
    /// `desired` is above [`MAX_DESIRED`](crate::spec::MAX_DESIRED).
    #[error(
        "desired is {desired}: a rollout manages at most {max} instances (MAX_DESIRED); lower desired, or split the fleet into several rollouts"
    )]
    DesiredTooLarge {
        /// The desired instance count given.
        desired: u32,
        /// The largest allowed, [`MAX_DESIRED`](crate::spec::MAX_DESIRED).
        max: u32,
    },
    /// `max_surge` resolves to so many instances that `desired + max_surge` would pass
    /// twice [`MAX_DESIRED`](crate::spec::MAX_DESIRED).
    #[error(
        "max_surge is {max_surge}, which with desired = {desired} allows more than twice MAX_DESIRED instances at once: lower max_surge to at most {max} instances"
    )]
    SurgeTooLarge {
        /// The surge as written.
        max_surge: Quantity,
        /// The desired instance count.
        desired: u32,
        /// The largest surge allowed with this `desired`, in instances.
        max: u32,
    },
    /// Capacity limits that allow more instances of `desired` to be unavailable than
    /// there are.
    #[error(
        "max_unavailable is {max_unavailable}, more than desired = {desired}: at most all {desired} instances can be unavailable"
    )]
    UnavailableAboveDesired {
        /// The unavailability given, in instances.
        max_unavailable: u32,
        /// The desired instance count.
        desired: u32,
    },
    /// A count or percentage could not be read.
    #[error(
        "{field} is {text:?}: write a whole number of instances (2, a number) or a percentage (\"25%\", a string)"
    )]
    InvalidQuantity {
        /// The field.
        field: &'static str,
        /// The text as given; past 64 characters, its first 64, `…` and its length.
        text: String,
    },
    /// A quantity written as a string without `%`, such as `"90"`: Kubernetes refuses
    /// it and Argo Rollouts reads it as 90%, so it is refused rather than read as a count.
    #[error(
        "{field} is \"{count}\", a string without %: write \"{count}%\" for a percentage of desired, or {count} (a number, without quotes) for {count} instances"
    )]
    CountAsString {
        /// The field.
        field: &'static str,
        /// The number inside the string.
        count: u32,
    },
    /// A `max_unavailable` percentage above 100% (`max_surge` may exceed 100%).
    #[error("{field} is {percent}%: {field} runs from 0% to 100% of desired")]
    PercentOutOfRange {
        /// The field.
        field: &'static str,
        /// The percentage given.
        percent: u32,
    },
    /// Both `max_surge` and `max_unavailable` are literally 0, so no instance can ever be
    /// replaced.
    #[error(
        "max_surge and max_unavailable are both 0, so no instance can ever be replaced: set max_surge to 1 (zero downtime) or max_unavailable to 1"
    )]
    NoProgressPossible,
    /// The spec lets the rollout take every instance out of service at once.
    #[error(
        "with desired = {desired}, max_surge = {max_surge} and max_unavailable = {max_unavailable}, the rollout may take every instance down at once: add surge (max_surge >= 1), add instances, or lower max_unavailable below desired; set allow_downtime = true only if downtime is acceptable"
    )]
    DowntimeRequired {
        /// The desired instance count.
        desired: u32,
        /// The resolved surge.
        max_surge: u32,
        /// The resolved unavailability.
        max_unavailable: u32,
    },
    /// The progress deadline is not longer than `min_ready`, so it would always pass.
    #[error(
        "progress_deadline ({deadline}) must be longer than min_ready ({min_ready}), or every rollout would miss it"
    )]
    DeadlineTooShort {
        /// The progress deadline.
        deadline: crate::time::Duration,
        /// The minimum ready time.
        min_ready: crate::time::Duration,
    },
    /// The provision backoff's cap is below its start.
    #[error(
        "provision backoff_max ({max}) is shorter than backoff_initial ({initial}): make backoff_max at least backoff_initial"
    )]
    BackoffInverted {
        /// The first delay.
        initial: crate::time::Duration,
        /// The cap.
        max: crate::time::Duration,
    },
    /// The background analysis cannot run as written.
    #[error("background_analysis: {0}")]
    Analysis(#[from] crate::analysis::AnalysisSpecError),
    /// A hook in a stage's checks cannot run as written.
    #[error("{stage} hook {hook:?}: {why}")]
    InvalidHook {
        /// The stage whose checks list it (`pre_promotion`, `post_promotion`).
        stage: &'static str,
        /// The hook's name (bounded).
        hook: String,
        /// What is wrong and what to change.
        why: &'static str,
    },
    /// Checks name an analysis the spec's `analyses` does not define.
    #[error(
        "{stage} names analysis {name:?}, which is not defined: add it to analyses, or fix the name"
    )]
    UnknownAnalysis {
        /// The stage whose checks name it.
        stage: &'static str,
        /// The name (bounded).
        name: String,
    },
    /// A named analysis in `analyses` cannot run as written.
    #[error("analysis {analysis:?}: {error}")]
    InvalidAnalysis {
        /// The analysis (bounded).
        analysis: String,
        /// What is wrong with it.
        #[source]
        error: crate::analysis::AnalysisSpecError,
    },
    /// A named analysis has a metric that measures forever, so a check that runs it
    /// would never get a verdict.
    #[error(
        "analysis {analysis:?}: metric {metric:?} has an interval and no count, so it never ends: give it a count"
    )]
    OpenEndedAnalysis {
        /// The analysis (bounded).
        analysis: String,
        /// The metric (bounded).
        metric: String,
    },
    /// Blue-green's preview is larger than the service.
    #[error(
        "preview_replicas is {preview}, more than desired = {desired}: the preview is at most the full size"
    )]
    PreviewTooLarge {
        /// The preview size given.
        preview: u32,
        /// The desired instance count.
        desired: u32,
    },
    /// Blue-green's preview route cannot work as written.
    #[error("preview_route: {why}")]
    InvalidPreviewRoute {
        /// What is wrong and what to change.
        why: &'static str,
    },
    /// A canary spec cannot work as written.
    #[error("canary: {why}")]
    InvalidCanary {
        /// Where, as a path in the spec document (`strategy.canary.min_instances`).
        field: &'static str,
        /// What is wrong and what to change.
        why: &'static str,
    },
    /// A canary plan has more steps than [`MAX_CANARY_STEPS`](crate::spec::MAX_CANARY_STEPS).
    #[error(
        "the canary plan has {count} steps, more than the {max} allowed: use fewer, larger steps"
    )]
    TooManySteps {
        /// The steps the plan has (a preset's, expanded).
        count: usize,
        /// The most allowed.
        max: usize,
    },
    /// A canary step cannot work where it is.
    #[error("canary step {step}: {why}")]
    InvalidCanaryStep {
        /// The step, from 0.
        step: usize,
        /// What is wrong and what to change.
        why: &'static str,
    },
    /// A `set_canary_scale` step asks for more canary instances than there is room for.
    #[error(
        "canary step {step}: set_canary_scale asks for {replicas} instances, more than {max}: {why}"
    )]
    CanaryScaleTooLarge {
        /// The step, from 0.
        step: usize,
        /// The instances it asks for.
        replicas: u32,
        /// The most there is room for.
        max: u32,
        /// Why that is the most.
        why: &'static str,
    },
    /// The health rules cannot work as written.
    #[error("health: {why}")]
    InvalidHealth {
        /// The field of `health` (`failure_threshold`, `startup_timeout`).
        field: &'static str,
        /// What is wrong and what to change.
        why: &'static str,
    },
    /// The observed fleet lists an instance twice.
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// A duration is longer than [`MAX_SPEC_DURATION`](crate::spec::MAX_SPEC_DURATION).
    #[error("{field} is {duration}, longer than the {max} a spec may wait: check its unit")]
    DurationTooLong {
        /// The setting, as a document spells it.
        field: String,
        /// Its duration.
        duration: crate::time::Duration,
        /// The longest allowed.
        max: crate::time::Duration,
    },
    /// A list holds more entries than its bound
    /// ([`MAX_SPEC_LIST`](crate::spec::MAX_SPEC_LIST),
    /// [`MAX_MATCH_KEYS`](crate::spec::MAX_MATCH_KEYS)).
    #[error("{field} lists {count} entries, more than the {max} allowed")]
    TooMany {
        /// The setting, as a document spells it.
        field: String,
        /// The entries it lists.
        count: usize,
        /// The most allowed.
        max: usize,
    },
    /// A name or text is longer than its bound
    /// ([`MAX_NAME_BYTES`](crate::spec::MAX_NAME_BYTES),
    /// [`MAX_MATCH_VALUE_BYTES`](crate::spec::MAX_MATCH_VALUE_BYTES)).
    #[error("{field} holds a text of {bytes} bytes, longer than the {max} allowed")]
    TooLong {
        /// The setting, as a document spells it.
        field: String,
        /// The text's length in bytes.
        bytes: usize,
        /// The most allowed.
        max: usize,
    },
}

/// A spec document that cannot be used: a setting that cannot be read, or a spec that
/// reads but cannot run. Either way `path` says where, as the document spells it
/// (`strategy.canary.plan.steps[3].pause.duration`; empty for the document as a whole).
///
/// Returned by [`RolloutSpec::from_document`](crate::RolloutSpec::from_document) and
/// [`RolloutSpec::from_json`](crate::RolloutSpec::from_json).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecDocumentError {
    /// A setting could not be read: a value of the wrong form (a weight without a
    /// unit), a field the spec does not have (a typo), a missing one, broken syntax.
    #[error("{}{message}{}", at(path), position(*line, *column))]
    Unreadable {
        /// Where, as a path in the document (bounded).
        path: String,
        /// What is wrong and what to write instead (bounded).
        message: String,
        /// The line of a JSON document, from 1, where the reader stopped.
        line: Option<usize>,
        /// The column on that line, from 1.
        column: Option<usize>,
    },
    /// The document reads, but the spec it describes cannot run as written.
    #[error("{}{error}", at(path))]
    Invalid {
        /// Where, as a path in the document: the setting to change, or the part of the
        /// spec whose settings contradict each other.
        path: String,
        /// What is wrong and what to change.
        #[source]
        error: SpecError,
    },
}

impl SpecDocumentError {
    /// Where in the document the problem is (empty for the document as a whole).
    #[must_use]
    pub fn path(&self) -> &str {
        match self {
            SpecDocumentError::Unreadable { path, .. }
            | SpecDocumentError::Invalid { path, .. } => path,
        }
    }
}

/// `path: ` before a message, or nothing for the document as a whole.
fn at(path: &str) -> String {
    match path {
        "" => String::new(),
        path => format!("{path}: "),
    }
}

/// ` (line 4, column 17)` after a message, when the reader knows it.
fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" (line {line}, column {column})"),
        (Some(line), None) => format!(" (line {line})"),
        _ => String::new(),
    }
}

/// An operator command that is not valid now. The rollout is unchanged.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The command does not apply in the current phase.
    #[error("cannot {command} while the rollout is {phase}")]
    InvalidPhase {
        /// The command.
        command: &'static str,
        /// The phase, described.
        phase: String,
    },
    /// `deploy` named the revision that is already stable, with nothing in flight.
    #[error("revision {revision} is already the stable revision")]
    AlreadyStable {
        /// The revision.
        revision: Revision,
    },
    /// `deploy` named the revision already being rolled out.
    #[error("revision {revision} is already being rolled out")]
    AlreadyInFlight {
        /// The revision.
        revision: Revision,
    },
    /// `deploy` named an empty revision.
    #[error("a revision name must not be empty")]
    EmptyRevision,
    /// `rollback` with nothing in flight and no earlier stable revision.
    #[error("there is no earlier stable revision to roll back to")]
    NothingToRollBackTo,
    /// `promote` with no pause or step to finish.
    #[error("nothing to promote: {why}")]
    NothingToPromote {
        /// Why.
        why: &'static str,
    },
    /// `scale` or `update_spec` with a spec that does not validate.
    #[error("the new spec is invalid: {0}")]
    InvalidSpec(#[from] SpecError),
    /// `update_spec` changing what cannot change during a rollout.
    #[error("{field} cannot change on a live rollout: {why}")]
    UnsupportedChange {
        /// The field.
        field: &'static str,
        /// Why.
        why: &'static str,
    },
}

/// A saved rollout document that cannot be restored.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// Written by a format this version does not read.
    #[error(
        "rollout document format {found} is not supported (this version reads format {supported})"
    )]
    UnknownFormat {
        /// The document's format.
        found: u32,
        /// The format this version reads.
        supported: u32,
    },
    /// Its `"rollout"` comes before its `"format"`: the body cannot be read before the
    /// format it is written in is known. Cutover writes the format first; a tool that
    /// reorders keys (or sorts them other than alphabetically) does not.
    #[error(
        "rollout document has its \"rollout\" before its \"format\": write the format first, as cutover does, so that the body is read in the format it was written in"
    )]
    FormatAfterBody,
    /// Not a rollout document: malformed JSON, a wrong type, an unknown field
    /// ([`RolloutDocument::from_json`](crate::RolloutDocument::from_json)).
    #[error("rollout document unreadable at line {line}, column {column}: {message}")]
    Unreadable {
        /// The line where reading stopped (1-based).
        line: usize,
        /// The column where reading stopped (1-based).
        column: usize,
        /// The reader's message, cut to a bounded excerpt.
        message: String,
    },
    /// Its parts contradict each other.
    #[error("rollout document is inconsistent: {what}")]
    Inconsistent {
        /// What contradicts what.
        what: String,
    },
    /// A field contradicts the rest of the document (an edit or a corruption).
    #[error("rollout document field {field}: {why}")]
    Field {
        /// The field, as a path in the document.
        field: &'static str,
        /// What contradicts what.
        why: String,
    },
    /// Its spec no longer validates.
    #[error("rollout document's spec is invalid: {0}")]
    Spec(#[from] SpecError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_keep_short_text_and_cut_long_text_on_a_char_boundary() {
        assert_eq!(excerpt("5 minutes"), "5 minutes");
        let exactly = "x".repeat(EXCERPT_CHARS);
        assert_eq!(excerpt(&exactly), exactly);
        // Two-byte characters: a cut at byte 64 would split one; the cut is at char 64.
        let long = "é".repeat(EXCERPT_CHARS + 1);
        assert_eq!(
            excerpt(&long),
            format!("{}… ({} bytes)", "é".repeat(EXCERPT_CHARS), long.len())
        );
    }
}
