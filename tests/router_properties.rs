//! Properties of the weighted router, over random tables.
//!
//! * random routing follows the revision and instance weights (≥ 100k draws, a 6-sigma
//!   binomial bound per cell) and the mirror share;
//! * sticky routing is deterministic, monotone when a revision grows at the expense of
//!   its layout neighbour, and disturbs only the churned instance's keys;
//! * no decision names an instance out of rotation, or a zero-weight revision unless a
//!   match route chose it; match routes win in table order.

use std::collections::BTreeMap;

use cutover::router::{Decision, Request};
use cutover::traffic::{MatchCondition, TableChange};
use cutover::{InstanceId, Revision, Router, TrafficTable, Weight};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

/// Draws per frequency check: enough for a 6-sigma bound of about 1% on a 10% cell.
const DRAWS: u64 = 100_000;

/// Revision weights in layout order: `count` weights summing to 10,000, some maybe zero.
fn weights(count: usize) -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(0..=10_000u64, count - 1).prop_map(|mut cuts| {
        cuts.sort_unstable();
        let mut last = 0;
        let mut weights: Vec<u64> = cuts
            .iter()
            .map(|c| {
                let w = c - last;
                last = *c;
                w
            })
            .collect();
        weights.push(10_000 - last);
        weights
    })
}

/// A table of 1..=4 revisions, each with 1..=5 instances of weight 1..=`max_weight`.
fn table(max_weight: u32) -> impl Strategy<Value = TrafficTable> {
    (1..=4usize)
        .prop_flat_map(move |count| {
            let instances =
                prop::collection::vec(prop::collection::vec(1..=max_weight, 1..=5), count);
            (weights(count), instances, any::<u64>())
        })
        .prop_map(|(weights, instances, generation)| {
            let mut builder = TrafficTable::builder().generation(generation);
            for (r, (weight, members)) in weights.iter().zip(&instances).enumerate() {
                builder = builder.revision(format!("r{r}"), *weight, Vec::<String>::new());
                for (i, w) in members.iter().enumerate() {
                    builder = builder.weighted_instance(format!("r{r}"), format!("r{r}-i{i}"), *w);
                }
            }
            builder.build().expect("generated tables are valid")
        })
}

fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// Asserts `count` of `n` trials is within 6 sigma (plus one, for tiny cells) of `p`.
fn assert_binomial(count: u64, n: u64, p: f64, what: &str) {
    let expected = n as f64 * p;
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (count as f64 - expected).abs() <= 6.0 * sigma + 1.0,
        "{what}: {count} of {n}, expected {expected:.1} ± {sigma:.1}"
    );
}

/// The invariant every decision keeps.
fn assert_sound(table: &TrafficTable, decision: &Decision<'_>) {
    let backend = table
        .backend(decision.revision())
        .expect("the decided revision is in the table");
    assert!(
        backend.contains(decision.instance()),
        "{} is not in rotation under {}",
        decision.instance(),
        decision.revision()
    );
    if decision.matched_route().is_none() {
        assert!(
            !backend.weight().is_zero(),
            "the split chose {}, which has weight 0",
            decision.revision()
        );
    }
    assert_eq!(
        decision.mirror(),
        decision.mirror().and(table.mirror().map(|m| &m.revision))
    );
}

fn keys(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("user-{i:08}")).collect()
}

