//! Where a node is, as far as its metadata tells (DESIGN §8): its Vivaldi coordinate, optional
//! GPS position, and optional topology labels.

use std::collections::BTreeMap;

use crate::coordinate::{COORDINATES_ANNOTATION, Coordinate};
use crate::error::FogError;

/// The node annotation that carries a GPS position as `"lat,lon"` in decimal degrees.
pub const GEO_ANNOTATION: &str = "fog.brume.io/geo";

/// The node annotation in which its agent publishes the RTTs it measured to its nearest peers:
/// a JSON object of node name to the median of its recent probes in ms, e.g.
/// `{"node-2": 4.1, "node-7": 12.5}`.
pub const MEASURED_RTT_ANNOTATION: &str = "fog.brume.io/measured-rtt-ms";

/// How many peers an agent publishes measured RTTs for: its nearest by the measured medians.
/// Enough for every peer of a small site and for the near candidates that placement and
/// routing choose between, where the coordinates err most; bounded so a Node object stays small
/// on a cluster of thousands.
pub const MEASURED_PEERS: usize = 16;

/// The well-known Kubernetes label naming a node's zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// The well-known Kubernetes label naming a node's region.
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";

/// Everything known about a node's position; each part may be missing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeLocation {
    /// The node's Vivaldi coordinate, from `fog.brume.io/coordinates`.
    pub coordinate: Option<Coordinate>,
    /// The node's GPS position as (latitude, longitude) in degrees, from `fog.brume.io/geo`.
    pub geo: Option<(f64, f64)>,
    /// The node's zone, from `topology.kubernetes.io/zone`.
    pub zone: Option<String>,
    /// The node's region, from `topology.kubernetes.io/region`.
    pub region: Option<String>,
    /// The RTT in ms this node measured to each peer it published, by peer name, from
    /// `fog.brume.io/measured-rtt-ms`.
    pub measured_ms: BTreeMap<String, f64>,
}

