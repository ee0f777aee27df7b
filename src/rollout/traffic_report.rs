//! What the status and the events say about traffic that is not where the plan wants it:
//! revisions running hot (a [`Shortfall`]) and users stranded by faults (an
//! [`Emergency`]). Both follow from the published table, the fleet and the plan; the core
//! keeps only what it last reported, so that each change is said once (and a restored
//! rollout does not say it again).

use std::collections::BTreeSet;

use crate::model::Revision;
use crate::output::{Emergency, EventKind, Shortfall};
use crate::rollout::core::Core;
use crate::rollout::rotation::proportional_weights;
use crate::rollout::shaper::{self, Lane};
use crate::strategy::{Plan, Role, TrafficIntent};
use crate::traffic::{TOTAL_BASIS_POINTS, Weight};

/// What the events last said, by revision: enough to tell a change from a repeat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub(crate) struct Reported {
    /// Revisions reported short.
    pub short: BTreeSet<Revision>,
    /// The emergency reported: stranded revisions, revisions beyond plan, outage.
    pub emergency: Option<(BTreeSet<Revision>, BTreeSet<Revision>, bool)>,
}

impl Core {
    /// Revisions in the published table carrying more than their instances carry at the
    /// floor's rate.
    pub(crate) fn shortfall(&self) -> Vec<Shortfall> {
        let floor = self.limits.min_available();
        self.rotation
            .published
            .backends()
            .iter()
            .filter_map(|backend| {
                let instances = u32::try_from(backend.instance_count()).unwrap_or(u32::MAX);
                let weight = u32::from(backend.weight().basis_points());
                (weight > shaper::capacity(instances, floor)).then(|| {
                    let needed = u64::from(weight) * u64::from(floor);
                    Shortfall {
                        revision: backend.revision().clone(),
                        weight: backend.weight(),
                        instances,
                        needed: u32::try_from(needed.div_ceil(u64::from(TOTAL_BASIS_POINTS)))
                            .unwrap_or(u32::MAX),
                    }
                })
            })
            .collect()
    }

    /// The split the plan asks for now, per revision, as the shaper pursues it (a
    /// superseded revision's share returning to stable first): the revisions in the
    /// published table, then planned revisions not in it yet.
    pub(crate) fn planned_traffic(&self, plan: &Plan) -> Vec<(Revision, Weight)> {
        let counts: Vec<(Revision, usize)> = self
            .rotation
            .published
            .backends()
            .iter()
            .map(|b| (b.revision().clone(), b.instance_count()))
            .collect();
        let explicit = match &plan.traffic {
            TrafficIntent::Explicit(explicit) => explicit,
            TrafficIntent::Proportional => {
                let weights = proportional_weights(&counts);
                return counts.into_iter().map(|(r, _)| r).zip(weights).collect();
            }
        };
        let (revisions, lanes): (Vec<Revision>, Vec<Lane>) =
            self.lanes(explicit, &counts).into_iter().unzip();
        revisions
            .into_iter()
            .zip(shaper::effective_plan(&lanes))
            .map(|(revision, bp)| {
                let weight = Weight::from_basis_points(u64::from(bp)).unwrap_or(Weight::ZERO);
                (revision, weight)
            })
            .collect()
    }

    /// The emergency the published table is in, if any (see [`Emergency`]): revisions
    /// the plan (as the shaper pursues it) gives users have no instance in the table,
    /// and users are on a revision beyond its plan that is neither the stable nor the
    /// standby one, or on nothing.
    pub(crate) fn emergency(&self, plan: &Plan) -> Option<Emergency> {
        if matches!(plan.traffic, TrafficIntent::Proportional) {
            return None;
        }
        let table = &self.rotation.published;
        let planned = self.planned_traffic(plan);
        let listed = |r: &Revision| table.backend(r).is_some_and(|b| b.instance_count() > 0);
        let stranded: Vec<Revision> = planned
            .iter()
            .filter(|(r, w)| !w.is_zero() && !listed(r))
            .map(|(r, _)| r.clone())
            .collect();
        if stranded.is_empty() {
            return None;
        }
        let beyond_plan: Vec<(Revision, Weight)> = table
            .backends()
            .iter()
            .filter(|b| !matches!(self.role_of(b.revision()), Role::Stable | Role::Standby))
            .filter_map(|b| {
                let plan = planned
                    .iter()
                    .find(|(r, _)| r == b.revision())
                    .map_or(0, |(_, w)| w.basis_points());
                let over = b.weight().basis_points().saturating_sub(plan);
                (over > 0).then(|| {
                    let over = Weight::from_basis_points(u64::from(over)).unwrap_or(Weight::ZERO);
                    (b.revision().clone(), over)
                })
            })
            .collect();
        let outage = table.is_empty() && self.fleet.iter().any(|i| self.may_serve(i));
        (outage || !beyond_plan.is_empty()).then_some(Emergency {
            stranded,
            beyond_plan,
            outage,
        })
    }

    /// Says what changed since the last report: the revisions short, the emergency.
    pub(crate) fn report_traffic(&mut self, plan: &Plan) {
        let short = self.shortfall();
        let names: BTreeSet<Revision> = short.iter().map(|s| s.revision.clone()).collect();
        if names != self.reported.short {
            self.reported.short = names;
            self.emit(EventKind::TrafficShortfall { short });
        }
        let emergency = self.emergency(plan);
        let key = emergency.as_ref().map(|e| {
            (
                e.stranded.iter().cloned().collect(),
                e.beyond_plan.iter().map(|(r, _)| r.clone()).collect(),
                e.outage,
            )
        });
        if key != self.reported.emergency {
            self.reported.emergency = key;
            match emergency {
                Some(emergency) => self.emit(EventKind::TrafficEmergency { emergency }),
                None => self.emit(EventKind::TrafficEmergencyOver),
            }
        }
    }
}
