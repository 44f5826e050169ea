//! The estimated RTT between two nodes from whatever their metadata tells (DESIGN §8): Vivaldi
//! coordinates first, then GPS, then zone and region labels. `None` means unknown, and callers
//! must never read it as zero.

use std::collections::HashMap;

use crate::location::NodeLocation;

/// The Earth's mean radius in kilometres (IUGG mean radius R1 = 6371.0088 km).
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// How far light travels in optical fibre per millisecond: c / n with a refractive index of
/// about 1.5, so roughly 200 km/ms. This gives the rule of thumb "1 ms of RTT per 100 km"
/// (I. Grigorik, "High Performance Browser Networking", O'Reilly 2013, ch. 1, Table 1-1).
pub const FIBRE_KM_PER_MS: f64 = 200.0;

/// A fixed cost added to every GPS-derived RTT for access links, switching and the host stack.
/// It is an assumption, not a measurement: a few milliseconds is what wired access networks
/// add (Grigorik, ch. 1, "last-mile latency"), to be calibrated against measured coordinates.
pub const GEO_OVERHEAD_MS: f64 = 5.0;

/// The assumed RTT between two nodes in the same zone: one data centre or site, where
/// round trips are well under a millisecond; 1 ms is the upper end.
pub const SAME_ZONE_RTT_MS: f64 = 1.0;

/// The assumed RTT between two zones of one region: cloud providers document single-digit
/// millisecond latency between the availability zones of a region (AWS "Regions and
/// Availability Zones"), so we take 5 ms.
pub const SAME_REGION_RTT_MS: f64 = 5.0;

/// The assumed RTT between two regions: the median off-diagonal RTT of the PlanetLab matrix in
/// `../shared/data/planetlab-490-rtt-ms.tsv` (135 ms), a wide-area spread of hosts.
pub const OTHER_REGION_RTT_MS: f64 = 135.0;

/// The estimated RTT in milliseconds between two nodes, or `None` when nothing tells.
///
/// 1. Both have Vivaldi coordinates of the same dimensions: their Vivaldi distance.
/// 2. Both have GPS positions: `2 × great-circle distance / 200 km/ms + 5 ms`. Real routes are
///    longer than great circles (Singla et al., "The Internet at the Speed of Light", HotNets
///    2014), so this leans low over long distances.
/// 3. Labels: same zone, else same region, else different regions, using the constants above.
///    Two zones that differ with no region on one side say nothing, so they give `None`.
pub fn estimate_rtt_ms(a: &NodeLocation, b: &NodeLocation) -> Option<f64> {
    if let (Some(ca), Some(cb)) = (&a.coordinate, &b.coordinate)
        && ca.dimensions() == cb.dimensions()
    {
        return Some(ca.distance_ms(cb));
    }
    if let (Some(ga), Some(gb)) = (a.geo, b.geo) {
        return Some(2.0 * haversine_km(ga, gb) / FIBRE_KM_PER_MS + GEO_OVERHEAD_MS);
    }
    let same = |x: &Option<String>, y: &Option<String>| match (x, y) {
        (Some(x), Some(y)) => Some(x == y),
        _ => None,
    };
    let same_region = same(&a.region, &b.region);
    match (same(&a.zone, &b.zone), same_region) {
        (Some(true), Some(true) | None) => Some(SAME_ZONE_RTT_MS),
        (_, Some(true)) => Some(SAME_REGION_RTT_MS),
        (_, Some(false)) => Some(OTHER_REGION_RTT_MS),
        (Some(false) | None, None) => None,
    }
}

/// The RTT between two nodes as the proxy weighs it and the scheduler scores it: 0 from a node
/// to itself (its users cross no link to it), else the RTT one of them measured to the other
/// (`measured`, from [`measured_rtt_ms`] or the caller's own table), else [`estimate_rtt_ms`]
/// of the two locations, `None` when nothing tells.
///
/// A measurement comes first because the coordinates' error is largest on near pairs (a median
/// relative error of 4.6 over each PlanetLab node's 10 nearest peers, docs/EVALUATION.md),
/// which are the pairs an agent measures most and where the choice between near nodes is made.
pub fn node_rtt_ms(
    same_node: bool,
    measured: Option<f64>,
    a: Option<&NodeLocation>,
    b: Option<&NodeLocation>,
) -> Option<f64> {
    if same_node {
        return Some(0.0);
    }
    if let Some(ms) = measured.filter(|ms| ms.is_finite() && *ms >= 0.0) {
        return Some(ms);
    }
    estimate_rtt_ms(a?, b?)
}

/// The RTT measured between two nodes: what `a` published for `b` and `b` for `a`, the mean
/// when both did (the two directions' probes saw the same path at different times).
pub fn combine_measured(a_to_b: Option<f64>, b_to_a: Option<f64>) -> Option<f64> {
    match (a_to_b, b_to_a) {
        (Some(x), Some(y)) => Some((x + y) / 2.0),
        (x, y) => x.or(y),
    }
}