impl NodeLocation {
    /// Reads a node's location from its annotations and labels (as in `ObjectMeta`). A part
    /// that does not parse is left out and its error returned beside the location, so one bad
    /// annotation does not hide the labels.
    pub fn from_metadata(
        annotations: Option<&BTreeMap<String, String>>,
        labels: Option<&BTreeMap<String, String>>,
    ) -> (NodeLocation, Vec<FogError>) {
        let annotation = |key: &str| annotations.and_then(|a| a.get(key));
        let label = |key: &str| {
            labels
                .and_then(|l| l.get(key))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let mut problems = Vec::new();
        let coordinate = annotation(COORDINATES_ANNOTATION).and_then(|text| {
            Coordinate::from_annotation(text)
                .map_err(|e| problems.push(e))
                .ok()
        });
        let geo = annotation(GEO_ANNOTATION)
            .and_then(|text| parse_geo(text).map_err(|e| problems.push(e)).ok());
        let measured_ms = annotation(MEASURED_RTT_ANNOTATION)
            .and_then(|text| parse_measured(text).map_err(|e| problems.push(e)).ok())
            .unwrap_or_default();
        let location = NodeLocation {
            coordinate,
            geo,
            zone: label(ZONE_LABEL),
            region: label(REGION_LABEL),
            measured_ms,
        };
        (location, problems)
    }
}

/// Parses a `fog.brume.io/measured-rtt-ms` value: a JSON object whose values are RTTs in ms,
/// finite and >= 0.
pub fn parse_measured(text: &str) -> Result<BTreeMap<String, f64>, FogError> {
    let bad = |reason: String| FogError::BadMeasured {
        value: text.chars().take(200).collect(),
        reason,
    };
    let parsed: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    parsed
        .into_iter()
        .map(|(peer, value)| match value.as_f64() {
            Some(ms) if ms.is_finite() && ms >= 0.0 => Ok((peer, ms)),
            _ => Err(bad(format!(
                "the RTT to {peer:?} is {value}, not a number of ms >= 0"
            ))),
        })
        .collect()
}

/// Parses a `fog.brume.io/geo` value, `"lat,lon"` in decimal degrees with latitude in
/// [-90, 90] and longitude in [-180, 180]; spaces around the numbers are allowed.
pub fn parse_geo(text: &str) -> Result<(f64, f64), FogError> {
    let bad = |reason: String| FogError::BadGeo {
        value: text.to_string(),
        reason,
    };
    let mut parts = text.split(',');
    let (Some(lat), Some(lon), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad(
            "it must be two numbers separated by one comma".to_string()
        ));
    };
    let number = |name: &str, part: &str, limit: f64| {
        let value: f64 = part
            .trim()
            .parse()
            .map_err(|_| bad(format!("{name} {:?} is not a number", part.trim())))?;
        if !value.is_finite() || value.abs() > limit {
            return Err(bad(format!(
                "{name} {value} is out of range; valid: -{limit} to {limit}"
            )));
        }
        Ok(value)
    };
    Ok((
        number("latitude", lat, 90.0)?,
        number("longitude", lon, 180.0)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_geo() {
        assert_eq!(parse_geo("48.8566,2.3522").unwrap(), (48.8566, 2.3522));
        assert_eq!(parse_geo(" -33.9 , 151.2 ").unwrap(), (-33.9, 151.2));
        assert_eq!(parse_geo("90,-180").unwrap(), (90.0, -180.0));
    }

    #[test]
    fn bad_geo_says_why() {
        let cases = [
            ("48.8", "two numbers separated by one comma"),
            ("1,2,3", "two numbers separated by one comma"),
            ("north,2", "latitude \"north\" is not a number"),
            ("91,0", "latitude 91 is out of range; valid: -90 to 90"),
            (
                "0,-180.5",
                "longitude -180.5 is out of range; valid: -180 to 180",
            ),
            ("NaN,0", "latitude NaN is out of range"),
        ];
        for (text, expected) in cases {
            let message = parse_geo(text).unwrap_err().to_string();
            assert!(message.contains(expected), "{text}: {message}");
            assert!(message.contains("expected \"lat,lon\""), "{message}");
        }
    }

    #[test]
    fn reads_metadata_and_keeps_good_parts_when_one_is_bad() {
        let annotations = BTreeMap::from([
            (COORDINATES_ANNOTATION.to_string(), "{oops".to_string()),
            (GEO_ANNOTATION.to_string(), "45.76,4.84".to_string()),
        ]);
        let labels = BTreeMap::from([
            (ZONE_LABEL.to_string(), "lyon-a".to_string()),
            (REGION_LABEL.to_string(), " ".to_string()),
        ]);
        let (location, problems) = NodeLocation::from_metadata(Some(&annotations), Some(&labels));
        assert_eq!(location.coordinate, None);
        assert_eq!(location.geo, Some((45.76, 4.84)));
        assert_eq!(location.zone.as_deref(), Some("lyon-a"));
        assert_eq!(location.region, None, "a blank label is no label");
        assert_eq!(problems.len(), 1);
        assert!(matches!(problems[0], FogError::CoordinateJson { .. }));

        let annotations = BTreeMap::from([(
            MEASURED_RTT_ANNOTATION.to_string(),
            r#"{"node-2": 4.1, "node-7": 12}"#.to_string(),
        )]);
        let (location, problems) = NodeLocation::from_metadata(Some(&annotations), None);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            location.measured_ms,
            BTreeMap::from([("node-2".to_string(), 4.1), ("node-7".to_string(), 12.0)])
        );
        for (text, expected) in [
            ("[1, 2]", "measured RTTs annotation"),
            (
                r#"{"node-2": -1}"#,
                "the RTT to \"node-2\" is -1, not a number of ms >= 0",
            ),
            (r#"{"node-2": "fast"}"#, "the RTT to \"node-2\" is \"fast\""),
        ] {
            let annotations =
                BTreeMap::from([(MEASURED_RTT_ANNOTATION.to_string(), text.to_string())]);
            let (location, problems) = NodeLocation::from_metadata(Some(&annotations), None);
            assert!(location.measured_ms.is_empty(), "nothing partial is kept");
            let message = problems[0].to_string();
            assert!(message.contains(expected), "{text}: {message}");
            assert!(
                message.contains("expected a JSON object of node name to ms"),
                "{message}"
            );
        }

        let (empty, problems) = NodeLocation::from_metadata(None, None);
        assert_eq!(empty, NodeLocation::default());
        assert!(problems.is_empty());
    }
}
