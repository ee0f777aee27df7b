//! The traffic table: how a load balancer should split requests between revisions and
//! between the instances in rotation, plus match routes and a mirror.
//!
//! A [`TrafficTable`] is always valid: every way in (the builder, [`TrafficTable::apply`],
//! deserialization) runs the same checks and refuses with a [`TrafficError`] naming the
//! problem, leaving the table as it was.

mod diff;
mod display;
mod matching;
mod weight;

use std::collections::BTreeMap;

pub use diff::{TableChange, TableDiff};
pub use matching::{MatchCondition, MatchRoute, Mirror};
#[cfg(feature = "serde")]
pub(crate) use weight::BareBasisPoints;
pub use weight::{InstanceWeight, TOTAL_BASIS_POINTS, Weight};

use crate::error::TrafficError;
use crate::model::{InstanceId, Revision};

/// One revision's entry in a table: its share of traffic and its instances in rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    revision: Revision,
    weight: Weight,
    instances: BTreeMap<InstanceId, InstanceWeight>,
}

impl Backend {
    /// The revision this entry routes to.
    #[must_use]
    pub fn revision(&self) -> &Revision {
        &self.revision
    }

    /// Its share of the weighted split.
    #[must_use]
    pub fn weight(&self) -> Weight {
        self.weight
    }

    /// Its instances in rotation with their relative weights, in id order.
    pub fn instances(&self) -> impl ExactSizeIterator<Item = (&InstanceId, InstanceWeight)> + '_ {
        self.instances.iter().map(|(id, weight)| (id, *weight))
    }

    /// How many instances are in rotation.
    #[must_use]
    pub fn instance_count(&self) -> usize {
        self.instances.len()
    }

    /// Whether `instance` is in rotation here.
    #[must_use]
    pub fn contains(&self, instance: &InstanceId) -> bool {
        self.instances.contains_key(instance)
    }

    /// The weight of `instance`, if it is in rotation here.
    #[must_use]
    pub fn instance_weight(&self, instance: &InstanceId) -> Option<InstanceWeight> {
        self.instances.get(instance).copied()
    }
}

/// A complete, valid traffic split.
///
/// * Revisions in *layout order* (the order they were added), each with a [`Weight`];
///   the weights add up to exactly 10,000 basis points unless the table is empty.
/// * Every revision with weight > 0 has at least one instance in rotation.
/// * No instance appears twice.
/// * [`MatchRoute`]s, checked in order before the split, and an optional [`Mirror`],
///   name revisions in the table that have instances.
/// * A `generation` that the publisher bumps for each table it sends, so that an
///   acknowledgement can say which table was applied.
///
/// Layout order matters for sticky routing: the router lays revisions out on the key
/// space in this order, so growing a revision at the expense of its neighbour moves keys
/// only into it.
///
/// # Examples
///
/// ```
/// use cutover::{TrafficTable, TrafficError, Revision};
/// use cutover::traffic::MatchCondition;
///
/// let table = TrafficTable::builder()
///     .revision("v1", 9_000, ["web-1", "web-2"])
///     .revision("v2", 1_000, ["web-3"])
///     .route(MatchCondition::header_equals("x-canary", "always"), "v2")
///     .generation(7)
///     .build()
///     .unwrap();
/// assert_eq!(table.weight(&Revision::from("v2")).basis_points(), 1_000);
///
/// let broken = TrafficTable::builder()
///     .revision("v1", 9_000, ["web-1"])
///     .revision("v2", 500, ["web-3"])
///     .build();
/// assert_eq!(broken, Err(TrafficError::WeightsDoNotSum { total: 9_500 }));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(try_from = "diff::TableDocument", into = "diff::TableDocument")
)]
pub struct TrafficTable {
    generation: u64,
    backends: Vec<Backend>,
    routes: Vec<MatchRoute>,
    mirror: Option<Mirror>,
    /// Which revision each instance is listed under: finds duplicates without a scan.
    owners: BTreeMap<InstanceId, Revision>,
}

/// The most characters of the reader's message a [`TrafficError::Unreadable`] keeps.
#[cfg(feature = "json")]
const READER_MESSAGE_CHARS: usize = 512;

impl TrafficTable {
    /// Reads a table from JSON (what an adapter stores or receives), checking it as the
    /// builder does; what is not a valid table is refused with a message bounded
    /// whatever the input (serde's own quotes a wrong string or an unknown key whole).
    ///
    /// # Errors
    ///
    /// [`TrafficError::Unreadable`] with the line and column where reading stopped,
    /// also for a table that breaks one of its rules (weights that do not sum, an
    /// instance listed twice): the message says which.
    ///
    /// ```
    /// use cutover::{TrafficError, TrafficTable};
    /// let long = "x".repeat(100_000);
    /// let error = TrafficTable::from_json(&format!("{{\"generation\": \"{long}\"}}")).unwrap_err();
    /// assert!(matches!(error, TrafficError::Unreadable { line: 1, .. }));
    /// assert!(error.to_string().len() < 1_000);
    /// ```
    #[cfg(feature = "json")]
    pub fn from_json(text: &str) -> Result<TrafficTable, TrafficError> {
        serde_json::from_str(text).map_err(|error| TrafficError::Unreadable {
            line: error.line(),
            column: error.column(),
            message: crate::error::excerpt_of(&error.to_string(), READER_MESSAGE_CHARS),
        })
    }

