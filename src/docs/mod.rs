//! Documentation that compiles: the spec documents people write, each parsed and
//! checked by a doc test so that it cannot drift from what the crate reads.
//!
//! * [`canary_with_analysis`]: a canary judged by its metrics (a judged analysis step
//!   and a background analysis), driven on the bare sans-IO loop to its abort.
//! * [`specs`]: a minimal and a full spec document for each strategy (rolling,
//!   blue-green, canary), with steps, routes, analyses and a judge.
//! * [`ROLLOUT_SPEC_SCHEMA`]: the JSON Schema of spec documents, for editors.

pub mod canary_with_analysis;
pub mod specs;

/// The JSON Schema (draft 2020-12) of a spec document, [`RolloutSpec`](crate::RolloutSpec):
/// point an editor at it (`"$schema"` in the document, or the editor's settings) to
/// have specs checked and completed as they are typed.
///
/// It is `src/docs/rollout-spec.schema.json` in the crate, generated from the spec
/// types by `rollout_spec_schema` (feature `schema`) and kept current by a test. It
/// describes the canonical forms; the reader also takes the short ones the [`specs`]
/// describe (`"pause"`, `{"pause": "5m"}`, a bare `"rolling"`).
pub const ROLLOUT_SPEC_SCHEMA: &str = include_str!("rollout-spec.schema.json");

/// The JSON Schema of a spec document, generated from the spec types (what
/// [`ROLLOUT_SPEC_SCHEMA`] holds): `schemars::schema_for!(RolloutSpec)`, with each
/// description cut to its prose (no `# Examples`) and its links to plain names.
#[cfg(feature = "schema")]
#[must_use]
pub fn rollout_spec_schema() -> schemars::Schema {
    schemars::generate::SchemaSettings::draft2020_12()
        .for_deserialize()
        .with_transform(Prose)
        .into_generator()
        .into_root_schema_for::<crate::RolloutSpec>()
}

/// Keeps a doc comment's prose for a schema's description.
#[cfg(feature = "schema")]
#[derive(Clone, Copy)]
struct Prose;

#[cfg(feature = "schema")]
impl schemars::transform::Transform for Prose {
    fn transform(&mut self, schema: &mut schemars::Schema) {
        if let Some(serde_json::Value::String(description)) = schema.get_mut("description") {
            *description = prose(description);
        }
        schemars::transform::transform_subschemas(self, schema);
    }
}

/// `doc` up to its first section (`# Examples`, `# Errors`), its links as their text.
#[cfg(feature = "schema")]
fn prose(doc: &str) -> String {
    let body = doc.split("\n\n# ").next().unwrap_or(doc);
    let mut text = String::with_capacity(body.len());
    let mut rest = body;
    // `[`name`](path)` and `[`name`]` are intra-doc links: keep `name`.
    while let Some(open) = rest.find("[`") {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find("`]") {
            Some(close) => {
                text.push_str(&after[..=close]);
                rest = &after[close + 2..];
                if rest.starts_with('(')
                    && let Some(end) = rest.find(')')
                {
                    rest = &rest[end + 1..];
                }
            }
            None => {
                text.push('[');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    text.trim_end().to_owned()
}

#[cfg(all(test, feature = "schema"))]
mod tests {
    #[test]
    fn descriptions_keep_prose_and_link_text() {
        assert_eq!(
            super::prose(
                "Checks it with [`RolloutSpec::validate`]; [`Rollout::new`](crate::Rollout::new) does.\n\n# Examples\n\n```\nx\n```"
            ),
            "Checks it with `RolloutSpec::validate`; `Rollout::new` does."
        );
        assert_eq!(super::prose("A [ b ] `c`"), "A [ b ] `c`");
    }
}
