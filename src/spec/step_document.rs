//! A [`CanaryStep`] as people write it: one key naming the step (`{"set_weight": "10%"}`),
//! or, for the step that needs no value, its bare name. An untimed pause reads from
//! `"pause"`, `{"pause": {}}` and `{"pause": null}` alike; `{"pause": "5m"}` is short for
//! `{"pause": {"duration": "5m"}}`.

use std::fmt;

use serde::de::{self, Deserializer, IntoDeserializer, MapAccess, Visitor};

use crate::analysis::OnFailure;
use crate::spec::CanaryStep;
use crate::strategy::CanaryScale;
use crate::time::Duration;
use crate::traffic::{MatchCondition, Weight};

/// A step as a document writes it (the value under its one key).
#[derive(serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "CanaryStepObject"))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum StepDocument {
    /// Send this share of traffic to the canary (`"10%"`).
    SetWeight(Weight),
    /// Wait for a duration, or until a promotion.
    Pause(PauseDocument),
    /// Run a named analysis and wait for its verdict.
    Analysis {
        /// The analysis' name, from the spec's `analyses`.
        analysis: String,
        /// What a failed verdict does. Default: abort.
        #[serde(default)]
        on_failure: OnFailure,
    },
    /// Size the canary apart from its traffic weight.
    SetCanaryScale(#[serde(deserialize_with = "crate::one_key::deserialize")] CanaryScale),
    /// Send requests that match to the canary; `null` removes the route.
    SetRoute(Option<MatchCondition>),
    /// Copy this share of requests to the canary (`"0%"` stops mirroring).
    SetMirror(Weight),
    /// Run a baseline of the stable revision beside the canary, for a duration and/or
    /// until an analysis passes.
    Experiment {
        /// How long the baseline and the canary run side by side.
        #[serde(default)]
        duration: Option<Duration>,
        /// The analysis' name, from the spec's `analyses`.
        #[serde(default)]
        analysis: Option<String>,
        /// What a failed verdict does. Default: abort.
        #[serde(default)]
        on_failure: OnFailure,
    },
}

impl From<StepDocument> for CanaryStep {
    fn from(document: StepDocument) -> CanaryStep {
        match document {
            StepDocument::SetWeight(weight) => CanaryStep::SetWeight(weight),
            StepDocument::Pause(PauseDocument(duration)) => CanaryStep::Pause { duration },
            StepDocument::Analysis {
                analysis,
                on_failure,
            } => CanaryStep::Analysis {
                analysis,
                on_failure,
            },
            StepDocument::SetCanaryScale(scale) => CanaryStep::SetCanaryScale(scale),
            StepDocument::SetRoute(route) => CanaryStep::SetRoute(route),
            StepDocument::SetMirror(share) => CanaryStep::SetMirror(share),
            StepDocument::Experiment {
                duration,
                analysis,
                on_failure,
            } => CanaryStep::Experiment {
                duration,
                analysis,
                on_failure,
            },
        }
    }
}

/// A pause's value: nothing (`{}` or `null`: until a promotion), a duration, or
/// `{"duration": …}`.
struct PauseDocument(Option<Duration>);

/// A pause written out.
#[derive(serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "PauseObject"))]
#[serde(deny_unknown_fields)]
struct PauseFields {
    /// How long; absent or `null` waits for a promotion.
    #[serde(default)]
    duration: Option<Duration>,
}

