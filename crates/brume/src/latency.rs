//! `brume dev --latency-matrix`: which RTTs the dev nodes emulate between them (DESIGN §9).
//!
//! The matrix comes from a file (node-i takes row and column i-1, so the first N rows of a
//! large data set make an N-node testbed) or is `synthetic`: N nodes spread on a plane by a
//! golden-angle spiral, 5 ms of access delay plus 1 ms per unit of distance, up to about
//! 80 ms apart — a small fog region with near and far neighbours and no two nodes alike.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use brume_fog::RttMatrix;
use brume_proxy::LinkDelay;

/// The RTT every synthetic pair pays on top of their distance, in milliseconds.
const SYNTHETIC_ACCESS_MS: f64 = 5.0;
/// The radius of the synthetic plane, in milliseconds.
const SYNTHETIC_RADIUS_MS: f64 = 37.5;

/// The matrix named on the command line, restricted to the first `nodes` nodes.
pub fn load(spec: &str, nodes: usize) -> anyhow::Result<RttMatrix> {
    if spec == "synthetic" {
        return Ok(synthetic(nodes));
    }
    let text = std::fs::read_to_string(spec)
        .with_context(|| format!("reading --latency-matrix {spec}"))?;
    let matrix = RttMatrix::parse_tsv(&text)
        .with_context(|| format!("--latency-matrix {spec} is not an RTT matrix"))?;
    anyhow::ensure!(
        matrix.len() >= nodes,
        "--latency-matrix {spec} has {} nodes but --nodes is {nodes}: give a larger matrix or \
         fewer nodes",
        matrix.len()
    );
    Ok(matrix.subset(&(0..nodes).collect::<Vec<_>>())?)
}

/// `n` nodes on a golden-angle spiral.
pub fn synthetic(n: usize) -> RttMatrix {
    let point = |k: usize| {
        let r = SYNTHETIC_RADIUS_MS * ((k as f64 + 0.5) / n.max(1) as f64).sqrt();
        let angle = k as f64 * 2.399_963_229_728_653; // π(3 − √5)
        (r * angle.cos(), r * angle.sin())
    };
    RttMatrix::from_fn(n, |i, j| {
        let ((xi, yi), (xj, yj)) = (point(i), point(j));
        let d = ((xi - xj).powi(2) + (yi - yj).powi(2)).sqrt();
        ((SYNTHETIC_ACCESS_MS + d) * 10.0).round() / 10.0
    })
}

/// The index of dev node `node-<i>` in the matrix.
fn index_of(node: &str) -> Option<usize> {
    node.strip_prefix("node-")?
        .parse::<usize>()
        .ok()?
        .checked_sub(1)
}

/// The link delays of dev node `me`: its row of the matrix; other nodes (not in the matrix)
/// get none.
pub fn delays_from(matrix: &Arc<RttMatrix>, me: &str) -> Arc<dyn LinkDelay> {
    let matrix = Arc::clone(matrix);
    let row = index_of(me);
    Arc::new(move |peer: &str| match (row, index_of(peer)) {
        (Some(i), Some(j)) if i < matrix.len() && j < matrix.len() => {
            Duration::from_secs_f64(matrix.get(i, j) / 1000.0)
        }
        _ => Duration::ZERO,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_nodes_are_near_and_far_but_never_together() {
        let m = synthetic(8);
        let off: Vec<f64> = (0..8)
            .flat_map(|i| (0..8).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m.get(i, j))
            .collect();
        let (min, max) = off
            .iter()
            .fold((f64::MAX, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
        assert!(min > SYNTHETIC_ACCESS_MS && max < 85.0, "{min} .. {max}");
        assert!(max > 2.0 * min, "a spread of distances: {min} .. {max}");
    }

    #[test]
    fn each_node_reads_its_row() {
        let m = Arc::new(RttMatrix::parse_tsv("0\t10\t30\n10\t0\t20\n30\t20\t0\n").unwrap());
        let d = delays_from(&m, "node-2");
        assert_eq!(d.delay_to("node-1"), Duration::from_millis(10));
        assert_eq!(d.delay_to("node-3"), Duration::from_millis(20));
        assert_eq!(d.delay_to("node-2"), Duration::ZERO);
        assert_eq!(d.delay_to("hollow-1"), Duration::ZERO);
    }

    #[test]
    fn a_matrix_smaller_than_the_testbed_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.tsv");
        std::fs::write(&path, "0\t10\n10\t0\n").unwrap();
        let e = load(path.to_str().unwrap(), 3).unwrap_err().to_string();
        assert!(e.contains("has 2 nodes but --nodes is 3"), "{e}");
        assert_eq!(load(path.to_str().unwrap(), 2).unwrap().len(), 2);
        assert!(load("/nonexistent", 2).is_err());
    }
}
