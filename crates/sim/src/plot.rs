//! Drawing a [`Figure`] as SVG with plotters. Text stays SVG text (no font is loaded), so the
//! plots need nothing but the crate. A logarithmic x axis is drawn by plotting log10(x) on a
//! linear axis whose ticks are placed and labelled by us (decades, or 1-2-5 steps): one code path
//! for both kinds of axis.

use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use thiserror::Error;

use crate::figure::{Figure, FigureKind};

/// Why a plot could not be drawn or written.
#[derive(Debug, Error)]
pub enum PlotError {
    /// plotters refused to draw the figure.
    #[error("drawing {file}: {reason}")]
    Draw {
        /// The figure's file name.
        file: String,
        /// What plotters said.
        reason: String,
    },
    /// The SVG could not be written.
    // The cause is in the message, and not also a `source`, so that it is printed once (as in
    // `SimError`, which carries this error transparently).
    #[error("cannot write {}: {cause}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
}

/// Colour-blind-friendly colours (Okabe & Ito, 2008), cycled over the series; the yellow, the
/// hardest to see on white, comes last.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

/// The size of every plot, in pixels.
const SIZE: (u32, u32) = (800, 500);

/// The text sizes, in CSS pixels as the SVG shows them.
const TITLE_PX: f64 = 18.0;
const AXIS_LABEL_PX: f64 = 14.0;
const TICK_PX: f64 = 12.0;
const LEGEND_PX: f64 = 12.0;
const POINT_LABEL_PX: f64 = 11.0;

/// The colour of point labels: the palette's yellow would be unreadable as text.
const LABEL_TEXT: RGBColor = RGBColor(60, 60, 60);

/// How far a point label sits from its point, in pixels (the marker's radius is 4).
const LABEL_OFFSET: i32 = 6;

/// A sans-serif font that shows `px` pixels high. plotters' SVG backend writes a font's size
/// divided by 1.24 as the CSS `font-size` (plotters-svg 0.3.7, `draw_text`), so ask for 1.24×.
fn font(px: f64) -> FontDesc<'static> {
    ("sans-serif", px * 1.24).into_font()
}

/// A crude width of `text` in pixels at `px`: plotters' own estimate without a font (0.7 em per
/// byte at its em, 0.56 px per byte per px) undercounts wide glyphs, so count 0.6 per character.
fn text_width(text: &str, px: f64) -> f64 {
    text.chars().count() as f64 * px * 0.6
}

/// One point as drawn: x is log10(x) on a log axis.
struct Point<'a> {
    x: f64,
    y: f64,
    label: Option<&'a str>,
}

/// The figure's points as drawn, one list per series: nothing that is not finite, and on a log
/// axis nothing at x <= 0. A point keeps the label of its index in the series.
fn drawn(figure: &Figure) -> Vec<Vec<Point<'_>>> {
    figure
        .series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .enumerate()
                .filter(|(_, (x, y))| x.is_finite() && y.is_finite() && (!figure.x_log || *x > 0.0))
                .map(|(i, &(x, y))| Point {
                    x: if figure.x_log { x.log10() } else { x },
                    y,
                    label: s.labels.get(i).map(String::as_str),
                })
                .collect()
        })
        .collect()
}

/// A range around `values` with a 5 % margin each side; around a single value ±5 % of it (at
/// least ±0.5), and 0..1 when there is no value.
fn range(values: impl Iterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo > hi {
        return 0.0..1.0;
    }
    let margin = if hi - lo < 1e-12 * lo.abs().max(1.0) {
        (lo.abs() * 0.05).max(0.5)
    } else {
        (hi - lo) * 0.05
    };
    let padded = lo - margin..hi + margin;
    // Near f64::MAX the margin overflows; the data's own range is still drawable.
    if padded.start.is_finite() && padded.end.is_finite() {
        padded
    } else {
        lo..hi
    }
}

