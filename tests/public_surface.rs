//! The crate root re-exports exactly the names the crate docs' map lists: nothing slips
//! into the root unannounced, and nothing announced is missing.

use std::collections::BTreeSet;

fn lib() -> String {
    std::fs::read_to_string(format!("{}/src/lib.rs", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The names the map announces (the `root:` comment above its table).
fn announced(lib: &str) -> BTreeSet<String> {
    let line = lib
        .lines()
        .find_map(|l| l.strip_prefix("//! <!-- root: "))
        .expect("the crate docs' map lists the root");
    line.trim_end_matches("-->")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The names re-exported at the root: the top-level `pub use` items (not those inside a
/// module block).
fn exported(lib: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut depth = 0i32;
    let mut in_use = false;
    for line in lib.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let top = depth == 0;
        if top && line.starts_with("pub use ") {
            in_use = true;
        }
        if in_use {
            let items = line
                .trim_start_matches("pub use ")
                .split(['{', '}', ',', ';', ' '])
                .filter(|w| !w.is_empty());
            for item in items {
                // `module::Name` or `module::{...}`: keep the last segment.
                let name = item.rsplit("::").next().unwrap_or(item);
                if !name.is_empty() && name != "self" {
                    names.insert(name.to_owned());
                }
            }
            if line.trim_end().ends_with(';') {
                in_use = false;
            }
            continue;
        }
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
    }
    names
}

#[test]
fn the_root_is_the_map() {
    let lib = lib();
    let announced = announced(&lib);
    let exported = exported(&lib);
    assert_eq!(
        exported, announced,
        "src/lib.rs re-exports {exported:?} but its map lists {announced:?}"
    );
    assert!(
        announced.len() <= 35,
        "the root is a phone book again: {}",
        announced.len()
    );
}

#[test]
fn what_the_root_exports_resolves() {
    // A sample through the paths the map gives, so a rename breaks this test too.
    let _ = cutover::Weight::FULL;
    let _ = cutover::spec::MAX_DESIRED;
    let _ = cutover::strategy::BLUE_GREEN_STEPS;
    let _ = cutover::traffic::TOTAL_BASIS_POINTS;
    let _: Option<cutover::status::Waiting> = None;
}
