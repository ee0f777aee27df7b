//! The canary as the rollout core drives it: what its analysis and experiment steps
//! check, what a failure there does, where it steps back to, and how it says where it is.

use crate::analysis::OnFailure;
use crate::model::InstanceGroup;
use crate::spec::{CanarySpec, CanaryStep, Checks};
use crate::strategy::plan::{Plan, PlanInput, Role, StepKind, StepWait};
use crate::strategy::planner::{Planner, StepView};

impl Planner for CanarySpec {
    fn plan(&self, input: &PlanInput) -> Plan {
        super::canary_plan(self, input)
    }

    fn step_checks(&self, index: u32, _step: StepKind) -> Option<Checks> {
        let analysis = match self.plan.step(index as usize).as_deref() {
            Some(CanaryStep::Analysis { analysis, .. }) => Some(analysis.clone()),
            Some(CanaryStep::Experiment { analysis, .. }) => analysis.clone(),
            _ => return None,
        };
        let checks = Checks {
            hooks: Vec::new(),
            analysis,
        };
        (!checks.is_empty()).then_some(checks)
    }

    /// An analysis or experiment step says; the promotion's checks abort.
    fn on_checks_failure(&self, index: u32) -> OnFailure {
        match self.plan.step(index as usize).as_deref() {
            Some(
                CanaryStep::Analysis { on_failure, .. } | CanaryStep::Experiment { on_failure, .. },
            ) => *on_failure,
            _ => OnFailure::Abort,
        }
    }

    /// An experiment compares the canary with its own baseline group.
    fn checks_baseline(&self, index: u32) -> InstanceGroup {
        match self.plan.step(index as usize).as_deref() {
            Some(CanaryStep::Experiment { .. }) => InstanceGroup::Baseline,
            _ => InstanceGroup::Main,
        }
    }

    /// Back to the step that set the weight in force before the current one (the first
    /// step if none did).
    fn step_back(&self, index: u32) -> Option<u32> {
        // The weight in force was set by the last weight step so far: read backward from
        // `index`, the one before it is the second found.
        let index = index.min(u32::try_from(self.plan.len()).unwrap_or(u32::MAX));
        let mut weight_steps = (0..=index).rev().filter(|i| {
            matches!(
                self.plan.step(*i as usize).as_deref(),
                Some(CanaryStep::SetWeight(_))
            )
        });
        Some(weight_steps.nth(1).unwrap_or(0))
    }

    fn describe_step(&self, step: &StepView<'_>) -> Option<String> {
        let StepView {
            target,
            stable,
            plan,
            fleet,
            ..
        } = step;
        let on_canary = step.target_weight.basis_points();
        let at = format!(
            "canary {target}, step {}/{}: {}.{:02}% of traffic on it, {} available",
            plan.step.index + 1,
            plan.step.count,
            on_canary / 100,
            on_canary % 100,
            fleet.roles[Role::Target].available
        );
        let checks = &step.checks_waiting;
        let doing = match (plan.step.kind, plan.step.waiting) {
            (StepKind::Pause, Some(StepWait::Until { at })) => format!("paused until {at}"),
            (StepKind::Pause, _) => {
                format!("paused until promoted (since {})", step.started_at)
            }
            (StepKind::Analysis, _) => format!("analysing{checks}"),
            (StepKind::Experiment, waiting) => {
                let baseline = fleet.roles[Role::Baseline];
                let sized = format!(
                    "experiment: baseline of {stable} {}/{} available",
                    baseline.available,
                    plan.wanted[Role::Baseline]
                );
                match waiting {
                    Some(StepWait::Until { at }) => format!("{sized}, side by side until {at}"),
                    Some(StepWait::Capacity) => format!("{sized}, starting"),
                    _ => format!("{sized}, judging the canary against it{checks}"),
                }
            }
            (StepKind::Promote, _) => format!(
                "promoting it to all traffic; {} {stable} instance(s) left",
                fleet.roles[Role::Stable].replicas
            ),
            (kind, _) => format!(
                "{kind}: waiting for {} canary instance(s) to carry it",
                plan.wanted[Role::Target]
            ),
        };
        Some(format!("{at}; {doing}"))
    }
}
