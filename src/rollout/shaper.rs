//! The traffic shaper: the one place that decides the weights of the next table, from
//! the weights the load balancer was last sent, what the plan wants, and what each
//! revision's instances can carry. Planners say where traffic should end up; every rule
//! about how it gets there lives here:
//!
//! 1. **Only what can serve has weight** (invariant 1): a revision with no instance that
//!    may serve gets none.
//! 2. **Held until carried** (invariant 5): a revision's weight rises to its plan only
//!    once its instances carry it at the floor's rate (scale first, then route), or, for
//!    a plan that asks to move gradually, as far as they carry it at each moment; a
//!    revision falls toward its plan only as far as the others' rises take its share
//!    (route first, then scale): an abort whose stable revision is short is a reverse
//!    rolling update, the target serving until stable can carry it.
//! 3. **Superseded first, target last**: while a superseded revision still has weight
//!    in the table last sent and a stable revision can serve, the target does not rise:
//!    the rest of its planned share is stable's ([`effective_plan`]). The superseded
//!    share returns to stable first, and the target rises in a later table, next to
//!    stable. The target is laid
//!    out last in the table ([`target_last`]), so that its keys depend on its own weight
//!    alone, as the router's monotonicity theorem needs.
//! 4. **Faults never raise a revision above its plan** (traffic never leaks): a revision
//!    whose instances fail keeps its share and runs hot; nothing of it moves to a
//!    revision that has room. A held rollout (paused, halted) moves weight only back
//!    toward the known-good revisions (stable, standby), never forward.
//! 5. **Orphaned share**: when a revision in the table is left with no instance that can
//!    serve, its share must go somewhere in this very table. In order: to planned
//!    revisions still below their plan (within capacity, then running hot); then, as an
//!    emergency, beyond plan to the known-good revisions (stable, standby), which every
//!    user was on before the rollout; then, only under
//!    [`EmergencyRouting::ServeAvailable`], to any other revision that can serve. Under
//!    [`EmergencyRouting::StopServing`] the table is emptied instead: an outage of the
//!    whole service rather than users on a revision nobody planned them on.
//!
//! The shaper is pure arithmetic over [`Lane`]s, one per revision in layout order; the
//! core builds the lanes and publishes what comes out.

use crate::spec::EmergencyRouting;
use crate::strategy::Role;
use crate::traffic::TOTAL_BASIS_POINTS;

/// All traffic, in basis points.
const FULL: u32 = TOTAL_BASIS_POINTS as u32;

/// One revision as the shaper sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lane {
    /// The part the revision plays.
    pub role: Role,
    /// Its weight in the table last published, in basis points.
    pub current: u32,
    /// The weight its plan gives it, in basis points.
    pub planned: u32,
    /// Its instances that may serve once this call's table is published.
    pub servable: u32,
}

/// What the shaper needs besides the lanes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    /// Available instances the rollout keeps (`desired - max_unavailable`): a revision
    /// with `n` instances carries `n / floor` of the traffic.
    pub floor: u32,
    /// Whether the rollout is held (paused, halted): then only the known-good revisions
    /// (stable, standby) may rise toward their plan.
    pub held: bool,
    /// Whether a weight may rise part of the way toward its plan, as far as capacity
    /// carries it; otherwise it rises only once its instances carry all of the plan.
    pub gradual: bool,
    /// Where an orphaned share goes when nothing planned or known-good can take it.
    pub policy: EmergencyRouting,
}

/// The weights of the next table, one per lane, in basis points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shaped {
    pub weights: Vec<u32>,
    /// The policy emptied the table: nothing may serve users.
    pub outage: bool,
}

/// The most traffic `servable` instances carry at the floor's rate, in basis points.
pub(crate) fn capacity(servable: u32, floor: u32) -> u32 {
    match (servable, floor) {
        (0, _) => 0,
        (_, 0) => FULL,
        (n, floor) => {
            let carried = u64::from(n) * u64::from(FULL) / u64::from(floor);
            u32::try_from(carried.min(u64::from(FULL))).unwrap_or(FULL)
        }
    }
}

