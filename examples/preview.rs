//! Plan previews and the three strategies compared, for a fleet given on the command
//! line: `cargo run --example preview -- [desired] [--realistic] [--seed N]`
//! (default 10 instances, an ideal world).
//!
//! For each strategy it prints the plan step by step, the way Argo Rollouts shows one
//! (`Step: 2/5 SetWeight 20 ActualWeight 20`), with instances per revision, peak and
//! minimum ready; then the trade-off table with this fleet's numbers: extra instances,
//! the mixed-version window, the time to roll back (an abort half-way), and the users
//! exposed to a bad version (the canary's judge, or an operator who aborts after ten
//! failed requests). It draws the canary's timeline to `examples/pictures/preview.svg`
//! and ends with the canary's summary line.

#[path = "support/mod.rs"]
mod support;

use cutover::sim::{Settings, compare, preview, standard_specs};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let desired: u32 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(10);
    let seed = support::seed();
    let settings = if args.iter().any(|a| a == "--realistic") {
        Settings::realistic()
    } else {
        Settings::ideal()
    };
    let specs = standard_specs(desired);
    let mut last = None;
    for spec in &specs {
        let plan = preview(spec, Some(&settings))?;
        println!("{} of {desired} instances:", spec.strategy.kind());
        println!("{plan}\n");
        last = Some(plan);
    }
    println!("{}", compare(&specs, &settings, seed)?);
    let canary = last.expect("three strategies").report;
    support::draw(
        &format!("canary preview, {desired} instances"),
        &canary.timeline,
        &support::picture("preview"),
    )?;
    println!("{}", canary.summary());
    Ok(())
}
