//! What every example does with a simulated run: print its timeline, draw it as an SVG
//! (instances per revision as stacked bands, weights requested and applied as step
//! lines, phase changes marked), and end with the summary line.

#![allow(dead_code)]

use std::path::Path;

use cutover::InstanceState;
use cutover::sim::{Report, Timeline};
use plotters::prelude::*;

/// Band colours per revision, in order of appearance.
const COLOURS: [RGBColor; 4] = [
    RGBColor(70, 130, 180),
    RGBColor(230, 126, 34),
    RGBColor(39, 174, 96),
    RGBColor(142, 68, 173),
];

/// Prints the timeline and the report, and writes the picture to `svg`.
pub fn show(title: &str, report: &Report, svg: &Path) -> Result<(), Box<dyn std::error::Error>> {
    println!("{title}\n");
    print!("{}", report.narrate());
    println!();
    println!(
        "end: {}; failed by the rollout {}, by a bad version {}, by crashes {}, unrouted {}; mixed versions for {}",
        report.end,
        report.failed.rollout,
        report.failed.bad_version,
        report.failed.crash,
        report.failed.unrouted,
        report.mixed_window
    );
    draw(title, &report.timeline, svg)?;
    println!("picture: {}", svg.display());
    println!("{}", report.summary());
    Ok(())
}

/// `--seed N` from the command line (default 1): the seed a run replays from.
pub fn seed() -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--seed")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

/// The path of an example's picture: `examples/pictures/<name>.svg` (or `$OUT/<name>.svg`).
pub fn picture(name: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("OUT").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pictures"),
        Into::into,
    );
    let _ = std::fs::create_dir_all(&dir);
    dir.join(format!("{name}.svg"))
}

/// Draws `timeline` as an SVG.
pub fn draw(
    title: &str,
    timeline: &Timeline,
    svg: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let rows = &timeline.rows;
    let revisions = timeline.revisions();
    let end = rows
        .last()
        .map_or(1.0, |r| r.at.as_millis() as f64 / 1_000.0)
        .max(1.0);
    let alive = |row: &cutover::sim::Row, k: usize| -> f64 {
        row.revisions
            .iter()
            .find(|r| r.revision == revisions[k])
            .map_or(0.0, |r| {
                (r.instances[InstanceState::Provisioning.index()]
                    + r.instances[InstanceState::Starting.index()]
                    + r.instances[InstanceState::Ready.index()]
                    + r.instances[InstanceState::Draining.index()]) as f64
            })
    };
    let peak = rows
        .iter()
        .map(|row| (0..revisions.len()).map(|k| alive(row, k)).sum::<f64>())
        .fold(1.0, f64::max);

    let root = SVGBackend::new(svg, (960, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(300);
    let mut instances = ChartBuilder::on(&top)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(25)
        .y_label_area_size(45)
        .build_cartesian_2d(0.0..end, 0.0..peak + 1.0)?;
    instances
        .configure_mesh()
        .y_desc("instances")
        .disable_x_mesh()
        .draw()?;
    // Stacked bands: each revision's band sits on the ones before it.
    for k in (0..revisions.len()).rev() {
        let colour = COLOURS[k % COLOURS.len()];
        let points = steps(rows.iter().map(|row| {
            let below: f64 = (0..=k).map(|j| alive(row, j)).sum();
            (row.at.as_millis() as f64 / 1_000.0, below)
        }));
        instances
            .draw_series(AreaSeries::new(points, 0.0, light(colour)).border_style(colour))?
            .label(format!("{} instances", revisions[k]))
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 10, y + 5)], light(colour).filled())
            });
    }
    // Phase changes, marked.
    let mut phase = "";
    for row in rows {
        if row.phase != phase {
            phase = &row.phase;
            let x = row.at.as_millis() as f64 / 1_000.0;
            instances.draw_series(LineSeries::new([(x, 0.0), (x, peak + 1.0)], BLACK.mix(0.3)))?;
            let label = phase.split(' ').next().unwrap_or(phase).to_owned();
            instances.draw_series(std::iter::once(Text::new(
                label,
                (x, peak + 0.8),
                ("sans-serif", 11),
            )))?;
        }
    }
    instances
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;

    let mut weights = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(45)
        .build_cartesian_2d(0.0..end, 0.0..100.0)?;
    weights
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("weight %")
        .disable_x_mesh()
        .draw()?;
    for (k, revision) in revisions.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let weight = |applied: bool| {
            steps(rows.iter().map(move |row| {
                let r = row.revisions.iter().find(|r| &r.revision == revision);
                let bp = r.map_or(0, |r| if applied { r.applied } else { r.requested });
                (row.at.as_millis() as f64 / 1_000.0, f64::from(bp) / 100.0)
            }))
        };
        weights
            .draw_series(LineSeries::new(weight(false), colour.stroke_width(1)))?
            .label(format!("{revision} requested"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 12, y)], colour.stroke_width(1)));
        weights
            .draw_series(LineSeries::new(weight(true), colour.stroke_width(3)))?
            .label(format!("{revision} applied"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 12, y)], colour.stroke_width(3)));
    }
    weights
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::MiddleRight)
        .draw()?;
    root.present()?;
    Ok(())
}

/// A step line through `points`: each value holds until the next point's time.
fn steps(points: impl Iterator<Item = (f64, f64)>) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (x, y) in points {
        if let Some(&(_, last)) = out.last() {
            out.push((x, last));
        }
        out.push((x, y));
    }
    out
}

/// `colour` lightened, opaque: a band drawn over another hides it rather than mixing.
fn light(colour: RGBColor) -> RGBColor {
    let mix = |c: u8| ((u16::from(c) + 2 * 255) / 3) as u8;
    RGBColor(mix(colour.0), mix(colour.1), mix(colour.2))
}
