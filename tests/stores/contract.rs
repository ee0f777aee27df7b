//! The `Store` contract as test cases, each run against every store.
//!
//! A case takes a [`Backend`]: fresh, empty storage that hands out any number of
//! handles on itself (as a second process or connection would be).

use std::sync::{Arc, Barrier};
use std::thread;

use cutover::store::{MAX_DOCUMENT_LEN, RolloutId, Store, StoreError, Stored, Version};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// Fresh storage for one case.
pub trait Backend {
    /// Its handles.
    type Store: Store + Send + 'static;

    /// A new handle on this storage.
    fn handle(&self) -> Self::Store;
}

/// A case and its name.
pub type Case<B> = (&'static str, fn(&B));

/// Every case, for a store whose cases run in one test.
pub fn all<B: Backend>() -> Vec<Case<B>> {
    vec![
        ("missing_ids_load_as_none", missing_ids_load_as_none),
        (
            "documents_round_trip_byte_for_byte",
            documents_round_trip_byte_for_byte,
        ),
        (
            "each_save_counts_the_version_up",
            each_save_counts_the_version_up,
        ),
        (
            "a_create_over_a_document_conflicts",
            a_create_over_a_document_conflicts,
        ),
        ("a_stale_version_conflicts", a_stale_version_conflicts),
        (
            "a_version_never_stored_conflicts",
            a_version_never_stored_conflicts,
        ),
        ("ids_are_independent", ids_are_independent),
        ("the_size_bound_holds", the_size_bound_holds),
        (
            "references_and_boxes_are_stores",
            references_and_boxes_are_stores,
        ),
        ("racing_saves_from_one_read", racing_saves_from_one_read),
        (
            "read_modify_write_loses_no_update",
            read_modify_write_loses_no_update,
        ),
    ]
}

fn id(name: &str) -> RolloutId {
    RolloutId::new(name).expect("a valid id")
}

fn v(n: u64) -> Version {
    Version::new(n).expect("not 0")
}

fn load<S: Store>(store: &mut S, id: &RolloutId) -> Option<Stored> {
    store
        .load(id)
        .unwrap_or_else(|e| panic!("load {id}: {e:?}"))
}

fn save<S: Store>(store: &mut S, id: &RolloutId, doc: &[u8], expected: Option<Version>) -> Version {
    store
        .save(id, doc, expected)
        .unwrap_or_else(|e| panic!("save {id} expecting {expected:?}: {e:?}"))
}

/// Asserts that `result` is a conflict naming `id`, `expected` and `found`.
fn assert_conflict<E: std::fmt::Debug>(
    result: Result<Version, StoreError<E>>,
    id: &RolloutId,
    expected: Option<Version>,
    found: Option<Version>,
) {
    match result {
        Err(StoreError::Conflict {
            id: got_id,
            expected: got_expected,
            found: got_found,
        }) => assert_eq!(
            (&got_id, got_expected, got_found),
            (id, expected, found),
            "the conflict names the rollout and both versions"
        ),
        other => panic!("expected a conflict (expected {expected:?}, found {found:?}): {other:?}"),
    }
}

pub fn missing_ids_load_as_none<B: Backend>(backend: &B) {
    let mut store = backend.handle();
    assert_eq!(load(&mut store, &id("never-saved")), None);
}

pub fn documents_round_trip_byte_for_byte<B: Backend>(backend: &B) {
    let mut store = backend.handle();
    // Every byte value, invalid UTF-8, NUL, what looks like SQL and like a header.
    let mut every_byte: Vec<u8> = (0..=255).collect();
    every_byte.extend_from_slice(b"\xff\xfe\x00\xc3\x28'; DROP TABLE x; --cutover1");
    let cases: [(&str, &[u8]); 3] = [
        ("empty", b""),
        ("bytes", &every_byte),
        ("json", br#"{"a":"\u00e9"}"#),
    ];
    for (name, document) in cases {
        let id = id(name);
        assert_eq!(save(&mut store, &id, document, None), Version::FIRST);
        let stored = load(&mut store, &id).expect("saved");
        assert_eq!(
            stored,
            Stored::new(Version::FIRST, document.to_vec()),
            "{name}"
        );
        // And through another handle, as after a restart.
        assert_eq!(load(&mut backend.handle(), &id), Some(stored), "{name}");
    }
}

pub fn each_save_counts_the_version_up<B: Backend>(backend: &B) {
    let mut store = backend.handle();
    let id = id("web");
    let mut version = None;
    for n in 1..=5u64 {
        let document = format!("document {n}");
        let saved = save(&mut store, &id, document.as_bytes(), version);
        assert_eq!(saved, v(n), "1 for the create, one more per save");
        let stored = load(&mut store, &id).expect("saved");
        assert_eq!(
            (stored.version, stored.document),
            (saved, document.into_bytes())
        );
        version = Some(saved);
    }
}

pub fn a_create_over_a_document_conflicts<B: Backend>(backend: &B) {
    let mut store = backend.handle();
    let id = id("web");
    save(&mut store, &id, b"first", None);
    save(&mut store, &id, b"second", Some(Version::FIRST));
    assert_conflict(store.save(&id, b"again", None), &id, None, Some(v(2)));
    let stored = load(&mut store, &id).expect("kept");
    assert_eq!(
        (stored.version, &stored.document[..]),
        (v(2), &b"second"[..])
    );
}

pub fn a_stale_version_conflicts<B: Backend>(backend: &B) {
    let (mut mine, mut theirs) = (backend.handle(), backend.handle());
    let id = id("web");
    let first = save(&mut mine, &id, b"v1", None);
    let read = load(&mut mine, &id).expect("saved").version;
    assert_eq!(read, first);
    let second = save(&mut theirs, &id, b"theirs", Some(read));
    assert_conflict(
        mine.save(&id, b"mine", Some(read)),
        &id,
        Some(first),
        Some(second),
    );
    // The refused save wrote nothing, and the winner's document is whole.
    assert_eq!(
        load(&mut mine, &id),
        Some(Stored::new(second, b"theirs".to_vec()))
    );
}

pub fn a_version_never_stored_conflicts<B: Backend>(backend: &B) {
    let mut store = backend.handle();
    let id = id("web");
    // On a missing document: nothing is created.
    assert_conflict(
        store.save(&id, b"x", Some(Version::FIRST)),
        &id,
        Some(Version::FIRST),
        None,
    );
    assert_eq!(load(&mut store, &id), None);
    // Ahead of the stored version, and far past anything a store can hold.
    save(&mut store, &id, b"v1", None);
    for ahead in [v(2), v(i64::MAX as u64), v(u64::MAX)] {
        assert_conflict(
            store.save(&id, b"x", Some(ahead)),
            &id,
            Some(ahead),
            Some(Version::FIRST),
        );
    }
    assert_eq!(
        load(&mut store, &id),
        Some(Stored::new(Version::FIRST, b"v1".to_vec()))
    );
}

pub fn ids_are_independent<B: Backend>(backend: &B) {
    let mut store = backend.handle();
    let (a, b) = (id("a"), id("a.b"));
    save(&mut store, &a, b"a1", None);
    save(&mut store, &a, b"a2", Some(Version::FIRST));
    assert_eq!(save(&mut store, &b, b"b1", None), Version::FIRST);
    assert_eq!(
        load(&mut store, &a),
        Some(Stored::new(v(2), b"a2".to_vec()))
    );
    assert_eq!(
        load(&mut store, &b),
        Some(Stored::new(Version::FIRST, b"b1".to_vec()))
    );
}

pub fn the_size_bound_holds<B: Backend>(backend: &B) {
    let mut store = backend.handle();
    let id = id("big");
    let mut document = vec![0xa5; MAX_DOCUMENT_LEN + 1];
    match store.save(&id, &document, None) {
        Err(StoreError::TooLarge {
            id: got,
            len,
            limit,
        }) => {
            assert_eq!(
                (got, len, limit),
                (id.clone(), MAX_DOCUMENT_LEN + 1, MAX_DOCUMENT_LEN)
            );
        }
        other => panic!("a document over the limit must be refused: {other:?}"),
    }
    assert_eq!(load(&mut store, &id), None, "nothing was written");
    // The limit itself is allowed, and round-trips.
    document.pop();
    document[MAX_DOCUMENT_LEN - 1] = 0x5a;
    save(&mut store, &id, &document, None);
    let stored = load(&mut store, &id).expect("saved");
    assert!(
        stored.document == document,
        "the largest document round-trips"
    );
    // A refused save over an existing document leaves it in place.
    document.push(0);
    assert!(matches!(
        store.save(&id, &document, Some(Version::FIRST)),
        Err(StoreError::TooLarge { .. })
    ));
    assert_eq!(
        load(&mut store, &id).map(|s| s.version),
        Some(Version::FIRST)
    );
}

pub fn references_and_boxes_are_stores<B: Backend>(backend: &B) {
    fn through<S: Store>(mut store: S, id: &RolloutId, expected: Option<Version>) -> Version {
        save(&mut store, id, b"x", expected)
    }
    let id = id("web");
    let mut owned = backend.handle();
    let first = through(&mut owned, &id, None);
    let boxed: Box<dyn Store<Error = <B::Store as Store>::Error>> = Box::new(backend.handle());
    let second = through(boxed, &id, Some(first));
    assert_eq!(second, v(2));
}

/// Deterministic jitter before a save, so that each round another thread may win.
fn jitter(rng: &mut Xoshiro256PlusPlus) {
    match rng.random_range(0..4u8) {
        0 => {}
        1 => (0..rng.random_range(1..8)).for_each(|_| thread::yield_now()),
        2 => (0..rng.random_range(0..20_000u32)).for_each(|i| {
            std::hint::black_box(i);
        }),
        _ => thread::sleep(std::time::Duration::from_micros(rng.random_range(1..300))),
    }
}

/// What one thread saw in one round.
#[derive(Debug)]
struct Attempt {
    read: Stored,
    saved: Result<Version, (Option<Version>, Option<Version>)>,
}

/// Two controllers' race, many times over: several handles read one document, then
/// all save from that read at once, in a different order each round. Exactly one
/// wins with the next version; every other gets a conflict naming the version it
/// read and the winner's; the winner's document is what all read next.
pub fn racing_saves_from_one_read<B: Backend>(backend: &B) {
    const THREADS: usize = 4;
    let rounds = 200;
    let id = id("contested");
    save(&mut backend.handle(), &id, b"start", None);
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (mut store, barrier, id) = (backend.handle(), Arc::clone(&barrier), id.clone());
            thread::spawn(move || {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x5eed_0000 + t as u64);
                (0..rounds)
                    .map(|round| {
                        barrier.wait();
                        let read = load(&mut store, &id).expect("created");
                        barrier.wait(); // every thread has read before any saves
                        jitter(&mut rng);
                        let document = format!("round {round} thread {t}");
                        let saved = match store.save(&id, document.as_bytes(), Some(read.version)) {
                            Ok(version) => Ok(version),
                            Err(StoreError::Conflict {
                                expected, found, ..
                            }) => Err((expected, found)),
                            Err(other) => panic!("thread {t} round {round}: {other:?}"),
                        };
                        Attempt { read, saved }
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let attempts: Vec<Vec<Attempt>> = threads
        .into_iter()
        .map(|t| t.join().expect("no panic"))
        .collect();
    let mut winners = std::collections::BTreeSet::new();
    let mut last_winner = b"start".to_vec();
    for round in 0..rounds {
        let read = v(round as u64 + 1);
        let next = v(round as u64 + 2);
        let mut won = Vec::new();
        for (t, attempts) in attempts.iter().enumerate() {
            let attempt = &attempts[round];
            assert_eq!(
                attempt.read,
                Stored::new(read, last_winner.clone()),
                "round {round}: every thread read the last winner's document"
            );
            match attempt.saved {
                Ok(version) => {
                    assert_eq!(
                        version, next,
                        "round {round}: the winner got the next version"
                    );
                    won.push(t);
                }
                Err(conflict) => assert_eq!(
                    conflict,
                    (Some(read), Some(next)),
                    "round {round} thread {t}: the conflict names the read and the winner's versions"
                ),
            }
        }
        assert_eq!(
            won.len(),
            1,
            "round {round}: exactly one save wins, not {won:?}"
        );
        winners.insert(won[0]);
        last_winner = format!("round {round} thread {}", won[0]).into_bytes();
    }
    let end = load(&mut backend.handle(), &id).expect("saved");
    assert_eq!(end, Stored::new(v(rounds as u64 + 1), last_winner));
    assert!(
        winners.len() > 1,
        "the interleavings varied: winners {winners:?}"
    );
}

/// Controllers that retry after a conflict, reading again, with no coordination:
/// every increment of a counter is kept, and versions move one per save.
pub fn read_modify_write_loses_no_update<B: Backend>(backend: &B) {
    const THREADS: u64 = 4;
    const EACH: u64 = 25;
    let id = id("counter");
    save(&mut backend.handle(), &id, b"0", None);
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (mut store, id) = (backend.handle(), id.clone());
            thread::spawn(move || {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(0xc0_0000 + t);
                let (mut done, mut tries) = (0, 0);
                while done < EACH {
                    tries += 1;
                    assert!(tries < 100 * THREADS * EACH, "thread {t} made no progress");
                    let read = load(&mut store, &id).expect("created");
                    let n: u64 = std::str::from_utf8(&read.document)
                        .expect("utf-8")
                        .parse()
                        .expect("a count");
                    jitter(&mut rng);
                    match store.save(&id, (n + 1).to_string().as_bytes(), Some(read.version)) {
                        Ok(version) => {
                            assert_eq!(version.get(), read.version.get() + 1);
                            done += 1;
                        }
                        Err(StoreError::Conflict {
                            expected, found, ..
                        }) => {
                            assert_eq!(expected, Some(read.version));
                            assert!(
                                found > expected,
                                "a conflict finds a later version: {found:?}"
                            );
                        }
                        Err(other) => panic!("thread {t}: {other:?}"),
                    }
                }
            })
        })
        .collect();
    threads
        .into_iter()
        .for_each(|t| t.join().expect("no panic"));
    let end = load(&mut backend.handle(), &id).expect("saved");
    let total = THREADS * EACH;
    assert_eq!(
        end,
        Stored::new(v(total + 1), total.to_string().into_bytes())
    );
}
