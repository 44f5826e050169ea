//! Turning a request body into an object, as the Kubernetes API server does: parse JSON, YAML or
//! Kubernetes protobuf, check `apiVersion` and `kind` against the endpoint, decode through the
//! kind's typed struct, and report unknown and duplicate fields as the `fieldValidation` mode asks
//! (DESIGN §4).
//!
//! Every [`DecodeError`] is a 400 Bad Request whose `Display` is the message the user reads.

mod fields;
mod parse;
mod protobuf;
#[rustfmt::skip]
mod protobuf_schema;
mod tree;

use serde_json::Value;

use crate::resource::ResourceInfo;

pub use fields::check_fields;
pub use protobuf::decode_protobuf;

/// How to treat fields the kind does not know and fields given twice: the `fieldValidation`
/// query parameter of create, update and patch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Reject the request, naming every offending field.
    Strict,
    /// Accept the request, drop the fields and return one warning per field (the server default).
    #[default]
    Warn,
    /// Accept the request and drop the fields silently.
    Ignore,
}

impl FieldValidation {
    /// Parses the `fieldValidation` query parameter; an empty value means the default, `Warn`.
    pub fn parse(s: &str) -> Result<Self, DecodeError> {
        match s {
            "Strict" => Ok(FieldValidation::Strict),
            "Warn" | "" => Ok(FieldValidation::Warn),
            "Ignore" => Ok(FieldValidation::Ignore),
            other => Err(DecodeError::InvalidFieldValidation {
                value: other.to_string(),
            }),
        }
    }
}

/// A decoded object, ready for defaulting and validation, with the warnings to send back in
/// `Warning` headers.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// The object as the user sent it, less the fields the kind does not know.
    pub object: Value,
    /// One message per unknown or duplicate field under [`FieldValidation::Warn`].
    pub warnings: Vec<String>,
}

/// Why a body could not be turned into an object. Each variant is a 400 Bad Request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body is not well-formed JSON or YAML; `line` and `column` are 1-based (0 if unknown).
    #[error("{}", syntax_message(format, *line, *column, message))]
    Syntax {
        /// `JSON` or `YAML`.
        format: &'static str,
        /// The line of the error.
        line: u64,
        /// The column of the error.
        column: u64,
        /// What the parser expected.
        message: String,
    },
    /// The body is empty.
    #[error("the request body is empty: expected a JSON or YAML object")]
    EmptyBody,
    /// A Kubernetes protobuf body that cannot be read: no magic, truncated, or a kind without a
    /// protobuf schema.
    #[error("error decoding protobuf: {message}")]
    Protobuf {
        /// What was wrong, with the JSON path of the field when there is one.
        message: String,
    },
    /// The body is well-formed but is not an object.
    #[error("the request body must be a JSON or YAML object, not {found}")]
    NotAnObject {
        /// The JSON type that was sent.
        found: &'static str,
    },
    /// The `Content-Type` is neither JSON, YAML nor protobuf. Kubernetes answers 415 here; see
    /// [`DecodeError::status_code`].
    #[error(
        "unsupported content type {content_type:?}: send application/json, application/yaml or \
         application/vnd.kubernetes.protobuf"
    )]
    UnsupportedContentType {
        /// The header as received.
        content_type: String,
    },
    /// The `fieldValidation` parameter is not one of the three modes.
    #[error(
        "fieldValidation: Unsupported value: {value:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
    )]
    InvalidFieldValidation {
        /// The parameter as received.
        value: String,
    },
    /// `apiVersion` in the body is not the one of the endpoint.
    #[error(
        "the API version in the data ({found}) does not match the expected API version ({expected})"
    )]
    ApiVersionMismatch {
        /// `apiVersion` from the body.
        found: String,
        /// `apiVersion` of the endpoint.
        expected: String,
    },
    /// `kind` in the body is not the one of the endpoint.
    #[error("the kind in the data ({found}) does not match the expected kind ({expected})")]
    KindMismatch {
        /// `kind` from the body.
        found: String,
        /// `kind` of the endpoint.
        expected: String,
    },
    /// A field has the wrong type (`replicas: "three"`); `message` starts with its path.
    #[error("{kind} in version \"{version}\" cannot be handled as a {kind}: {message}")]
    BadType {
        /// The kind decoded.
        kind: &'static str,
        /// Its version (`v1`).
        version: &'static str,
        /// `<path>: <what was wrong>`.
        message: String,
    },
    /// Under [`FieldValidation::Strict`], the body has unknown or duplicate fields.
    #[error(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
        problems.join(", ")
    )]
    Strict {
        /// The kind decoded.
        kind: &'static str,
        /// Its version (`v1`).
        version: &'static str,
        /// One entry per field: `unknown field "spec.replica"`, `duplicate field "spec.replicas"`.
        problems: Vec<String>,
    },
}

