use super::*;
use proptest::prelude::*;

fn rev(name: &str) -> Revision {
    Revision::from(name)
}

fn two_way(stable: u64, canary: u64) -> Result<TrafficTable, TrafficError> {
    TrafficTable::builder()
        .revision("stable", stable, ["s1", "s2"])
        .revision("canary", canary, ["c1"])
        .build()
}

#[test]
fn builds_a_valid_split() {
    let table = two_way(9_000, 1_000).unwrap();
    assert_eq!(table.weight(&rev("stable")).basis_points(), 9_000);
    assert_eq!(table.instance_count(), 3);
    assert_eq!(
        table.revision_of(&InstanceId::from("c1")),
        Some(&rev("canary"))
    );
    let layout: Vec<_> = table
        .backends()
        .iter()
        .map(|b| b.revision().as_str())
        .collect();
    assert_eq!(layout, ["stable", "canary"]);
}

#[test]
fn weights_must_sum_to_ten_thousand() {
    assert_eq!(
        two_way(9_000, 999),
        Err(TrafficError::WeightsDoNotSum { total: 9_999 })
    );
    assert_eq!(
        two_way(9_000, 20_000),
        Err(TrafficError::WeightOutOfRange {
            basis_points: 20_000
        })
    );
}

#[test]
fn a_weighted_revision_needs_instances() {
    let result = TrafficTable::builder()
        .revision("stable", 5_000, ["s1"])
        .revision("canary", 5_000, Vec::<InstanceId>::new())
        .build();
    assert_eq!(
        result,
        Err(TrafficError::WeightWithoutInstances {
            revision: rev("canary"),
            basis_points: 5_000
        })
    );
    // With weight 0 an empty revision is fine: it is being prepared.
    TrafficTable::builder()
        .revision("stable", 10_000, ["s1"])
        .revision("canary", 0, Vec::<InstanceId>::new())
        .build()
        .unwrap();
}

#[test]
fn duplicate_instances_and_revisions_are_named() {
    let result = TrafficTable::builder()
        .revision("stable", 5_000, ["a"])
        .revision("canary", 5_000, ["a"])
        .build();
    assert_eq!(
        result,
        Err(TrafficError::DuplicateInstance {
            instance: InstanceId::from("a"),
            first: rev("stable"),
            second: rev("canary"),
        })
    );
    let result = TrafficTable::builder()
        .revision("stable", 5_000, ["a"])
        .revision("stable", 5_000, ["b"])
        .build();
    assert_eq!(
        result,
        Err(TrafficError::DuplicateRevision {
            revision: rev("stable")
        })
    );
}

#[test]
fn routes_and_mirror_must_name_known_revisions_with_instances() {
    let result = TrafficTable::builder()
        .revision("stable", 10_000, ["a"])
        .route(MatchCondition::header_equals("x", "1"), "nope")
        .build();
    assert_eq!(
        result,
        Err(TrafficError::UnknownRevision {
            revision: rev("nope"),
            context: "match route"
        })
    );
    let result = TrafficTable::builder()
        .revision("stable", 10_000, ["a"])
        .revision("canary", 0, Vec::<InstanceId>::new())
        .mirror("canary", 100)
        .build();
    assert_eq!(
        result,
        Err(TrafficError::TargetWithoutInstances {
            revision: rev("canary"),
            context: "mirror"
        })
    );
    let result = TrafficTable::builder().mirror("x", 100).build();
    assert!(matches!(result, Err(TrafficError::UnknownRevision { .. })));
}

#[test]
fn a_failed_edit_leaves_the_table_unchanged() {
    let mut table = two_way(9_000, 1_000).unwrap();
    let before = table.clone();
    let result = table.apply_changes(&[
        TableChange::SetWeight {
            revision: rev("canary"),
            weight: Weight::from_percent(50).unwrap(),
        },
        TableChange::RemoveInstance {
            revision: rev("stable"),
            instance: InstanceId::from("s1"),
        },
        TableChange::ReorderRevisions {
            order: vec![rev("canary"), rev("stable")],
        },
        TableChange::RemoveRevision {
            revision: rev("canary"),
        },
    ]);
    assert!(
        matches!(result, Err(TrafficError::WeightsDoNotSum { total: 9_000 })),
        "{result:?}"
    );
    assert_eq!(table, before);
}