    /// A table that routes nothing (no revisions), at generation 0.
    #[must_use]
    pub fn empty() -> Self {
        TrafficTable::default()
    }

    /// All traffic to `revision`, spread over `instances`.
    ///
    /// # Errors
    ///
    /// [`TrafficError::WeightWithoutInstances`] if `instances` is empty,
    /// [`TrafficError::DuplicateInstance`] if one is listed twice.
    pub fn single<I, N>(revision: impl Into<Revision>, instances: I) -> Result<Self, TrafficError>
    where
        I: IntoIterator<Item = N>,
        N: Into<InstanceId>,
    {
        TrafficTable::builder()
            .revision(revision, u64::from(TOTAL_BASIS_POINTS), instances)
            .build()
    }

    /// Starts building a table; nothing is checked until [`TrafficTableBuilder::build`].
    pub fn builder() -> TrafficTableBuilder {
        TrafficTableBuilder::default()
    }

    /// The publisher's sequence number for this table.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Sets the generation (publishers bump it for every table they send).
    pub fn set_generation(&mut self, generation: u64) {
        self.generation = generation;
    }

    /// The revisions in layout order.
    #[must_use]
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// The entry for `revision`, if it is in the table.
    #[must_use]
    pub fn backend(&self, revision: &Revision) -> Option<&Backend> {
        self.backends.iter().find(|b| &b.revision == revision)
    }

    /// The weight of `revision` (zero if it is not in the table).
    #[must_use]
    pub fn weight(&self, revision: &Revision) -> Weight {
        self.backend(revision).map_or(Weight::ZERO, Backend::weight)
    }

    /// The match routes, in the order they are checked.
    #[must_use]
    pub fn routes(&self) -> &[MatchRoute] {
        &self.routes
    }

    /// The mirror, if any.
    #[must_use]
    pub fn mirror(&self) -> Option<&Mirror> {
        self.mirror.as_ref()
    }

