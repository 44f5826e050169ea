//! Label and annotation keys and values: qualified names (`example.com/my-key`), label values and
//! the annotation size limit, as `k8s.io/apimachinery` validates them.

use std::collections::BTreeMap;

use super::errors::{invalid_str, max_len_error, regex_error, too_long};
use super::name::dns1123_subdomain;
use crate::error::FieldError;

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and \
                                  must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric \
                               characters, '-', '_' or '.', and must start and end with an \
                               alphanumeric character";
/// The longest name part of a qualified name and the longest label value.
const NAME_MAX: usize = 63;
/// Kubernetes' `TotalAnnotationSizeLimitB`: keys and values together, 256 KiB.
pub const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// What makes `s` not a qualified name (an optional DNS subdomain prefix and `/`, then a name of
/// at most 63 characters); empty when it is one. Kubernetes' `IsQualifiedName`.
pub fn qualified_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let name = match s.split('/').collect::<Vec<_>>()[..] {
        [name] => name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(
                    dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. \
                 'example.com/MyName')",
                regex_error(
                    QUALIFIED_NAME_MSG,
                    QUALIFIED_NAME_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > NAME_MAX {
        errs.push(format!("name part {}", max_len_error(NAME_MAX)));
    }
    if !is_qualified_name_part(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// What makes `s` not a label value (empty, or up to 63 name characters); empty when it is one.
pub fn label_value(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > NAME_MAX {
        errs.push(max_len_error(NAME_MAX));
    }
    if !s.is_empty() && !is_qualified_name_part(s) {
        errs.push(regex_error(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// Checks a label map (`metadata.labels`, `spec.selector`, `spec.nodeSelector`): each error is at
/// `path` and shows the bad key or value, as in Kubernetes.
pub fn validate_labels(labels: &BTreeMap<String, String>, path: &str, errs: &mut Vec<FieldError>) {
    for (key, value) in labels {
        for msg in qualified_name(key) {
            errs.push(invalid_str(path, key, msg));
        }
        for msg in label_value(value) {
            errs.push(invalid_str(path, value, msg));
        }
    }
}

/// Checks annotations: keys are qualified names in any letter case, and keys and values together
/// stay within 256 KiB.
pub fn validate_annotations(
    annotations: &BTreeMap<String, String>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let mut size = 0;
    for (key, value) in annotations {
        for msg in qualified_name(&key.to_ascii_lowercase()) {
            errs.push(invalid_str(path, key, msg));
        }
        size += key.len() + value.len();
    }
    if size > ANNOTATIONS_MAX_BYTES {
        errs.push(too_long(path, ANNOTATIONS_MAX_BYTES));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn qualified_names() {
        for ok in [
            "app",
            "App_1.x",
            "app.kubernetes.io/name",
            "fog.brume.io/geo",
            "a",
        ] {
            assert!(qualified_name(ok).is_empty(), "{ok}");
        }
        assert_eq!(qualified_name("/app"), ["prefix part must be non-empty"]);
        assert_eq!(qualified_name("Example.com/app").len(), 1);
        assert!(qualified_name("Example.com/app")[0].starts_with("prefix part a lowercase RFC"));
        assert_eq!(
            qualified_name("example.com/").len(),
            2,
            "empty name part fails both checks, as in Kubernetes"
        );
        assert!(qualified_name("a/b/c")[0].starts_with("a qualified name must consist of"));
        assert_eq!(
            qualified_name(&"a".repeat(64)),
            ["name part must be no more than 63 characters"]
        );
        assert_eq!(
            qualified_name("-app"),
            [
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start \
              and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
              '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
            ]
        );
    }

    #[test]
    fn label_maps_report_the_bad_key_or_value() {
        let mut errs = Vec::new();
        validate_labels(
            &map(&[
                ("app", "web"),
                ("tier", ""),
                ("bad key", "x"),
                ("ok", "bad value"),
            ]),
            "metadata.labels",
            &mut errs,
        );
        let messages: Vec<String> = errs.iter().map(|e| e.message()).collect();
        assert_eq!(messages.len(), 2, "{messages:#?}");
        assert!(
            messages[0].starts_with(
                "metadata.labels: Invalid value: \"bad key\": name part must consist of"
            )
        );
        assert!(messages[1].starts_with(
            "metadata.labels: Invalid value: \"bad value\": a valid label must be an empty string"
        ));
        assert_eq!(
            label_value(&"v".repeat(64)),
            ["must be no more than 63 characters"]
        );
    }

    #[test]
    fn annotations_allow_any_case_and_limit_total_size() {
        let mut errs = Vec::new();
        validate_annotations(
            &map(&[
                ("Example.COM/Key", "x"),
                ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
            ]),
            "metadata.annotations",
            &mut errs,
        );
        assert!(errs.is_empty(), "{errs:?}");
        let big = "x".repeat(ANNOTATIONS_MAX_BYTES);
        validate_annotations(
            &map(&[("a", &big), ("b c", "")]),
            "metadata.annotations",
            &mut errs,
        );
        let messages: Vec<String> = errs.iter().map(|e| e.message()).collect();
        assert_eq!(messages.len(), 2, "{messages:#?}");
        assert!(messages[0].starts_with("metadata.annotations: Invalid value: \"b c\""));
        assert_eq!(
            messages[1],
            "metadata.annotations: Too long: may not be more than 262144 bytes"
        );
    }
}
