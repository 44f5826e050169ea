//! A point in Vivaldi space, as an agent publishes it in the node annotation
//! `fog.brume.io/coordinates` (DESIGN §8).

use serde::{Deserialize, Serialize};

use crate::error::FogError;

/// The node annotation that carries a node's Vivaldi coordinate as JSON.
pub const COORDINATES_ANNOTATION: &str = "fog.brume.io/coordinates";

/// The fewest dimensions a coordinate may have. Dabek et al. (SIGCOMM 2004, §5) find two
/// dimensions plus a height already close to the best they measured.
pub const MIN_DIMENSIONS: usize = 2;

/// The most dimensions a coordinate may have; Serf's default dimensionality is 8.
pub const MAX_DIMENSIONS: usize = 8;

/// The error a coordinate starts with before any measurement: Serf's `VivaldiErrorMax` (1.5),
/// which is also the cap on the error estimate.
pub const INITIAL_ERROR: f64 = 1.5;

/// A Vivaldi coordinate in milliseconds: a Euclidean vector, a height for the access link, and
/// the node's own estimate of its relative error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coordinate {
    /// The position in Euclidean space, in milliseconds; 2 to 8 components.
    pub vector: Vec<f64>,
    /// The height in milliseconds: the delay of the node's access link, added to every distance.
    pub height: f64,
    /// The node's estimated relative error, from 0 (sure) up to 1.5 (no idea yet).
    pub error: f64,
}

impl Coordinate {
    /// A coordinate at the origin with zero height and no confidence yet; it is where a new node
    /// starts and what gravity pulls toward.
    pub fn origin(dimensions: usize) -> Coordinate {
        Coordinate {
            vector: vec![0.0; dimensions],
            height: 0.0,
            error: INITIAL_ERROR,
        }
    }

    /// The estimated round-trip time to `other` in milliseconds: `|x_a − x_b| + h_a + h_b`
    /// (Dabek et al., SIGCOMM 2004, §5.5 "height vectors"). Missing components of a shorter
    /// vector count as zero; callers compare only coordinates of equal dimensions.
    pub fn distance_ms(&self, other: &Coordinate) -> f64 {
        self.euclidean_ms(other) + self.height + other.height
    }

    /// The Euclidean part of the distance to `other`, without the heights.
    pub fn euclidean_ms(&self, other: &Coordinate) -> f64 {
        let (a, b) = (&self.vector, &other.vector);
        let shared = a.len().min(b.len());
        let mut sum = 0.0;
        for k in 0..shared {
            let d = a[k] - b[k];
            sum += d * d;
        }
        let longer = if a.len() > shared { a } else { b };
        for x in &longer[shared..] {
            sum += x * x;
        }
        sum.sqrt()
    }

    /// The number of dimensions of the vector.
    pub fn dimensions(&self) -> usize {
        self.vector.len()
    }

    /// Checks the rules a published coordinate must follow: 2 to 8 dimensions, finite numbers,
    /// height >= 0 and error >= 0.
    pub fn validate(&self) -> Result<(), FogError> {
        let found = self.vector.len();
        if !(MIN_DIMENSIONS..=MAX_DIMENSIONS).contains(&found) {
            return Err(FogError::CoordinateDimensions {
                found,
                min: MIN_DIMENSIONS,
                max: MAX_DIMENSIONS,
            });
        }
        for (i, &value) in self.vector.iter().enumerate() {
            if !value.is_finite() {
                return Err(FogError::CoordinateField {
                    field: format!("vector[{i}]"),
                    value,
                    valid: "a finite number of milliseconds",
                });
            }
        }
        for (field, value) in [("height", self.height), ("error", self.error)] {
            if !value.is_finite() || value < 0.0 {
                return Err(FogError::CoordinateField {
                    field: field.to_string(),
                    value,
                    valid: "a finite number >= 0",
                });
            }
        }
        Ok(())
    }

