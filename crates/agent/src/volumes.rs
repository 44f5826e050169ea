//! Pod volumes on the node: `emptyDir`, `hostPath`, `configMap`, `secret`, `downwardAPI` and
//! `projected` (of configMaps, secrets and the Downward API), made into host folders that the
//! runtimes bind-mount (docker) or point to (process). They are written when the pod starts;
//! later changes to their sources are not carried into running pods.

use std::path::{Path, PathBuf};

use brume_runtime::Mount;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use serde_json::Value;

use crate::downward;

/// Why a volume could not be prepared; the pod waits with this message.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// The volume's source object is missing or unreadable.
    #[error("volume {volume:?}: {detail}")]
    Source {
        /// The volume name.
        volume: String,
        /// What is wrong.
        detail: String,
    },
    /// Writing the volume's files failed.
    #[error("volume {volume:?}: writing {path}: {source}")]
    Io {
        /// The volume name.
        volume: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A container mounts a volume the pod does not declare.
    #[error("container {container:?} mounts volume {volume:?}, which the pod does not declare")]
    Undeclared {
        /// The container.
        container: String,
        /// The volume name.
        volume: String,
    },
}

/// One volume's files as `(relative path, bytes)`, from a ConfigMap's or Secret's data and
/// its `items` selection. Pure.
pub fn files_of(data: &[(String, Vec<u8>)], items: Option<&Value>) -> Vec<(String, Vec<u8>)> {
    match items.and_then(Value::as_array) {
        Some(items) => items
            .iter()
            .filter_map(|i| {
                let key = i.get("key")?.as_str()?;
                let path = i.get("path").and_then(Value::as_str).unwrap_or(key);
                data.iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| (path.to_string(), v.clone()))
            })
            .collect(),
        None => data.to_vec(),
    }
}

fn write_files(volume: &str, dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), VolumeError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        let volume = volume.to_string();
        move |source| VolumeError::Io {
            volume,
            path,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for (name, bytes) in files {
        // Keys are validated config keys, but never let one escape the folder.
        if name.split('/').any(|part| part == ".." || part.is_empty()) {
            continue;
        }
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, bytes).map_err(io(&path))?;
    }
    Ok(())
}

/// Makes every volume of `pod` under `root` (the pod's folder) and returns the host folder of
/// each, by volume name.
pub async fn prepare(
    client: &kube::Client,
    pod: &Value,
    root: &Path,
    node: downward::NodeResources,
) -> Result<Vec<(String, PathBuf)>, VolumeError> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let facts = downward::Facts {
        node,
        ..Default::default()
    };
    let mut out = Vec::new();
    for v in pod["spec"]["volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let name = v["name"].as_str().unwrap_or("").to_string();
        let dir = root.join("volumes").join(&name);
        let src = |detail: String| VolumeError::Source {
            volume: name.clone(),
            detail,
        };
        if v.get("emptyDir").is_some() {
            write_files(&name, &dir, &[])?;
        } else if let Some(h) = v.get("hostPath") {
            let path = PathBuf::from(h["path"].as_str().unwrap_or(""));
            let kind = h["type"].as_str().unwrap_or("");
            if kind == "DirectoryOrCreate" {
                write_files(&name, &path, &[])?;
            } else if kind == "Directory" && !path.is_dir() {
                return Err(src(format!(
                    "hostPath {} is not a directory on this node",
                    path.display()
                )));
            }
            out.push((name, path));
            continue;
        } else if let Some(c) = v.get("configMap") {
            let data = config_map_data(client, ns, c["name"].as_str().unwrap_or(""), c)
                .await
                .map_err(src)?;
            write_files(&name, &dir, &files_of(&data, c.get("items")))?;
        } else if let Some(sv) = v.get("secret") {
            let data = secret_data(client, ns, sv["secretName"].as_str().unwrap_or(""), sv)
                .await
                .map_err(src)?;
            write_files(&name, &dir, &files_of(&data, sv.get("items")))?;
        } else if let Some(d) = v.get("downwardAPI") {
            let items = d["items"].as_array().cloned().unwrap_or_default();
            let files = downward::files(pod, &items, &facts).map_err(src)?;
            write_files(&name, &dir, &files)?;
        } else if let Some(p) = v.get("projected") {
            let mut files = Vec::new();
            for source in p["sources"].as_array().cloned().unwrap_or_default() {
                files.extend(
                    projection(client, pod, ns, &source, &facts)
                        .await
                        .map_err(src)?,
                );
            }
            write_files(&name, &dir, &files)?;
        } else {
            let kind = v
                .as_object()
                .and_then(|m| m.keys().find(|k| *k != "name").cloned())
                .unwrap_or_else(|| "none".into());
            return Err(src(format!(
                "the volume source {kind:?} is not supported on this node: use emptyDir, \
                 hostPath, configMap, secret, downwardAPI or projected"
            )));
        }
        out.push((name, dir));
    }
    Ok(out)
}