/// The RTT measured between the nodes named `a` and `b`, from the measurements their locations
/// carry ([`NodeLocation::measured_ms`]).
fn measured_rtt_ms(
    a: &str,
    a_location: Option<&NodeLocation>,
    b: &str,
    b_location: Option<&NodeLocation>,
) -> Option<f64> {
    let to = |from: Option<&NodeLocation>, peer: &str| from?.measured_ms.get(peer).copied();
    combine_measured(to(a_location, b), to(b_location, a))
}

/// [`node_rtt_ms`] between two named nodes: 0 for the same name, else their measurement, else
/// the estimate of their locations.
pub fn named_rtt_ms(
    a: &str,
    a_location: Option<&NodeLocation>,
    b: &str,
    b_location: Option<&NodeLocation>,
) -> Option<f64> {
    node_rtt_ms(
        a == b,
        measured_rtt_ms(a, a_location, b, b_location),
        a_location,
        b_location,
    )
}

/// What each node of a set measured, by node index: for node `a`, the (peer index, RTT ms)
/// pairs it published. A few peers each ([`crate::MEASURED_PEERS`]), so a lookup is a short
/// scan of integers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measurements(pub Vec<Vec<(usize, f64)>>);

impl Measurements {
    /// The RTT measured between nodes `a` and `b`, either way ([`combine_measured`]).
    pub fn between(&self, a: usize, b: usize) -> Option<f64> {
        let to = |from: usize, peer: usize| {
            self.0
                .get(from)?
                .iter()
                .find(|(p, _)| *p == peer)
                .map(|(_, ms)| *ms)
        };
        combine_measured(to(a, b), to(b, a))
    }
}

/// A cluster's nodes by index, for the many distance lookups of a placement: each node's
/// location, and its measurements resolved to node indices once, so a lookup compares integers
/// instead of names. [`NodeDistances::rtt_ms`] answers what [`named_rtt_ms`] answers for two
/// nodes of the set.
#[derive(Debug, Clone)]
pub struct NodeDistances<'a> {
    locations: Vec<&'a NodeLocation>,
    measured: Measurements,
    index: HashMap<&'a str, usize>,
}

impl<'a> NodeDistances<'a> {
    /// The nodes, named, in index order (a name given twice keeps its first index).
    pub fn new(nodes: impl IntoIterator<Item = (&'a str, &'a NodeLocation)>) -> NodeDistances<'a> {
        let mut locations = Vec::new();
        let mut index = HashMap::new();
        for (name, location) in nodes {
            index.entry(name).or_insert(locations.len());
            locations.push(location);
        }
        let measured = Measurements(
            locations
                .iter()
                .map(|l| {
                    l.measured_ms
                        .iter()
                        .filter_map(|(peer, ms)| Some((*index.get(peer.as_str())?, *ms)))
                        .collect()
                })
                .collect(),
        );
        NodeDistances {
            locations,
            measured,
            index,
        }
    }

    /// The index of the node named `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The RTT between nodes `a` and `b` ([`node_rtt_ms`]: 0 to itself, a measurement first,
    /// else the estimate); `None` for an index out of range.
    pub fn rtt_ms(&self, a: usize, b: usize) -> Option<f64> {
        node_rtt_ms(
            a == b,
            self.measured.between(a, b),
            Some(*self.locations.get(a)?),
            Some(*self.locations.get(b)?),
        )
    }
}

