//! The fuzz bodies without a fuzzer: the committed corpus (`fuzz/corpus/<target>/`)
//! replayed, and each body run over a bounded number of inputs made by mutating it with a
//! fixed seed, so that CI keeps checking what the fuzz targets check.
//!
//! `CUTOVER_UPDATE_CORPUS=1 cargo test --all-features --test fuzz_replay` rewrites the
//! seeds this file generates (documents from the scripted rollouts of `tests/world`).

#![cfg(feature = "__fuzz")]

mod world;

use std::path::PathBuf;

use cutover::fuzz;

type Body = fn(&[u8]);

const TARGETS: [(&str, Body); 7] = [
    ("router", fuzz::router),
    ("spec_document", fuzz::spec_document),
    ("rollout_document", fuzz::rollout_document),
    ("traffic_table", fuzz::traffic_table),
    ("public_arithmetic", fuzz::public_arithmetic),
    ("rollout_inputs", fuzz::rollout_inputs),
    ("driver", fuzz::driver),
];

/// Mutated inputs per target and seed file; the whole file stays within seconds in debug.
const MUTATIONS: usize = 24;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

#[test]
fn every_target_has_a_seed_corpus_that_replays() {
    for (target, body) in TARGETS {
        let files = corpus(target);
        assert!(files.len() >= 3, "{target}: a seed corpus of a few files");
        for (path, bytes) in files {
            assert!(
                bytes.len() <= 64 << 10,
                "{}: seeds stay small",
                path.display()
            );
            body(&bytes);
        }
    }
}

/// A fixed-seed generator (SplitMix64): the same mutations on every machine.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Text a JSON mutation splices in: the values hostile documents hold.
const SPLICES: [&str; 12] = [
    "0",
    "-1",
    "18446744073709551615",
    "null",
    "\"\"",
    "[]",
    "{}",
    "\"999999999h\"",
    "true",
    "\"150%\"",
    "1e308",
    "\"v9\"",
];

fn mutate(mix: &mut Mix, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..=mix.below(4) {
        let at = mix.below(bytes.len() + 1);
        match mix.below(5) {
            0 if !bytes.is_empty() => {
                let i = at.min(bytes.len() - 1);
                bytes[i] ^= 1 << mix.below(8);
            }
            1 => bytes.truncate(at),
            2 => {
                let splice = SPLICES[mix.below(SPLICES.len())].as_bytes();
                bytes.splice(at..at, splice.iter().copied());
            }
            3 => {
                // Replace a JSON value (from a ':' to the next ',' or '}').
                if let Some(colon) = bytes[at..].iter().position(|b| *b == b':') {
                    let start = at + colon + 1;
                    let end = bytes[start..]
                        .iter()
                        .position(|b| matches!(b, b',' | b'}'))
                        .map_or(bytes.len(), |e| start + e);
                    let splice = SPLICES[mix.below(SPLICES.len())].as_bytes();
                    bytes.splice(start..end, splice.iter().copied());
                }
            }
            _ => {
                let random: Vec<u8> = (0..mix.below(16)).map(|_| mix.next() as u8).collect();
                bytes.splice(at..at, random);
            }
        }
    }
    bytes
}

#[test]
fn every_body_survives_mutated_seeds() {
    for (target, body) in TARGETS {
        let mut mix = Mix(0x0c07_0e12 ^ target.len() as u64);
        for (_, seed) in corpus(target) {
            for _ in 0..MUTATIONS {
                body(&mutate(&mut mix, &seed));
            }
        }
    }
}

#[test]
fn every_body_survives_random_bytes() {
    let mut mix = Mix(24);
    for (_, body) in TARGETS {
        for _ in 0..64 {
            let input: Vec<u8> = (0..mix.below(256)).map(|_| mix.next() as u8).collect();
            body(&input);
        }
    }
}

/// Writes the generated seeds (run with `CUTOVER_UPDATE_CORPUS=1`).
#[test]
fn generated_seeds_are_current() {
    if std::env::var_os("CUTOVER_UPDATE_CORPUS").is_none() {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let docs = [
        ("mid_rollout.json", world::document()),
        ("scripted_start.json", {
            let (spec, _) = world::scripted_rollout();
            let w = world::World::new(spec, world::ready_fleet(4));
            serde_json::to_value(&w.rollout).unwrap()
        }),
    ];
    for (name, doc) in docs {
        write(
            "rollout_document",
            name,
            serde_json::to_string(&doc).unwrap().as_bytes(),
        );
    }
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for entry in std::fs::read_dir(fixtures).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        write(
            "rollout_document",
            &name,
            serde_json::to_string(&doc).unwrap().as_bytes(),
        );
    }
    let specs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/docs/specs");
    for entry in std::fs::read_dir(specs).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        write("spec_document", &name, &std::fs::read(&path).unwrap());
    }
    let table = world::document()["rollout"]["rotation"]["published"].clone();
    write(
        "traffic_table",
        "mid_rollout.json",
        format!("{table}\n\x01\x02\x03\x04\x05\x06\x07").as_bytes(),
    );
}
