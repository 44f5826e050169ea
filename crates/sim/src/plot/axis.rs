//! A plot's axes: the range drawn, where the ticks and grid lines go (1-2-5 steps, or
//! decades on a logarithmic axis, which is log10(x) on a linear one) and how they read.

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// One axis: its range as drawn, where its ticks and grid lines go and how the ticks read. It is
/// a plotters coordinate of its own because plotters' `WithKeyPoints` over an `f64` range cannot
/// be given to `configure_mesh` (it has no value formatter).
#[derive(Debug, Clone)]
pub(super) struct Axis {
    pub(super) range: Range<f64>,
    /// The labelled ticks, with a bold grid line.
    pub(super) bold: Vec<f64>,
    /// The light grid lines.
    pub(super) light: Vec<f64>,
    /// How a tick is labelled.
    pub(super) labels: Labels,
}

/// How an axis labels its ticks.
#[derive(Debug, Clone, Copy)]
pub(super) enum Labels {
    /// The value with this many decimals (all ticks of a linear axis alike).
    Fixed(usize),
    /// 10^value, as short as it can be written (a log axis).
    Power,
}

impl Axis {
    pub(super) fn new(range: Range<f64>, bold: Vec<f64>, light: Vec<f64>, labels: Labels) -> Self {
        Axis {
            range,
            bold,
            light,
            labels,
        }
    }

    /// Where `v` lies on the axis, from 0 at its start to 1 at its end.
    pub(super) fn fraction(&self, v: f64) -> f64 {
        (v - self.range.start) / (self.range.end - self.range.start)
    }

    pub(super) fn label(&self, v: f64) -> String {
        match self.labels {
            Labels::Fixed(_) if v.abs() >= 1e5 => short(v),
            Labels::Fixed(decimals) => format!("{v:.decimals$}"),
            Labels::Power => short(10f64.powf(v)),
        }
    }
}

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.range.clone()).map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

impl ValueFormatter<f64> for Axis {
    fn format_ext(&self, value: &f64) -> String {
        self.label(*value)
    }
}

/// The 1, 2 or 5 × 10^k step nearest to cutting `span` into `count` parts (by ratio: the
/// thresholds are the geometric means √2, √10, √50), and its mantissa and k.
pub(super) fn nice_step(span: f64, count: f64) -> (f64, f64, i32) {
    let raw = span / count;
    if !(raw.is_finite() && raw > 0.0) {
        // No step: `multiples` gives no tick.
        return (f64::NAN, 1.0, 0);
    }
    let mut k = raw.log10().floor() as i32;
    let m = raw / 10f64.powi(k);
    let mantissa = if m < 2f64.sqrt() {
        1.0
    } else if m < 10f64.sqrt() {
        2.0
    } else if m < 50f64.sqrt() {
        5.0
    } else {
        k += 1;
        1.0
    };
    (mantissa * 10f64.powi(k), mantissa, k)
}

/// The multiples of `step` in `range` (none if there would be more than 1,000).
pub(super) fn multiples(range: &Range<f64>, step: f64) -> Vec<f64> {
    let first = (range.start / step).ceil();
    let last = (range.end / step).floor();
    // Also false for a zero, infinite or NaN step.
    if !(step > 0.0 && last - first < 1000.0) {
        return Vec::new();
    }
    (first as i64..=last as i64)
        .map(|i| i as f64 * step)
        .collect()
}

/// A linear axis with about `count` labelled ticks at 1-2-5 steps.
pub(super) fn linear_axis(range: Range<f64>, count: f64) -> Axis {
    let (step, mantissa, k) = nice_step(range.end - range.start, count);
    let light_step = step / if mantissa == 2.0 { 4.0 } else { 5.0 };
    Axis::new(
        range.clone(),
        multiples(&range, step),
        multiples(&range, light_step),
        Labels::Fixed((-k).max(0) as usize),
    )
}

/// A log axis over log10 values: ticks at the decades, or at 1-2-5 (then 1…9) × 10^k when the
/// range holds fewer than three decades, or at linear steps of the values when it is narrower still.
pub(super) fn log_axis(range: Range<f64>) -> Axis {
    let at = |mantissas: &[f64]| -> Vec<f64> {
        let decades = multiples(&(range.start - 1.0..range.end), 1.0);
        decades
            .iter()
            .flat_map(|k| mantissas.iter().map(move |m| k + m.log10()))
            .filter(|v| range.contains(v))
            .collect()
    };
    let all: Vec<f64> = (1..10).map(f64::from).collect();
    let decades = multiples(&range, 1.0);
    let (bold, light) = if decades.len() > 8 {
        // Beyond 8 decades every decade gets a grid line and every n-th a label.
        let every = decades.len().div_ceil(8);
        let bold = decades.iter().copied().step_by(every).collect();
        (bold, decades)
    } else if decades.len() >= 3 {
        (decades, at(&all))
    } else if at(&[1.0, 2.0, 5.0]).len() >= 2 {
        (at(&[1.0, 2.0, 5.0]), at(&all))
    } else if at(&all).len() >= 2 {
        (at(&all), Vec::new())
    } else {
        let values = 10f64.powf(range.start)..10f64.powf(range.end);
        let (step, _, _) = nice_step(values.end - values.start, 5.0);
        let log = |vs: Vec<f64>| {
            vs.into_iter()
                .filter(|v| *v > 0.0)
                .map(f64::log10)
                .collect()
        };
        (
            log(multiples(&values, step)),
            log(multiples(&values, step / 5.0)),
        )
    };
    Axis::new(range, bold, light, Labels::Power)
}

/// `v` with at most 3 significant digits and no trailing zeros: 0.01, 2, 316, 1e6, 2.5e-5.
pub(super) fn short(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        return "0".into();
    }
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.2e}");
        let (mantissa, exponent) = s.split_once('e').expect("{:e} has an e");
        return format!("{}e{exponent}", trim(mantissa.to_string()));
    }
    let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
    trim(format!("{v:.decimals$}"))
}
