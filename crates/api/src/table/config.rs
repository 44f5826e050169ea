//! Rows of configuration objects: ConfigMaps and Secrets. Neither shows its data, only how many
//! keys it holds.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Column;
use super::format::{AGE, NAME, age, col, map_len, name, some_text};

/// ConfigMap columns. Kubernetes declares Data as "string" though the cells are integers;
/// kubectl prints either the same, and the declaration is kept as the reference has it.
pub(super) const CONFIG_MAP: &[Column] = &[
    NAME,
    col(
        "Data",
        "string",
        "How many keys the config map holds (data and binaryData).",
    ),
    AGE,
];

/// The cells of one config map.
pub(super) fn config_map(cm: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let keys = map_len(cm, "/data") + map_len(cm, "/binaryData");
    vec![name(cm), json!(keys), age(cm, now)]
}

/// Secret columns.
pub(super) const SECRET: &[Column] = &[
    NAME,
    col(
        "Type",
        "string",
        "The type of the secret, which says what its data must hold.",
    ),
    col("Data", "string", "How many keys the secret holds."),
    AGE,
];

/// The cells of one secret.
pub(super) fn secret(secret: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // "Opaque" is the type the server defaults an untyped secret to.
    let kind = some_text(secret, "/type").unwrap_or("Opaque");
    // stringData is write-only: the server folds it into data, so only data is counted.
    vec![
        name(secret),
        json!(kind),
        json!(map_len(secret, "/data")),
        age(secret, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::testing::{kind, now};
    use super::*;
    use crate::table::row;

    #[test]
    fn config_map_counts_text_and_binary_keys() {
        let cm = json!({"metadata": {"name": "web-config", "creationTimestamp": "2025-05-01T12:00:00Z"},
            "data": {"nginx.conf": "...", "index.html": "..."}, "binaryData": {"logo.png": "iVBO"}});
        assert_eq!(
            row(kind("ConfigMap"), &cm, now()),
            [json!("web-config"), json!(3), json!("31d")]
        );
        let empty = json!({"metadata": {"name": "e"}});
        assert_eq!(row(kind("ConfigMap"), &empty, now())[1], 0);
    }

    #[test]
    fn secret_shows_type_and_key_count() {
        let s = json!({"metadata": {"name": "registry", "creationTimestamp": "2025-06-01T11:56:40Z"},
            "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "e30="}});
        assert_eq!(
            row(kind("Secret"), &s, now()),
            [
                json!("registry"),
                json!("kubernetes.io/dockerconfigjson"),
                json!(1),
                json!("3m20s")
            ]
        );
        let untyped = json!({"metadata": {"name": "u"}, "data": {"a": "YQ==", "b": "Yg=="}});
        let cells = row(kind("Secret"), &untyped, now());
        assert_eq!(
            (cells[1].clone(), cells[2].clone()),
            (json!("Opaque"), json!(2))
        );
    }
}
