//! Vivaldi accuracy: how well the coordinates the agents would compute predict the RTTs
//! (median relative error, as Dabek et al. report 11 % on their King data), how many probes a
//! node needs to converge, and, with a later measurement of the same nodes, how the
//! coordinates hold up as the network drifts.

use brume_fog::{Coordinate, VivaldiConfig, VivaldiReport, run_vivaldi};
use serde::Serialize;

use crate::error::SimError;
use crate::estimates::vivaldi_settings;
use crate::figure::{Figure, FigureKind, Series};
use crate::histogram::cdf_of_sorted;
use crate::report::{Report, Table, fixed, headline};
use crate::scenario::{Progress, Settings, parallel};
use crate::topology::Topology;

/// The Vivaldi paper's median relative error on the King data set (Dabek et al., SIGCOMM 2004).
pub const PUBLISHED_MEDIAN_ERROR: f64 = 0.11;

/// One Vivaldi run.
#[derive(Debug, Clone, Serialize)]
pub struct Slice {
    /// The topology's name.
    pub topology: String,
    /// The fog crate's report.
    pub report: VivaldiReport,
    #[serde(skip)]
    errors: Vec<f64>,
    #[serde(skip)]
    coordinates: Vec<Coordinate>,
}

fn slice(topology: &Topology, seed: u64) -> Result<Slice, SimError> {
    let run = run_vivaldi(
        topology,
        &VivaldiConfig::default(),
        &vivaldi_settings(topology.len(), seed),
    )?;
    Ok(Slice {
        topology: topology.name.clone(),
        report: run.report,
        errors: run.relative_errors,
        coordinates: run.coordinates,
    })
}

/// The sorted relative errors of `coordinates` against `topology`'s RTTs, over all pairs.
fn errors_against(coordinates: &[Coordinate], topology: &Topology) -> Vec<f64> {
    let n = topology.len().min(coordinates.len());
    let mut out = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            let measured = topology.rtt_ms(i, j).max(1e-3);
            out.push((coordinates[i].distance_ms(&coordinates[j]) - measured).abs() / measured);
        }
    }
    out.sort_by(f64::total_cmp);
    out
}

fn median(sorted: &[f64]) -> f64 {
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs the scenario; `later` must have as many nodes as `topology`.
pub fn run(
    topology: &Topology,
    later: Option<&Topology>,
    settings: &Settings,
    progress: &Progress,
) -> Result<Report, SimError> {
    if topology.len() < 12 {
        return Err(SimError::Setting {
            name: "nodes",
            value: topology.len().to_string(),
            valid: "at least 12 nodes for the Vivaldi scenario (10 join late)".into(),
        });
    }
    if let Some(l) = later
        && l.len() != topology.len()
    {
        return Err(SimError::Setting {
            name: "--later-matrix",
            value: format!("{} nodes", l.len()),
            valid: format!("the same nodes as the first matrix ({})", topology.len()),
        });
    }
    let tops: Vec<&Topology> = std::iter::once(topology).chain(later).collect();
    progress.plan(tops.len() as u64);
    let slices = parallel(tops, |t| {
        let s = slice(t, settings.seed);
        progress.advance(1);
        s
    })
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let drift = later.map(|l| errors_against(&slices[0].coordinates, l));
    let mut table = Table::new(&[
        "run",
        "median rel. error",
        "p90 rel. error",
        "near-peer median",
        "probes to converge (median)",
        "new host probes (median)",
    ]);
    for s in &slices {
        let r = &s.report;
        let probes = |p: Option<usize>| p.map_or("-".into(), |p| p.to_string());
        table.push(vec![
            s.topology.clone(),
            fixed(r.median_relative_error, 3),
            fixed(r.p90_relative_error, 3),
            fixed(r.median_relative_error_near, 3),
            probes(r.initial.median_probes),
            probes(r.new_host.median_probes),
        ]);
    }
    if let Some(d) = &drift {
        table.push(vec![
            "first coordinates against the later RTTs".into(),
            fixed(median(d), 3),
            fixed(d.get(d.len() * 9 / 10).copied().unwrap_or(f64::NAN), 3),
            "-".into(),
            "-".into(),
            "-".into(),
        ]);
    }
    let first = &slices[0].report;
    let mut heads = vec![
        headline(
            "median_relative_error",
            &format!("median relative error on {}", topology.name),
            first.median_relative_error,
            "",
        ),
        headline(
            "median_probes",
            "probes per node to converge (median, initial nodes)",
            first.initial.median_probes.map_or(f64::NAN, |p| p as f64),
            "probes",
        ),
        headline(
            "new_host_median_probes",
            "probes for a host joining a converged system (median)",
            first.new_host.median_probes.map_or(f64::NAN, |p| p as f64),
            "probes",
        ),
    ];
    if let Some(s) = slices.get(1) {
        heads.push(headline(
            "later_median_relative_error",
            &format!("median relative error on {}", s.topology),
            s.report.median_relative_error,
            "",
        ));
    }
    if let Some(d) = &drift {
        heads.push(headline(
            "drift_median_relative_error",
            "median relative error of the first coordinates against the later RTTs",
            median(d),
            "",
        ));
    }
    let mut series: Vec<Series> = slices
        .iter()
        .map(|s| Series {
            name: s.topology.clone(),
            points: cdf_of_sorted(&s.errors, 300),
            labels: Vec::new(),
        })
        .collect();
    if let Some(d) = &drift {
        series.push(Series {
            name: "first coordinates, later RTTs".into(),
            points: cdf_of_sorted(d, 300),
            labels: Vec::new(),
        });
    }
    series.push(Series {
        name: format!("published median ({PUBLISHED_MEDIAN_ERROR})"),
        points: vec![(PUBLISHED_MEDIAN_ERROR, 0.0), (PUBLISHED_MEDIAN_ERROR, 0.5)],
        labels: Vec::new(),
    });
    let figure = Figure {
        file: "vivaldi-error-cdf.svg".into(),
        title: "Vivaldi relative error over node pairs".into(),
        x_label: "|estimate - measured| / measured".into(),
        y_label: "share of pairs".into(),
        x_log: true,
        kind: FigureKind::Lines,
        series,
    };
    Ok(Report {
        settings: serde_json::json!({
            "vivaldi": vivaldi_settings(topology.len(), settings.seed),
            "config": format!("{:?}", VivaldiConfig::default()),
        }),
        headline: heads,
        table,
        results: serde_json::json!({
            "slices": slices,
            "published_median_error": PUBLISHED_MEDIAN_ERROR,
        }),
        figures: vec![figure],
        ..Report::new("vivaldi", topology, settings)
    })
}
