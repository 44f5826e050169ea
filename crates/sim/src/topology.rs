//! Where the simulated nodes are and the RTT between them: a measured matrix read from a file
//! (the PlanetLab data set, DESIGN §9), or a synthetic city-scale fog computed on demand, since
//! 10,000 nodes would take 800 MB as a matrix.

use std::path::Path;

use brume_fog::{RttMatrix, RttSource};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::error::SimError;

/// The RTTs of one simulated fog.
#[derive(Debug, Clone)]
pub struct Topology {
    /// What the topology is, for reports: the file name, or `synthetic city`.
    pub name: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Matrix(RttMatrix),
    City(City),
}

/// How a synthetic city is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CitySettings {
    /// The number of nodes.
    pub nodes: usize,
    /// The side of the square the districts' centres are drawn in, in milliseconds of RTT.
    pub side_ms: f64,
    /// The spread of a district's nodes around its centre (standard deviation, ms).
    pub district_spread_ms: f64,
    /// The mean access latency of a node (its Vivaldi height), on top of a 0.5 ms floor.
    pub mean_access_ms: f64,
    /// The most a pair's RTT departs from the plane, as a share (± uniform per pair): real
    /// paths violate the triangle inequality, and a plane that did not would flatter Vivaldi.
    pub path_noise: f64,
    /// The seed of the drawing.
    pub seed: u64,
}

impl CitySettings {
    /// A city of `nodes` nodes: districts about every 120 nodes (at least 4) in a 60 × 60 ms
    /// square, 4 ms spread, 1.5 ms mean access latency, ±20 % path noise. A metropolitan fog
    /// over several access networks: neighbours 1–5 ms apart, across the city 40–90 ms.
    pub fn new(nodes: usize, seed: u64) -> CitySettings {
        CitySettings {
            nodes,
            side_ms: 60.0,
            district_spread_ms: 4.0,
            mean_access_ms: 1.5,
            path_noise: 0.2,
            seed,
        }
    }

    /// The number of districts.
    pub fn districts(&self) -> usize {
        (self.nodes / 120).max(4).min(self.nodes.max(1))
    }
}

/// A synthetic city: nodes on a plane, each with an access latency.
#[derive(Debug, Clone)]
struct City {
    x: Vec<f64>,
    y: Vec<f64>,
    access: Vec<f64>,
    noise: f64,
    seed: u64,
}

impl City {
    fn draw(settings: &CitySettings) -> City {
        let mut rng = StdRng::seed_from_u64(settings.seed);
        let districts: Vec<(f64, f64)> = (0..settings.districts())
            .map(|_| {
                (
                    rng.random_range(0.0..settings.side_ms),
                    rng.random_range(0.0..settings.side_ms),
                )
            })
            .collect();
        let mut city = City {
            x: Vec::with_capacity(settings.nodes),
            y: Vec::with_capacity(settings.nodes),
            access: Vec::with_capacity(settings.nodes),
            noise: settings.path_noise,
            seed: settings.seed,
        };
        for _ in 0..settings.nodes {
            let (cx, cy) = districts[rng.random_range(0..districts.len())];
            let (dx, dy) = gaussian_pair(&mut rng);
            city.x.push(cx + dx * settings.district_spread_ms);
            city.y.push(cy + dy * settings.district_spread_ms);
            let u: f64 = rng.random_range(f64::EPSILON..1.0);
            city.access.push(0.5 + settings.mean_access_ms * -u.ln());
        }
        city
    }

    fn rtt_ms(&self, i: usize, j: usize) -> f64 {
        if i == j {
            return 0.0;
        }
        let plane = (self.x[i] - self.x[j]).hypot(self.y[i] - self.y[j]);
        let (a, b) = (i.min(j) as u64, i.max(j) as u64);
        let u = unit(splitmix(self.seed ^ (a << 32 | b)));
        (plane + self.access[i] + self.access[j]) * (1.0 + self.noise * (2.0 * u - 1.0))
    }
}

/// Two independent standard normal draws (Box–Muller).
fn gaussian_pair(rng: &mut StdRng) -> (f64, f64) {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    let r = (-2.0 * u1.ln()).sqrt();
    let theta = std::f64::consts::TAU * u2;
    (r * theta.cos(), r * theta.sin())
}

/// SplitMix64 (Steele, Lea & Flood, OOPSLA 2014): a pair's noise from its indices alone, so an
/// RTT is the same whenever it is asked for, without storing n² cells.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A u64 as a number in [0, 1).
fn unit(z: u64) -> f64 {
    (z >> 11) as f64 / (1u64 << 53) as f64
}

