//! How validation errors are spelled: the `FieldError` constructors and the message fragments of
//! `k8s.io/apimachinery/pkg/util/validation`, so Brume's messages read like Kubernetes'.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{FieldError, FieldErrorKind};

/// Kubernetes' `RegexError`: a message with examples and the regular expression used. The double
/// space before "or" is Kubernetes' own spelling, kept so messages can be compared.
pub(crate) fn regex_error(msg: &str, regex: &str, examples: &[&str]) -> String {
    let mut s = format!("{msg} (e.g. ");
    for (i, example) in examples.iter().enumerate() {
        if i > 0 {
            s.push_str(" or ");
        }
        s.push_str(&format!("'{example}', "));
    }
    s.push_str(&format!("regex used for validation is '{regex}')"));
    s
}

/// Kubernetes' `MaxLenError`.
pub(crate) fn max_len_error(max: usize) -> String {
    format!("must be no more than {max} characters")
}

/// A string as Go's `%q` prints it, which is how Kubernetes shows a bad string value.
pub(crate) fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// A string map as Go's `%#v` prints it (`map[string]string{"app":"web"}`), for the values
/// Kubernetes shows that way, such as template labels.
pub(crate) fn go_map(map: &BTreeMap<String, String>) -> String {
    let entries: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{}:{}", quote(k), quote(v)))
        .collect();
    format!("map[string]string{{{}}}", entries.join(", "))
}

/// Any value as compact JSON, for structured values in messages.
pub(crate) fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A string value that is not valid.
pub(crate) fn invalid_str(
    field: impl Into<String>,
    value: &str,
    detail: impl Into<String>,
) -> FieldError {
    FieldError::invalid(field, quote(value), detail)
}

/// A value outside the supported set: `Unsupported value: "X": supported values: "A", "B"`.
pub(crate) fn not_supported(
    field: impl Into<String>,
    value: &str,
    supported: &[&str],
) -> FieldError {
    let list: Vec<String> = supported.iter().map(|s| quote(s)).collect();
    FieldError::new(
        FieldErrorKind::NotSupported,
        field,
        Some(quote(value)),
        format!("supported values: {}", list.join(", ")),
    )
}

/// A value that repeats one that must be unique.
pub(crate) fn duplicate(field: impl Into<String>, value: String) -> FieldError {
    FieldError::new(
        FieldErrorKind::Duplicate,
        field,
        Some(value),
        "must be unique",
    )
}

/// A field that may not be set, or not changed.
pub(crate) fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
    FieldError::new(FieldErrorKind::Forbidden, field, None, detail)
}

/// A field that is too long: `Too long: may not be more than N bytes`.
pub(crate) fn too_long(field: impl Into<String>, max_bytes: usize) -> FieldError {
    FieldError::new(
        FieldErrorKind::TooLong,
        field,
        None,
        format!("may not be more than {max_bytes} bytes"),
    )
}

/// Kubernetes' `field is immutable` for a value that changed on update.
pub(crate) fn immutable(field: impl Into<String>, value: String) -> FieldError {
    FieldError::invalid(field, value, "field is immutable")
}

/// An integer that must not be negative (`ValidateNonnegativeField`).
pub(crate) fn non_negative(field: &str, value: Option<i64>, errs: &mut Vec<FieldError>) {
    if let Some(v) = value.filter(|v| *v < 0) {
        errs.push(FieldError::invalid(
            field,
            v,
            "must be greater than or equal to 0",
        ));
    }
}

/// A port number out of 1..=65535 (`IsValidPortNum`).
pub(crate) fn check_port_number(field: &str, port: i64, errs: &mut Vec<FieldError>) {
    if !(1..=65535).contains(&port) {
        errs.push(FieldError::invalid(
            field,
            port,
            "must be between 1 and 65535, inclusive",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_errors_read_like_kubernetes() {
        assert_eq!(
            regex_error("must be x", "[a-z]", &["a", "b"]),
            "must be x (e.g. 'a',  or 'b', regex used for validation is '[a-z]')"
        );
    }

    #[test]
    fn values_print_like_go() {
        assert_eq!(quote("a\"b"), r#""a\"b""#);
        let m = BTreeMap::from([
            ("b".to_string(), "2".to_string()),
            ("a".to_string(), "1".to_string()),
        ]);
        assert_eq!(go_map(&m), r#"map[string]string{"a":"1", "b":"2"}"#);
    }
}