#[test]
fn reorder_must_be_a_permutation() {
    let mut table = two_way(9_000, 1_000).unwrap();
    let before = table.clone();
    for order in [
        vec![rev("canary")],
        vec![rev("canary"), rev("canary")],
        vec![rev("x"), rev("stable")],
    ] {
        assert!(
            table
                .apply_changes(&[TableChange::ReorderRevisions { order }])
                .is_err()
        );
        assert_eq!(table, before);
    }
}

#[test]
fn stale_diffs_are_refused() {
    let old = two_way(9_000, 1_000).unwrap();
    let mut new = two_way(5_000, 5_000).unwrap();
    new.set_generation(2);
    let diff = old.diff(&new);
    let mut other = old.clone();
    other.set_generation(5);
    assert_eq!(
        other.apply(&diff),
        Err(TrafficError::StaleDiff {
            expected: 0,
            found: 5
        })
    );
}

/// Two tables built at the default generation: the diff between them changes the
/// table without a newer generation, which a load balancer fencing on generations could
/// not tell apart; the table and the router both refuse it with a hint, and accept it
/// once the newer table has a newer generation.
#[test]
fn a_change_needs_a_newer_generation() {
    let old = two_way(9_000, 1_000).unwrap();
    let new = two_way(5_000, 5_000).unwrap();
    let diff = old.diff(&new);
    let refusal = TrafficError::GenerationNotNewer { from: 0, to: 0 };
    assert_eq!(old.clone().apply(&diff), Err(refusal.clone()));
    assert!(refusal.to_string().contains("generation"), "{refusal}");
    let mut router = crate::Router::new(&old);
    assert_eq!(router.apply(&diff), Err(refusal));
    assert_eq!(router.table(), &old, "unchanged on refusal");
    // A diff back in time is refused too, even an empty one.
    let mut later = old.clone();
    later.set_generation(3);
    let mut back = later.diff(&old);
    assert_eq!(
        later.clone().apply(&back),
        Err(TrafficError::GenerationNotNewer { from: 3, to: 0 })
    );
    back.to_generation = 3;
    assert_eq!(later.apply(&back), Ok(()), "a no-op at the same generation");

    let mut newer = new.clone();
    newer.set_generation(1);
    let mut table = old.clone();
    table.apply(&old.diff(&newer)).unwrap();
    assert_eq!(table, newer);
}

#[test]
fn a_diff_is_proportional_to_the_change() {
    let old = TrafficTable::single("v1", (0..1000).map(|i| format!("i{i}"))).unwrap();
    let mut new = old.clone();
    new.apply_changes(&[TableChange::RemoveInstance {
        revision: rev("v1"),
        instance: InstanceId::from("i7"),
    }])
    .unwrap();
    let diff = old.diff(&new);
    assert_eq!(diff.changes.len(), 1);
}

#[cfg(feature = "serde")]
#[test]
fn documents_are_validated_on_the_way_in() {
    let good = r#"{"generation":3,"revisions":[
        {"revision":"v1","weight":9000,"instances":[{"id":"a"},{"id":"b","weight":3}]},
        {"revision":"v2","weight":1000,"instances":[{"id":"c"}]}],
        "routes":[{"match":"header_equals","name":"X-Canary","value":"1","revision":"v2"}],
        "mirror":{"revision":"v2","share":500}}"#;
    let table: TrafficTable = serde_json::from_str(good).unwrap();
    assert_eq!(table.generation(), 3);
    assert_eq!(
        table.routes()[0].condition,
        MatchCondition::header_equals("x-canary", "1")
    );
    let round: TrafficTable =
        serde_json::from_str(&serde_json::to_string(&table).unwrap()).unwrap();
    assert_eq!(round, table);

    for (bad, needle) in [
        (
            r#"{"revisions":[{"revision":"v1","weight":9000,"instances":[{"id":"a"}]}]}"#,
            "add up to 9000",
        ),
        (
            r#"{"revisions":[{"revision":"v1","weight":10000,"instances":[]}]}"#,
            "no instance in rotation",
        ),
        (
            r#"{"revisions":[{"revision":"v1","weight":10000,"instances":[{"id":"a"},{"id":"a"}]}]}"#,
            "listed twice",
        ),
        (
            r#"{"revisions":[{"revision":"v1","weight":10000,"instances":[{"id":"a"}]}],
               "routes":[{"match":"cookie_equals","name":"c","value":"1","revision":"v9"}]}"#,
            "not in the table",
        ),
        (
            r#"{"revisions":[{"revision":"v1","weight":10001,"instances":[{"id":"a"}]}]}"#,
            "out of range",
        ),
        (
            r#"{"revisions":[{"revision":"v1","weight":10000,"instances":[{"id":"a","weight":0}]}]}"#,
            "instance weights run from 1 to 256",
        ),
    ] {
        let error = serde_json::from_str::<TrafficTable>(bad)
            .unwrap_err()
            .to_string();
        assert!(error.contains(needle), "{bad}: {error}");
    }
}

