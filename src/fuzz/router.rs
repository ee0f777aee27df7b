//! The `router` target: tables edited in batches, a router compiled for each.

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

use crate::router::{Decision, Request};
use crate::traffic::{InstanceWeight, MatchCondition, MatchRoute, Mirror, TableChange};
use crate::{InstanceId, Revision, Router, TrafficTable, Weight};

use super::Bytes;

/// Builds traffic tables from `data` read as batches of edits, compiles a [`Router`] for
/// every table an edit batch produces, and routes requests derived from the bytes,
/// checking that
///
/// * a router edited by each batch's diff equals one built from the table afresh (its
///   table, and where it sends every sticky key);
/// * `route` returns `None` exactly when the table is empty;
/// * every decision names an instance in rotation under the decided revision, a
///   revision with weight > 0 unless a match route chose it (and then the route's own
///   revision), and the table's mirror revision if any;
/// * sticky decisions are the same every time and through every entry point.
///
/// Byte format: first a table (see `initial_table`), then a stream of edit opcodes with
/// their arguments; an opcode with the high bit set ends a batch, which is applied
/// atomically (rejected batches leave the table as it was) and followed by requests.
/// Running out of bytes ends everything.
pub fn router(data: &[u8]) {
    let mut bytes = Bytes(data);
    let mut table = initial_table(&mut bytes);
    let mut generation = 0u64;
    let mut incremental = Router::new(&table);
    check(&table, &mut bytes);
    while !bytes.0.is_empty() {
        let mut batch = Vec::new();
        while let Some(op) = bytes.next() {
            if op & 0x80 != 0 {
                break;
            }
            if let Some(change) = edit(op, &mut bytes, &table) {
                batch.push(change);
            }
        }
        let before = table.clone();
        if table.apply_changes(&batch).is_ok() {
            generation += 1;
            table.set_generation(generation);
            // The same edit as a diff, applied to the router built for the table before:
            // it must be the router a fresh build gives.
            incremental
                .apply(&before.diff(&table))
                .expect("a diff between two valid tables applies");
            same_router(&incremental, &table, &mut bytes);
        }
        check(&table, &mut bytes);
    }
    check(&table, &mut bytes);
}

/// A valid table from the bytes: up to four revisions with up to five instances each,
/// raw weights scaled to sum to 10,000 over the revisions that have instances, then match
/// routes and a mirror (dropped if they name a revision without instances).
fn initial_table(bytes: &mut Bytes<'_>) -> TrafficTable {
    let revisions: Vec<(u64, Vec<u32>)> = (0..bytes.byte() % 5)
        .map(|_| {
            let raw = u64::from(bytes.byte());
            let weights = (0..bytes.byte() % 6)
                .map(|_| u32::from(bytes.byte()) + 1)
                .collect();
            (raw, weights)
        })
        .collect();
    let total: u64 = revisions
        .iter()
        .filter(|(_, instances)| !instances.is_empty())
        .map(|(raw, _)| raw + 1)
        .sum();
    let mut shares: Vec<u64> = revisions
        .iter()
        .map(|(raw, instances)| match instances.is_empty() {
            true => 0,
            false => (raw + 1) * 10_000 / total.max(1),
        })
        .collect();
    // Rounding leaves a remainder; the first revision with instances takes it.
    let remainder = 10_000 - shares.iter().sum::<u64>();
    if let Some(first) = revisions.iter().position(|(_, i)| !i.is_empty()) {
        shares[first] += remainder;
    } else {
        return TrafficTable::empty();
    }
    let mut builder = TrafficTable::builder();
    for (r, ((_, instances), share)) in revisions.iter().zip(&shares).enumerate() {
        let name = format!("r{r}");
        builder = builder.revision(name.as_str(), *share, Vec::<InstanceId>::new());
        for (i, weight) in instances.iter().enumerate() {
            builder = builder.weighted_instance(name.as_str(), format!("i{r}{i}"), *weight);
        }
    }
    let plain = builder.clone().build();
    for _ in 0..bytes.byte() % 3 {
        let route = route(bytes);
        builder = builder.route(route.condition, route.revision);
    }
    if bytes.byte().is_multiple_of(2) {
        builder = builder.mirror(revision(bytes.byte()), u64::from(bytes.u16() % 10_001));
    }
    builder
        .build()
        .or(plain)
        .expect("weights were scaled to a valid split")
}

