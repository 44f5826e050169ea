//! The patch formats of `PATCH` requests: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and
//! Kubernetes' strategic merge patch. Server-side apply is recognised and refused for now.

mod json;
pub mod meta;
mod strategic;

use std::fmt;

use serde_json::Value;

use crate::resource::ResourceInfo;

/// The patch format a request's `Content-Type` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`: a list of RFC 6902 operations.
    Json,
    /// `application/merge-patch+json`: an RFC 7386 merge patch.
    Merge,
    /// `application/strategic-merge-patch+json`: Kubernetes' strategic merge patch.
    StrategicMerge,
    /// `application/apply-patch+yaml`: server-side apply.
    Apply,
}

impl PatchType {
    /// The patch type of a `Content-Type` header value, ignoring parameters such as `;charset`;
    /// `None` for a media type that is not a patch format.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let media = ct.split(';').next().unwrap_or_default().trim();
        let media = media.to_ascii_lowercase();
        match media.as_str() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }

    /// The media type of this patch format, as a client sends it.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

impl fmt::Display for PatchType {
    /// The format's name as messages use it (`JSON patch`, `strategic merge patch`, ...).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PatchType::Json => "JSON patch",
            PatchType::Merge => "merge patch",
            PatchType::StrategicMerge => "strategic merge patch",
            PatchType::Apply => "apply patch",
        })
    }
}

/// Why a patch could not be applied. Each message says what is wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The body is not JSON of the shape the patch type needs.
    #[error("the {patch_type} body is not valid: {source}")]
    InvalidBody {
        /// The patch type the body was read as.
        patch_type: PatchType,
        /// The parser's complaint, with its line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The body is JSON, but not the kind of value the patch type needs.
    #[error("the {patch_type} body must be {expected}, not {found}")]
    WrongShape {
        /// The patch type the body was read as.
        patch_type: PatchType,
        /// What the body must be.
        expected: &'static str,
        /// What it was.
        found: &'static str,
    },
    /// One operation of a JSON patch failed; nothing was applied.
    #[error("JSON patch operation {index} ({op} at {path:?}) failed: {reason}")]
    Operation {
        /// The index of the failed operation in the patch, from 0.
        index: usize,
        /// The operation: `add`, `remove`, `replace`, `move`, `copy` or `test`.
        op: &'static str,
        /// The operation's JSON pointer.
        path: String,
        /// What went wrong, in words.
        reason: String,
        /// The error the json-patch crate reported.
        #[source]
        source: json_patch::PatchError,
    },
    /// A strategic merge patch is malformed at one place.
    #[error("strategic merge patch: {path}: {detail}")]
    Strategic {
        /// The field path in the patch (`spec.template.spec.containers[0]`), `<root>` at the top.
        path: String,
        /// What is wrong and what would be valid.
        detail: String,
    },
    /// The patch left something other than an object.
    #[error("the {patch_type} left {found}; the patched object must stay a JSON object")]
    NotAnObject {
        /// The patch type that was applied.
        patch_type: PatchType,
        /// What the result was.
        found: &'static str,
    },
    /// The patch type is recognised but not served; the API server answers 415.
    #[error("{0}")]
    Unsupported(String),
}

/// Describes a JSON value's type for messages (`an object`, `a list`, ...).
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Applies a patch body of the given type to an object of the kind `info` describes and returns
/// the patched object; the original is left untouched. The caller validates the result.
pub fn apply_patch(
    info: &ResourceInfo,
    original: &Value,
    patch_type: PatchType,
    patch: &[u8],
) -> Result<Value, PatchError> {
    let parse = || {
        serde_json::from_slice::<Value>(patch)
            .map_err(|source| PatchError::InvalidBody { patch_type, source })
    };
    let patched = match patch_type {
        PatchType::Json => json::apply(original, patch)?,
        PatchType::Merge => {
            let mut doc = original.clone();
            json_patch::merge(&mut doc, &parse()?);
            doc
        }
        PatchType::StrategicMerge => strategic::apply(info.kind, original, parse()?)?,
        PatchType::Apply => {
            return Err(PatchError::Unsupported(
                "server-side apply (application/apply-patch+yaml) is not supported yet; use \
                 client-side `kubectl apply` (without --server-side), which sends a strategic \
                 merge patch"
                    .into(),
            ));
        }
    };
    if patched.is_object() {
        Ok(patched)
    } else {
        Err(PatchError::NotAnObject {
            patch_type,
            found: kind_of(&patched),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::by_kind;
    use serde_json::json;

    fn pod() -> &'static ResourceInfo {
        by_kind("v1", "Pod").unwrap()
    }

    #[test]
    fn content_types_map_to_patch_types() {
        let table = [
            ("application/json-patch+json", Some(PatchType::Json)),
            ("application/merge-patch+json", Some(PatchType::Merge)),
            (
                "application/strategic-merge-patch+json; charset=utf-8",
                Some(PatchType::StrategicMerge),
            ),
            ("Application/Apply-Patch+YAML", Some(PatchType::Apply)),
            (" application/merge-patch+json ;x=y", Some(PatchType::Merge)),
            ("application/json", None),
            ("", None),
        ];
        for (ct, want) in table {
            assert_eq!(PatchType::from_content_type(ct), want, "{ct}");
        }
        for t in [
            PatchType::Json,
            PatchType::Merge,
            PatchType::StrategicMerge,
            PatchType::Apply,
        ] {
            assert_eq!(PatchType::from_content_type(t.content_type()), Some(t));
        }
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let original = json!({
            "metadata": {"name": "p", "labels": {"a": "1", "b": "2"}},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]}
        });
        let patch =
            br#"{"metadata":{"labels":{"a":null,"c":"3"}},"spec":{"containers":[{"name":"z"}]}}"#;
        let out = apply_patch(pod(), &original, PatchType::Merge, patch).unwrap();
        assert_eq!(
            out,
            json!({
                "metadata": {"name": "p", "labels": {"b": "2", "c": "3"}},
                "spec": {"containers": [{"name": "z"}]}
            })
        );
        assert_eq!(
            original["metadata"]["labels"]["a"], "1",
            "original untouched"
        );
    }

    #[test]
    fn bodies_that_are_not_json_or_leave_no_object_are_refused() {
        let original = json!({"metadata": {"name": "p"}});
        for t in [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge] {
            let e = apply_patch(pod(), &original, t, b"{nope").unwrap_err();
            assert!(matches!(e, PatchError::InvalidBody { .. }), "{t}: {e}");
            assert!(e.to_string().contains("line 1"), "{e}");
        }
        let e = apply_patch(pod(), &original, PatchType::Merge, b"[1]").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the merge patch left a list; the patched object must stay a JSON object"
        );
    }

    #[test]
    fn server_side_apply_is_unsupported() {
        let e = apply_patch(pod(), &json!({}), PatchType::Apply, b"kind: Pod").unwrap_err();
        assert!(matches!(e, PatchError::Unsupported(_)));
        let msg = e.to_string();
        assert!(msg.contains("server-side apply"), "{msg}");
        assert!(msg.contains("kubectl apply"), "{msg}");
    }
}
