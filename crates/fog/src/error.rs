//! The one error type of the fog crate. Each message names the field, the bad value and what
//! would be valid (STYLE §5).

use thiserror::Error;

/// Why a fog input (an annotation, a measurement, a matrix, a parameter) was rejected.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum FogError {
    /// The coordinates annotation is not the expected JSON object.
    #[error(
        "coordinates annotation is not valid JSON ({reason}); expected an object like \
         {{\"vector\":[1.5,-2.0],\"height\":0.1,\"error\":0.3}}"
    )]
    CoordinateJson {
        /// What the JSON parser said.
        reason: String,
    },
    /// A coordinate has a number of dimensions outside the supported range.
    #[error("coordinate vector has {found} dimensions; valid: {min} to {max}")]
    CoordinateDimensions {
        /// The number of dimensions found.
        found: usize,
        /// The smallest supported number.
        min: usize,
        /// The largest supported number.
        max: usize,
    },
    /// A coordinate field is NaN or infinite, or negative where it must not be.
    #[error("coordinate field `{field}` is {value}; valid: {valid}")]
    CoordinateField {
        /// The field, such as `vector[3]`, `height` or `error`.
        field: String,
        /// The bad value.
        value: f64,
        /// What would be valid.
        valid: &'static str,
    },
    /// Two coordinates that must be compared have different numbers of dimensions.
    #[error("peer coordinate has {theirs} dimensions but ours has {ours}; both must match")]
    DimensionMismatch {
        /// Our number of dimensions.
        ours: usize,
        /// The peer's number of dimensions.
        theirs: usize,
    },
    /// A measured round-trip time is unusable.
    #[error("round-trip time {value} ms is not usable; valid: a finite number from 0 to {max} ms")]
    BadRtt {
        /// The measured value.
        value: f64,
        /// The largest accepted RTT.
        max: f64,
    },
    /// The geo annotation is not `"lat,lon"` in range.
    #[error(
        "geo annotation {value:?}: {reason}; expected \"lat,lon\" in degrees, e.g. \"48.85,2.35\""
    )]
    BadGeo {
        /// The annotation as given.
        value: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The measured-RTT annotation is not a JSON object of RTTs.
    #[error(
        "measured RTTs annotation {value:?}: {reason}; expected a JSON object of node name to ms, \
         e.g. {{\"node-2\": 4.1}}"
    )]
    BadMeasured {
        /// The annotation as given (its first 200 characters).
        value: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A routing or placement parameter is out of range or not a number.
    #[error("{name} is {value:?}; valid: {valid}")]
    BadParameter {
        /// The parameter, e.g. `fog.brume.io/proximity-alpha`.
        name: &'static str,
        /// The value as given.
        value: String,
        /// What would be valid.
        valid: &'static str,
    },
    /// The RTT matrix text has no rows.
    #[error("RTT matrix is empty; expected one row of milliseconds per line")]
    MatrixEmpty,
    /// A matrix cell is not a finite, non-negative number of milliseconds.
    #[error(
        "RTT matrix line {line}, column {column}: {value:?} is not valid; expected a finite number of milliseconds >= 0"
    )]
    MatrixCell {
        /// The 1-based line in the text.
        line: usize,
        /// The 1-based column in the row.
        column: usize,
        /// The cell as written.
        value: String,
    },
    /// A matrix row has the wrong number of cells.
    #[error(
        "RTT matrix line {line} has {found} columns; expected {expected} (the matrix must be square)"
    )]
    MatrixRowLength {
        /// The 1-based line in the text.
        line: usize,
        /// How many cells the row should have.
        expected: usize,
        /// How many cells it has.
        found: usize,
    },
    /// The matrix has a non-zero diagonal entry.
    #[error("RTT matrix line {line}, column {line}: the diagonal must be 0 but is {value}")]
    MatrixDiagonal {
        /// The 1-based line (and column) of the entry.
        line: usize,
        /// The value found.
        value: f64,
    },
    /// The matrix is not symmetric.
    #[error(
        "RTT matrix is not symmetric: line {row}, column {column} is {a} but line {column}, \
         column {row} is {b}"
    )]
    MatrixAsymmetric {
        /// The 1-based row of the first entry.
        row: usize,
        /// The 1-based column of the first entry.
        column: usize,
        /// The first entry.
        a: f64,
        /// The mirrored entry.
        b: f64,
    },
    /// A node index is outside the matrix.
    #[error(
        "node index {index} is out of range; the matrix has {len} nodes (valid: 0 to {len} - 1)"
    )]
    IndexOutOfRange {
        /// The bad index.
        index: usize,
        /// The number of nodes.
        len: usize,
    },
}
