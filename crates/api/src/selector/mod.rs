//! Label and field selectors: parsing the `labelSelector` and `fieldSelector` list parameters and
//! `metav1.LabelSelector` objects, and matching objects against them, with Kubernetes' syntax and
//! rules (k8s.io/apimachinery `pkg/labels` and `pkg/fields`).

pub mod field;
pub mod label;
mod lexer;
mod names;

/// Why a selector was rejected. Each message says what was wrong, where, and what would be valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The selector string does not follow the selector grammar.
    #[error(
        "unable to parse selector {input:?} at position {position}: {problem}; expected {expected}"
    )]
    Syntax {
        /// The whole selector as given.
        input: String,
        /// Where the problem starts, counted in characters from 0.
        position: usize,
        /// What was found there.
        problem: String,
        /// What the grammar allows there.
        expected: String,
    },
    /// A label key is not a valid qualified name.
    #[error("invalid label key {key:?} ({location}): {reason}")]
    InvalidKey {
        /// The offending key.
        key: String,
        /// Where it is: a position in the selector string or a field of a selector object.
        location: String,
        /// What a valid key looks like.
        reason: String,
    },
    /// A label value is not a valid label value.
    #[error("invalid label value {value:?} for key {key:?} ({location}): {reason}")]
    InvalidValue {
        /// The key the value belongs to.
        key: String,
        /// The offending value.
        value: String,
        /// Where it is: a position in the selector string or a field of a selector object.
        location: String,
        /// What a valid value looks like.
        reason: String,
    },
    /// A field selector names a field the kind cannot be selected by.
    #[error("field label not supported: {field} ({kind} can be selected by: {allowed})")]
    UnsupportedField {
        /// The field the selector named.
        field: String,
        /// The kind being listed.
        kind: String,
        /// The fields that kind supports, comma-separated.
        allowed: String,
    },
    /// A `metav1.LabelSelector` object is malformed.
    #[error("invalid label selector: {field}: {detail}")]
    InvalidObject {
        /// The path of the bad field inside the selector object (`matchExpressions[0].operator`).
        field: String,
        /// What is wrong with it and what would be valid.
        detail: String,
    },
}