/// The order in which lanes take weight: the known-good revisions first, the target
/// last.
const RISE_ORDER: &[Role] = &[
    Role::Stable,
    Role::Standby,
    Role::Baseline,
    Role::Superseded,
    Role::Target,
];

/// The order in which lanes give weight up: the most disposable first.
const FALL_ORDER: &[Role] = Role::REMOVAL_ORDER;

/// Lane indexes in the order of `roles`, and within a role in layout order.
fn ordered<'a>(lanes: &'a [Lane], roles: &'a [Role]) -> impl Iterator<Item = usize> + 'a {
    roles
        .iter()
        .copied()
        .flat_map(move |role| (0..lanes.len()).filter(move |&i| lanes[i].role == role))
}

/// The plan as the shaper pursues it now: while a superseded revision still holds
/// weight (in the table last sent) and a stable revision can serve, the target does not
/// rise: the part of its planned share above what it has is the stable revision's
/// (rule 3). What the target already carries stays its own: moving its users to stable
/// and back would flap them. Returns each lane's planned weight.
pub(crate) fn effective_plan(lanes: &[Lane]) -> Vec<u32> {
    let mut planned: Vec<u32> = lanes.iter().map(|l| l.planned).collect();
    let stable = lanes
        .iter()
        .position(|l| l.role == Role::Stable && l.servable > 0);
    let superseded_holds = lanes
        .iter()
        .any(|l| l.role == Role::Superseded && l.current > 0 && l.servable > 0);
    if let (Some(stable), true) = (stable, superseded_holds) {
        for (i, lane) in lanes.iter().enumerate() {
            if lane.role == Role::Target {
                let kept = planned[i].min(lane.current);
                planned[stable] += planned[i] - kept;
                planned[i] = kept;
            }
        }
    }
    planned
}

/// The weights of the next table (see the module docs for the rules).
pub(crate) fn shape(lanes: &[Lane], rules: Rules) -> Shaped {
    let planned = effective_plan(lanes);
    let lanes: Vec<Lane> = lanes
        .iter()
        .zip(&planned)
        .map(|(lane, planned)| Lane {
            planned: *planned,
            ..*lane
        })
        .collect();
    let lanes = lanes.as_slice();
    let caps: Vec<u32> = lanes
        .iter()
        .map(|l| capacity(l.servable, rules.floor))
        .collect();
    let mut weights: Vec<u32> = lanes
        .iter()
        .map(|l| {
            if l.servable > 0 {
                l.current.min(FULL)
            } else {
                0
            }
        })
        .collect();
    let mut orphan = FULL.saturating_sub(weights.iter().sum::<u32>());
    if lanes.iter().all(|l| l.servable == 0) {
        return Shaped {
            weights: vec![0; lanes.len()],
            outage: false,
        };
    }
    // How far lane `i` may rise without passing its plan, within capacity or not.
    let room = |i: usize, weights: &[u32], within_capacity: bool| {
        let lane = &lanes[i];
        if lane.servable == 0 {
            return 0;
        }
        let limit = match (within_capacity, rules.gradual) {
            (false, _) => lane.planned,
            (true, true) => lane.planned.min(caps[i]),
            // Held until carried: all of the plan once the instances carry it.
            (true, false) if caps[i] >= lane.planned => lane.planned,
            (true, false) => weights[i],
        };
        limit.saturating_sub(weights[i])
    };
    // An orphaned share goes first where the plan wants traffic anyway.
    for within_capacity in [true, false] {
        for i in ordered(lanes, RISE_ORDER).collect::<Vec<_>>() {
            let give = room(i, &weights, within_capacity).min(orphan);
            weights[i] += give;
            orphan -= give;
        }
    }
    if orphan > 0 {
        orphan = spread(lanes, &mut weights, orphan, |l| {
            matches!(l.role, Role::Stable | Role::Standby)
        });
        if rules.policy == EmergencyRouting::ServeAvailable {
            orphan = spread(lanes, &mut weights, orphan, |l| l.planned > 0);
            orphan = spread(lanes, &mut weights, orphan, |_| true);
        }
        if orphan > 0 {
            return Shaped {
                weights: vec![0; lanes.len()],
                outage: true,
            };
        }
    }
    let known_good = |lane: &Lane| matches!(lane.role, Role::Stable | Role::Standby);
    let may_rise = |i: usize, weights: &[u32], within_capacity: bool| {
        if rules.held && !known_good(&lanes[i]) {
            0
        } else {
            room(i, weights, within_capacity)
        }
    };
    move_toward_plan(lanes, &mut weights, &may_rise);
    Shaped {
        weights,
        outage: false,
    }
}

