//! Spec documents for each strategy, minimal and full, as people write them.
//!
//! A document is a [`RolloutSpec`](crate::RolloutSpec) in JSON (or any serde format:
//! the field names and forms are the same). Read one with
//! [`RolloutSpec::from_json`](crate::RolloutSpec::from_json), which checks it and
//! refuses what it cannot use with the path of the setting to change.
//!
//! Every constant here is shown as written and parsed by a doc test, so the documents
//! cannot rot.

/// The smallest rolling update worth writing: four instances, one extra at a time,
/// none taken down early.
///
/// ```json
#[doc = include_str!("specs/rolling_minimal.json")]
/// ```
///
/// ```
/// let spec = cutover::RolloutSpec::from_json(cutover::docs::specs::ROLLING_MINIMAL)?;
/// assert_eq!(spec.validate()?.max_total(), 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const ROLLING_MINIMAL: &str = include_str!("specs/rolling_minimal.json");

/// A rolling update with every setting of [`RolloutSpec`](crate::RolloutSpec) written
/// out, and a background analysis that aborts it when errors rise.
///
/// ```json
#[doc = include_str!("specs/rolling_full.json")]
/// ```
///
/// ```
/// let spec = cutover::RolloutSpec::from_json(cutover::docs::specs::ROLLING_FULL)?;
/// assert_eq!(spec.validate()?.max_total(), 13);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const ROLLING_FULL: &str = include_str!("specs/rolling_full.json");

/// The smallest blue-green deployment: green built at full size beside blue, switched
/// as soon as it is ready.
///
/// ```json
#[doc = include_str!("specs/blue_green_minimal.json")]
/// ```
///
/// ```
/// let spec = cutover::RolloutSpec::from_json(cutover::docs::specs::BLUE_GREEN_MINIMAL)?;
/// assert_eq!(spec.validate()?.max_total(), 8);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const BLUE_GREEN_MINIMAL: &str = include_str!("specs/blue_green_minimal.json");

/// Blue-green with a preview: green starts with one instance that testers reach by a
/// header, a smoke-test hook and an analysis check it before the switch, the same
/// analysis checks it after, and blue stays as the warm standby.
///
/// ```json
#[doc = include_str!("specs/blue_green_full.json")]
/// ```
///
/// ```
/// let spec = cutover::RolloutSpec::from_json(cutover::docs::specs::BLUE_GREEN_FULL)?;
/// assert_eq!(spec.validate()?.max_total(), 8);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const BLUE_GREEN_FULL: &str = include_str!("specs/blue_green_full.json");

/// The smallest canary: 10% for five minutes, then 50% until an operator promotes it.
/// A step that needs no value, an untimed pause, may be written `"pause"` or
/// `{"pause": {}}`; `{"pause": "5m"}` is short for `{"pause": {"duration": "5m"}}`.
///
/// ```json
#[doc = include_str!("specs/canary_minimal.json")]
/// ```
///
/// ```
/// use cutover::StrategySpec;
/// use cutover::spec::CanaryStep;
/// let spec = cutover::RolloutSpec::from_json(cutover::docs::specs::CANARY_MINIMAL)?;
/// let StrategySpec::Canary(canary) = &spec.strategy else { unreachable!() };
/// assert_eq!(canary.plan.len(), 4);
/// assert_eq!(canary.plan.step(3).as_deref(), Some(&CanaryStep::Pause { duration: None }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const CANARY_MINIMAL: &str = include_str!("specs/canary_minimal.json");

/// A canary with every kind of step: one canary instance before any traffic, a header
/// route for testers and a 5% mirror, 2.5% of users judged against the stable revision
/// by a Kayenta-style judge and a sequential test (stepping back on failure), an
/// experiment against a fresh baseline at 25%, then all traffic and a last pause for a
/// person. A background analysis watches errors from step 3 on.
///
/// ```json
#[doc = include_str!("specs/canary_full.json")]
/// ```
///
/// ```
/// use cutover::StrategySpec;
/// let spec = cutover::RolloutSpec::from_json(cutover::docs::specs::CANARY_FULL)?;
/// let StrategySpec::Canary(canary) = &spec.strategy else { unreachable!() };
/// assert_eq!(canary.plan.len(), 13);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A plan may instead be one of AWS CodeDeploy's presets, which expand into steps:
///
/// ```
/// use cutover::RolloutSpec;
/// for plan in [
///     r#""all_at_once""#,
///     r#"{"canary": {"weight": "10%", "after": "5m"}}"#,
///     r#"{"linear": {"weight": "10%", "every": "1m"}}"#,
/// ] {
///     let doc = format!(r#"{{"desired": 10, "strategy": {{"canary": {{"plan": {plan}}}}}}}"#);
///     RolloutSpec::from_json(&doc)?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const CANARY_FULL: &str = include_str!("specs/canary_full.json");

/// Every document above, by name, for tools and tests that go through them all.
pub const ALL: [(&str, &str); 6] = [
    ("rolling_minimal", ROLLING_MINIMAL),
    ("rolling_full", ROLLING_FULL),
    ("blue_green_minimal", BLUE_GREEN_MINIMAL),
    ("blue_green_full", BLUE_GREEN_FULL),
    ("canary_minimal", CANARY_MINIMAL),
    ("canary_full", CANARY_FULL),
];