/// A ConfigMap's data and binary data as files, or nothing when it is missing and `source`
/// (a volume or projection source) says `optional`.
async fn config_map_data(
    client: &kube::Client,
    ns: &str,
    name: &str,
    source: &Value,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(cm)) => Ok(cm
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .chain(
                cm.binary_data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0)),
            )
            .collect()),
        Ok(None) if source["optional"].as_bool().unwrap_or(false) => Ok(Vec::new()),
        Ok(None) => Err(format!("configmap {name:?} not found in namespace {ns}")),
        Err(e) => Err(format!("reading configmap {name:?}: {e}")),
    }
}

/// A Secret's data as files, or nothing when it is missing and `source` says `optional`.
async fn secret_data(
    client: &kube::Client,
    ns: &str,
    name: &str,
    source: &Value,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(secret)) => Ok(secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect()),
        Ok(None) if source["optional"].as_bool().unwrap_or(false) => Ok(Vec::new()),
        Ok(None) => Err(format!("secret {name:?} not found in namespace {ns}")),
        Err(e) => Err(format!("reading secret {name:?}: {e}")),
    }
}

/// The files of one source of a `projected` volume.
async fn projection(
    client: &kube::Client,
    pod: &Value,
    ns: &str,
    source: &Value,
    facts: &downward::Facts,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    if let Some(c) = source.get("configMap") {
        let data = config_map_data(client, ns, c["name"].as_str().unwrap_or(""), c).await?;
        Ok(files_of(&data, c.get("items")))
    } else if let Some(sv) = source.get("secret") {
        let data = secret_data(client, ns, sv["name"].as_str().unwrap_or(""), sv).await?;
        Ok(files_of(&data, sv.get("items")))
    } else if let Some(d) = source.get("downwardAPI") {
        let items = d["items"].as_array().cloned().unwrap_or_default();
        downward::files(pod, &items, facts)
    } else {
        let kind = source
            .as_object()
            .and_then(|m| m.keys().next().cloned())
            .unwrap_or_default();
        Err(format!(
            "the projected source {kind:?} is not supported: Brume issues no service account \
             tokens or trust bundles; project configMap, secret or downwardAPI"
        ))
    }
}

/// The mounts of one container, from its `volumeMounts` and the prepared volumes.
pub fn mounts(
    container: &Value,
    prepared: &[(String, PathBuf)],
) -> Result<Vec<Mount>, VolumeError> {
    let cname = container["name"].as_str().unwrap_or("");
    container["volumeMounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| {
            let volume = m["name"].as_str().unwrap_or("");
            let host = prepared
                .iter()
                .find(|(n, _)| n == volume)
                .map(|(_, p)| p.clone())
                .ok_or_else(|| VolumeError::Undeclared {
                    container: cname.to_string(),
                    volume: volume.to_string(),
                })?;
            let host = match m["subPath"].as_str() {
                Some(sub) if !sub.is_empty() => host.join(sub),
                _ => host,
            };
            Ok(Mount {
                host_path: host.display().to_string(),
                container_path: m["mountPath"].as_str().unwrap_or("").to_string(),
                read_only: m["readOnly"].as_bool().unwrap_or(false),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_select_and_rename_keys() {
        let data = vec![
            ("a".to_string(), b"1".to_vec()),
            ("b".to_string(), b"2".to_vec()),
        ];
        assert_eq!(files_of(&data, None).len(), 2);
        let picked = files_of(&data, Some(&json!([{"key": "b", "path": "conf/b.txt"}])));
        assert_eq!(picked, vec![("conf/b.txt".to_string(), b"2".to_vec())]);
    }

    #[test]
    fn files_never_escape_the_volume() {
        let dir = tempfile::tempdir().unwrap();
        write_files(
            "v",
            dir.path(),
            &[
                ("../evil".into(), b"x".to_vec()),
                ("ok".into(), b"y".to_vec()),
            ],
        )
        .unwrap();
        assert!(!dir.path().parent().unwrap().join("evil").exists());
        assert_eq!(std::fs::read(dir.path().join("ok")).unwrap(), b"y");
    }

    #[test]
    fn mounts_follow_volume_mounts() {
        let prepared = vec![(
            "data".to_string(),
            PathBuf::from("/var/brume/p/volumes/data"),
        )];
        let c = json!({"name": "app", "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true, "subPath": "x"}]});
        let m = mounts(&c, &prepared).unwrap();
        assert_eq!(m[0].host_path, "/var/brume/p/volumes/data/x");
        assert!(m[0].read_only);
        let bad = json!({"name": "app", "volumeMounts": [{"name": "nope", "mountPath": "/x"}]});
        assert!(matches!(
            mounts(&bad, &prepared),
            Err(VolumeError::Undeclared { .. })
        ));
    }
}
