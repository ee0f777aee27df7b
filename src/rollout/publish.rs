//! The core's side of the traffic shaper (`shaper.rs`): which instances the next table
//! lists, the lanes the shaper works on, and the table it publishes — at most one update
//! per call, holding only what changed.

use crate::model::Revision;
use crate::output::{Action, EventKind};
use crate::rollout::core::Core;
use crate::rollout::rotation::{Layout, proportional_weights};
use crate::rollout::shaper::{self, Lane, Rules};
use crate::strategy::{ExplicitTraffic, Role, TrafficIntent};
use crate::traffic::{InstanceWeight, MatchRoute, Mirror, TableChange, Weight};

impl Core {
    /// Whether the load balancer applies `intent` as far as it can be applied now: the
    /// latest table is what the shaper would make of it (every move capacity allows is
    /// made) with the intent's routes and mirror, and the load balancer has acknowledged
    /// that split (instances still joining or leaving aside: they change no revision's
    /// share). A plan that faults keep out of reach (an emergency) is in force as far as
    /// it goes, so steps that do not depend on it are not held.
    pub(crate) fn traffic_in_force(&self, intent: &TrafficIntent) -> bool {
        if !self.rotation.split_acknowledged() || self.membership_pending() {
            return false;
        }
        let TrafficIntent::Explicit(explicit) = intent else {
            return true;
        };
        let table = &self.rotation.published;
        let counts: Vec<(Revision, usize)> = table
            .backends()
            .iter()
            .map(|b| (b.revision().clone(), b.instance_count()))
            .collect();
        let next = self.split(explicit, &counts);
        !next.outage
            && next
                .layout
                .weights
                .iter()
                .copied()
                .eq(table.backends().iter().map(|b| b.weight()))
            && next.layout.routes.as_slice() == table.routes()
            && next.layout.mirror.as_ref() == table.mirror()
    }

    /// Whether an instance is to join or leave the table at the next flush. The split
    /// such a change allows is not known until it is published (a canary's first
    /// instance makes room for its weight), so no split is in force before it.
    fn membership_pending(&self) -> bool {
        self.dirty.iter().any(|id| {
            let listed = self.rotation.published.revision_of(id).is_some();
            let eligible = self.fleet.get(id).is_some_and(|i| self.may_serve(i));
            listed != eligible
        })
    }

    /// Brings the table in line with the fleet and the plan's traffic intent: one
    /// update holding every instance that became eligible or stopped being eligible
    /// since the last flush, and the weights, routes and mirror the traffic shaper
    /// (`shaper.rs`) gives them. Returns whether it published (or amended) an update.
    pub(crate) fn flush(&mut self, intent: &TrafficIntent) -> bool {
        let dirty = std::mem::take(&mut self.dirty);
        let mut membership = Vec::new();
        let mut removed = Vec::new();
        let mut joining = Vec::new();
        for id in dirty {
            let listed = self.rotation.published.revision_of(&id).cloned();
            let instance = self.fleet.get(&id);
            let eligible = instance.is_some_and(|i| self.may_serve(i));
            match (eligible, listed, instance) {
                (true, None, Some(instance)) => {
                    joining.push(id.clone());
                    membership.push(TableChange::AddInstance {
                        revision: instance.revision.clone(),
                        instance: id,
                        weight: InstanceWeight::ONE,
                    });
                }
                (false, Some(revision), _) => {
                    removed.push(id.clone());
                    membership.push(TableChange::RemoveInstance {
                        revision,
                        instance: id,
                    });
                }
                _ => {}
            }
        }
        // Proportional weights change only with membership: with none, and no routes or
        // mirror to drop, there is nothing to publish (the common case, kept cheap).
        let table = &self.rotation.published;
        if membership.is_empty()
            && !self.relayout
            && matches!(intent, TrafficIntent::Proportional)
            && table.routes().is_empty()
            && table.mirror().is_none()
        {
            return false;
        }
        let now = self.now;
        // Only an update the load balancer has not acknowledged can still be queued: the
        // common case (everything acknowledged) skips the scan of the queue.
        let pending = self.rotation.published.generation();
        let queued = (pending > self.rotation.acknowledged)
            .then(|| {
                self.actions.iter().rposition(|a| {
                    matches!(a, Action::UpdateTraffic { generation, .. } if *generation == pending)
                })
            })
            .flatten();
        let amend = queued.is_some();
        let mut counts = self.rotation.counts_after(&membership);
        let mut layout = self.layout(intent, &counts, amend);
        if layout.outage {
            // No user may be served: every listed instance leaves the table, and those
            // that could serve stay marked, to come back once the emergency is over.
            membership = self.rotation.emptying();
            removed = membership
                .iter()
                .filter_map(|change| match change {
                    TableChange::RemoveInstance { instance, .. } => Some(instance.clone()),
                    _ => None,
                })
                .collect();
            self.dirty.extend(joining);
            self.dirty.extend(removed.iter().cloned());
            counts = self.rotation.counts_after(&membership);
            layout = Shaping {
                layout: Layout {
                    weights: vec![Weight::ZERO; counts.len()],
                    ..Layout::default()
                },
                outage: true,
            };
        }
        let published = self
            .rotation
            .publish(now, membership, |_| layout.layout, amend);
        let changed = matches!(published, Ok(Some(_)));
        match published {
            Ok(Some(diff)) => match queued.and_then(|i| self.actions.get_mut(i)) {
                Some(Action::UpdateTraffic { diff: queued, .. }) => {
                    queued.changes.extend(diff.changes);
                }
                _ => {
                    let id = self.next_action_id();
                    self.actions.push_back(Action::UpdateTraffic {
                        id,
                        generation: diff.to_generation,
                        diff,
                    });
                }
            },
            Ok(None) => {}
            Err(error) => {
                debug_assert!(false, "the core's rules produced an invalid table: {error}");
                self.emit(EventKind::InternalError {
                    detail: format!("refused to publish an invalid table: {error}"),
                });
            }
        }
        // Instances that failed while listed can be forgotten once their exit is
        // acknowledged; ones that never made it into a table (an amended update took
        // them in and out before the load balancer saw it), now: drained or reaped.
        for id in removed {
            self.advance_retire(&id);
            self.reap(&id);
        }
        changed
    }

