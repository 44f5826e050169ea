//! The data of one plot, kept apart from drawing it ([`crate::plot`]): a run's JSON carries its
//! figures as data, so a reader can replot them with any tool.

use serde::{Deserialize, Serialize};

/// How the series of a figure are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FigureKind {
    /// Each series a line through its points, in order (CDFs, time series).
    Lines,
    /// Each series a line with a marker on each point, and the point's label beside it (a
    /// trade-off curve with one point per setting, e.g. latency against imbalance over α).
    LabelledPoints,
}

/// One named series of (x, y) points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// The points, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// One label per point for [`FigureKind::LabelledPoints`] (empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// A plot: what it shows, its axes and its series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// The file the plot is written to, relative to the run's output folder (`routing-cdf.svg`).
    pub file: String,
    /// The title above the plot.
    pub title: String,
    /// The x axis label, with its unit.
    pub x_label: String,
    /// The y axis label, with its unit.
    pub y_label: String,
    /// Whether the x axis is logarithmic (latency CDFs that span 1 to 1000 ms).
    #[serde(default)]
    pub x_log: bool,
    /// How the series are drawn.
    pub kind: FigureKind,
    /// The series.
    pub series: Vec<Series>,
}

impl Series {
    /// A series drawn as a line through `points`, without point labels.
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
            labels: Vec::new(),
        }
    }
}

impl Figure {
    /// Lines on linear axes (time series).
    pub fn lines(
        file: &str,
        title: String,
        x_label: String,
        y_label: &str,
        series: Vec<Series>,
    ) -> Figure {
        Figure {
            file: file.into(),
            title,
            x_label,
            y_label: y_label.into(),
            x_log: false,
            kind: FigureKind::Lines,
            series,
        }
    }
}