impl Topology {
    /// A measured matrix read from `path`: rows of tab- or space-separated milliseconds. Errors
    /// name the file, and the line and column of a bad cell.
    pub fn from_file(path: &Path) -> Result<Topology, SimError> {
        let text = std::fs::read_to_string(path).map_err(|cause| SimError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        let matrix = RttMatrix::parse_tsv(&text).map_err(|cause| SimError::Matrix {
            path: path.to_path_buf(),
            cause,
        })?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        Ok(Topology::from_matrix(name, matrix))
    }

    /// A topology from a matrix already parsed.
    pub fn from_matrix(name: impl Into<String>, matrix: RttMatrix) -> Topology {
        Topology {
            name: name.into(),
            kind: Kind::Matrix(matrix),
        }
    }

    /// A synthetic city drawn as `settings` say.
    pub fn city(settings: &CitySettings) -> Topology {
        Topology {
            name: format!("synthetic city ({} nodes)", settings.nodes),
            kind: Kind::City(City::draw(settings)),
        }
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        match &self.kind {
            Kind::Matrix(m) => m.len(),
            Kind::City(c) => c.x.len(),
        }
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The RTT between nodes `i` and `j`, in milliseconds.
    pub fn rtt_ms(&self, i: usize, j: usize) -> f64 {
        match &self.kind {
            Kind::Matrix(m) => m.get(i, j),
            Kind::City(c) => c.rtt_ms(i, j),
        }
    }

    /// The nodes ordered by RTT from `from`, nearest first (`from` itself first), ties by index.
    pub fn by_distance(&self, from: usize) -> Vec<usize> {
        let mut order: Vec<(f64, usize)> =
            (0..self.len()).map(|j| (self.rtt_ms(from, j), j)).collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        order.into_iter().map(|(_, j)| j).collect()
    }

    /// The topology restricted to `nodes`, renumbered in that order (small instances for the
    /// exhaustive optimum).
    pub fn subset(&self, nodes: &[usize]) -> Topology {
        let matrix = RttMatrix::from_fn(nodes.len(), |i, j| self.rtt_ms(nodes[i], nodes[j]));
        Topology::from_matrix(format!("{} ({} nodes)", self.name, nodes.len()), matrix)
    }

    /// The median RTT over a sample of pairs (all pairs up to 500 nodes).
    pub fn median_rtt_ms(&self) -> f64 {
        let n = self.len();
        let mut values: Vec<f64> = if n <= 500 {
            (0..n)
                .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
                .map(|(i, j)| self.rtt_ms(i, j))
                .collect()
        } else {
            let mut rng = StdRng::seed_from_u64(n as u64);
            (0..100_000)
                .map(|_| (rng.random_range(0..n), rng.random_range(0..n)))
                .filter(|(i, j)| i != j)
                .map(|(i, j)| self.rtt_ms(i, j))
                .collect()
        };
        if values.is_empty() {
            return 0.0;
        }
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }
}

impl RttSource for Topology {
    fn node_count(&self) -> usize {
        self.len()
    }

    fn rtt_ms(&self, i: usize, j: usize) -> f64 {
        Topology::rtt_ms(self, i, j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_city_is_symmetric_positive_and_repeatable() {
        let settings = CitySettings::new(300, 7);
        let a = Topology::city(&settings);
        let b = Topology::city(&settings);
        assert_eq!(a.len(), 300);
        for (i, j) in [(0, 1), (5, 250), (299, 3)] {
            assert_eq!(a.rtt_ms(i, j), a.rtt_ms(j, i));
            assert_eq!(a.rtt_ms(i, j), b.rtt_ms(i, j));
            assert!(a.rtt_ms(i, j) >= 0.8, "{}", a.rtt_ms(i, j));
        }
        assert_eq!(a.rtt_ms(4, 4), 0.0);
        let other = Topology::city(&CitySettings::new(300, 8));
        assert_ne!(a.rtt_ms(0, 1), other.rtt_ms(0, 1));
        let median = a.median_rtt_ms();
        assert!((10.0..80.0).contains(&median), "median {median}");
    }

    #[test]
    fn nearest_first_and_subsets() {
        let m = RttMatrix::from_fn(4, |i, j| (i as f64 - j as f64).abs() * 10.0);
        let t = Topology::from_matrix("line", m);
        assert_eq!(t.by_distance(2), vec![2, 1, 3, 0]);
        let s = t.subset(&[3, 0]);
        assert_eq!(s.len(), 2);
        assert_eq!(s.rtt_ms(0, 1), 30.0);
    }

    #[test]
    fn bad_files_name_the_file_line_and_column() {
        let dir = std::env::temp_dir().join(format!("brume-sim-topology-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.tsv");
        let message = Topology::from_file(&missing).unwrap_err().to_string();
        assert!(
            message.contains("missing.tsv") && message.contains("cannot read"),
            "{message}"
        );
        let cases = [
            (
                "ragged.tsv",
                "0 1 2\n1 0\n2 3 0\n",
                "line 2 has 2 columns; expected 3",
            ),
            ("negative.tsv", "0 -4\n-4 0\n", "line 1, column 2: \"-4\""),
            ("text.tsv", "0 1\n1 abc\n", "line 2, column 2: \"abc\""),
            (
                "asymmetric.tsv",
                "0 1\n2 0\n",
                "line 1, column 2 is 1 but line 2, column 1 is 2",
            ),
        ];
        for (name, text, expected) in cases {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            let message = Topology::from_file(&path).unwrap_err().to_string();
            assert!(
                message.contains(name) && message.contains(expected),
                "{name}: {message}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