    /// The lanes the shaper works on: one per revision in `counts` (the instances each
    /// will have in rotation, in table order), with its weight in the table last sent
    /// and its planned weight, then one per planned revision not in the table (nothing
    /// of it can serve yet). Superseded revisions share their role's planned weight in
    /// proportion to their instances.
    pub(crate) fn lanes(
        &self,
        explicit: &ExplicitTraffic,
        counts: &[(Revision, usize)],
    ) -> Vec<(Revision, Lane)> {
        let superseded_total: u64 = counts
            .iter()
            .filter(|(r, _)| self.role_of(r) == Role::Superseded)
            .map(|(_, n)| *n as u64)
            .sum();
        let mut lanes: Vec<(Revision, Lane)> = counts
            .iter()
            .map(|(revision, n)| {
                let role = self.role_of(revision);
                let share = u64::from(explicit.weights[role].basis_points());
                let planned = match role {
                    Role::Superseded if superseded_total > 0 => {
                        share * *n as u64 / superseded_total
                    }
                    _ => share,
                };
                let lane = Lane {
                    role,
                    current: u32::from(self.rotation.published.weight(revision).basis_points()),
                    planned: u32::try_from(planned).unwrap_or(0),
                    servable: u32::try_from(*n).unwrap_or(u32::MAX),
                };
                (revision.clone(), lane)
            })
            .collect();
        for role in [Role::Stable, Role::Target, Role::Standby] {
            let planned = u32::from(explicit.weights[role].basis_points());
            for revision in self.revisions_of(role) {
                if planned > 0 && !counts.iter().any(|(r, _)| *r == revision) {
                    let lane = Lane {
                        role,
                        current: 0,
                        planned,
                        servable: 0,
                    };
                    lanes.push((revision, lane));
                }
            }
        }
        lanes
    }

    /// The weights, routes, mirror and order of the next table, given how many
    /// instances each revision will have in rotation (`counts`, in table order).
    fn layout(
        &mut self,
        intent: &TrafficIntent,
        counts: &[(Revision, usize)],
        amend: bool,
    ) -> Shaping {
        // Revisions holding keys in the table the load balancer has (when not amending).
        let keyed: Vec<bool> = counts
            .iter()
            .map(|(r, _)| !self.rotation.published.weight(r).is_zero())
            .collect();
        let relayout = std::mem::take(&mut self.relayout);
        let order = self
            .target()
            .and_then(|t| counts.iter().position(|(r, _)| r == t))
            .and_then(|at| {
                let keyed = (!amend).then_some(keyed.as_slice());
                shaper::target_last(counts.len(), at, keyed, relayout)
            })
            .map(|order| order.into_iter().map(|i| counts[i].0.clone()).collect());
        let mut shaping = match intent {
            TrafficIntent::Proportional => Shaping {
                layout: Layout {
                    weights: proportional_weights(counts),
                    ..Layout::default()
                },
                outage: false,
            },
            TrafficIntent::Explicit(explicit) => self.split(explicit, counts),
        };
        shaping.layout.order = order;
        shaping
    }

    /// The split the shaper makes of `explicit` for the next table: weights, routes to
    /// revisions that keep an instance (dropped in the same update as their target's
    /// last one) and the mirror, given each revision's instances (`counts`).
    fn split(&self, explicit: &ExplicitTraffic, counts: &[(Revision, usize)]) -> Shaping {
        let lanes: Vec<Lane> = self
            .lanes(explicit, counts)
            .into_iter()
            .map(|(_, lane)| lane)
            .collect();
        let rules = Rules {
            floor: self.limits.min_available(),
            held: !self.mode().1,
            gradual: explicit.gradual,
            policy: self.spec.emergency_routing,
        };
        let shaped = shaper::shape(&lanes, rules);
        let serving = |role: Role| {
            counts
                .iter()
                .find(|(r, n)| *n > 0 && self.role_of(r) == role && role != Role::Superseded)
                .map(|(r, _)| r.clone())
        };
        Shaping {
            outage: shaped.outage,
            layout: Layout {
                order: None,
                // Lanes past the table's revisions can serve nothing: their weight is 0.
                weights: shaped
                    .weights
                    .into_iter()
                    .take(counts.len())
                    .map(|bp| Weight::from_basis_points(u64::from(bp)).unwrap_or(Weight::ZERO))
                    .collect(),
                routes: explicit
                    .routes
                    .iter()
                    .filter_map(|(condition, role)| {
                        serving(*role).map(|r| MatchRoute::new(condition.clone(), r))
                    })
                    .collect(),
                mirror: explicit
                    .mirror
                    .and_then(|(role, share)| serving(role).map(|r| Mirror::new(r, share))),
            },
        }
    }
}

/// The next table's layout, and whether the emergency policy emptied it.
struct Shaping {
    layout: Layout,
    outage: bool,
}
