//! The ring's own tests: builds against the races, edits against fresh builds, and
//! bucket answers against scans.

use super::*;
use crate::router::split::mix64;

fn race<'a>(weights: &'a [u16], ranks: &'a [u32]) -> Race<'a> {
    Race { weights, ranks }
}

/// A reproducible stream of pseudo-random numbers (splitmix64) from `seed`.
fn stream(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state = mix64(state.wrapping_add(0x9e37_79b9_7f4a_7c15));
        state
    }
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("web-{i:03}")).collect()
}

/// The points of the instances `ids(n)` (slot `s` is `ids(n)[s]`), squeezed into the low
/// `spread` places (with a small `spread`: places shared and places side by side).
fn squeezed_points(n: usize, spread: u32) -> Vec<u64> {
    ids(n)
        .iter()
        .enumerate()
        .flat_map(|(slot, id)| {
            positions(id)
                .map(move |p| entry(p % spread, POINT, slot as u32))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn build(ids: &[String], weights: &[u16], embed: bool) -> Ring {
    let ranks: Vec<u32> = (0..ids.len() as u32).collect();
    Ring::build(
        ids.iter().map(|s| Some(s.as_str())),
        &race(weights, &ranks),
        embed,
    )
}

/// A fresh build of the instances `ids` whose weight is not 0 (`weights` by slot),
/// ties ranked by `ranks`: what every edit must equal.
fn fresh_build(ids: &[String], weights: &[u16], ranks: &[u32], embed: bool) -> Ring {
    Ring::build(
        ids.iter()
            .zip(weights)
            .map(|(id, w)| (*w > 0).then_some(id.as_str())),
        &race(weights, ranks),
        embed,
    )
}

/// Moves slot `slot` to weight `to` in `weights` and edits `ring` to match: an edit in
/// place must give a fresh build's entries (then `true`); otherwise `ring` becomes the
/// fresh build.
fn edit_matches_fresh(
    ring: &mut Ring,
    (ids, ranks, embed): (&[String], &[u32], bool),
    weights: &mut [u16],
    (slot, to): (usize, u16),
) -> bool {
    let from = weights[slot];
    weights[slot] = to;
    let ok = ring.update(&ids[slot], slot as u32, (from, to), &race(weights, ranks));
    let want = fresh_build(ids, weights, ranks, embed);
    if ok {
        assert_eq!(
            ring.entries(),
            want.entries(),
            "slot {slot}: {from} to {to}"
        );
    } else {
        *ring = want;
    }
    ok
}

#[test]
fn embedded_and_scanned_buckets_agree() {
    let ids = ids(5);
    let weights = [1, 3, 1, 7, 2];
    let (a, b) = (build(&ids, &weights, true), build(&ids, &weights, false));
    assert_eq!(a.entries(), b.entries());
    let mut point = 7u32;
    for _ in 0..50_000 {
        assert_eq!(a.owner(point), b.owner(point));
        point = point.wrapping_add(85_899_343);
    }
    for e in a.entries() {
        let at = (e >> 32) as u32;
        for q in [at.wrapping_sub(1), at, at.wrapping_add(1), 0, u32::MAX] {
            assert_eq!(a.owner(q), b.owner(q));
        }
    }
}

#[test]
fn updates_equal_fresh_builds() {
    let ids = ids(12);
    let mut weights: Vec<u16> = (0..12).map(|i| 1 + (i % 3) as u16).collect();
    let ranks: Vec<u32> = (0..12).collect();
    let mut ring = build(&ids, &weights, true);
    for (slot, to) in [(3usize, 0u16), (3, 2), (5, 9), (0, 0), (0, 1), (7, 1)] {
        let from = weights[slot];
        weights[slot] = to;
        let ok = ring.update(&ids[slot], slot as u32, (from, to), &race(&weights, &ranks));
        let fresh = fresh_build(&ids, &weights, &ranks, true);
        if ok {
            assert_eq!(ring.entries(), fresh.entries(), "slot {slot} to {to}");
            let mut point = 3u32;
            for _ in 0..20_000 {
                assert_eq!(ring.owner(point), fresh.owner(point));
                point = point.wrapping_add(214_748_369);
            }
        } else {
            ring = fresh;
        }
    }
}

/// Many random edits (weights close together and far apart): every edit that the
/// ring makes in place gives the same entries as a fresh build, and many are made in
/// place.
#[test]
fn random_updates_equal_fresh_builds() {
    let mut next = stream(7);
    let mut in_place = 0;
    let rounds = 60;
    for round in 0..rounds {
        let n = 3 + (next() % 120) as usize;
        let top = [2u64, 3, 8, 256][round % 4];
        let ids = ids(n);
        let ranks: Vec<u32> = (0..n as u32).collect();
        let mut weights: Vec<u16> = (0..n).map(|_| 1 + (next() % top) as u16).collect();
        let mut ring = build(&ids, &weights, round % 5 != 0);
        for _ in 0..4 {
            let slot = (next() % n as u64) as usize;
            let live = weights.iter().filter(|w| **w > 0).count();
            let to = match next() % 3 {
                0 if live > 2 => 0,
                _ => 1 + (next() % top) as u16,
            };
            let from = weights[slot];
            weights[slot] = to;
            let race = race(&weights, &ranks);
            let ok = ring.update(&ids[slot], slot as u32, (from, to), &race);
            let fresh = fresh_build(&ids, &weights, &ranks, round % 5 != 0);
            if ok {
                in_place += 1;
                assert_eq!(ring.entries(), fresh.entries(), "round {round} slot {slot}");
                // The bucket answers too, round every entry and in between.
                for e in fresh.entries() {
                    let at = (e >> 32) as u32;
                    for q in [at.wrapping_sub(1), at, at.wrapping_add(1)] {
                        assert_eq!(ring.owner(q), fresh.owner(q), "round {round} at {q}");
                    }
                }
                for _ in 0..2_000 {
                    let q = next() as u32;
                    assert_eq!(ring.owner(q), fresh.owner(q), "round {round} at {q}");
                }
            } else {
                ring = fresh;
            }
        }
    }
    // Wide weight ranges and small rings reach too far and rebuild; the rest do not.
    assert!(in_place > rounds, "only {in_place} edits in place");
}

/// With equal weights the quick build gives the same entries and the same answers as
/// the races, ties included.
#[test]
fn equal_builds_agree_with_the_races() {
    for (n, spread) in [
        (2usize, u32::MAX),
        (7, u32::MAX),
        (40, u32::MAX),
        (300, u32::MAX),
        (5, 1 << 10),
        (30, 1 << 14),
    ] {
        let weights = vec![3u16; n];
        let ranks: Vec<u32> = (0..n as u32).rev().collect();
        let race = race(&weights, &ranks);
        let keys = squeezed_points(n, spread);
        for embed in [true, false] {
            let sorted = sort_points(|| keys.iter().copied(), keys.len());
            let quick = Ring::build_equal(&sorted, &race, embed);
            let swept = Ring::build_swept(&sorted, &race, embed);
            assert_eq!(quick.entries(), swept.entries(), "{n} {spread}");
            assert_eq!(quick.max_gap, swept.max_gap);
            let mut q = 11u32;
            for _ in 0..20_000 {
                assert_eq!(quick.owner(q), swept.owner(q), "{n} {spread} at {q}");
                q = q.wrapping_add(214_748_369) % spread.max(1 << 20);
            }
            for e in swept.entries() {
                let at = (e >> 32) as u32;
                for x in [at.wrapping_sub(1), at, at.wrapping_add(1)] {
                    assert_eq!(quick.owner(x), swept.owner(x), "{n} {spread} at {x}");
                }
            }
        }
    }
}

/// Instances joining and leaving rings of equal weights, small and large: the same
/// answers as fresh builds.
#[test]
fn equal_joins_and_leaves_equal_fresh_builds() {
    for n in [2usize, 3, 7, 20, 150] {
        let ids = ids(n + 1);
        let ranks: Vec<u32> = (0..=n as u32).collect();
        let mut weights = vec![1u16; n + 1];
        weights[n] = 0;
        let fresh = |weights: &[u16]| fresh_build(&ids, weights, &ranks, true);
        let mut ring = fresh(&weights);
        for (slot, from, to) in [(n, 0u16, 1u16), (0, 1, 0), (0, 0, 1), (n, 1, 0)] {
            weights[slot] = to;
            let ok = ring.update(&ids[slot], slot as u32, (from, to), &race(&weights, &ranks));
            let want = fresh(&weights);
            if !ok {
                ring = want;
                continue;
            }
            assert_eq!(ring.entries(), want.entries(), "{n}: {slot} to {to}");
            let mut q = 5u32;
            for _ in 0..50_000 {
                assert_eq!(ring.owner(q), want.owner(q), "{n}: {slot} to {to} at {q}");
                q = q.wrapping_add(85_899_343);
            }
        }
    }
}

/// The bench's re-weight: one instance of 1,000 (or of the 900 the bench's stable
/// revision has, named as the bench names them) equal ones going to weight 2 is an
/// edit, not a rebuild: every arc has room for the cuts it gains.
#[test]
fn one_reweight_in_a_large_ring_is_an_edit() {
    let bench: Vec<String> = (0..900).map(|i| format!("web-{i:04}")).collect();
    for ids in [ids(1_000), bench] {
        let n = ids.len();
        let mut weights = vec![1u16; n];
        let mut ring = build(&ids, &weights, true);
        weights[5] = 2;
        let ranks: Vec<u32> = (0..n as u32).collect();
        assert!(
            ring.update(&ids[5], 5, (1, 2), &race(&weights, &ranks)),
            "{n}"
        );
        let fresh = build(&ids, &weights, true);
        assert_eq!(ring.entries(), fresh.entries());
    }
}

/// One instance apart from an even pool (re-weighted, joining or leaving, with any
/// weights, small pools and large, points squeezed together or not): every edit in
/// place gives the entries and answers of a fresh build.
#[test]
fn edits_of_one_instance_apart_equal_fresh_builds() {
    let mut next = stream(11);
    let mut in_place = 0;
    for round in 0..80 {
        let n = 3 + (next() % [8u64, 60, 400][round % 3]) as usize;
        let ids = ids(n);
        let ranks: Vec<u32> = (0..n as u32).rev().collect();
        let even = 1 + (next() % [1u64, 3, 256][round % 3]) as u16;
        let mut weights = vec![even; n];
        let slot = (next() % n as u64) as usize;
        weights[slot] = 0;
        let fresh = |weights: &[u16]| fresh_build(&ids, weights, &ranks, round % 4 != 0);
        let mut ring = fresh(&weights);
        // Join with some weight, change it a few times, leave.
        // Mostly near the pool's weight (far heavier ones reach too far to edit).
        let top = if round % 5 == 0 {
            256
        } else {
            (3 * u64::from(even)).min(256)
        };
        let mut steps: Vec<u16> = (0..4).map(|_| 1 + (next() % top) as u16).collect();
        steps.insert(2, even);
        steps.push(0);
        let embed = round % 4 != 0;
        for to in steps {
            if !edit_matches_fresh(&mut ring, (&ids, &ranks, embed), &mut weights, (slot, to)) {
                continue;
            }
            in_place += 1;
            let want = fresh(&weights);
            for _ in 0..3_000 {
                let q = next() as u32;
                assert_eq!(ring.owner(q), want.owner(q), "round {round} at {q}");
            }
        }
    }
    assert!(in_place > 180, "only {in_place} edits in place");
}

/// An instance two of whose points lie close together (the walks from one cross the
/// other's place, and the others' gap there spans both sides of it): edits of it in
/// an even pool, lighter and heavier, give the entries of fresh builds.
#[test]
fn edits_of_an_instance_with_points_close_together_equal_fresh_builds() {
    let n = 300;
    let mean_gap = LAP / (n as i64 * POINTS as i64);
    let mut in_place = 0;
    for seed in 0..40 {
        // The first id (from a numbered family) with two points within 2 mean gaps.
        let odd = (0..)
            .map(|k| format!("close-{seed}-{k}"))
            .find(|id| {
                let mut places: Vec<i64> = positions(id).map(i64::from).collect();
                places.sort_unstable();
                places.windows(2).any(|w| w[1] - w[0] < 2 * mean_gap)
            })
            .expect("some id has two points close together");
        let mut ids = ids(n);
        ids.push(odd);
        let ranks: Vec<u32> = (0..=n as u32).collect();
        let mut weights = vec![1u16; n + 1];
        weights[n] = 0;
        let mut ring = fresh_build(&ids, &weights, &ranks, true);
        for to in [2u16, 4, 3, 1, 5, 0] {
            let edited = (&ids[..], &ranks[..], true);
            in_place += usize::from(edit_matches_fresh(&mut ring, edited, &mut weights, (n, to)));
        }
    }
    assert!(in_place > 150, "only {in_place} edits in place");
}

#[test]
fn a_single_instance_owns_everything() {
    let ring = build(&ids(1), &[4], true);
    for point in [0, 1, u32::MAX / 3, u32::MAX] {
        assert_eq!(ring.owner(point), 0);
    }
}

#[test]
fn weights_share_keys_in_proportion() {
    let ring = build(&["light".into(), "heavy".into()], &[1, 3], true);
    let n = 200_000u64;
    let heavy = (0..n)
        .filter(|k| ring.owner((mix64(*k) >> 32) as u32) == 1)
        .count();
    let share = heavy as f64 / n as f64;
    assert!((0.68..0.82).contains(&share), "{share}");
}

/// A build writes every bucket's answer in one walk along the circle ([`answer_all`]),
/// an edit rewrites an arc's with [`Ring::fill`]: the two give the same answers, word for
/// word, for equal weights and unequal, places spread out and squeezed together, and the
/// top of the circle with a cut on either side of it or none.
#[test]
fn builds_and_edits_write_the_same_bucket_answers() {
    let answers_agree = |keys: &[u64], weights: &[u16], ranks: &[u32], what: &str| {
        let race = race(weights, ranks);
        let sorted = sort_points(|| keys.iter().copied(), keys.len());
        let built = if weights.iter().all(|w| *w == weights[0]) {
            Ring::build_equal(&sorted, &race, true)
        } else {
            Ring::build_swept(&sorted, &race, true)
        };
        let mut refilled = built.clone();
        for arc in 0..refilled.arcs() {
            refilled.fill(arc, (0, usize::MAX));
        }
        assert_eq!(built.buckets, refilled.buckets, "{what}");
    };
    let mut next = stream(5);
    for round in 0..60 {
        let n = 2 + (next() % [5u64, 60, 700][round % 3]) as usize;
        let weights: Vec<u16> = match round % 4 {
            0 | 1 => vec![1; n],
            2 => (0..n).map(|_| 1 + (next() % 3) as u16).collect(),
            _ => (0..n).map(|_| 1 + (next() % 256) as u16).collect(),
        };
        let ranks: Vec<u32> = (0..n as u32).collect();
        let spread = if round % 2 == 0 { u32::MAX } else { 1 << 20 };
        let what = format!("round {round}: {n} instances");
        answers_agree(&squeezed_points(n, spread), &weights, &ranks, &what);
    }
    // The last place and the first, of different owners, one or two apart across the
    // top: the gap's cut falls after the top, before it, or on the last point itself.
    for (gap, ranks) in [
        (1u32, [0u32, 1, 2]),
        (2, [0, 1, 2]),
        (2, [1, 0, 2]),
        (3, [1, 0, 2]),
    ] {
        let mut keys = squeezed_points(3, u32::MAX);
        keys[0] = entry(gap - 1, POINT, 0);
        keys[64] = entry(u32::MAX, POINT, 1);
        let what = format!("across the top, {gap} apart, ranks {ranks:?}");
        answers_agree(&keys, &[1, 1, 1], &ranks, &what);
    }
}
