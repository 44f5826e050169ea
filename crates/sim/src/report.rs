//! What a run writes: one JSON document (settings, headline figures, a summary table, the
//! detailed results and the figures' data) and one SVG per figure.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::SimError;
use crate::figure::Figure;
use crate::scenario::Settings;
use crate::topology::Topology;

/// One headline figure of a run: what a claim in docs/EVALUATION.md quotes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Headline {
    /// A stable key (`mean_cut_vs_random`).
    pub key: String,
    /// What it is, in words.
    pub label: String,
    /// The value.
    pub value: f64,
    /// Its unit (`%`, `ms`, `×`).
    pub unit: String,
}

/// A table of rows, as printed at the end of a run.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Table {
    /// The column headings.
    pub columns: Vec<String>,
    /// The rows, one cell per column.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these headings and no rows.
    pub fn new(columns: &[&str]) -> Table {
        Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The table as aligned plain text.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}", w = *w))
                .collect();
            padded.join("  ").trim_end().to_string()
        };
        let mut out = line(&self.columns);
        for row in &self.rows {
            out.push('\n');
            out.push_str(&line(row));
        }
        out
    }

    /// The table as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = format!("| {} |\n", self.columns.join(" | "));
        out.push_str(&format!("|{}\n", " --- |".repeat(self.columns.len())));
        for row in &self.rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        out
    }
}

/// Everything a scenario run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The scenario's name (`routing`).
    pub scenario: String,
    /// The topology's name.
    pub topology: String,
    /// The number of nodes.
    pub nodes: usize,
    /// The seed.
    pub seed: u64,
    /// The command line that reproduces the run.
    pub command: String,
    /// The settings, as the scenario read them.
    pub settings: serde_json::Value,
    /// The figures a claim quotes.
    pub headline: Vec<Headline>,
    /// The summary table.
    pub table: Table,
    /// The scenario's detailed results.
    pub results: serde_json::Value,
    /// The plots' data.
    pub figures: Vec<Figure>,
    /// Requests simulated in all (for the rate the command prints).
    pub requests: u64,
}

impl Report {
    /// The report of a `scenario` run on `topology` with `settings`, before its figures: the
    /// scenario fills in the rest (`Report { table, .. Report::new(..) }`), and the command
    /// line sets `command`.
    pub fn new(scenario: &str, topology: &Topology, settings: &Settings) -> Report {
        Report {
            scenario: scenario.into(),
            topology: topology.name.clone(),
            nodes: topology.len(),
            seed: settings.seed,
            command: String::new(),
            settings: serde_json::to_value(settings).expect("settings serialise"),
            headline: Vec::new(),
            table: Table::default(),
            results: serde_json::Value::Null,
            figures: Vec::new(),
            requests: 0,
        }
    }

    /// The value of a headline figure, if the run has it.
    pub fn headline(&self, key: &str) -> Option<f64> {
        self.headline.iter().find(|h| h.key == key).map(|h| h.value)
    }

    /// Writes `<scenario>.json` and the figures' SVGs into `dir` (created if missing); returns
    /// the files written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, SimError> {
        std::fs::create_dir_all(dir).map_err(|cause| SimError::Write {
            path: dir.to_path_buf(),
            cause,
        })?;
        let json = dir.join(format!("{}.json", self.scenario));
        let text = serde_json::to_string_pretty(self).expect("a report serialises");
        std::fs::write(&json, text + "\n").map_err(|cause| SimError::Write {
            path: json.clone(),
            cause,
        })?;
        let mut written = vec![json];
        for figure in &self.figures {
            written.push(crate::plot::write_svg(figure, dir)?);
        }
        Ok(written)
    }
}

/// A headline figure.
pub fn headline(key: &str, label: &str, value: f64, unit: &str) -> Headline {
    Headline {
        key: key.into(),
        label: label.into(),
        value,
        unit: unit.into(),
    }
}

/// A number with `digits` decimals, for tables.
pub fn fixed(value: f64, digits: usize) -> String {
    format!("{value:.digits$}")
}