fn revision(b: u8) -> Revision {
    Revision::from(format!("r{}", b % 4))
}

fn instance(b: u8) -> InstanceId {
    InstanceId::from(format!("i{}{}", b % 4, (b >> 2) % 6))
}

/// One edit; a few kinds are built to be valid more often than raw bytes would be.
fn edit(op: u8, bytes: &mut Bytes<'_>, table: &TrafficTable) -> Option<TableChange> {
    Some(match op % 10 {
        0 => TableChange::AddRevision {
            revision: revision(bytes.byte()),
        },
        1 => TableChange::RemoveRevision {
            revision: revision(bytes.byte()),
        },
        2 => TableChange::SetWeight {
            revision: revision(bytes.byte()),
            weight: Weight::from_basis_points(u64::from(bytes.u16() % 10_001)).ok()?,
        },
        3 => TableChange::AddInstance {
            revision: revision(bytes.byte()),
            instance: instance(bytes.byte()),
            weight: instance_weight(bytes)?,
        },
        4 => TableChange::RemoveInstance {
            revision: revision(bytes.byte()),
            instance: instance(bytes.byte()),
        },
        5 => TableChange::SetInstanceWeight {
            revision: revision(bytes.byte()),
            instance: instance(bytes.byte()),
            weight: instance_weight(bytes)?,
        },
        6 => TableChange::SetRoutes {
            routes: (0..bytes.byte() % 4).map(|_| route(bytes)).collect(),
        },
        7 => TableChange::SetMirror {
            mirror: bytes.byte().is_multiple_of(2).then(|| {
                let target = revision(bytes.byte());
                let share = Weight::from_basis_points(u64::from(bytes.u16() % 10_001));
                Mirror::new(target, share.unwrap_or(Weight::ZERO))
            }),
        },
        8 => {
            let mut order: Vec<Revision> = table
                .backends()
                .iter()
                .map(|b| b.revision().clone())
                .collect();
            let by = usize::from(bytes.byte()) % order.len().max(1);
            order.rotate_left(by);
            if bytes.byte().is_multiple_of(2) {
                order.reverse();
            }
            TableChange::ReorderRevisions { order }
        }
        _ => return balance(bytes, table),
    })
}

fn instance_weight(bytes: &mut Bytes<'_>) -> Option<InstanceWeight> {
    let weight = u32::from(bytes.byte()) + 1;
    InstanceWeight::new(&InstanceId::from("fuzz"), weight).ok()
}

fn route(bytes: &mut Bytes<'_>) -> MatchRoute {
    let value = format!("v{}", bytes.byte() % 4);
    let condition = match bytes.byte() % 4 {
        0 => MatchCondition::header_equals("X-Canary", value),
        1 => MatchCondition::header_prefix("x-group", value),
        2 => MatchCondition::cookie_equals("beta", value),
        _ => MatchCondition::key_in([value, "k1".to_owned()]),
    };
    MatchRoute::new(condition, revision(bytes.byte()))
}

/// Gives weight to the first revision with instances (all of it, or split with a second
/// one by a byte) and zero to the rest: the edit that turns most tables valid.
fn balance(bytes: &mut Bytes<'_>, table: &TrafficTable) -> Option<TableChange> {
    let first = table.backends().iter().find(|b| b.instance_count() > 0)?;
    let second = table
        .backends()
        .iter()
        .find(|b| b.instance_count() > 0 && b.revision() != first.revision());
    let share = u64::from(bytes.u16() % 10_001);
    let (revision, weight) = match second {
        Some(second) if bytes.byte().is_multiple_of(2) => {
            (second.revision().clone(), 10_000 - share)
        }
        _ => (first.revision().clone(), 10_000),
    };
    Some(TableChange::SetWeight {
        revision,
        weight: Weight::from_basis_points(weight).ok()?,
    })
}

