//! The file store against the in-memory store as a reference: any sequence of loads
//! and saves (from the right version, a stale one, one never stored, or as a create)
//! gives the same answers on both.
#![cfg(feature = "file-store")]

use cutover::store::{FileStore, MemoryStore, RolloutId, Store, StoreError, Stored, Version};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Expect {
    /// The version stored now (or `None` if there is no document).
    Current,
    /// As a create.
    Create,
    /// The version stored now, minus `n` (a stale read).
    Behind(u64),
    /// A version never stored yet.
    Ahead(u64),
}

#[derive(Debug, Clone)]
enum Op {
    Load(usize),
    Save(usize, Expect, Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    let expect = prop_oneof![
        3 => Just(Expect::Current),
        1 => Just(Expect::Create),
        1 => (1..4u64).prop_map(Expect::Behind),
        1 => (1..4u64).prop_map(Expect::Ahead),
    ];
    prop_oneof![
        (0..2usize).prop_map(Op::Load),
        (
            0..2usize,
            expect,
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(id, expect, doc)| Op::Save(id, expect, doc)),
    ]
}

/// An answer with the store's own error type left out, for comparing two stores.
#[derive(Debug, PartialEq)]
enum Answer {
    Loaded(Option<Stored>),
    Saved(Version),
    Conflict(Option<Version>, Option<Version>),
}

fn answer<E: std::fmt::Debug>(result: Result<Version, StoreError<E>>) -> Answer {
    match result {
        Ok(version) => Answer::Saved(version),
        Err(StoreError::Conflict {
            expected, found, ..
        }) => Answer::Conflict(expected, found),
        Err(other) => panic!("{other:?}"),
    }
}

proptest! {
    // Every save is fsynced: few cases, each a real sequence.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_file_store_answers_as_the_reference_does(ops in proptest::collection::vec(op(), 1..16)) {
        let directory = tempfile::tempdir().unwrap();
        let mut file = FileStore::open(directory.path()).unwrap();
        let mut reference = MemoryStore::new();
        let ids = [RolloutId::new("a").unwrap(), RolloutId::new("b").unwrap()];
        for op in ops {
            let (got, wanted) = match op {
                Op::Load(i) => (
                    Answer::Loaded(file.load(&ids[i]).unwrap()),
                    Answer::Loaded(reference.load(&ids[i]).unwrap()),
                ),
                Op::Save(i, expect, document) => {
                    let current = reference.load(&ids[i]).unwrap().map(|s| s.version.get());
                    let expected = match expect {
                        Expect::Current => current,
                        Expect::Create => None,
                        Expect::Behind(n) => current.map(|c| c.saturating_sub(n).max(1)),
                        Expect::Ahead(n) => Some(current.unwrap_or(0) + n),
                    }
                    .and_then(Version::new);
                    (
                        answer(file.save(&ids[i], &document, expected)),
                        answer(reference.save(&ids[i], &document, expected)),
                    )
                }
            };
            prop_assert_eq!(got, wanted);
        }
    }
}