/// Moves weight from lanes above their plan to lanes below it, as far as the risers'
/// capacity takes it: the most disposable give first, the target takes last.
fn move_toward_plan(
    lanes: &[Lane],
    weights: &mut [u32],
    room: &dyn Fn(usize, &[u32], bool) -> u32,
) {
    let risers: Vec<usize> = ordered(lanes, RISE_ORDER).collect();
    let mut can_take: u32 = risers.iter().map(|&i| room(i, weights, true)).sum();
    let mut moved = 0;
    for i in ordered(lanes, FALL_ORDER).collect::<Vec<_>>() {
        let give = weights[i].saturating_sub(lanes[i].planned).min(can_take);
        weights[i] -= give;
        can_take -= give;
        moved += give;
    }
    for i in risers {
        let take = room(i, weights, true).min(moved);
        weights[i] += take;
        moved -= take;
    }
    debug_assert_eq!(moved, 0, "every basis point given up is taken");
}

/// The layout order that puts the target (lane `target`) last, if it is not there yet
/// and moving it moves no key: only while the target holds no keys (a revision of
/// weight 0 takes no room in the split), or while none of the revisions after it does.
/// The split lays revisions out from the start of the key space, so the last one's keys
/// depend on its own weight alone: whatever happens to the weights before it, no key
/// leaves the target while its share does not shrink.
///
/// A revision that comes (back) into the table while the target has weight (the stable
/// revision returning after all its instances failed) goes before it: it held no keys,
/// so placing it there moves none.
///
/// `keyed` says, per lane, whether the revision holds keys in the table the load balancer
/// has; it is `None` while an update is amended (the load balancer has not seen the
/// weights it moved), and then nothing is moved. `relayout` (the first table of a new
/// rollout) moves the target last whatever it holds: an adopted table may list it in the
/// middle, where weight moving between the revisions beside it would move its keys for
/// the whole rollout. Returns the new order as lane indexes.
pub(crate) fn target_last(
    lanes: usize,
    target: usize,
    keyed: Option<&[bool]>,
    relayout: bool,
) -> Option<Vec<usize>> {
    if target + 1 >= lanes {
        return None;
    }
    if !relayout {
        let keyed = keyed?;
        if keyed[target] && keyed[target + 1..].iter().any(|k| *k) {
            return None;
        }
    }
    let mut order: Vec<usize> = (0..lanes).filter(|&i| i != target).collect();
    order.push(target);
    Some(order)
}

/// Gives `orphan` basis points to the servable lanes `eligible` accepts, in proportion
/// to their servable instances (largest remainder, ties to the earlier lane). Returns
/// what is left (all of it if no lane is eligible).
fn spread(
    lanes: &[Lane],
    weights: &mut [u32],
    orphan: u32,
    eligible: impl Fn(&Lane) -> bool,
) -> u32 {
    let takers: Vec<usize> = (0..lanes.len())
        .filter(|&i| lanes[i].servable > 0 && eligible(&lanes[i]))
        .collect();
    let total: u64 = takers.iter().map(|&i| u64::from(lanes[i].servable)).sum();
    if orphan == 0 || total == 0 {
        return orphan;
    }
    let mut given = 0;
    let mut remainders = Vec::with_capacity(takers.len());
    for &i in &takers {
        let share = u64::from(orphan) * u64::from(lanes[i].servable);
        // At most `orphan`, so it fits.
        let whole = u32::try_from(share / total).unwrap_or(orphan);
        weights[i] += whole;
        given += whole;
        remainders.push((std::cmp::Reverse(share % total), i));
    }
    remainders.sort();
    for (_, i) in remainders.into_iter().take((orphan - given) as usize) {
        weights[i] += 1;
    }
    0
}

#[cfg(test)]
mod tests;
