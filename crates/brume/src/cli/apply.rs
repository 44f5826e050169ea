//! `brume apply`: client-side apply. A missing object is created; an existing one gets a JSON
//! merge patch computed three ways, like kubectl does for kinds it has no Go types for: the new
//! manifest, plus deletions of fields the last applied manifest had and the new one dropped.
//! The manifest is kept in the `kubectl.kubernetes.io/last-applied-configuration` annotation,
//! so brume and kubectl can take turns.

use std::path::PathBuf;

use http::Method;
use serde_json::{Map, Value, json};

use super::client::{Api, collection_path, is_not_found, object_path};

/// The annotation kubectl keeps the last applied manifest in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Arguments of `brume apply`.
#[derive(clap::Args)]
pub struct Args {
    /// The manifest file (YAML, possibly several documents, or JSON); `-` reads stdin.
    #[arg(short, long)]
    filename: PathBuf,
    /// The namespace for objects that name none (default: the kubeconfig context's).
    #[arg(short, long)]
    namespace: Option<String>,
}

/// The merge patch that takes the live object from `last` (the previous manifest) to `new`.
pub fn three_way_patch(last: Option<&Value>, new: &Value) -> Value {
    match (last, new) {
        (Some(Value::Object(old)), Value::Object(new_map)) => {
            let mut out = Map::new();
            for (k, v) in new_map {
                out.insert(k.clone(), three_way_patch(old.get(k), v));
            }
            for k in old.keys() {
                if !new_map.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            Value::Object(out)
        }
        (_, v) => v.clone(),
    }
}

/// `deployment.apps/web`, as kubectl names objects in its messages.
pub fn display_name(info: &brume_api::ResourceInfo, name: &str) -> String {
    if info.group.is_empty() {
        format!("{}/{name}", info.kind.to_lowercase())
    } else {
        format!("{}.{}/{name}", info.kind.to_lowercase(), info.group)
    }
}

/// Runs `brume apply`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let docs = super::manifest::read(&args.filename)?;
    let api = Api::connect().await?;
    let default_ns = args
        .namespace
        .clone()
        .unwrap_or_else(|| api.namespace.clone());
    let mut failed = 0;
    for doc in docs {
        match apply_one(&api, doc, &default_ns).await {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("error: {e:#}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} object(s) could not be applied");
    }
    Ok(())
}

async fn apply_one(api: &Api, mut doc: Value, default_ns: &str) -> anyhow::Result<String> {
    let api_version = doc["apiVersion"].as_str().unwrap_or("").to_string();
    let kind = doc["kind"].as_str().unwrap_or("").to_string();
    let info = brume_api::resource::by_kind(&api_version, &kind).ok_or_else(|| {
        anyhow::anyhow!(
            "no kind {kind:?} is served in version {api_version:?}: check apiVersion and kind"
        )
    })?;
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        anyhow::bail!("{kind} has no metadata.name: apply needs a name to find the object again");
    }
    let ns = doc
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(default_ns)
        .to_string();
    if let Some(ann) = doc
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        ann.remove(LAST_APPLIED);
    }
    let applied = serde_json::to_string(&doc)?;
    if doc["metadata"]
        .get("annotations")
        .is_none_or(|a| !a.is_object())
    {
        doc["metadata"]["annotations"] = json!({});
    }
    doc["metadata"]["annotations"][LAST_APPLIED] = json!(applied);
    let shown = display_name(info, &name);
    match api.get(&object_path(info, &ns, &name)).await {
        Err(e) if is_not_found(&e) => {
            let path = format!(
                "{}?fieldValidation=Strict&fieldManager=brume",
                collection_path(info, Some(&ns))
            );
            api.request(
                Method::POST,
                &path,
                Some(("application/json", serde_json::to_vec(&doc)?)),
                None,
            )
            .await?;
            Ok(format!("{shown} created"))
        }
        Err(e) => Err(e),
        Ok(live) => {
            let last: Option<Value> = live
                .pointer(&format!(
                    "/metadata/annotations/{}",
                    LAST_APPLIED.replace('/', "~1")
                ))
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str(s).ok());
            let new_applied: Value = serde_json::from_str(&applied)?;
            if last.as_ref() == Some(&new_applied) {
                return Ok(format!("{shown} unchanged"));
            }
            let patch = three_way_patch(last.as_ref(), &doc);
            let path = format!(
                "{}?fieldValidation=Strict&fieldManager=brume",
                object_path(info, &ns, &name)
            );
            api.request(
                Method::PATCH,
                &path,
                Some(("application/merge-patch+json", serde_json::to_vec(&patch)?)),
                None,
            )
            .await?;
            Ok(format!("{shown} configured"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::three_way_patch;
    use serde_json::json;

    #[test]
    fn dropped_fields_are_deleted_and_others_kept() {
        let last = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 2, "paused": true}});
        let new = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 3}});
        assert_eq!(
            three_way_patch(Some(&last), &new),
            json!({"metadata": {"labels": {"a": "1", "b": null}}, "spec": {"replicas": 3, "paused": null}})
        );
        assert_eq!(three_way_patch(None, &new), new);
    }
}