/// Checks that `incremental` (edited by diffs) holds `table` and routes every sticky key
/// as a router freshly built from `table` does.
fn same_router(incremental: &Router, table: &TrafficTable, bytes: &mut Bytes<'_>) {
    assert_eq!(incremental.table(), table, "diffs applied give the table");
    assert_eq!(incremental.generation(), table.generation());
    let fresh = Router::new(table);
    for _ in 0..4 {
        let key = bytes.take(12).to_vec();
        assert_eq!(
            incremental.route_sticky(&key),
            fresh.route_sticky(&key),
            "an edited router routes key {key:?} as a fresh one"
        );
    }
}

/// Compiles `table` and routes a few requests made from the next bytes.
pub(super) fn check(table: &TrafficTable, bytes: &mut Bytes<'_>) {
    let router = Router::new(table);
    assert_eq!(router.generation(), table.generation());
    assert_eq!(router.is_empty(), table.is_empty());
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(u64::from(bytes.u16()));
    for _ in 0..4 {
        let header = format!("v{}", bytes.byte() % 5);
        let headers = [("x-canary", header.as_str()), ("X-Group", header.as_str())];
        let cookies = [("beta", header.as_str())];
        let key = bytes.take(12).to_vec();
        let shape = bytes.byte();
        let mut request = Request::new();
        if shape & 1 != 0 {
            request = request.with_headers(&headers);
        }
        if shape & 2 != 0 {
            request = request.with_cookies(&cookies);
        }
        if shape & 4 != 0 {
            request = request.with_key(&key);
        }
        let decision = router.route(&request, &mut rng);
        assert_eq!(decision.is_none(), table.is_empty());
        if let Some(decision) = decision {
            check_decision(table, &decision);
        }
        if let Some(decision) = router.route_random(&mut rng) {
            check_decision(table, &decision);
            assert_eq!(decision.matched_route(), None);
        }
        let sticky = router.route_sticky(&key);
        assert_eq!(sticky.is_none(), table.is_empty());
        assert_eq!(sticky, router.route_sticky(&key));
        assert_eq!(
            sticky,
            router.route(&Request::new().with_key(&key), &mut rng)
        );
        if let Some(decision) = sticky {
            check_decision(table, &decision);
        }
    }
}

fn check_decision(table: &TrafficTable, decision: &Decision<'_>) {
    let backend = table
        .backend(decision.revision())
        .expect("a revision of the table");
    assert!(
        backend.contains(decision.instance()),
        "instance not in rotation"
    );
    match decision.matched_route() {
        None => assert!(!backend.weight().is_zero(), "split chose a zero weight"),
        Some(index) => {
            let route = table.routes().get(index).expect("a route of the table");
            assert_eq!(&route.revision, decision.revision());
        }
    }
    if let Some(mirror) = decision.mirror() {
        assert_eq!(Some(mirror), table.mirror().map(|m| &m.revision));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_assorted_inputs() {
        let inputs: [&[u8]; 6] = [
            b"",
            &[0x80],
            // Add r0, add i0 and i1 to it, balance: a one-revision table.
            &[
                0, 0, 3, 0, 0, 0, 3, 0, 1, 3, 9, 0, 0, 0, 0x80, 1, 2, 3, 4, 5, 6, 7,
            ],
            // Then a second revision, a split, routes and a mirror.
            &[
                0, 0, 3, 0, 0, 0, 0, 1, 3, 1, 2, 7, 9, 0x10, 0x27, 0, 0x80, 6, 3, 1, 0, 1, 2, 3, 0,
                3, 3, 1, 7, 0, 1, 0x88, 0x13, 0x80, 9, 9, 9, 9, 9, 9, 9, 9, 9,
            ],
            &[0xff; 64],
            &[7, 3, 9, 0x80, 8, 1, 0x80, 1, 0, 0x80, 5, 5, 5],
        ];
        for input in inputs {
            router(input);
        }
    }

    #[test]
    fn survives_pseudo_random_inputs() {
        let mut state = 0x1234_5678_9abc_def0u64;
        for _ in 0..12 {
            let input: Vec<u8> = (0..160)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    // Mostly opcodes that build tables, so that many become valid.
                    (state >> 56) as u8 & if state & 1 == 0 { 0x0f } else { 0xff }
                })
                .collect();
            router(&input);
        }
    }
}
