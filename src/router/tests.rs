use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

use super::*;
use crate::traffic::{MatchCondition, Mirror, TableChange, Weight};

fn canary(stable: u64, canary: u64) -> TrafficTable {
    TrafficTable::builder()
        .revision("stable", stable, ["s1", "s2", "s3"])
        .revision("canary", canary, ["c1", "c2"])
        .build()
        .unwrap()
}

fn rng() -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(0x5eed)
}

/// Where keys land is part of the contract (a key must keep its place across machines
/// and releases): a change to any of these is a breaking change to sticky routing.
#[test]
fn sticky_placement_is_pinned() {
    assert_eq!(
        key_hash(b""),
        0x2d06_8005_38d3_94c2,
        "xxh3_64 itself changed"
    );
    let router = Router::new(&canary(7_000, 3_000));
    let golden = [
        ("user-1", "stable", "s1"),
        ("user-2", "stable", "s2"),
        ("user-3", "stable", "s1"),
        ("user-4", "stable", "s3"),
        ("user-6", "stable", "s1"),
        ("user-8", "canary", "c2"),
        ("user-10", "canary", "c2"),
        ("user-25", "stable", "s2"),
        ("user-26", "canary", "c1"),
        ("alice", "stable", "s3"),
        ("", "stable", "s3"),
    ];
    for (key, revision, instance) in golden {
        let decision = router.route_sticky(key.as_bytes()).unwrap();
        assert_eq!(
            (decision.revision().as_str(), decision.instance().as_str()),
            (revision, instance),
            "key {key:?}"
        );
    }
}

#[test]
fn an_empty_table_routes_nothing() {
    let router = Router::new(&TrafficTable::empty());
    assert!(router.is_empty());
    assert_eq!(router.route_random(&mut rng()), None);
    assert_eq!(router.route_sticky(b"user"), None);
    let headers = [("x", "y")];
    let request = Request::new().with_headers(&headers).with_key("user");
    assert_eq!(router.route(&request, &mut rng()), None);
}

#[test]
fn routers_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Router>();
    shareable::<Decision<'_>>();
}

#[test]
fn the_generation_is_the_tables() {
    let mut table = canary(9_000, 1_000);
    table.set_generation(41);
    assert_eq!(Router::from(&table).generation(), 41);
    assert!(!Router::new(&table).is_empty());
}

#[test]
fn route_falls_into_the_fast_paths() {
    let router = Router::new(&canary(5_000, 5_000));
    let (mut a, mut b) = (rng(), rng());
    for _ in 0..1_000 {
        assert_eq!(
            router.route(&Request::new(), &mut a),
            router.route_random(&mut b)
        );
    }
    for i in 0..1_000 {
        let key = format!("session-{i}");
        let request = Request::new().with_key(&key);
        assert_eq!(
            router.route(&request, &mut a),
            router.route_sticky(key.as_bytes())
        );
    }
}

#[test]
fn keyed_requests_leave_the_rng_alone() {
    let router = Router::new(&canary(5_000, 5_000));
    let (mut used, untouched) = (rng(), rng());
    router.route(&Request::new().with_key("k"), &mut used);
    assert_eq!(used, untouched);
}

#[test]
fn zero_weight_revisions_serve_only_through_routes() {
    let table = TrafficTable::builder()
        .revision("stable", 10_000, ["s1"])
        .revision("preview", 0, ["p1", "p2"])
        .route(MatchCondition::key_in(["tester"]), "preview")
        .route(MatchCondition::cookie_equals("preview", "1"), "preview")
        .build()
        .unwrap();
    let router = Router::new(&table);
    let mut rng = rng();
    for i in 0..500 {
        let key = format!("user-{i}");
        assert_eq!(
            router
                .route_sticky(key.as_bytes())
                .unwrap()
                .revision()
                .as_str(),
            "stable"
        );
        assert_eq!(
            router.route_random(&mut rng).unwrap().revision().as_str(),
            "stable"
        );
    }
    let tester = router.route_sticky(b"tester").unwrap();
    assert_eq!(
        (tester.revision().as_str(), tester.matched_route()),
        ("preview", Some(0))
    );
    let cookies = [("preview", "1")];
    let request = Request::new().with_cookies(&cookies);
    let by_cookie = router.route(&request, &mut rng).unwrap();
    assert_eq!(
        (by_cookie.revision().as_str(), by_cookie.matched_route()),
        ("preview", Some(1))
    );
    // A keyed request matched by a cookie still picks its instance by key.
    let keyed = request.with_key("user-3");
    assert_eq!(
        router.route(&keyed, &mut rng),
        router.route(&keyed, &mut rng)
    );
}