impl<'de> de::Deserialize<'de> for PauseDocument {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PauseVisitor;
        impl<'de> Visitor<'de> for PauseVisitor {
            type Value = PauseDocument;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("{}, a duration (\"5m\") or {\"duration\": \"5m\"}")
            }
            fn visit_unit<E: de::Error>(self) -> Result<PauseDocument, E> {
                Ok(PauseDocument(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<PauseDocument, E> {
                Ok(PauseDocument(None))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PauseDocument, E> {
                de::Deserialize::deserialize(v.into_deserializer()).map(|d| PauseDocument(Some(d)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PauseDocument, E> {
                de::Deserialize::deserialize(v.into_deserializer()).map(|d| PauseDocument(Some(d)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PauseDocument, E> {
                de::Deserialize::deserialize(v.into_deserializer()).map(|d| PauseDocument(Some(d)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PauseDocument, A::Error> {
                let fields: PauseFields =
                    de::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(PauseDocument(fields.duration))
            }
        }
        deserializer.deserialize_any(PauseVisitor)
    }
}

impl<'de> de::Deserialize<'de> for CanaryStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StepVisitor;
        impl<'de> Visitor<'de> for StepVisitor {
            type Value = CanaryStep;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a step: an object with one key, such as {\"set_weight\": \"10%\"}, or \"pause\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CanaryStep, E> {
                de::Deserialize::deserialize(crate::one_key::BareName::new(v))
                    .map(|step: StepDocument| step.into())
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CanaryStep, A::Error> {
                crate::one_key::one_entry::<A, StepDocument>(
                    map,
                    "a step has one key, its kind: write each step as its own object",
                )
                .map(CanaryStep::from)
            }
        }
        deserializer.deserialize_any(StepVisitor)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for CanaryStep {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CanaryStep".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let written = generator.subschema_for::<StepDocument>();
        schemars::json_schema!({
            "description": "One step of a canary plan: an object with one key naming the step, or \"pause\" for an untimed pause.",
            "anyOf": [
                { "const": "pause", "description": "Wait until a promotion." },
                written
            ]
        })
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for PauseDocument {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Pause".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let duration = generator.subschema_for::<Duration>();
        let fields = generator.subschema_for::<PauseFields>();
        schemars::json_schema!({
            "description": "How long to pause: {} or null until a promotion, a duration, or {\"duration\": …}.",
            "anyOf": [{ "type": "null" }, duration, fields]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step's name in documents; exhaustive, so that a new step is added here.
    fn name_of(step: &CanaryStep) -> &'static str {
        match step {
            CanaryStep::SetWeight(_) => "set_weight",
            CanaryStep::Pause { .. } => "pause",
            CanaryStep::Analysis { .. } => "analysis",
            CanaryStep::SetCanaryScale(_) => "set_canary_scale",
            CanaryStep::SetRoute(_) => "set_route",
            CanaryStep::SetMirror(_) => "set_mirror",
            CanaryStep::Experiment { .. } => "experiment",
        }
    }

    #[test]
    fn every_step_reads_back_from_what_it_writes() {
        let steps = [
            CanaryStep::SetWeight(Weight::FULL),
            CanaryStep::Pause { duration: None },
            CanaryStep::Pause {
                duration: Some(Duration::from_secs(5)),
            },
            CanaryStep::Analysis {
                analysis: "a".into(),
                on_failure: OnFailure::Pause,
            },
            CanaryStep::SetCanaryScale(CanaryScale::Replicas(1)),
            CanaryStep::SetCanaryScale(CanaryScale::MatchTrafficWeight),
            CanaryStep::SetRoute(None),
            CanaryStep::SetRoute(Some(MatchCondition::header_equals("x", "1"))),
            CanaryStep::SetMirror(Weight::ZERO),
            CanaryStep::Experiment {
                duration: None,
                analysis: Some("a".into()),
                on_failure: OnFailure::Abort,
            },
        ];
        for step in &steps {
            let written = serde_json::to_value(step).unwrap();
            assert!(written.get(name_of(step)).is_some(), "{written}");
            assert_eq!(
                &serde_json::from_value::<CanaryStep>(written).unwrap(),
                step
            );
        }
    }

    #[test]
    fn a_bare_name_is_the_step_with_an_empty_value_or_a_refusal_saying_it_needs_one() {
        let read = |doc: &str| serde_json::from_str::<CanaryStep>(doc).map_err(|e| e.to_string());
        assert_eq!(read(r#""pause""#), Ok(CanaryStep::Pause { duration: None }));
        for name in ["set_weight", "set_mirror", "analysis", "set_canary_scale"] {
            let error = read(&format!("{name:?}")).unwrap_err();
            assert!(
                error.contains(&format!("`{name}` needs a value: write it as an object")),
                "{error}"
            );
        }
        let error = read(r#""paws""#).unwrap_err();
        assert!(
            error.contains("unknown variant `paws`, expected one of"),
            "{error}"
        );
        // An empty experiment reads; validation then says what it lacks.
        assert!(matches!(
            read(r#""experiment""#),
            Ok(CanaryStep::Experiment {
                duration: None,
                analysis: None,
                ..
            })
        ));
        assert_eq!(read(r#""set_route""#), Ok(CanaryStep::SetRoute(None)));
    }
}