/// One axis: its range as drawn, where its ticks and grid lines go and how the ticks read. It is
/// a plotters coordinate of its own because plotters' `WithKeyPoints` over an `f64` range cannot
/// be given to `configure_mesh` (it has no value formatter).
#[derive(Debug, Clone)]
struct Axis {
    range: Range<f64>,
    /// The labelled ticks, with a bold grid line.
    bold: Vec<f64>,
    /// The light grid lines.
    light: Vec<f64>,
    /// How a tick is labelled.
    labels: Labels,
}

/// How an axis labels its ticks.
#[derive(Debug, Clone, Copy)]
enum Labels {
    /// The value with this many decimals (all ticks of a linear axis alike).
    Fixed(usize),
    /// 10^value, as short as it can be written (a log axis).
    Power,
}

impl Axis {
    fn new(range: Range<f64>, bold: Vec<f64>, light: Vec<f64>, labels: Labels) -> Self {
        Axis {
            range,
            bold,
            light,
            labels,
        }
    }

    /// Where `v` lies on the axis, from 0 at its start to 1 at its end.
    fn fraction(&self, v: f64) -> f64 {
        (v - self.range.start) / (self.range.end - self.range.start)
    }

    fn label(&self, v: f64) -> String {
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
fn nice_step(span: f64, count: f64) -> (f64, f64, i32) {
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
fn multiples(range: &Range<f64>, step: f64) -> Vec<f64> {
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
fn linear_axis(range: Range<f64>, count: f64) -> Axis {
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
fn log_axis(range: Range<f64>) -> Axis {
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
fn short(v: f64) -> String {
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

/// Where the legend may go along the plot's edges, in order of preference when they hide the
/// same data: the corners, then the middles of the sides. Each with where its box lies across
/// the plotting area, from 0 (left, bottom) to 1 (right, top).
const LEGEND_EDGES: [(SeriesLabelPosition, f64, f64); 8] = [
    (SeriesLabelPosition::UpperRight, 1.0, 1.0),
    (SeriesLabelPosition::LowerRight, 1.0, 0.0),
    (SeriesLabelPosition::UpperLeft, 0.0, 1.0),
    (SeriesLabelPosition::LowerLeft, 0.0, 0.0),
    (SeriesLabelPosition::MiddleRight, 1.0, 0.5),
    (SeriesLabelPosition::MiddleLeft, 0.0, 0.5),
    (SeriesLabelPosition::UpperMiddle, 0.5, 1.0),
    (SeriesLabelPosition::LowerMiddle, 0.5, 0.0),
];

/// The place whose legend box (`size`, a fraction of the plotting area of `area` pixels) hides
/// the fewest of `marks` (positions in the plotting area, 0..1 from the lower left): along the
/// edges first, else inside the plot.
fn legend_place(marks: &[(f64, f64)], size: (f64, f64), area: (f64, f64)) -> SeriesLabelPosition {
    // Inside, at a quarter, half or three quarters across each way, in pixels from the upper
    // left (where plotters places a legend's box, as it places the edges 5 px in).
    let quarters = [0.5, 0.25, 0.75];
    let inside = quarters.iter().flat_map(|&hx| {
        quarters.iter().map(move |&vy| {
            let x = hx * (1.0 - size.0) * area.0;
            let y = (1.0 - vy) * (1.0 - size.1) * area.1;
            (SeriesLabelPosition::Coordinate(x as i32, y as i32), hx, vy)
        })
    });
    // The box spans `length` at `at` along one side: flush with its start, centred, or flush
    // with its end.
    let within = |v: f64, at: f64, length: f64| {
        let start = at * (1.0 - length);
        (start..=start + length).contains(&v)
    };
    let hidden = |(_, hx, vy): &(SeriesLabelPosition, f64, f64)| {
        let inside = |&&(x, y): &&(f64, f64)| within(x, *hx, size.0) && within(y, *vy, size.1);
        marks.iter().filter(inside).count()
    };
    // min_by_key keeps the first of equals: the preferred place.
    let places = LEGEND_EDGES.into_iter().chain(inside);
    places.min_by_key(hidden).expect("there are places").0
}

/// Where the data lies in the plotting area (0..1 from the lower left): the points, the lines
/// between them sampled, and the corners of the point labels (`labels`, in pixels of the
/// plotting area of `size`).
fn marks(
    series: &[Vec<Point>],
    x: &Axis,
    y: &Axis,
    labels: &[Rect],
    size: (f64, f64),
) -> Vec<(f64, f64)> {
    let mut marks = Vec::new();
    for points in series {
        let at: Vec<(f64, f64)> = points
            .iter()
            .map(|p| (x.fraction(p.x), y.fraction(p.y)))
            .collect();
        // A sample every 0.5 % of the plot along the lines, so that the legend is weighed by
        // the length of line it would hide.
        for pair in at.windows(2) {
            let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
            let steps = ((x1 - x0).hypot(y1 - y0) / 0.005).ceil().clamp(1.0, 1000.0) as u32;
            marks.extend((0..steps).map(|i| {
                let t = f64::from(i) / f64::from(steps);
                (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t)
            }));
        }
        marks.extend(at);
    }
    for r in labels {
        for (px, py) in [(r.x0, r.y0), (r.x1, r.y0), (r.x0, r.y1), (r.x1, r.y1)] {
            marks.push((px / size.0, 1.0 - py / size.1));
        }
    }
    marks
}

/// A box in pixels of the plotting area, y downwards.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rect {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Rect {
    fn overlap(&self, other: &Rect) -> f64 {
        let w = self.x1.min(other.x1) - self.x0.max(other.x0);
        let h = self.y1.min(other.y1) - self.y0.max(other.y0);
        w.max(0.0) * h.max(0.0)
    }

    fn area(&self) -> f64 {
        (self.x1 - self.x0) * (self.y1 - self.y0)
    }
}

/// Where a point label goes: right or left of its point, above or below it, and its box.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Placement {
    right: bool,
    above: bool,
    rect: Rect,
}

impl Placement {
    /// The text's anchor and its offset from the point, in pixels.
    fn anchor(&self) -> (Pos, (i32, i32)) {
        let (h, dx) = if self.right {
            (HPos::Left, LABEL_OFFSET)
        } else {
            (HPos::Right, -LABEL_OFFSET)
        };
        let (v, dy) = if self.above {
            (VPos::Bottom, -LABEL_OFFSET)
        } else {
            (VPos::Top, LABEL_OFFSET)
        };
        (Pos::new(h, v), (dx, dy))
    }
}

/// A labelled marker: its pixel position in the plotting area and its label.
type Marker<'a> = ((f64, f64), Option<&'a str>);

/// The places of the point labels of `series` (each a line through its markers, in a plotting
/// area of `size`), greedily in order: for each label, the first of above right, below right,
/// above left and below left that stays in the area and covers no marker, no line and no label
/// placed before it, else the one that covers least. The places come in the markers' order.
fn place_labels(series: &[Vec<Marker>], size: (f64, f64)) -> Vec<Option<Placement>> {
    let area = Rect {
        x0: 0.0,
        y0: 0.0,
        x1: size.0,
        y1: size.1,
    };
    let square = |(x, y): (f64, f64), r: f64| Rect {
        x0: x - r,
        y0: y - r,
        x1: x + r,
        y1: y + r,
    };
    let markers = series.iter().flatten();
    let mut placed: Vec<Rect> = markers.clone().map(|m| square(m.0, 4.0)).collect();
    // The lines as 2 px squares every 3 px: a label over a line costs a little.
    for line in series {
        for pair in line.windows(2) {
            let ((x0, y0), (x1, y1)) = (pair[0].0, pair[1].0);
            let steps = ((x1 - x0).hypot(y1 - y0) / 3.0).ceil().min(1000.0) as u32;
            placed.extend((1..steps).map(|i| {
                let t = f64::from(i) / f64::from(steps);
                square((x0 + (x1 - x0) * t, y0 + (y1 - y0) * t), 1.0)
            }));
        }
    }
    let d = f64::from(LABEL_OFFSET);
    markers
        .map(|&((x, y), label)| {
            let (w, h) = (text_width(label?, POINT_LABEL_PX), POINT_LABEL_PX);
            let candidates = [(true, true), (true, false), (false, true), (false, false)].map(
                |(right, above)| {
                    let x0 = if right { x + d } else { x - d - w };
                    let y0 = if above { y - d - h } else { y + d };
                    let rect = Rect {
                        x0,
                        y0,
                        x1: x0 + w,
                        y1: y0 + h,
                    };
                    // Outside the area weighs more than over another label.
                    let cost = placed.iter().map(|r| rect.overlap(r)).sum::<f64>()
                        + 10.0 * (rect.area() - rect.overlap(&area));
                    (cost, Placement { right, above, rect })
                },
            );
            // min_by keeps the first of equals: the preferred place.
            let (_, best) = candidates
                .into_iter()
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .expect("there are candidates");
            placed.push(best.rect);
            Some(best)
        })
        .collect()
}

/// The figure as an SVG document of 800×500 pixels.
pub fn render_svg(figure: &Figure) -> Result<String, PlotError> {
    let mut svg = String::new();
    draw(figure, &mut svg).map_err(|reason| PlotError::Draw {
        file: figure.file.clone(),
        reason,
    })?;
    Ok(svg)
}

/// Draws the figure into `svg`; an error is plotters' message.
fn draw(figure: &Figure, svg: &mut String) -> Result<(), String> {
    let series = drawn(figure);
    let x_range = range(series.iter().flatten().map(|p| p.x));
    let x = if figure.x_log {
        log_axis(x_range)
    } else {
        linear_axis(x_range, 8.0)
    };
    let y = linear_axis(range(series.iter().flatten().map(|p| p.y)), 6.0);
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&figure.title, font(TITLE_PX))
        .margin(15)
        // Room for the last x tick label, centred on the right edge.
        .margin_right(30)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(x.clone(), y.clone())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(figure.x_label.as_str())
        .y_desc(figure.y_label.as_str())
        .axis_desc_style(font(AXIS_LABEL_PX))
        .label_style(font(TICK_PX))
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(|e| e.to_string())?;
    let labelled = figure.kind == FigureKind::LabelledPoints;
    for (k, (points, s)) in series.iter().zip(&figure.series).enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let line = points.iter().map(|p| (p.x, p.y));
        let drawn = chart
            .draw_series(LineSeries::new(line, colour.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        if !s.name.is_empty() {
            // The key: the series' line, 20 px, and its marker if it has them.
            let key = move || PathElement::new(vec![(0, 0), (20, 0)], colour.stroke_width(2));
            let entry = drawn.label(s.name.as_str());
            if labelled {
                entry.legend(move |at| {
                    EmptyElement::at(at) + key() + Circle::new((10, 0), 4, colour.filled())
                });
            } else {
                entry.legend(move |at| EmptyElement::at(at) + key());
            }
        }
    }
    let (width, height) = chart.plotting_area().dim_in_pixel();
    let size = (f64::from(width), f64::from(height));
    let mut labels = Vec::new();
    if labelled {
        for (k, points) in series.iter().enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            let markers = points
                .iter()
                .map(|p| Circle::new((p.x, p.y), 4, colour.filled()));
            chart.draw_series(markers).map_err(|e| e.to_string())?;
        }
        let markers: Vec<Vec<Marker>> = series
            .iter()
            .map(|points| {
                let pixels =
                    |p: &Point| (x.fraction(p.x) * size.0, (1.0 - y.fraction(p.y)) * size.1);
                points.iter().map(|p| (pixels(p), p.label)).collect()
            })
            .collect();
        let places = place_labels(&markers, size);
        // Labels after all markers and lines, so that none is drawn over.
        let texts = series
            .iter()
            .flatten()
            .zip(&places)
            .filter_map(|(p, place)| {
                let (place, label) = (place.as_ref()?, p.label?);
                let (anchor, offset) = place.anchor();
                let style = font(POINT_LABEL_PX).color(&LABEL_TEXT).pos(anchor);
                Some(EmptyElement::at((p.x, p.y)) + Text::new(label.to_string(), offset, style))
            });
        chart.draw_series(texts).map_err(|e| e.to_string())?;
        labels.extend(places.iter().flatten().map(|place| place.rect));
    }
    let names: Vec<&str> = figure
        .series
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| !n.is_empty())
        .collect();
    if !names.is_empty() {
        // The box plotters draws: the entries, 30 px for the key, 10 px padding, 5 px off the
        // corner (plotters 0.3.7, chart/series.rs).
        let widest = names
            .iter()
            .map(|n| text_width(n, LEGEND_PX))
            .fold(0.0, f64::max);
        let legend = (
            (widest + 30.0 + 25.0) / size.0,
            (names.len() as f64 * LEGEND_PX * 1.25 + 25.0) / size.1,
        );
        let corner = legend_place(&marks(&series, &x, &y, &labels, size), legend, size);
        chart
            .configure_series_labels()
            .position(corner)
            .label_font(font(LEGEND_PX))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

/// Draws the figure into `dir/figure.file` (`dir` must exist); returns the path written.
pub fn write_svg(figure: &Figure, dir: &Path) -> Result<PathBuf, PlotError> {
    let svg = render_svg(figure)?;
    let path = dir.join(&figure.file);
    std::fs::write(&path, svg).map_err(|cause| PlotError::Write {
        path: path.clone(),
        cause,
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::Series;

    fn figure(kind: FigureKind, x_log: bool, series: Vec<Series>) -> Figure {
        Figure {
            file: "test.svg".into(),
            title: "Request latency".into(),
            x_label: "latency (ms)".into(),
            y_label: "share".into(),
            x_log,
            kind,
            series,
        }
    }

    fn series(name: &str, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
            labels: vec![],
        }
    }

    /// The value of attribute `name` in an SVG tag.
    fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(&tag[start..start + tag[start..].find('"')?])
    }

    fn number(tag: &str, name: &str) -> f64 {
        attr(tag, name).unwrap().parse().unwrap()
    }

    /// The tags named `name`, each up to its `>`, and for `<text` with its content.
    fn tags<'a>(svg: &'a str, name: &str) -> Vec<&'a str> {
        let end = if name == "text" { "</text>" } else { ">" };
        svg.match_indices(&format!("<{name} "))
            .map(|(i, _)| &svg[i..i + svg[i..].find(end).unwrap()])
            .collect()
    }

    /// The points of each polyline drawn in `colour` 2 px wide: the series' lines and their
    /// legend keys (2 points), not the black axes and ticks.
    fn lines(svg: &str, colour: RGBColor) -> Vec<Vec<(i32, i32)>> {
        let stroke = format!("#{:02X}{:02X}{:02X}", colour.0, colour.1, colour.2);
        tags(svg, "polyline")
            .into_iter()
            .filter(|t| attr(t, "stroke") == Some(&stroke) && attr(t, "stroke-width") == Some("2"))
            .map(|t| {
                let points = attr(t, "points").unwrap().split_whitespace();
                points
                    .map(|p| {
                        let (x, y) = p.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect()
            })
            .collect()
    }

    /// A `<text>` element as plotters writes it.
    #[derive(Debug)]
    struct TextTag {
        content: String,
        x: f64,
        y: f64,
        anchor: String,
        size: f64,
        rotated: bool,
    }

    fn texts(svg: &str) -> Vec<TextTag> {
        tags(svg, "text")
            .into_iter()
            .map(|t| TextTag {
                content: unescape(t[t.find('>').unwrap() + 1..].trim()),
                x: number(t, "x"),
                y: number(t, "y"),
                anchor: attr(t, "text-anchor").unwrap().to_string(),
                size: number(t, "font-size"),
                rotated: attr(t, "transform").is_some(),
            })
            .collect()
    }

    fn unescape(text: &str) -> String {
        let entities = [
            ("&lt;", "<"),
            ("&gt;", ">"),
            ("&quot;", "\""),
            ("&apos;", "'"),
        ];
        let text = entities
            .iter()
            .fold(text.to_string(), |t, (e, c)| t.replace(e, c));
        text.replace("&amp;", "&")
    }

    fn contents(svg: &str) -> Vec<String> {
        texts(svg).into_iter().map(|t| t.content).collect()
    }

    fn cdf() -> Figure {
        figure(
            FigureKind::Lines,
            true,
            vec![
                series("random", vec![(1.0, 0.1), (10.0, 0.5), (100.0, 1.0)]),
                series(
                    "proximity",
                    vec![(-1.0, 0.0), (0.0, 0.2), (0.5, 0.3), (2.0, 0.6), (20.0, 1.0)],
                ),
            ],
        )
    }

    #[test]
    fn a_cdf_has_its_title_series_names_and_one_line_per_series() {
        let svg = render_svg(&cdf()).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        let texts = contents(&svg);
        for text in [
            "Request latency",
            "random",
            "proximity",
            "latency (ms)",
            "share",
        ] {
            assert!(
                texts.iter().any(|t| t == text),
                "{text} missing from {texts:?}"
            );
        }
        // Each series: its line through all its drawable points, and its 2-point legend key.
        let lengths = |c| lines(&svg, c).iter().map(Vec::len).collect::<Vec<_>>();
        assert_eq!(lengths(PALETTE[0]), [3, 2]);
        // Points at x <= 0 are not on a log axis.
        assert_eq!(lengths(PALETTE[1]), [3, 2]);
    }

    #[test]
    fn a_log_axis_spaces_decades_evenly_and_labels_them_in_the_unit() {
        let xs = |f: &Figure| -> Vec<i32> {
            let svg = render_svg(f).unwrap();
            lines(&svg, PALETTE[0])[0].iter().map(|p| p.0).collect()
        };
        // 1, 10 and 100 ms.
        let log = xs(&cdf());
        assert!((log[1] - log[0] - (log[2] - log[1])).abs() <= 1, "{log:?}");
        let linear = xs(&Figure {
            x_log: false,
            ..cdf()
        });
        assert!(
            linear[2] - linear[1] > 5 * (linear[1] - linear[0]),
            "{linear:?}"
        );

        let texts = contents(&render_svg(&cdf()).unwrap());
        for tick in ["1", "10", "100"] {
            assert!(
                texts.iter().any(|t| t == tick),
                "tick {tick} missing from {texts:?}"
            );
        }
    }

    #[test]
    fn log_ticks_are_decades_or_round_values() {
        let labels = |lo: f64, hi: f64| -> Vec<String> {
            let axis = log_axis(lo.log10()..hi.log10());
            axis.bold.iter().map(|v| axis.label(*v)).collect()
        };
        assert_eq!(labels(0.8, 1200.0), ["1", "10", "100", "1000"]);
        assert_eq!(labels(0.8, 12.0), ["1", "2", "5", "10"]);
        assert_eq!(labels(2.5, 4.5), ["3", "4"]);
        assert_eq!(labels(101.0, 119.0), ["105", "110", "115"]);
        let wide = labels(1e-3, 1e12);
        assert!(
            wide.len() <= 8 && wide[0] == "0.001" && wide[4] == "1e5",
            "{wide:?}"
        );
    }

    #[test]
    fn linear_ticks_share_their_decimals() {
        let labels = |r: Range<f64>, count| -> Vec<String> {
            let axis = linear_axis(r, count);
            axis.bold.iter().map(|v| axis.label(*v)).collect()
        };
        assert_eq!(
            labels(-0.05..1.05, 6.0),
            ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
        );
        assert_eq!(labels(12.0..58.0, 5.0), ["20", "30", "40", "50"]);
        assert_eq!(labels(0.0..2e6, 2.0), ["0", "1e6", "2e6"]);
    }

    #[test]
    fn labelled_points_have_markers_and_labels_beside_them() {
        let mut brume = series(
            "brume",
            vec![(1.0, 40.0), (1.3, 20.0), (f64::NAN, 1.0), (1.5, 10.0)],
        );
        brume.labels = ["α=0", "α<1 & β", "nan", "α=1, far right"]
            .map(String::from)
            .to_vec();
        let svg = render_svg(&figure(FigureKind::LabelledPoints, false, vec![brume])).unwrap();
        let circles = tags(&svg, "circle");
        // 3 markers (not the NaN point) and 1 in the legend key.
        assert_eq!(circles.len(), 4);
        let markers: Vec<(f64, f64)> = circles
            .iter()
            .map(|c| (number(c, "cx"), number(c, "cy")))
            .collect();
        let texts = texts(&svg);
        let find = |label: &str| {
            let found = texts.iter().find(|t| t.content == label);
            found.unwrap_or_else(|| panic!("{label} missing from {texts:?}"))
        };
        // A label is above right of its marker, not on it.
        let beside = |label: &str, dy: f64| {
            let t = find(label);
            assert_eq!(t.anchor, "start");
            let found = markers.iter().any(|m| t.x == m.0 + 6.0 && t.y == m.1 + dy);
            assert!(found, "{t:?} not at {dy} from any of {markers:?}");
        };
        beside("α<1 & β", -6.0);
        // The SVG escapes text.
        assert!(svg.contains(">\nα&lt;1 &amp; β\n<"));
        // The last point is at the right edge: its label ends left of it.
        assert_eq!(find("α=1, far right").anchor, "end");
        assert!(!texts.iter().any(|t| t.content == "nan"));
    }

    #[test]
    fn labels_go_above_right_unless_that_leaves_the_plot_or_covers_something() {
        // Each marker on its own, without a line.
        let place = |markers: &[Marker]| -> Vec<(bool, bool)> {
            let alone: Vec<Vec<Marker>> = markers.iter().map(|m| vec![*m]).collect();
            let places = place_labels(&alone, (400.0, 300.0));
            places
                .iter()
                .flatten()
                .map(|p| (p.right, p.above))
                .collect()
        };
        // (right, above)
        assert_eq!(place(&[((100.0, 100.0), Some("α=0"))]), [(true, true)]);
        assert_eq!(place(&[((100.0, 5.0), Some("α=0"))]), [(true, false)]);
        assert_eq!(place(&[((395.0, 100.0), Some("α=0"))]), [(false, true)]);
        assert_eq!(place(&[((395.0, 295.0), Some("α=0"))]), [(false, true)]);
        // A second point just right of the first: its label may not go over the first's.
        let close = [
            ((100.0, 100.0), Some("α=0.9")),
            ((110.0, 101.0), Some("α=0.95")),
        ];
        assert_eq!(place(&close), [(true, true), (true, false)]);
        // Nor over a marker without a label.
        let marker = [((100.0, 100.0), Some("α=0")), ((115.0, 88.0), None)];
        assert_eq!(place(&marker), [(true, false)]);
        // Nor, where it can, over a line.
        let line = vec![((100.0, 100.0), Some("α=0")), ((160.0, 70.0), None)];
        let places = place_labels(std::slice::from_ref(&line), (400.0, 300.0));
        assert!(places[0].is_some_and(|p| p.right && !p.above), "{places:?}");
        let apart = place_labels(&[vec![line[0]], vec![line[1]]], (400.0, 300.0));
        assert!(apart[0].is_some_and(|p| p.right && p.above), "{apart:?}");
    }

    #[test]
    fn the_legend_takes_the_emptiest_corner_or_side_else_a_place_inside() {
        let place = |marks: &[(f64, f64)]| legend_place(marks, (0.2, 0.2), (1000.0, 500.0));
        let line = |y: fn(f64) -> f64| -> Vec<(f64, f64)> {
            (0..50)
                .map(|i| f64::from(i) / 50.0)
                .map(|x| (x, y(x)))
                .collect()
        };
        // A CDF: nothing below it on the right.
        assert_eq!(
            place(&line(|x| (x * 5.0).min(1.0))),
            SeriesLabelPosition::LowerRight
        );
        // Falling from the upper left to the lower right: the upper right is empty.
        assert_eq!(place(&line(|x| 1.0 - x)), SeriesLabelPosition::UpperRight);
        let mut marks = vec![(0.9, 0.9), (0.1, 0.1), (0.9, 0.1)];
        assert_eq!(place(&marks), SeriesLabelPosition::UpperLeft);
        // Every corner taken: the middle of a side.
        marks.push((0.1, 0.9));
        assert_eq!(place(&marks), SeriesLabelPosition::MiddleRight);
        // Every edge taken: the middle, 0.4 × 1000 px from the left, 0.4 × 500 from the top.
        marks.extend([(0.9, 0.5), (0.1, 0.5), (0.5, 0.9), (0.5, 0.1)]);
        assert_eq!(place(&marks), SeriesLabelPosition::Coordinate(400, 200));
        // Everywhere taken: the place that hides least.
        let everywhere: Vec<(f64, f64)> = (0..=40)
            .flat_map(|i| (0..=40).map(move |j| (f64::from(i) / 40.0, f64::from(j) / 40.0)))
            .filter(|&(x, y)| !(x > 0.85 && y < 0.1))
            .collect();
        assert_eq!(place(&everywhere), SeriesLabelPosition::LowerRight);
    }

    #[test]
    fn empty_and_degenerate_figures_render_with_their_title() {
        let odd = vec![
            (f64::NAN, 1.0),
            (f64::INFINITY, 2.0),
            (1.0, f64::NEG_INFINITY),
        ];
        let huge = vec![(-f64::MAX, f64::MAX), (f64::MAX, -f64::MAX)];
        let figures = [
            figure(FigureKind::Lines, false, vec![]),
            figure(FigureKind::Lines, true, vec![series("none", vec![])]),
            figure(
                FigureKind::LabelledPoints,
                false,
                vec![series("one", vec![(5.0, 5.0)])],
            ),
            figure(
                FigureKind::Lines,
                true,
                vec![series("equal", vec![(3.0, 7.0); 4])],
            ),
            figure(FigureKind::Lines, false, vec![series("odd", odd)]),
            figure(FigureKind::Lines, false, vec![series("huge", huge)]),
            figure(
                FigureKind::Lines,
                true,
                vec![series("", vec![(1e-300, 1.0), (1e300, 2.0)])],
            ),
        ];
        for f in &figures {
            let svg = render_svg(f).unwrap_or_else(|e| panic!("{:?}: {e}", f.series));
            assert!(svg.contains("Request latency"), "{:?}", f.series);
        }
    }

    #[test]
    fn all_text_is_inside_the_canvas() {
        let mut points = series("a", vec![(0.0, 0.0), (1.0, 100.0)]);
        points.labels = vec![
            "a rather long label at the origin".into(),
            "top right".into(),
        ];
        for f in [
            cdf(),
            figure(FigureKind::LabelledPoints, false, vec![points]),
        ] {
            for t in texts(&render_svg(&f).unwrap()) {
                // Ends at 0.6 em per character; a rotated text (the y label) is centred on y.
                let width = t.content.chars().count() as f64 * t.size * 0.6;
                let (along, room) = if t.rotated {
                    (t.y, 500.0)
                } else {
                    (t.x, 800.0)
                };
                let (from, to) = match t.anchor.as_str() {
                    "start" => (along, along + width),
                    "end" => (along - width, along),
                    _ => (along - width / 2.0, along + width / 2.0),
                };
                assert!(from >= 0.0 && to <= room, "{t:?} spans {from}..{to}");
                assert!(
                    (0.0..=800.0).contains(&t.x) && (0.0..=500.0).contains(&t.y),
                    "{t:?}"
                );
            }
        }
    }

    #[test]
    fn write_svg_writes_the_file_and_names_the_path_on_failure() {
        let dir = std::env::temp_dir().join(format!("brume-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = figure(
            FigureKind::Lines,
            false,
            vec![series("a", vec![(0.0, 1.0)])],
        );
        let path = write_svg(&f, &dir).unwrap();
        assert_eq!(path, dir.join("test.svg"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            render_svg(&f).unwrap()
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let missing = dir.join("missing");
        let message = write_svg(&f, &missing).unwrap_err().to_string();
        let expected = format!("cannot write {}: ", missing.join("test.svg").display());
        assert!(message.starts_with(&expected), "{message}");
        assert!(message.len() > expected.len(), "no I/O error in {message}");
    }
}