    /// The JSON text to publish in the `fog.brume.io/coordinates` annotation.
    pub fn to_annotation(&self) -> String {
        // A struct of plain numbers always serializes; non-finite numbers become `null`, which
        // `from_annotation` then rejects instead of reading garbage.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses and validates a `fog.brume.io/coordinates` annotation. Unknown JSON fields are
    /// ignored so that a later version may publish more.
    pub fn from_annotation(text: &str) -> Result<Coordinate, FogError> {
        let coordinate: Coordinate =
            serde_json::from_str(text).map_err(|e| FogError::CoordinateJson {
                reason: e.to_string(),
            })?;
        coordinate.validate()?;
        Ok(coordinate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(vector: &[f64], height: f64) -> Coordinate {
        Coordinate {
            vector: vector.to_vec(),
            height,
            error: 0.2,
        }
    }

    #[test]
    fn distance_is_euclidean_plus_both_heights() {
        let a = point(&[0.0, 0.0], 1.0);
        let b = point(&[3.0, 4.0], 2.0);
        assert_eq!(a.distance_ms(&b), 5.0 + 1.0 + 2.0);
        assert_eq!(b.distance_ms(&a), a.distance_ms(&b));
        assert_eq!(
            a.distance_ms(&a),
            2.0,
            "a node is its height away from a twin"
        );
    }

    #[test]
    fn annotation_round_trips() {
        let c = Coordinate {
            vector: vec![1.25, -3.5, 0.0, 7.0],
            height: 0.75,
            error: 0.3,
        };
        let text = c.to_annotation();
        assert_eq!(
            text,
            r#"{"vector":[1.25,-3.5,0.0,7.0],"height":0.75,"error":0.3}"#
        );
        assert_eq!(Coordinate::from_annotation(&text).unwrap(), c);
    }

    #[test]
    fn annotation_ignores_unknown_fields() {
        let c = Coordinate::from_annotation(
            r#"{"vector":[1,2],"height":0,"error":1,"adjustment":-0.5}"#,
        )
        .unwrap();
        assert_eq!(c.vector, vec![1.0, 2.0]);
    }

    #[test]
    fn bad_annotations_say_what_is_wrong_and_what_is_valid() {
        let cases = [
            ("not json", "not valid JSON"),
            (r#"{"vector":[1,2],"height":0}"#, "missing field `error`"),
            (
                r#"{"vector":[1],"height":0,"error":0}"#,
                "1 dimensions; valid: 2 to 8",
            ),
            (
                r#"{"vector":[1,2,3,4,5,6,7,8,9],"height":0,"error":0}"#,
                "9 dimensions; valid: 2 to 8",
            ),
            (
                r#"{"vector":[1,null],"height":0,"error":0}"#,
                "not valid JSON",
            ),
            (
                r#"{"vector":[1,2],"height":-1,"error":0}"#,
                "`height` is -1; valid: a finite number >= 0",
            ),
            (
                r#"{"vector":[1,2],"height":0,"error":-0.1}"#,
                "`error` is -0.1; valid: a finite number >= 0",
            ),
            (
                r#"{"vector":[1,1e400],"height":0,"error":0}"#,
                "not valid JSON",
            ),
        ];
        for (text, expected) in cases {
            let message = Coordinate::from_annotation(text).unwrap_err().to_string();
            assert!(
                message.contains(expected),
                "{text}: got {message:?}, want it to contain {expected:?}"
            );
        }
    }

    #[test]
    fn non_finite_values_are_caught_by_validate() {
        let c = point(&[1.0, f64::NAN], 0.0);
        let message = c.validate().unwrap_err().to_string();
        assert!(message.contains("vector[1]"), "{message}");
        // Serializing a NaN writes null, which parsing then refuses.
        assert!(Coordinate::from_annotation(&c.to_annotation()).is_err());
    }

    #[test]
    fn origin_has_no_confidence() {
        let o = Coordinate::origin(3);
        assert_eq!(o.vector, vec![0.0; 3]);
        assert_eq!(o.height, 0.0);
        assert_eq!(o.error, INITIAL_ERROR);
        assert!(o.validate().is_ok());
    }
}
