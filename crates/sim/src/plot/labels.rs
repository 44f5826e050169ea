//! Where a plot's legend and point labels go: where they hide the least of the data.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::Axis;
use super::{LABEL_OFFSET, POINT_LABEL_PX, Point, text_width};

/// Where the legend may go along the plot's edges, in order of preference when they hide the
/// same data: the corners, then the middles of the sides. Each with where its box lies across
/// the plotting area, from 0 (left, bottom) to 1 (right, top).
pub(super) const LEGEND_EDGES: [(SeriesLabelPosition, f64, f64); 8] = [
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
pub(super) fn legend_place(
    marks: &[(f64, f64)],
    size: (f64, f64),
    area: (f64, f64),
) -> SeriesLabelPosition {
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
pub(super) fn marks(
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
pub(super) struct Rect {
    pub(super) x0: f64,
    pub(super) y0: f64,
    pub(super) x1: f64,
    pub(super) y1: f64,
}

impl Rect {
    pub(super) fn overlap(&self, other: &Rect) -> f64 {
        let w = self.x1.min(other.x1) - self.x0.max(other.x0);
        let h = self.y1.min(other.y1) - self.y0.max(other.y0);
        w.max(0.0) * h.max(0.0)
    }

    pub(super) fn area(&self) -> f64 {
        (self.x1 - self.x0) * (self.y1 - self.y0)
    }
}

/// Where a point label goes: right or left of its point, above or below it, and its box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Placement {
    pub(super) right: bool,
    pub(super) above: bool,
    pub(super) rect: Rect,
}

impl Placement {
    /// The text's anchor and its offset from the point, in pixels.
    pub(super) fn anchor(&self) -> (Pos, (i32, i32)) {
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
pub(super) type Marker<'a> = ((f64, f64), Option<&'a str>);

/// The places of the point labels of `series` (each a line through its markers, in a plotting
/// area of `size`), greedily in order: for each label, the first of above right, below right,
/// above left and below left that stays in the area and covers no marker, no line and no label
/// placed before it, else the one that covers least. The places come in the markers' order.
pub(super) fn place_labels(series: &[Vec<Marker>], size: (f64, f64)) -> Vec<Option<Placement>> {
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
