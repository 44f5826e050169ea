//! A measured round-trip-time matrix, such as the PlanetLab data set in
//! `../shared/data/planetlab-490-rtt-ms.tsv` (DESIGN §9), parsed from text.

use crate::error::FogError;

/// Where a simulation reads the RTT between two nodes: a measured [`RttMatrix`], or a synthetic
/// topology too large to hold as a matrix (10,000 nodes would take 800 MB of cells) that computes
/// each RTT on demand. Symmetric, with 0 between a node and itself.
pub trait RttSource: Sync {
    /// The number of nodes.
    fn node_count(&self) -> usize;
    /// The RTT in milliseconds between nodes `i` and `j`.
    fn rtt_ms(&self, i: usize, j: usize) -> f64;
}

impl RttSource for RttMatrix {
    fn node_count(&self) -> usize {
        self.n
    }

    fn rtt_ms(&self, i: usize, j: usize) -> f64 {
        self.get(i, j)
    }
}

/// A symmetric square matrix of RTTs in milliseconds between nodes 0..n, with a zero diagonal.
#[derive(Debug, Clone, PartialEq)]
pub struct RttMatrix {
    n: usize,
    cells: Vec<f64>,
}

impl RttMatrix {
    /// Parses rows of tab- or space-separated milliseconds, one row per line. Blank lines are
    /// skipped. The matrix must be square, symmetric, with zero diagonal and finite cells >= 0;
    /// an error names the 1-based line and column of the first bad cell.
    pub fn parse_tsv(text: &str) -> Result<RttMatrix, FogError> {
        let mut n = 0;
        let mut cells = Vec::new();
        let mut lines = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            if line.trim().is_empty() {
                continue;
            }
            let row_start = cells.len();
            for (column, cell) in line.split_whitespace().enumerate() {
                let value = cell
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| FogError::MatrixCell {
                        line: number,
                        column: column + 1,
                        value: cell.to_string(),
                    })?;
                cells.push(value);
            }
            let found = cells.len() - row_start;
            if lines.is_empty() {
                n = found;
            } else if found != n {
                return Err(FogError::MatrixRowLength {
                    line: number,
                    expected: n,
                    found,
                });
            }
            lines.push(number);
        }
        if lines.is_empty() {
            return Err(FogError::MatrixEmpty);
        }
        if lines.len() != n {
            // More rows than columns: the first extra row is the offender. Fewer: the file ends
            // early, and the last row read is where a row is missing after.
            let line = lines.get(n).copied().unwrap_or(lines[lines.len() - 1] + 1);
            return Err(FogError::MatrixRowLength {
                line,
                expected: n,
                found: if lines.len() > n { n } else { 0 },
            });
        }
        let matrix = RttMatrix { n, cells };
        for i in 0..n {
            let diagonal = matrix.get(i, i);
            if diagonal != 0.0 {
                return Err(FogError::MatrixDiagonal {
                    line: i + 1,
                    value: diagonal,
                });
            }
            for j in i + 1..n {
                let (a, b) = (matrix.get(i, j), matrix.get(j, i));
                // Allow rounding in the last printed digit, nothing more.
                if (a - b).abs() > 1e-9 * a.max(b).max(1.0) {
                    return Err(FogError::MatrixAsymmetric {
                        row: i + 1,
                        column: j + 1,
                        a,
                        b,
                    });
                }
            }
        }
        Ok(matrix)
    }

    /// A matrix from a closure giving the RTT between two distinct nodes, used for synthetic
    /// topologies; the diagonal is set to zero and the upper triangle is mirrored.
    pub fn from_fn(n: usize, rtt_ms: impl Fn(usize, usize) -> f64) -> RttMatrix {
        let mut cells = vec![0.0; n * n];
        for i in 0..n {
            for j in i + 1..n {
                let v = rtt_ms(i, j);
                cells[i * n + j] = v;
                cells[j * n + i] = v;
            }
        }
        RttMatrix { n, cells }
    }

    /// The RTT in milliseconds between nodes `i` and `j`; panics if either is out of range.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        assert!(
            i < self.n && j < self.n,
            "node {i} or {j} outside 0..{}",
            self.n
        );
        self.cells[i * self.n + j]
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the matrix has no nodes.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The matrix restricted to the given nodes, renumbered in the order given.
    pub fn subset(&self, indices: &[usize]) -> Result<RttMatrix, FogError> {
        if let Some(&index) = indices.iter().find(|&&i| i >= self.n) {
            return Err(FogError::IndexOutOfRange { index, len: self.n });
        }
        let m = indices.len();
        let mut cells = Vec::with_capacity(m * m);
        for &i in indices {
            for &j in indices {
                cells.push(self.get(i, j));
            }
        }
        Ok(RttMatrix { n: m, cells })
    }

    /// The median of the off-diagonal RTTs, or `None` for fewer than two nodes.
    pub fn median_ms(&self) -> Option<f64> {
        let mut values: Vec<f64> = (0..self.n)
            .flat_map(|i| (i + 1..self.n).map(move |j| (i, j)))
            .map(|(i, j)| self.get(i, j))
            .collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        Some(values[values.len() / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tabs_and_spaces_and_skips_blank_lines() {
        let m = RttMatrix::parse_tsv("0\t10 20\n\n10 0\t30\n20\t30\t0\n\n").unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m.get(0, 2), 20.0);
        assert_eq!(m.get(2, 1), 30.0);
        assert_eq!(m.median_ms(), Some(20.0));
    }

    fn error(text: &str) -> String {
        RttMatrix::parse_tsv(text).unwrap_err().to_string()
    }

    #[test]
    fn bad_cells_name_line_and_column() {
        assert!(
            error("0 1\n1 x\n").contains("line 2, column 2: \"x\""),
            "{}",
            error("0 1\n1 x\n")
        );
        assert!(error("0 -1\n-1 0\n").contains("line 1, column 2: \"-1\""));
        assert!(error("0 inf\ninf 0\n").contains("line 1, column 2"));
        assert!(error("0 NaN\nNaN 0\n").contains("line 1, column 2"));
    }

    #[test]
    fn wrong_row_lengths_name_the_line() {
        let message = error("0 1 2\n\n1 0\n2 3 0\n");
        assert!(
            message.contains("line 3 has 2 columns; expected 3"),
            "{message}"
        );
        let message = error("0 1\n1 0\n5 5\n");
        assert!(message.contains("line 3"), "{message}");
        let message = error("0 1 2\n1 0 3\n");
        assert!(
            message.contains("line 3 has 0 columns; expected 3"),
            "{message}"
        );
    }

    #[test]
    fn asymmetry_diagonal_and_emptiness_are_refused() {
        let message = error("0 1\n2 0\n");
        assert!(
            message.contains("line 1, column 2 is 1 but line 2, column 1 is 2"),
            "{message}"
        );
        let message = error("0 1\n1 4\n");
        assert!(
            message.contains("line 2, column 2: the diagonal must be 0"),
            "{message}"
        );
        assert!(error("\n \n").contains("empty"));
    }

    #[test]
    fn subset_renumbers_and_checks_indices() {
        let m = RttMatrix::from_fn(4, |i, j| (i * 10 + j) as f64);
        let s = m.subset(&[3, 1]).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s.get(0, 1), 13.0);
        assert_eq!(s.get(1, 0), 13.0);
        assert_eq!(s.get(0, 0), 0.0);
        let message = m.subset(&[0, 4]).unwrap_err().to_string();
        assert!(message.contains("index 4 is out of range"), "{message}");
    }
}
