//! Reading manifests: one or more YAML documents or a JSON object, from a file or stdin;
//! `kind: List` is flattened into its items.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use serde_json::Value;

/// Reads every object in `path` (`-` is standard input).
pub fn read(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading standard input")?;
        s
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    parse(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Parses manifest text.
pub fn parse(text: &str) -> anyhow::Result<Vec<Value>> {
    let docs: Vec<Value> = if text.trim_start().starts_with('{') {
        vec![serde_json::from_str(text)?]
    } else {
        serde_saphyr::from_multiple(text)?
    };
    let mut out = Vec::new();
    for doc in docs {
        match doc {
            Value::Null => {}
            Value::Object(ref m) if m.get("kind").and_then(Value::as_str) == Some("List") => {
                out.extend(
                    m.get("items")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                );
            }
            Value::Object(_) => out.push(doc),
            other => anyhow::bail!("a manifest document must be a mapping, not {other}"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn multi_document_yaml_and_lists_flatten() {
        let docs = parse(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n\
             apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["kind"], "Secret");
        assert!(parse("- a\n- b\n").is_err());
    }
}