/// The great-circle distance in kilometres between two (latitude, longitude) points in degrees,
/// by the haversine formula (R. W. Sinnott, "Virtues of the Haversine", Sky and Telescope,
/// 1984) on a sphere of the Earth's mean radius.
pub fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinate::Coordinate;

    const PARIS: (f64, f64) = (48.8566, 2.3522);
    const LYON: (f64, f64) = (45.7640, 4.8357);

    fn at(geo: (f64, f64)) -> NodeLocation {
        NodeLocation {
            geo: Some(geo),
            ..NodeLocation::default()
        }
    }

    fn labelled(zone: Option<&str>, region: Option<&str>) -> NodeLocation {
        NodeLocation {
            zone: zone.map(str::to_string),
            region: region.map(str::to_string),
            ..NodeLocation::default()
        }
    }

    #[test]
    fn haversine_paris_lyon_is_about_390_km() {
        let d = haversine_km(PARIS, LYON);
        assert!((385.0..=400.0).contains(&d), "{d} km");
        assert_eq!(haversine_km(PARIS, PARIS), 0.0);
        // Antipodes: half the circumference.
        let half = haversine_km((0.0, 0.0), (0.0, 180.0));
        assert!((half - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6);
    }

    #[test]
    fn gps_gives_fibre_rtt_plus_overhead() {
        let rtt = estimate_rtt_ms(&at(PARIS), &at(LYON)).unwrap();
        // ≈ 2 × 392 km / 200 km/ms + 5 ms ≈ 8.9 ms.
        assert!((8.5..9.5).contains(&rtt), "{rtt}");
        assert_eq!(
            estimate_rtt_ms(&at(PARIS), &at(PARIS)),
            Some(GEO_OVERHEAD_MS)
        );
    }

    #[test]
    fn coordinates_win_over_gps_and_labels() {
        let coordinate = |x: f64| Coordinate {
            vector: vec![x, 0.0],
            height: 1.0,
            error: 0.1,
        };
        let mut a = at(PARIS);
        a.coordinate = Some(coordinate(0.0));
        let mut b = at(LYON);
        b.coordinate = Some(coordinate(30.0));
        assert_eq!(estimate_rtt_ms(&a, &b), Some(32.0));
        // Dimensions that differ cannot be compared, so GPS decides.
        b.coordinate = Some(Coordinate::origin(3));
        assert!(estimate_rtt_ms(&a, &b).unwrap() < 10.0);
    }

    #[test]
    fn labels_give_documented_constants() {
        let z = |zone, region| labelled(zone, region);
        assert_eq!(
            estimate_rtt_ms(&z(Some("a"), Some("r")), &z(Some("a"), Some("r"))),
            Some(SAME_ZONE_RTT_MS)
        );
        assert_eq!(
            estimate_rtt_ms(&z(Some("a"), None), &z(Some("a"), None)),
            Some(SAME_ZONE_RTT_MS)
        );
        assert_eq!(
            estimate_rtt_ms(&z(Some("a"), Some("r")), &z(Some("b"), Some("r"))),
            Some(SAME_REGION_RTT_MS)
        );
        assert_eq!(
            estimate_rtt_ms(&z(None, Some("r")), &z(Some("b"), Some("r"))),
            Some(SAME_REGION_RTT_MS)
        );
        assert_eq!(
            estimate_rtt_ms(&z(Some("a"), Some("r")), &z(Some("a"), Some("s"))),
            Some(OTHER_REGION_RTT_MS),
            "a zone name reused in another region is another zone"
        );
        assert_eq!(
            estimate_rtt_ms(&z(Some("a"), None), &z(Some("b"), None)),
            None
        );
    }

    #[test]
    fn nothing_known_is_unknown_not_zero() {
        let nothing = NodeLocation::default();
        assert_eq!(estimate_rtt_ms(&nothing, &nothing), None);
        assert_eq!(
            estimate_rtt_ms(&at(PARIS), &labelled(Some("a"), None)),
            None
        );
    }

    #[test]
    fn a_measurement_comes_before_the_estimate() {
        // Paris and Lyon by GPS: 2 × 392 km / 200 km/ms + 5 ms ≈ 8.9 ms.
        let mut paris = at(PARIS);
        let lyon = at(LYON);
        let estimate = named_rtt_ms("paris", Some(&paris), "lyon", Some(&lyon)).unwrap();
        assert!((8.0..10.0).contains(&estimate), "{estimate}");
        // Paris measured 14 ms to Lyon: that wins, whichever side asks.
        paris.measured_ms.insert("lyon".into(), 14.0);
        assert_eq!(
            named_rtt_ms("paris", Some(&paris), "lyon", Some(&lyon)),
            Some(14.0)
        );
        assert_eq!(
            named_rtt_ms("lyon", Some(&lyon), "paris", Some(&paris)),
            Some(14.0)
        );
        // Both directions measured: their mean.
        let mut lyon = lyon;
        lyon.measured_ms.insert("paris".into(), 16.0);
        assert_eq!(
            named_rtt_ms("lyon", Some(&lyon), "paris", Some(&paris)),
            Some(15.0)
        );
        // A node is 0 from itself, and a measurement needs no location on the other side.
        assert_eq!(
            named_rtt_ms("paris", Some(&paris), "paris", None),
            Some(0.0)
        );
        assert_eq!(
            named_rtt_ms("paris", Some(&paris), "lyon", None),
            Some(14.0)
        );
        assert_eq!(named_rtt_ms("paris", Some(&paris), "nice", None), None);
        // A bad measurement passed in is no measurement.
        assert_eq!(node_rtt_ms(false, Some(f64::NAN), None, None), None);
        assert_eq!(combine_measured(None, Some(3.0)), Some(3.0));
        assert_eq!(combine_measured(None, None), None);
        // The same answers by index.
        let nice = at((43.70, 7.27));
        let table = NodeDistances::new([("paris", &paris), ("lyon", &lyon), ("nice", &nice)]);
        for (a, b) in [
            ("paris", "lyon"),
            ("lyon", "paris"),
            ("paris", "nice"),
            ("nice", "nice"),
        ] {
            let (ia, ib) = (table.index(a).unwrap(), table.index(b).unwrap());
            let by_name = named_rtt_ms(a, Some(table.locations[ia]), b, Some(table.locations[ib]));
            assert_eq!(table.rtt_ms(ia, ib), by_name, "{a} -> {b}");
        }
        assert_eq!(table.rtt_ms(0, 1), Some(15.0));
        assert_eq!(table.index("brest"), None);
        assert_eq!(table.rtt_ms(0, 7), None);
    }
}