    /// Whether the table has no revisions (and so routes nothing).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.backends.is_empty()
    }

    /// The number of instances in rotation across all revisions.
    #[must_use]
    pub fn instance_count(&self) -> usize {
        self.owners.len()
    }

    /// The revision `instance` is in rotation under, if any.
    #[must_use]
    pub fn revision_of(&self, instance: &InstanceId) -> Option<&Revision> {
        self.owners.get(instance)
    }

    /// Applies a diff made by [`TrafficTable::diff`] from this table's generation, and
    /// takes on the diff's target generation.
    ///
    /// # Errors
    ///
    /// [`TrafficError::StaleDiff`] if the diff starts from another generation;
    /// [`TrafficError::GenerationNotNewer`] if it changes the table without moving to a
    /// newer generation (two tables built at the same generation: give the newer one a
    /// higher [`generation`](TrafficTableBuilder::generation)), since a load balancer
    /// fences on generations and could not tell the two tables apart; any check a table
    /// must pass if the result would be invalid. On error the table is unchanged.
    pub fn apply(&mut self, diff: &TableDiff) -> Result<(), TrafficError> {
        if diff.from_generation != self.generation {
            return Err(TrafficError::StaleDiff {
                expected: diff.from_generation,
                found: self.generation,
            });
        }
        let unchanged = diff.changes.is_empty() && diff.to_generation == diff.from_generation;
        if diff.to_generation <= diff.from_generation && !unchanged {
            return Err(TrafficError::GenerationNotNewer {
                from: diff.from_generation,
                to: diff.to_generation,
            });
        }
        self.apply_changes(&diff.changes)?;
        self.generation = diff.to_generation;
        Ok(())
    }

    /// Applies `changes` in order, as one edit: the result is checked as a whole (so
    /// weights may pass through sums other than 100% on the way), and on error the table
    /// is left exactly as it was. The generation is not touched.
    ///
    /// # Errors
    ///
    /// The first change that cannot apply, or the first check the result fails.
    pub fn apply_changes(&mut self, changes: &[TableChange]) -> Result<(), TrafficError> {
        let mut undo = Vec::with_capacity(changes.len());
        let result = changes
            .iter()
            .try_for_each(|change| self.apply_one(change).map(|u| undo.push(u)))
            .and_then(|()| self.validate());
        if result.is_err() {
            for step in undo.into_iter().rev() {
                self.revert(step);
            }
        }
        result
    }

    /// Checks the whole-table rules; per-change rules are checked as changes apply.
    /// Costs O(revisions + routes), not O(instances).
    fn validate(&self) -> Result<(), TrafficError> {
        if self.backends.is_empty() {
            return match (self.routes.first(), &self.mirror) {
                (Some(route), _) => Err(unknown(&route.revision, "match route")),
                (None, Some(mirror)) => Err(unknown(&mirror.revision, "mirror")),
                (None, None) => Ok(()),
            };
        }
        let total: u64 = self
            .backends
            .iter()
            .map(|b| u64::from(b.weight.basis_points()))
            .sum();
        if total != u64::from(TOTAL_BASIS_POINTS) {
            return Err(TrafficError::WeightsDoNotSum { total });
        }
        if let Some(empty) = self
            .backends
            .iter()
            .find(|b| !b.weight.is_zero() && b.instances.is_empty())
        {
            return Err(TrafficError::WeightWithoutInstances {
                revision: empty.revision.clone(),
                basis_points: empty.weight.basis_points(),
            });
        }
        let targets = self
            .routes
            .iter()
            .map(|r| (&r.revision, "match route"))
            .chain(self.mirror.iter().map(|m| (&m.revision, "mirror")));
        for (revision, context) in targets {
            match self.backend(revision) {
                None => return Err(unknown(revision, context)),
                Some(b) if b.instances.is_empty() => {
                    return Err(TrafficError::TargetWithoutInstances {
                        revision: revision.clone(),
                        context,
                    });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn position(&self, revision: &Revision) -> Result<usize, TrafficError> {
        self.backends
            .iter()
            .position(|b| &b.revision == revision)
            .ok_or_else(|| unknown(revision, "edit"))
    }
}

fn unknown(revision: &Revision, context: &'static str) -> TrafficError {
    TrafficError::UnknownRevision {
        revision: revision.clone(),
        context,
    }
}

/// Collects a table's parts; [`build`](TrafficTableBuilder::build) checks them all at once.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct TrafficTableBuilder {
    generation: u64,
    changes: Vec<TableChange>,
    routes: Vec<MatchRoute>,
    mirror: Option<(Revision, u64)>,
    /// The first out-of-range number given; reported by `build`.
    error: Option<TrafficError>,
}

impl TrafficTableBuilder {
    /// Adds `revision` with `basis_points` of the split and `instances` in rotation
    /// (each with weight 1).
    pub fn revision<I, N>(
        mut self,
        revision: impl Into<Revision>,
        basis_points: u64,
        instances: I,
    ) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<InstanceId>,
    {
        let revision = revision.into();
        self.changes.push(TableChange::AddRevision {
            revision: revision.clone(),
        });
        match Weight::from_basis_points(basis_points) {
            Ok(weight) => self.changes.push(TableChange::SetWeight {
                revision: revision.clone(),
                weight,
            }),
            Err(error) => self.note(error),
        }
        for instance in instances {
            self.changes.push(TableChange::AddInstance {
                revision: revision.clone(),
                instance: instance.into(),
                weight: InstanceWeight::ONE,
            });
        }
        self
    }

    /// Adds one instance with a relative `weight` (1..=256) to a revision added earlier.
    pub fn weighted_instance(
        mut self,
        revision: impl Into<Revision>,
        instance: impl Into<InstanceId>,
        weight: u32,
    ) -> Self {
        let instance = instance.into();
        match InstanceWeight::new(&instance, weight) {
            Ok(weight) => self.changes.push(TableChange::AddInstance {
                revision: revision.into(),
                instance,
                weight,
            }),
            Err(error) => self.note(error),
        }
        self
    }

    fn note(&mut self, error: TrafficError) {
        self.error.get_or_insert(error);
    }

    /// Adds a match route, checked after the ones added before it.
    pub fn route(mut self, condition: MatchCondition, revision: impl Into<Revision>) -> Self {
        self.routes.push(MatchRoute::new(condition, revision));
        self
    }

    /// Copies `basis_points` of requests to `revision`.
    pub fn mirror(mut self, revision: impl Into<Revision>, basis_points: u64) -> Self {
        self.mirror = Some((revision.into(), basis_points));
        self
    }

    /// Sets the table's generation (default 0).
    pub fn generation(mut self, generation: u64) -> Self {
        self.generation = generation;
        self
    }

    /// Checks everything and returns the table.
    ///
    /// # Errors
    ///
    /// The first problem found, as a [`TrafficError`].
    pub fn build(mut self) -> Result<TrafficTable, TrafficError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if !self.routes.is_empty() {
            self.changes.push(TableChange::SetRoutes {
                routes: self.routes,
            });
        }
        if let Some((revision, basis_points)) = self.mirror {
            let share = Weight::from_basis_points(basis_points)?;
            self.changes.push(TableChange::SetMirror {
                mirror: Some(Mirror { revision, share }),
            });
        }
        let mut table = TrafficTable {
            generation: self.generation,
            ..TrafficTable::default()
        };
        table.apply_changes(&self.changes)?;
        Ok(table)
    }
}

#[cfg(test)]
mod tests;
