//! Reading a spec document as a person wrote it: [`RolloutSpec::from_document`] for any
//! serde format and [`RolloutSpec::from_json`], each refusing with the path of the
//! setting to change ([`SpecDocumentError`]).

use crate::error::{SpecDocumentError, SpecError, excerpt, excerpt_of};
use crate::spec::{CanaryPlan, CanaryStep, RolloutSpec, StrategySpec};

/// The most characters of a reader's message an error keeps: a message quotes the
/// document (an unknown field's name), and a document may be any size.
const MESSAGE_CHARS: usize = 512;

impl RolloutSpec {
    /// Reads a spec document from any serde format (JSON, YAML, TOML…) and checks it
    /// with [`RolloutSpec::validate`].
    ///
    /// A setting that cannot be read (a weight without a unit, a misspelt field, a
    /// duration without a unit) is refused with its path in the document, such as
    /// `strategy.canary.plan.steps[3].pause.duration`; a spec that reads but cannot
    /// run, with the path of the setting to change.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "json")] {
    /// use cutover::RolloutSpec;
    /// let doc = r#"{"desired": 4, "strategy": {"rolling": {"max_surge": "90"}}}"#;
    /// let error = RolloutSpec::from_document(&mut serde_json::Deserializer::from_str(doc)).unwrap_err();
    /// assert_eq!(error.path(), "strategy.rolling.max_surge");
    /// assert!(error.to_string().contains(r#"write "90%" for a percentage of desired"#));
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`SpecDocumentError::Unreadable`] when a setting cannot be read,
    /// [`SpecDocumentError::Invalid`] when the spec cannot run as written.
    pub fn from_document<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<RolloutSpec, SpecDocumentError> {
        let spec = serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let path = path_of(error.path());
            SpecDocumentError::Unreadable {
                path,
                message: excerpt_of(&error.into_inner().to_string(), MESSAGE_CHARS),
                line: None,
                column: None,
            }
        })?;
        checked(spec)
    }

    /// Reads a JSON spec document and checks it: [`RolloutSpec::from_document`], with
    /// the line and column of a setting that cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// use cutover::RolloutSpec;
    /// let spec = RolloutSpec::from_json(r#"{"desired": 4, "strategy": {"rolling": {"max_surge": 1, "max_unavailable": 0}}}"#)?;
    /// assert_eq!(spec.desired, 4);
    ///
    /// let typo = RolloutSpec::from_json(r#"{"desired": 4, "min_redy": "30s"}"#).unwrap_err();
    /// assert_eq!(typo.path(), "min_redy");
    /// assert!(typo.to_string().starts_with("min_redy: unknown field `min_redy`, expected one of"));
    /// # Ok::<(), cutover::SpecDocumentError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`RolloutSpec::from_document`].
    #[cfg(feature = "json")]
    pub fn from_json(text: &str) -> Result<RolloutSpec, SpecDocumentError> {
        let unreadable = |path: String, error: serde_json::Error| {
            // serde_json ends its message with the position, which the error keeps apart.
            let position = format!(" at line {} column {}", error.line(), error.column());
            let message = error.to_string();
            let message = message.strip_suffix(&position).unwrap_or(&message);
            SpecDocumentError::Unreadable {
                path,
                message: excerpt_of(message, MESSAGE_CHARS),
                line: (error.line() > 0).then_some(error.line()),
                column: (error.line() > 0).then_some(error.column()),
            }
        };
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let spec = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = path_of(error.path());
            unreadable(path, error.into_inner())
        })?;
        deserializer
            .end()
            .map_err(|error| unreadable(String::new(), error))?;
        checked(spec)
    }
}

/// A reader's path as the document spells it, each key bounded: `.` between keys,
/// `[3]` for a list's items, nothing for the document as a whole.
fn path_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut text = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => text.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(&excerpt(key));
            }
            Segment::Unknown => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push('?');
            }
        }
    }
    text
}

/// `spec`, validated, or its error with the path of the setting to change.
fn checked(spec: RolloutSpec) -> Result<RolloutSpec, SpecDocumentError> {
    match spec.validate() {
        Ok(_) => Ok(spec),
        Err(error) => Err(SpecDocumentError::Invalid {
            path: setting_of(&error, &spec),
            error,
        }),
    }
}