impl DecodeError {
    /// The HTTP status Kubernetes answers with: 415 for an unsupported content type, 400 for
    /// everything else.
    pub fn status_code(&self) -> u16 {
        match self {
            DecodeError::UnsupportedContentType { .. } => 415,
            _ => 400,
        }
    }
}

fn syntax_message(format: &str, line: u64, column: u64, message: &str) -> String {
    if line == 0 {
        format!("error decoding {format}: {message}")
    } else {
        format!("error decoding {format} at line {line}, column {column}: {message}")
    }
}

/// Parses a request body into a JSON object. JSON is read when the content type is JSON (or
/// absent), YAML when it is YAML, Kubernetes protobuf when it is protobuf. Duplicate keys keep
/// their last value here; [`decode`] reports them.
pub fn parse_body(body: &[u8], content_type: Option<&str>) -> Result<Value, DecodeError> {
    parse_any(body, content_type).map(|(value, _)| value)
}

/// Parses a body in the format its content type names, with the paths of repeated keys (which
/// protobuf, whose last value wins by definition, never reports).
fn parse_any(body: &[u8], content_type: Option<&str>) -> Result<(Value, Vec<String>), DecodeError> {
    if protobuf::is_protobuf(content_type) {
        return decode_protobuf(body).map(|value| (value, Vec::new()));
    }
    let format = parse::Format::from_content_type(content_type)?;
    parse::parse_tree(body, format)
}

/// Decodes a create or update body for the kind `info`: parse, check `apiVersion` and `kind`
/// (filling them in when absent), check types and fields through the typed struct, and apply
/// `mode` to unknown and duplicate fields.
pub fn decode(
    body: &[u8],
    content_type: Option<&str>,
    info: &ResourceInfo,
    mode: FieldValidation,
) -> Result<Decoded, DecodeError> {
    let (mut object, duplicates) = parse_any(body, content_type)?;
    check_type_meta(info, &mut object)?;
    let (object, unknown) = fields::prune_unknown(info, object)?;
    let problems: Vec<String> = unknown
        .iter()
        .map(|p| format!("unknown field {p:?}"))
        .chain(duplicates.iter().map(|p| format!("duplicate field {p:?}")))
        .collect();
    finish(info, object, problems, mode)
}

/// Applies `mode` to the field problems found while decoding.
fn finish(
    info: &ResourceInfo,
    object: Value,
    problems: Vec<String>,
    mode: FieldValidation,
) -> Result<Decoded, DecodeError> {
    match mode {
        FieldValidation::Strict if !problems.is_empty() => Err(DecodeError::Strict {
            kind: info.kind,
            version: info.version,
            problems,
        }),
        FieldValidation::Warn => Ok(Decoded {
            object,
            warnings: problems,
        }),
        _ => Ok(Decoded {
            object,
            warnings: Vec::new(),
        }),
    }
}

/// Checks `apiVersion` and `kind` against the endpoint's kind, and fills in missing ones at the
/// front of the object, where Kubernetes writes them.
fn check_type_meta(info: &ResourceInfo, object: &mut Value) -> Result<(), DecodeError> {
    let Value::Object(map) = object else {
        return Err(DecodeError::NotAnObject {
            found: parse::type_name(object),
        });
    };
    let expected = [
        ("apiVersion", info.api_version()),
        ("kind", info.kind.to_string()),
    ];
    for (index, (field, want)) in expected.into_iter().enumerate() {
        match map.get(field) {
            None | Some(Value::Null) => {
                map.shift_remove(field);
                map.shift_insert(index.min(map.len()), field.to_string(), Value::String(want));
            }
            Some(Value::String(found)) if *found == want => {}
            Some(Value::String(found)) if field == "apiVersion" => {
                return Err(DecodeError::ApiVersionMismatch {
                    found: found.clone(),
                    expected: want,
                });
            }
            Some(Value::String(found)) => {
                return Err(DecodeError::KindMismatch {
                    found: found.clone(),
                    expected: want,
                });
            }
            Some(other) => {
                return Err(DecodeError::BadType {
                    kind: info.kind,
                    version: info.version,
                    message: format!(
                        "{field}: invalid type: {}, expected a string",
                        parse::type_name(other)
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