fn sticky_map<'r>(router: &'r Router, keys: &[String]) -> Vec<Decision<'r>> {
    keys.iter()
        .map(|k| {
            router
                .route_sticky(k.as_bytes())
                .expect("a non-empty table routes")
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    #[test]
    fn random_routing_follows_the_weights(table in table(6), seed in any::<u64>()) {
        let router = Router::new(&table);
        let mut rng = rng(seed);
        let mut counts: BTreeMap<(Revision, InstanceId), u64> = BTreeMap::new();
        for _ in 0..DRAWS {
            let decision = router.route_random(&mut rng).expect("a non-empty table routes");
            assert_sound(&table, &decision);
            *counts
                .entry((decision.revision().clone(), decision.instance().clone()))
                .or_default() += 1;
        }
        for backend in table.backends() {
            let share = f64::from(backend.weight().basis_points()) / 10_000.0;
            let total: f64 = backend.instances().map(|(_, w)| f64::from(w.get())).sum();
            let mut revision_count = 0;
            for (id, weight) in backend.instances() {
                let count = counts
                    .get(&(backend.revision().clone(), id.clone()))
                    .copied()
                    .unwrap_or(0);
                revision_count += count;
                let p = share * f64::from(weight.get()) / total;
                assert_binomial(count, DRAWS, p, &format!("{}/{id}", backend.revision()));
            }
            assert_binomial(revision_count, DRAWS, share, backend.revision().as_str());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn sticky_routing_is_deterministic(table in table(4)) {
        let router = Router::new(&table);
        let twin = Router::new(&table.clone());
        let mut rng = rng(1);
        for key in keys(300) {
            let first = router.route_sticky(key.as_bytes()).unwrap();
            assert_sound(&table, &first);
            prop_assert_eq!(router.route_sticky(key.as_bytes()), Some(first));
            prop_assert_eq!(twin.route_sticky(key.as_bytes()), Some(first));
            let request = Request::new().with_key(&key);
            prop_assert_eq!(router.route(&request, &mut rng), Some(first));
        }
    }

    #[test]
    fn two_revisions_move_keys_only_into_the_one_that_grows(
        before in 0..=10_000u64,
        after in 0..=10_000u64,
    ) {
        let build = |stable: u64| {
            TrafficTable::builder()
                .revision("stable", stable, ["s1", "s2", "s3"])
                .revision("canary", 10_000 - stable, ["c1", "c2"])
                .build()
                .unwrap()
        };
        let (old, new) = (Router::new(&build(before)), Router::new(&build(after)));
        let grower = if after < before { "canary" } else { "stable" };
        let keys = keys(2_000);
        for (key, (was, is)) in keys.iter().zip(sticky_map(&old, &keys).iter().zip(sticky_map(&new, &keys))) {
            if was.revision() != is.revision() {
                prop_assert_eq!(is.revision().as_str(), grower, "key {} flapped", key);
            } else {
                prop_assert_eq!(was.instance(), is.instance(), "key {} changed instance", key);
            }
        }
    }

    #[test]
    fn adjacent_transfers_between_three_revisions_are_monotone(
        weights in weights(3),
        pair in 0..3usize,
        forward in any::<bool>(),
        fraction in 0.0..=1.0f64,
    ) {
        // Pairs adjacent in layout order, or with only zero-weight revisions between.
        let (a, b) = [(0, 1), (1, 2), (0, 2)][pair];
        prop_assume!(b - a == 1 || weights[1] == 0);
        let (from, to) = if forward { (a, b) } else { (b, a) };
        let moved = (weights[from] as f64 * fraction) as u64;
        let mut next = weights.clone();
        next[from] -= moved;
        next[to] += moved;
        let build = |weights: &[u64]| {
            let mut builder = TrafficTable::builder();
            for (r, w) in weights.iter().enumerate() {
                builder = builder.revision(format!("r{r}"), *w, [format!("r{r}-a"), format!("r{r}-b")]);
            }
            builder.build().unwrap()
        };
        let (old, new) = (Router::new(&build(&weights)), Router::new(&build(&next)));
        let keys = keys(2_000);
        for (was, is) in sticky_map(&old, &keys).iter().zip(sticky_map(&new, &keys)) {
            if was.revision() != is.revision() {
                prop_assert_eq!(was.revision().as_str(), format!("r{from}"));
                prop_assert_eq!(is.revision().as_str(), format!("r{to}"));
            } else {
                prop_assert_eq!(was.instance(), is.instance());
            }
        }
    }

    #[test]
    fn churn_moves_only_the_churned_instances_keys(
        count in 2..=12usize,
        leaving in any::<prop::sample::Index>(),
        weighted in any::<bool>(),
        weights in prop::collection::vec(1..=4u32, 12),
    ) {
        // Weighted pools keep their gcd at 1: instances 0 and 1 weigh 1 and never leave.
        let weight = |i: usize| if weighted && i >= 2 { weights[i] } else { 1 };
        let leaving = if weighted { 2 + leaving.index(count.max(3) - 2) } else { leaving.index(count) };
        prop_assume!(leaving < count);
        let build = |ids: &[usize]| {
            let mut builder = TrafficTable::builder().revision("v1", 10_000, Vec::<String>::new());
            for i in ids {
                builder = builder.weighted_instance("v1", format!("web-{i}"), weight(*i));
            }
            builder.build().unwrap()
        };
        let all: Vec<usize> = (0..count).collect();
        let rest: Vec<usize> = all.iter().copied().filter(|i| *i != leaving).collect();
        let (full, reduced) = (Router::new(&build(&all)), Router::new(&build(&rest)));
        let gone = InstanceId::from(format!("web-{leaving}").as_str());
        let keys = keys(4_000);
        let (before, after) = (sticky_map(&full, &keys), sticky_map(&reduced, &keys));
        let mut moved = 0;
        for (was, is) in before.iter().zip(&after) {
            if was.instance() != is.instance() {
                // Removal moves only the leaver's keys; read backwards, adding it moves
                // keys only onto it.
                prop_assert_eq!(was.instance(), &gone);
                moved += 1;
            } else {
                prop_assert_ne!(was.instance(), &gone);
            }
        }
        // About its share: 1/N for equal weights, within the ring's ±9% (1 sigma) spread.
        let total: u32 = all.iter().map(|i| weight(*i)).sum();
        let share = f64::from(weight(leaving)) / f64::from(total);
        let fraction = f64::from(moved) / keys.len() as f64;
        prop_assert!(fraction <= share * 1.6 + 0.02, "moved {} for a share of {}", fraction, share);
    }

    #[test]
    fn decisions_stay_in_rotation_and_routes_win_in_order(
        table in table(3),
        routes in prop::collection::vec((0..4usize, 0..4usize, 0..3u8), 0..4),
        requests in prop::collection::vec((0..3u8, 0..3u8, prop::option::of(0..6u8)), 1..40),
        seed in any::<u64>(),
    ) {
        let mut table = table;
        let revisions: Vec<Revision> =
            table.backends().iter().map(|b| b.revision().clone()).collect();
        let conditions = |kind: usize, value: u8| match kind {
            0 => MatchCondition::header_equals("X-Canary", format!("v{value}")),
            1 => MatchCondition::header_prefix("x-group", format!("g{value}")),
            2 => MatchCondition::cookie_equals("beta", format!("v{value}")),
            _ => MatchCondition::key_in([format!("key-{value}"), format!("key-{}", value + 3)]),
        };
        let routes: Vec<_> = routes
            .iter()
            .map(|(kind, target, value)| {
                let revision = &revisions[target % revisions.len()];
                cutover::traffic::MatchRoute::new(conditions(*kind, *value), revision.clone())
            })
            .collect();
        table.apply_changes(&[TableChange::SetRoutes { routes: routes.clone() }]).unwrap();
        let router = Router::new(&table);
        let mut rng = rng(seed);
        for (header, cookie, key) in requests {
            let headers = [("x-canary", format!("v{header}")), ("X-Group", format!("g{cookie}-tail"))];
            let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let cookies = [("beta", format!("v{cookie}"))];
            let cookies: Vec<(&str, &str)> = cookies.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let key = key.map(|k| format!("key-{k}"));
            let mut request = Request::new().with_headers(&headers).with_cookies(&cookies);
            if let Some(key) = &key {
                request = request.with_key(key);
            }
            let decision = router.route(&request, &mut rng).unwrap();
            assert_sound(&table, &decision);
            // The reference: the first route whose condition holds.
            let expected = routes.iter().position(|route| match &route.condition {
                MatchCondition::HeaderEquals { value, .. } => *value == format!("v{header}"),
                MatchCondition::HeaderPrefix { prefix, .. } => format!("g{cookie}-tail").starts_with(prefix.as_str()),
                MatchCondition::CookieEquals { value, .. } => *value == format!("v{cookie}"),
                MatchCondition::KeyIn { keys } => key.as_ref().is_some_and(|k| keys.contains(k)),
                _ => false,
            });
            prop_assert_eq!(decision.matched_route(), expected);
            if let Some(index) = expected {
                prop_assert_eq!(decision.revision(), &routes[index].revision);
            }
        }
    }

    #[test]
    fn the_mirror_takes_its_share(share in 0..=10_000u64, seed in any::<u64>()) {
        let mut table = TrafficTable::builder()
            .revision("stable", 8_000, ["s1", "s2"])
            .revision("shadow", 2_000, ["m1"])
            .build()
            .unwrap();
        let mirror = cutover::traffic::Mirror::new("shadow", Weight::from_basis_points(share).unwrap());
        table.apply_changes(&[TableChange::SetMirror { mirror: Some(mirror) }]).unwrap();
        let router = Router::new(&table);
        let p = share as f64 / 10_000.0;
        let mut rng = rng(seed);
        let draws = 20_000;
        let mirrored = (0..draws)
            .filter(|_| router.route_random(&mut rng).unwrap().mirror().is_some())
            .count() as u64;
        assert_binomial(mirrored, draws, p, "random mirror");
        let keys = keys(draws as usize);
        let sticky = sticky_map(&router, &keys).iter().filter(|d| d.mirror().is_some()).count() as u64;
        assert_binomial(sticky, draws, p, "sticky mirror");
    }
}

#[test]
fn an_empty_table_routes_nothing() {
    let router = Router::new(&TrafficTable::empty());
    let headers = [("x-canary", "always")];
    let request = Request::new().with_headers(&headers).with_key("user-1");
    assert_eq!(router.route(&request, &mut rng(0)), None);
    assert_eq!(router.route_random(&mut rng(0)), None);
    assert_eq!(router.route_sticky(b""), None);
}

#[test]
fn random_routing_is_exact_for_a_canary_split() {
    // The bench's shape, checked with the full draw count: 90/10 over 9 + 1 instances.
    let table = TrafficTable::builder()
        .revision("stable", 9_000, (0..9).map(|i| format!("s{i}")))
        .revision("canary", 1_000, ["c0"])
        .build()
        .unwrap();
    let router = Router::new(&table);
    let mut rng = rng(7);
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for _ in 0..DRAWS {
        *counts
            .entry(router.route_random(&mut rng).unwrap().instance().as_str())
            .or_default() += 1;
    }
    for (instance, count) in counts {
        assert_binomial(count, DRAWS, 0.1, instance);
    }
}