/// Where in the document `spec` the validation `error` points: the setting to change,
/// or the part whose settings contradict each other.
fn setting_of(error: &SpecError, spec: &RolloutSpec) -> String {
    let strategy = match &spec.strategy {
        StrategySpec::Rolling(_) => "strategy.rolling",
        StrategySpec::BlueGreen(_) => "strategy.blue_green",
        StrategySpec::Canary(_) => "strategy.canary",
    };
    let steps = match &spec.strategy {
        StrategySpec::Canary(canary) => match &canary.plan {
            CanaryPlan::Steps(steps) => Some(steps.as_slice()),
            _ => None,
        },
        _ => None,
    };
    let step = |index: usize, within: &str| match steps {
        Some(_) => format!("strategy.canary.plan.steps[{index}]{within}"),
        None => "strategy.canary.plan".to_owned(),
    };
    match error {
        SpecError::ZeroDesired | SpecError::DesiredTooLarge { .. } => "desired".to_owned(),
        SpecError::SurgeTooLarge { .. } => format!("{strategy}.max_surge"),
        SpecError::UnavailableAboveDesired { .. } => format!("{strategy}.max_unavailable"),
        SpecError::InvalidQuantity { field, .. }
        | SpecError::CountAsString { field, .. }
        | SpecError::PercentOutOfRange { field, .. } => format!("{strategy}.{field}"),
        SpecError::NoProgressPossible | SpecError::DowntimeRequired { .. } => strategy.to_owned(),
        SpecError::DeadlineTooShort { .. } => "progress_deadline".to_owned(),
        SpecError::BackoffInverted { .. } => "provision_retry.backoff_max".to_owned(),
        SpecError::Analysis(error) => {
            let metrics = spec
                .background_analysis
                .as_ref()
                .map_or(&[][..], |analysis| analysis.metrics.as_slice());
            metric_setting("background_analysis.metrics", metrics, error)
                .unwrap_or_else(|| "background_analysis".to_owned())
        }
        SpecError::InvalidHook { stage, .. } => format!("strategy.blue_green.{stage}.hooks"),
        SpecError::UnknownAnalysis { stage, name } => {
            let named = |step: &CanaryStep| match step {
                CanaryStep::Analysis { analysis, .. } => excerpt(analysis) == *name,
                CanaryStep::Experiment {
                    analysis: Some(analysis),
                    ..
                } => excerpt(analysis) == *name,
                _ => false,
            };
            match steps.and_then(|steps| steps.iter().position(named)) {
                Some(index)
                    if matches!(steps.map(|s| &s[index]), Some(CanaryStep::Analysis { .. })) =>
                {
                    step(index, ".analysis.analysis")
                }
                Some(index) => step(index, ".experiment.analysis"),
                None => format!("strategy.blue_green.{stage}.analysis"),
            }
        }
        SpecError::InvalidAnalysis { analysis, error } => {
            let path = format!("analyses.{analysis}");
            let metrics = spec
                .analyses
                .iter()
                .find(|(name, _)| excerpt(name) == *analysis)
                .map_or(&[][..], |(_, metrics)| metrics.as_slice());
            metric_setting(&path, metrics, error).unwrap_or(path)
        }
        SpecError::OpenEndedAnalysis { analysis, metric } => {
            let metrics = spec
                .analyses
                .iter()
                .find(|(name, _)| excerpt(name) == *analysis)
                .map_or(&[][..], |(_, metrics)| metrics.as_slice());
            match metrics.iter().position(|m| excerpt(&m.name) == *metric) {
                Some(index) => format!("analyses.{analysis}[{index}].count"),
                None => format!("analyses.{analysis}"),
            }
        }
        SpecError::PreviewTooLarge { .. } => "strategy.blue_green.preview_replicas".to_owned(),
        SpecError::InvalidPreviewRoute { .. } => "strategy.blue_green.preview_route".to_owned(),
        SpecError::InvalidCanary { field, .. } => (*field).to_owned(),
        SpecError::TooManySteps { .. } => "strategy.canary.plan".to_owned(),
        SpecError::InvalidCanaryStep { step: index, .. } => step(*index, ""),
        SpecError::CanaryScaleTooLarge { step: index, .. } => step(*index, ".set_canary_scale"),
        SpecError::InvalidHealth { field, .. } => format!("health.{field}"),
        // Not a document's problem: the fleet a rollout starts from.
        SpecError::Fleet(_) => String::new(),
        SpecError::DurationTooLong { field, .. }
        | SpecError::TooMany { field, .. }
        | SpecError::TooLong { field, .. } => field.clone(),
    }
}

/// The path of the metric (and its setting) an analysis error names, within the list
/// of `metrics` at `path`.
fn metric_setting(
    path: &str,
    metrics: &[crate::analysis::MetricSpec],
    error: &crate::analysis::AnalysisSpecError,
) -> Option<String> {
    let name = error.metric()?;
    // A name defined twice is refused at its second definition.
    let index = metrics.iter().rposition(|metric| metric.name == name)?;
    Some(match error.setting() {
        Some(setting) => format!("{path}[{index}].{setting}"),
        None => format!("{path}[{index}]"),
    })
}
