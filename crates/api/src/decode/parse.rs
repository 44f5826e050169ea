//! Turning request bytes into a JSON tree: JSON through serde_json, YAML through serde-saphyr,
//! both through the duplicate-recording builder of [`super::tree`].

use serde::de::DeserializeSeed;
use serde_json::Value;
use serde_saphyr::DuplicateKeyPolicy;

use super::DecodeError;
use super::tree::TreeSeed;

/// The body formats the API accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Yaml,
}

impl Format {
    /// The format named by a `Content-Type` header; `None` (no header) means JSON, as it does for
    /// the Kubernetes API server. Parameters such as `; charset=utf-8` are ignored, and structured
    /// suffixes (`application/merge-patch+json`, `application/apply-patch+yaml`) count.
    pub(crate) fn from_content_type(content_type: Option<&str>) -> Result<Format, DecodeError> {
        let Some(raw) = content_type else {
            return Ok(Format::Json);
        };
        let essence = raw
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "" | "application/json" | "*/*" => Ok(Format::Json),
            "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => {
                Ok(Format::Yaml)
            }
            s if s.ends_with("+json") => Ok(Format::Json),
            s if s.ends_with("+yaml") => Ok(Format::Yaml),
            _ => Err(DecodeError::UnsupportedContentType {
                content_type: raw.to_string(),
            }),
        }
    }
}

/// Parses `body` in `format` and returns the tree with the paths of repeated keys.
pub(crate) fn parse_tree(body: &[u8], format: Format) -> Result<(Value, Vec<String>), DecodeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::EmptyBody);
    }
    let mut duplicates = Vec::new();
    let value = match format {
        Format::Json => parse_json(body, &mut duplicates)?,
        Format::Yaml => parse_yaml(body, &mut duplicates)?,
    };
    match value {
        Value::Object(_) => Ok((value, duplicates)),
        other => Err(DecodeError::NotAnObject {
            found: type_name(&other),
        }),
    }
}

fn parse_json(body: &[u8], duplicates: &mut Vec<String>) -> Result<Value, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let seed = TreeSeed {
        path: String::new(),
        duplicates,
    };
    let value = seed.deserialize(&mut de).map_err(json_error)?;
    de.end().map_err(json_error)?;
    Ok(value)
}

fn json_error(e: serde_json::Error) -> DecodeError {
    // serde_json appends " at line L column C" to its message; the location is reported apart.
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
    DecodeError::Syntax {
        format: "JSON",
        line: e.line() as u64,
        column: e.column() as u64,
        message,
    }
}

fn parse_yaml(body: &[u8], duplicates: &mut Vec<String>) -> Result<Value, DecodeError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        let (line, column) = line_column(body, e.valid_up_to());
        DecodeError::Syntax {
            format: "YAML",
            line,
            column,
            message: "the body is not valid UTF-8".to_string(),
        }
    })?;
    let options = serde_saphyr::options! {
        // Repeated keys reach the tree builder, which records them: the fieldValidation mode
        // then decides, exactly as for JSON.
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        // `defaultMode: 0644` means octal in the YAML 1.1 that Kubernetes' decoder reads.
        legacy_octal_numbers: true,
        with_snippet: false,
    };
    serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        TreeSeed {
            path: String::new(),
            duplicates,
        }
        .deserialize(de)
    })
    .map_err(|e| yaml_error(&e))
}

fn yaml_error(e: &serde_saphyr::Error) -> DecodeError {
    use serde_saphyr::MessageFormatter;
    let e = e.without_snippet();
    // The formatter gives the message alone; the location is reported apart.
    let message: String = serde_saphyr::UserMessageFormatter
        .format_message(e)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
    DecodeError::Syntax {
        format: "YAML",
        line,
        column,
        message,
    }
}

/// The 1-based line and column of byte `offset`.
fn line_column(body: &[u8], offset: usize) -> (u64, u64) {
    let before = &body[..offset.min(body.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line as u64, column as u64)
}

/// The JSON name of a value's type, for messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
