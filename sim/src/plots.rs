//! `--plots`: SVG figures of a run, drawn with plotters (SVG backend: no fonts needed, text is
//! left to the viewer):
//!
//! - `walk_latency_cdf.svg`: the cumulative distribution of page-walk latencies (cycles);
//! - `tlb_miss_cost.svg`: per process, the share of its cycles on the core lost beyond L1 TLB
//!   hits (L2 TLB lookups, walks and faults), the TLB miss cost;
//! - `fault_timeline.svg`: faults over time, per kind (minor, major, protection, kills),
//!   counted in 100 equal bins of the run's cycles.
//!
//! [`FaultTimeline`] is an observer that collects the faults as the run goes; the figures are
//! written after the run from it, the walk-latency histogram and the statistics.

use crate::histogram::Histogram;
use crate::stats::SystemStats;
use crate::system::{Observer, SimError};
use plotters::prelude::*;
use std::path::Path;
use vmsim_hw::core::{AccessDone, FaultKind};
use vmsim_os::Pid;

/// The faulting accesses of a run: (cycle the access ended, its worst fault).
#[derive(Default)]
pub struct FaultTimeline {
    faults: Vec<(u64, FaultKind)>,
}

impl Observer for FaultTimeline {
    #[inline]
    fn on_access(&mut self, _pid: Pid, a: &AccessDone) {
        if a.fault != FaultKind::None {
            self.faults.push((a.end.0, a.fault));
        }
    }
}

/// The file names `write` produces.
pub const PLOT_FILES: [&str; 3] = [
    "walk_latency_cdf.svg",
    "tlb_miss_cost.svg",
    "fault_timeline.svg",
];

fn err(path: &Path, e: impl std::fmt::Display) -> SimError {
    SimError::Output(format!("{}: {e}", path.display()))
}

/// Write the three figures into `dir` (each under a temporary name, renamed when complete).
pub fn write(
    dir: &Path,
    walks: &Histogram,
    stats: &SystemStats,
    faults: &FaultTimeline,
) -> Result<(), SimError> {
    let draw = |name: &str, f: &dyn Fn(&Path) -> Result<(), String>| -> Result<(), SimError> {
        let tmp = dir.join(format!(".{name}.partial"));
        let dest = dir.join(name);
        if let Err(e) = f(&tmp) {
            let _ = std::fs::remove_file(&tmp);
            return Err(err(&dest, e));
        }
        std::fs::rename(&tmp, &dest).map_err(|e| err(&dest, e))
    };
    draw(PLOT_FILES[0], &|p| walk_cdf(p, walks))?;
    draw(PLOT_FILES[1], &|p| miss_cost(p, stats))?;
    draw(PLOT_FILES[2], &|p| timeline(p, stats.cycles, faults))
}

fn walk_cdf(path: &Path, walks: &Histogram) -> Result<(), String> {
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let total = walks.count().max(1) as f64;
    let max = walks.iter().map(|(v, _)| v).max().unwrap_or(1).max(1) as f64;
    let mut points = vec![(0.0, 0.0)];
    let mut seen = 0u64;
    for (v, c) in walks.iter() {
        points.push((v as f64, seen as f64 / total));
        seen += c;
        points.push((v as f64, seen as f64 / total));
    }
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Page-walk latency, {} walks", walks.count()),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..max * 1.02, 0.0..1.0)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("walk latency (core cycles)")
        .y_desc("fraction of walks <= x")
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(points, &BLUE))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

fn miss_cost(path: &Path, stats: &SystemStats) -> Result<(), String> {
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let n = stats.processes.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "TLB miss cost: share of each process's cycles beyond L1 TLB hits",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..n as f64, 0.0..1.0)
        .map_err(|e| e.to_string())?;
    let names: Vec<String> = stats
        .processes
        .iter()
        .map(|p| format!("{} {}", p.pid, p.name))
        .collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            names.get(i).cloned().unwrap_or_default()
        })
        .y_desc("share of cycles")
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(stats.processes.iter().enumerate().map(|(i, p)| {
            let x = i as f64;
            Rectangle::new(
                [(x + 0.15, 0.0), (x + 0.85, p.tlb_miss_share.min(1.0))],
                BLUE.filled(),
            )
        }))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

fn timeline(path: &Path, cycles: u64, faults: &FaultTimeline) -> Result<(), String> {
    const BINS: usize = 100;
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let width = cycles.max(1).div_ceil(BINS as u64).max(1);
    let kinds = [
        (FaultKind::Minor, "minor", BLUE),
        (FaultKind::Major, "major", RED),
        (FaultKind::Protection, "protection", GREEN),
        (FaultKind::Segv, "killed", BLACK),
    ];
    let mut counts = vec![[0u64; 4]; BINS];
    for &(t, k) in &faults.faults {
        let b = ((t / width) as usize).min(BINS - 1);
        let j = match k {
            FaultKind::Minor => 0,
            FaultKind::Major => 1,
            FaultKind::Protection => 2,
            _ => 3,
        };
        counts[b][j] += 1;
    }
    let top = counts.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Faults over time ({} cycles a bin)", width),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..(width * BINS as u64) as f64, 0.0..top * 1.05)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("cycle")
        .y_desc("faults in the bin")
        .draw()
        .map_err(|e| e.to_string())?;
    for (j, (_, label, color)) in kinds.iter().enumerate() {
        let series =
            (0..BINS).map(|b| ((b as u64 * width + width / 2) as f64, counts[b][j] as f64));
        chart
            .draw_series(LineSeries::new(series, color))
            .map_err(|e| e.to_string())?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}
