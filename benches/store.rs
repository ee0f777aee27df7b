//! What a compare-and-swap save costs over the bare write it is made of (issue 21),
//! for a mid-rollout document of 50 instances (about 12 KB of JSON).
//!
//! Target: each store's save within 1.2x of its baseline, measured in one run.
//!
//! * `store/save/file`: `FileStore::save` (lock, read the version, temp file, fsync,
//!   rename, fsync the directory) against `baseline/file_write`: the same bytes
//!   written to a temp file, fsynced and renamed over the old file; and against
//!   `baseline/file_write_durable`, which also fsyncs the directory, as a save must
//!   for the rename to survive a power loss.
//! * `store/save/postgres`: `PostgresStore::save` (`UPDATE … WHERE id = $1 AND
//!   version = $2`) against `baseline/postgres_update`: a prepared `UPDATE` of the
//!   same bytes without the version check, on the same server (started on loopback
//!   with PostgreSQL's default durability; skipped, and said so, if PostgreSQL is not
//!   installed).
//!
//! The files live under Cargo's target directory (a real disk, not a tmpfs).
//!
//! On a machine shared with other work, an fsync's cost drifts by an order of
//! magnitude within minutes, so benchmarks measured one after the other compare
//! different disks. After criterion's runs, each pair is therefore also measured
//! interleaved (`paired:` lines: the two alternate, ABBA, and the ratio is of their
//! medians); judge the target by those.
//!
//! Run with `cargo bench --all-features --bench store`.

#[path = "../tests/stores/postgres_server.rs"]
mod postgres_server;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use cutover::store::{FileStore, PostgresStore, RolloutId, Store, Version};
use cutover::{Action, Input, Instance, Rollout, RolloutSpec, Timestamp};
use postgres_server::PostgresServer;

/// A rolling update of 50 instances just after its first batch came up: a
/// realistic document a controller saves after every call.
fn document() -> Vec<u8> {
    let fleet = (0..50).map(|i| Instance::serving(format!("web-{i:05}"), "v1"));
    let spec = RolloutSpec {
        desired: 50,
        ..RolloutSpec::default()
    };
    let mut rollout = Rollout::new(Timestamp::ZERO, spec, fleet).expect("a valid spec");
    rollout.deploy(Timestamp::ZERO, "v2").expect("v2 is new");
    let mut inputs = Vec::new();
    while let Some(action) = rollout.poll_action() {
        if let Action::Provision { id, instance, .. } = action {
            inputs.push(Input::Provisioned { action: id });
            inputs.push(Input::Health {
                instance,
                healthy: true,
            });
        }
    }
    let now = Timestamp::from_millis(1_000);
    for input in inputs {
        rollout.handle_input(now, input);
    }
    while rollout.poll_action().is_some() {}
    serde_json::to_vec(&rollout).expect("serializes")
}

/// The bare write: a temp file, fsync, rename over the old file (and, if `durable`,
/// fsync the directory).
fn bare_write(directory: &Path, document: &[u8], durable: bool) {
    let temporary = directory.join("bare.tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)
        .expect("creates");
    file.write_all(document).expect("writes");
    file.sync_all().expect("syncs");
    drop(file);
    fs::rename(&temporary, directory.join("bare")).expect("renames");
    if durable {
        File::open(directory)
            .and_then(|d| d.sync_all())
            .expect("syncs the directory");
    }
}

fn file(c: &mut Criterion, document: &[u8]) {
    let directory =
        tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a directory on the target disk");
    let mut store = FileStore::open(directory.path()).expect("opens");
    let id = RolloutId::new("bench").expect("valid");
    let mut version = store.save(&id, document, None).expect("created");
    c.bench_function("store/save/file", |b| {
        b.iter(|| version = store.save(&id, document, Some(version)).expect("saves"));
    });
    c.bench_function("baseline/file_write", |b| {
        b.iter(|| bare_write(directory.path(), document, false));
    });
    c.bench_function("baseline/file_write_durable", |b| {
        b.iter(|| bare_write(directory.path(), document, true));
    });
    let mut save = || version = store.save(&id, document, Some(version)).expect("saves");
    paired(
        ("store/save/file", &mut save),
        ("baseline/file_write", &mut || {
            bare_write(directory.path(), document, false);
        }),
    );
    paired(
        ("store/save/file", &mut save),
        ("baseline/file_write_durable", &mut || {
            bare_write(directory.path(), document, true);
        }),
    );
}

fn postgres(c: &mut Criterion, document: &[u8]) {
    let Some(server) = PostgresServer::start() else {
        eprintln!("PostgreSQL is not installed: store/save/postgres was not measured");
        return;
    };
    let mut store = PostgresStore::connect(&server.params(), "bench_store").expect("connects");
    store.create_table().expect("the table is made");
    let id = RolloutId::new("bench").expect("valid");
    let mut version: Version = store.save(&id, document, None).expect("created");
    c.bench_function("store/save/postgres", |b| {
        b.iter(|| version = store.save(&id, document, Some(version)).expect("saves"));
    });

    let mut client =
        postgres::Client::connect(&server.params(), postgres::NoTls).expect("connects");
    client
        .batch_execute(
            "CREATE TABLE bench_bare (id text PRIMARY KEY, document bytea NOT NULL);
             INSERT INTO bench_bare VALUES ('bench', '')",
        )
        .expect("the table is made");
    let update = client
        .prepare("UPDATE bench_bare SET document = $2 WHERE id = $1")
        .expect("prepares");
    let mut bare_update = || {
        let updated = client
            .execute(&update, &[&"bench", &document])
            .expect("updates");
        assert_eq!(updated, 1);
    };
    c.bench_function("baseline/postgres_update", |b| b.iter(&mut bare_update));
    paired(
        ("store/save/postgres", &mut || {
            version = store.save(&id, document, Some(version)).expect("saves");
        }),
        ("baseline/postgres_update", &mut bare_update),
    );
}

/// Measures `a` and `b` interleaved (ABBA, 200 rounds after 20 to warm up) and
/// prints their medians and the ratio of `a`'s to `b`'s.
#[allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall time; the ban is for the sans-IO core"
)]
fn paired(a: (&str, &mut dyn FnMut()), b: (&str, &mut dyn FnMut())) {
    let ((a_name, a), (b_name, b)) = (a, b);
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        start.elapsed()
    };
    let (mut a_times, mut b_times) = (Vec::new(), Vec::new());
    for round in 0..220 {
        let (ta, tb) = if round % 2 == 0 {
            let ta = time(a);
            (ta, time(b))
        } else {
            let tb = time(b);
            (time(a), tb)
        };
        if round >= 20 {
            a_times.push(ta);
            b_times.push(tb);
        }
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (a_median, b_median) = (median(&mut a_times), median(&mut b_times));
    println!(
        "paired: {a_name} {a_median:.2?} / {b_name} {b_median:.2?} = {:.2}x (medians of 200, interleaved)",
        a_median.as_secs_f64() / b_median.as_secs_f64()
    );
}

fn benches(c: &mut Criterion) {
    let document = document();
    eprintln!("document: {} bytes", document.len());
    file(c, &document);
    postgres(c, &document);
}

criterion_group!(store, benches);
criterion_main!(store);