/// A random edit, expressed over a small universe of names so that edits collide.
fn arb_change() -> impl Strategy<Value = TableChange> {
    let revision = prop::sample::select(vec!["a", "b", "c"]).prop_map(Revision::from);
    let instance = (0u8..6).prop_map(|i| InstanceId::new(format!("i{i}")));
    prop_oneof![
        revision
            .clone()
            .prop_map(|revision| TableChange::AddRevision { revision }),
        (revision.clone(), 0u64..=10_000).prop_map(|(revision, bp)| TableChange::SetWeight {
            revision,
            weight: Weight::from_basis_points(bp).unwrap()
        }),
        (revision.clone(), instance.clone()).prop_map(|(revision, instance)| {
            TableChange::AddInstance {
                revision,
                instance,
                weight: InstanceWeight::ONE,
            }
        }),
        (revision.clone(), instance)
            .prop_map(|(revision, instance)| TableChange::RemoveInstance { revision, instance }),
        revision.prop_map(|revision| TableChange::RemoveRevision { revision }),
    ]
}

fn check_invariants(table: &TrafficTable) {
    if table.is_empty() {
        return;
    }
    let total: u32 = table
        .backends()
        .iter()
        .map(|b| u32::from(b.weight().basis_points()))
        .sum();
    assert_eq!(total, 10_000);
    let mut seen = std::collections::BTreeSet::new();
    for backend in table.backends() {
        assert!(backend.weight().is_zero() || backend.instance_count() > 0);
        for (id, _) in backend.instances() {
            assert!(seen.insert(id.clone()), "duplicate {id}");
            assert_eq!(table.revision_of(id), Some(backend.revision()));
        }
    }
    assert_eq!(seen.len(), table.instance_count());
}

proptest! {
    #[test]
    fn weights_sum_to_ten_thousand_after_any_edits(
        batches in prop::collection::vec(prop::collection::vec(arb_change(), 1..5), 1..40)
    ) {
        let mut table = TrafficTable::single("a", ["seed"]).unwrap();
        for batch in batches {
            let before = table.clone();
            if table.apply_changes(&batch).is_err() {
                prop_assert_eq!(&table, &before);
            }
            check_invariants(&table);
        }
    }

    #[test]
    fn diff_then_apply_reaches_the_target(
        first in prop::collection::vec(prop::collection::vec(arb_change(), 1..5), 1..20),
        second in prop::collection::vec(prop::collection::vec(arb_change(), 1..5), 1..20),
    ) {
        let mut a = TrafficTable::single("a", ["seed"]).unwrap();
        for batch in first { let _ = a.apply_changes(&batch); }
        let mut b = a.clone();
        for batch in second { let _ = b.apply_changes(&batch); }
        b.set_generation(a.generation() + 1);
        let diff = a.diff(&b);
        let mut patched = a.clone();
        patched.apply(&diff).unwrap();
        prop_assert_eq!(patched, b);
    }
}

#[test]
fn tables_and_routes_read_in_one_line() {
    let table = TrafficTable::builder()
        .revision("v1", 9_000, ["a", "b"])
        .revision("v2", 1_000, ["c"])
        .route(MatchCondition::header_equals("x-canary", "1"), "v2")
        .route(
            MatchCondition::KeyIn {
                keys: ["ann", "bob", "cy", "di", "ed"].map(String::from).into(),
            },
            "v2",
        )
        .mirror("v2", 500)
        .generation(4)
        .build()
        .unwrap();
    assert_eq!(
        table.to_string(),
        "generation 4: v1 90% (2 instances), v2 10% (1 instance); \
         header x-canary = \"1\" -> v2; key in {\"ann\", \"bob\", \"cy\", 2 more} -> v2; \
         mirror 5% -> v2"
    );
    assert_eq!(
        TrafficTable::empty().to_string(),
        "generation 0: no revisions"
    );
    let cookie = MatchRoute::new(
        MatchCondition::CookieEquals {
            name: "beta".into(),
            value: "yes".into(),
        },
        "v3",
    );
    assert_eq!(cookie.to_string(), "cookie beta = \"yes\" -> v3");
}
