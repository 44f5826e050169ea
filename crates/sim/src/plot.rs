//! Drawing a [`Figure`] as SVG with plotters. Text stays SVG text (no font is loaded), so the
//! plots need nothing but the crate. A logarithmic x axis is drawn by plotting log10(x) on a
//! linear axis whose tick labels show 10^v: one code path for both kinds of axis.

use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use thiserror::Error;

use crate::figure::{Figure, FigureKind};

/// Why a plot could not be drawn or written.
#[derive(Debug, Error)]
pub enum PlotError {
    /// plotters refused to draw.
    #[error("drawing {file}: {reason}")]
    Draw {
        /// The figure's file name.
        file: String,
        /// What plotters said.
        reason: String,
    },
    /// The SVG could not be written.
    #[error("cannot write {}: {cause}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
}

/// Colour-blind-friendly colours (Okabe & Ito, 2008), cycled over the series.
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

/// The figure's points as drawn: x as log10(x) on a log axis (x <= 0 dropped), nothing that is
/// not finite.
fn drawn(figure: &Figure) -> Vec<Vec<(f64, f64, Option<&str>)>> {
    figure
        .series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .enumerate()
                .filter(|(_, (x, y))| x.is_finite() && y.is_finite() && (!figure.x_log || *x > 0.0))
                .map(|(i, &(x, y))| {
                    let x = if figure.x_log { x.log10() } else { x };
                    (x, y, s.labels.get(i).map(String::as_str))
                })
                .collect()
        })
        .collect()
}

/// A range around `values` with a 5 % margin; a unit range around a single value or none.
fn range(values: impl Iterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    if hi - lo < 1e-12 {
        return lo - 0.5..hi + 0.5;
    }
    let margin = (hi - lo) * 0.05;
    lo - margin..hi + margin
}

/// A number as a tick label: no more digits than it needs.
fn tick(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || (v - v.round()).abs() < 1e-9 * a.max(1.0) {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The figure as an SVG document.
pub fn render_svg(figure: &Figure) -> Result<String, PlotError> {
    let mut svg = String::new();
    draw(figure, &mut svg).map_err(|reason| PlotError::Draw {
        file: figure.file.clone(),
        reason,
    })?;
    Ok(svg)
}

fn draw(figure: &Figure, svg: &mut String) -> Result<(), String> {
    let series = drawn(figure);
    let x = range(series.iter().flatten().map(|p| p.0));
    let y = range(series.iter().flatten().map(|p| p.1));
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&figure.title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x, y)
        .map_err(|e| e.to_string())?;
    let log = figure.x_log;
    let x_ticks = move |v: &f64| {
        if log { tick(10f64.powf(*v)) } else { tick(*v) }
    };
    chart
        .configure_mesh()
        .x_desc(figure.x_label.as_str())
        .y_desc(figure.y_label.as_str())
        .x_label_formatter(&x_ticks)
        .y_label_formatter(&|v| tick(*v))
        .axis_desc_style(("sans-serif", 15))
        .label_style(("sans-serif", 12))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(210, 210, 210))
        .draw()
        .map_err(|e| e.to_string())?;
    for (k, (points, s)) in series.iter().zip(&figure.series).enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let line: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.1)).collect();
        chart
            .draw_series(LineSeries::new(line, colour.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(s.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        if figure.kind == FigureKind::LabelledPoints {
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|p| Circle::new((p.0, p.1), 4, colour.filled())),
                )
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(points.iter().filter_map(|p| {
                    p.2.map(|label| {
                        Text::new(
                            label.to_string(),
                            (p.0, p.1),
                            ("sans-serif", 12).into_font(),
                        )
                    })
                }))
                .map_err(|e| e.to_string())?;
        }
    }
    if !figure.series.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

/// Draws the figure into `dir/figure.file`; returns the path.
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

    fn series(name: &str, points: Vec<(f64, f64)>, labels: Vec<String>) -> Series {
        Series {
            name: name.into(),
            points,
            labels,
        }
    }

    #[test]
    fn a_cdf_has_its_title_series_and_lines() {
        let f = figure(
            FigureKind::Lines,
            true,
            vec![
                series(
                    "random",
                    vec![(1.0, 0.1), (10.0, 0.5), (100.0, 1.0)],
                    vec![],
                ),
                series(
                    "proximity",
                    vec![(0.5, 0.3), (0.0, 0.4), (20.0, 1.0)],
                    vec![],
                ),
            ],
        );
        let svg = render_svg(&f).unwrap();
        assert!(
            svg.starts_with("<svg") || svg.contains("<svg"),
            "{}",
            &svg[..80]
        );
        for text in ["Request latency", "random", "proximity", "latency (ms)"] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert!(svg.matches("<polyline").count() >= 2, "one line per series");
        // Log ticks are labelled in ms, not in log10(ms).
        assert!(
            svg.contains("\n10\n") && svg.contains("\n100\n"),
            "log ticks"
        );
    }

    #[test]
    fn labelled_points_carry_their_labels() {
        let f = figure(
            FigureKind::LabelledPoints,
            false,
            vec![series(
                "brume",
                vec![(1.0, 40.0), (1.3, 20.0)],
                vec!["α=0".into(), "α=1".into()],
            )],
        );
        let svg = render_svg(&f).unwrap();
        assert!(svg.contains("α=0") && svg.contains("α=1"));
        assert!(svg.contains("<circle"));
    }

    #[test]
    fn empty_and_degenerate_figures_render() {
        assert!(render_svg(&figure(FigureKind::Lines, false, vec![])).is_ok());
        let f = figure(
            FigureKind::Lines,
            true,
            vec![
                series("none", vec![], vec![]),
                series("one", vec![(5.0, 5.0), (f64::NAN, 1.0)], vec![]),
            ],
        );
        assert!(render_svg(&f).is_ok());
    }

    #[test]
    fn writing_names_the_path_on_failure() {
        let dir = std::env::temp_dir().join(format!("brume-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = figure(
            FigureKind::Lines,
            false,
            vec![series("a", vec![(0.0, 1.0)], vec![])],
        );
        let path = write_svg(&f, &dir).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("<svg"));
        std::fs::remove_dir_all(&dir).unwrap();
        let message = write_svg(&f, &dir.join("missing")).unwrap_err().to_string();
        assert!(message.contains("missing/test.svg"), "{message}");
    }
}
