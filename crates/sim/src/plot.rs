//! Drawing a [`Figure`] as SVG with plotters. Text stays SVG text (no font is loaded), so the
//! plots need nothing but the crate. A logarithmic x axis is drawn by plotting log10(x) on a
//! linear axis whose ticks are placed and labelled by us (decades, or 1-2-5 steps): one code path
//! for both kinds of axis.

use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use thiserror::Error;

use crate::figure::{Figure, FigureKind};

mod axis;
mod labels;

use axis::*;
use labels::*;

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