#[test]
fn many_revisions_use_every_split_shape() {
    for count in [1u64, 2, 3, 8, 9, 20] {
        let mut builder = TrafficTable::builder();
        let share = 10_000 / count;
        for r in 0..count {
            let weight = if r == 0 {
                10_000 - share * (count - 1)
            } else {
                share
            };
            builder = builder.revision(format!("r{r}"), weight, [format!("i{r}")]);
        }
        let table = builder.build().unwrap();
        let router = Router::new(&table);
        let mut rng = rng();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..20 * count {
            let d = router.route_random(&mut rng).unwrap();
            assert!(table.backend(d.revision()).unwrap().contains(d.instance()));
            seen.insert(d.revision().clone());
        }
        assert_eq!(seen.len() as u64, count, "{count} revisions");
    }
}

#[test]
fn sticky_mirroring_is_per_key_and_grows_monotonically() {
    let mut table = canary(9_000, 1_000);
    let mut mirrored_before = Vec::new();
    for share in [0u64, 1_000, 5_000, 10_000] {
        table
            .apply_changes(&[TableChange::SetMirror {
                mirror: Some(Mirror::new(
                    "canary",
                    Weight::from_basis_points(share).unwrap(),
                )),
            }])
            .unwrap();
        let router = Router::new(&table);
        let mirrored: Vec<bool> = (0..2_000)
            .map(|i| {
                let key = format!("k{i}");
                let d = router.route_sticky(key.as_bytes()).unwrap();
                assert_eq!(d, router.route_sticky(key.as_bytes()).unwrap());
                d.mirror().is_some()
            })
            .collect();
        let count = mirrored.iter().filter(|m| **m).count();
        assert!(
            count.abs_diff((share * 2_000 / 10_000) as usize) < 150,
            "{share}: {count}"
        );
        for (before, now) in mirrored_before.iter().zip(&mirrored) {
            assert!(
                !before || *now,
                "a key stopped being mirrored as the share grew"
            );
        }
        mirrored_before = mirrored;
    }
}

#[test]
fn weighted_instances_use_the_alias_table() {
    let table = TrafficTable::builder()
        .revision("v1", 10_000, Vec::<InstanceId>::new())
        .weighted_instance("v1", "small", 1)
        .weighted_instance("v1", "big", 3)
        .build()
        .unwrap();
    let router = Router::new(&table);
    let mut rng = rng();
    let big = (0..40_000)
        .filter(|_| router.route_random(&mut rng).unwrap().instance().as_str() == "big")
        .count();
    // 30,000 expected, binomial sigma about 87.
    assert!(big.abs_diff(30_000) < 600, "{big}");
}

/// A fingerprint of where 10,000 keys land in a table with three revisions and weighted
/// instances: catches any change to the split, the ring or the key hash. (Changed in
/// 0.1 with the weighted race: weighted instances no longer divide by the gcd; and again
/// when keys went to the nearest point on either side, 64 points per instance.)
#[test]
fn sticky_placement_fingerprint_is_pinned() {
    let table = TrafficTable::builder()
        .revision("v1", 6_000, ["a1", "a2", "a3", "a4"])
        .revision("v2", 0, ["z1"])
        .revision("v3", 3_000, Vec::<InstanceId>::new())
        .weighted_instance("v3", "b1", 1)
        .weighted_instance("v3", "b2", 5)
        .revision("v4", 1_000, ["c1"])
        .build()
        .unwrap();
    let router = Router::new(&table);
    let mut fingerprint = 0u64;
    for i in 0..10_000 {
        let key = format!("fingerprint-{i}");
        let d = router.route_sticky(key.as_bytes()).unwrap();
        let landed = format!("{}/{}", d.revision(), d.instance());
        fingerprint = split::mix64(fingerprint ^ key_hash(landed.as_bytes()));
    }
    assert_eq!(
        fingerprint, 8_667_859_520_931_705_357,
        "sticky placement changed"
    );
}
