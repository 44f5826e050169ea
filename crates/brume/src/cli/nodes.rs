//! `brume nodes`: where the nodes are (DESIGN §8). Without flags, each node with its address,
//! its Vivaldi coordinate's error and height; with `--latency`, every ordered pair of nodes with
//! the RTT estimated from their coordinates next to the one the first node measured (its agent
//! publishes the median of its recent probes in `fog.brume.io/measured-rtt-ms`).

use std::collections::BTreeMap;

use brume_fog::{COORDINATES_ANNOTATION, Coordinate};
use serde_json::Value;

use super::client::Api;

/// The annotation the agents publish their measured RTTs in (see brume-agent's prober).
const MEASURED: &str = brume_fog::MEASURED_RTT_ANNOTATION;

/// Arguments of `brume nodes`.
#[derive(clap::Args)]
pub struct Args {
    /// Show, for each pair of nodes, the estimated RTT next to the measured one.
    #[arg(long)]
    latency: bool,
}

/// One node as `brume nodes` sees it.
#[derive(Debug, Clone, PartialEq)]
struct NodeView {
    name: String,
    address: String,
    coordinate: Option<Coordinate>,
    measured: BTreeMap<String, f64>,
}

fn views(list: &Value) -> Vec<NodeView> {
    let empty = Vec::new();
    let mut out: Vec<NodeView> = list["items"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|n| {
            let annotation = |k: &str| n["metadata"]["annotations"][k].as_str();
            NodeView {
                name: n["metadata"]["name"].as_str().unwrap_or("").to_string(),
                address: n["status"]["addresses"]
                    .as_array()
                    .and_then(|a| a.iter().find(|a| a["type"] == "InternalIP"))
                    .and_then(|a| a["address"].as_str())
                    .unwrap_or("<none>")
                    .to_string(),
                coordinate: annotation(COORDINATES_ANNOTATION)
                    .and_then(|t| Coordinate::from_annotation(t).ok()),
                measured: annotation(MEASURED)
                    .and_then(|t| brume_fog::parse_measured(t).ok())
                    .unwrap_or_default(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn ms(v: Option<f64>) -> String {
    v.map_or("<unknown>".into(), |v| format!("{v:.1}"))
}

fn grid(rows: Vec<Vec<String>>) -> String {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, t)| format!("{t:<w$}", w = widths[c]))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

/// The node table.
fn node_table(nodes: &[NodeView]) -> String {
    let mut rows = vec![vec![
        "NAME".into(),
        "ADDRESS".into(),
        "COORD-ERROR".into(),
        "HEIGHT-MS".into(),
        "PEERS-MEASURED".into(),
    ]];
    for n in nodes {
        rows.push(vec![
            n.name.clone(),
            n.address.clone(),
            n.coordinate
                .as_ref()
                .map_or("<none>".into(), |c| format!("{:.2}", c.error)),
            n.coordinate
                .as_ref()
                .map_or("<none>".into(), |c| format!("{:.1}", c.height)),
            n.measured.len().to_string(),
        ]);
    }
    grid(rows)
}

/// Every ordered pair: estimated, measured, and the relative error of the estimate.
fn latency_table(nodes: &[NodeView]) -> String {
    let mut rows = vec![vec![
        "FROM".into(),
        "TO".into(),
        "ESTIMATED-MS".into(),
        "MEASURED-MS".into(),
        "ERROR".into(),
    ]];
    for a in nodes {
        for b in nodes.iter().filter(|b| b.name != a.name) {
            let estimated = match (&a.coordinate, &b.coordinate) {
                (Some(x), Some(y)) => Some(x.distance_ms(y)),
                _ => None,
            };
            let measured = a.measured.get(&b.name).copied();
            let error = match (estimated, measured) {
                (Some(e), Some(m)) if m > 0.0 => format!("{:.0}%", 100.0 * (e - m).abs() / m),
                _ => "<unknown>".into(),
            };
            rows.push(vec![
                a.name.clone(),
                b.name.clone(),
                ms(estimated),
                ms(measured),
                error,
            ]);
        }
    }
    grid(rows)
}

/// Runs `brume nodes`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let api = Api::connect().await?;
    let list = api.get("/api/v1/nodes").await?;
    let nodes = views(&list);
    if nodes.is_empty() {
        println!("No nodes.");
        return Ok(());
    }
    print!(
        "{}",
        match args.latency {
            true => latency_table(&nodes),
            false => node_table(&nodes),
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list() -> Value {
        json!({"items": [
            {"metadata": {"name": "b", "annotations": {
                COORDINATES_ANNOTATION: r#"{"vector":[3.0,4.0],"height":1.0,"error":0.25}"#,
                MEASURED: r#"{"a": 7.5}"#}},
             "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.3"}]}},
            {"metadata": {"name": "a", "annotations": {
                COORDINATES_ANNOTATION: r#"{"vector":[0.0,0.0],"height":1.0,"error":0.5}"#}},
             "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.2"}]}},
            {"metadata": {"name": "c"}},
        ]})
    }

    #[test]
    fn nodes_show_their_coordinate_error() {
        let text = node_table(&views(&list()));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NAME"));
        assert!(
            lines[1].starts_with("a") && lines[1].contains("0.50"),
            "{text}"
        );
        assert!(
            lines[2].contains("127.0.0.3") && lines[2].contains("0.25"),
            "{text}"
        );
        assert!(lines[3].contains("<none>"), "{text}");
    }

    #[test]
    fn pairs_put_the_estimate_next_to_the_measurement() {
        let text = latency_table(&views(&list()));
        // b → a: |(3,4)| + 1 + 1 = 7 ms estimated, 7.5 measured: 7 % off.
        let ba = text
            .lines()
            .find(|l| l.starts_with("b ") && l.contains(" a "))
            .unwrap();
        assert!(
            ba.contains("7.0") && ba.contains("7.5") && ba.contains("7%"),
            "{ba}"
        );
        // a measured nothing; c has no coordinate: unknown, never zero.
        let ac = text
            .lines()
            .find(|l| l.starts_with("a ") && l.contains(" c "))
            .unwrap();
        assert_eq!(ac.matches("<unknown>").count(), 3, "{ac}");
    }
}
