//! Pod volumes on the node: `emptyDir`, `hostPath`, `configMap` and `secret`, made into host
//! folders that the runtimes bind-mount (docker) or point to (process).

use std::path::{Path, PathBuf};

use brume_runtime::Mount;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use serde_json::Value;

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
) -> Result<Vec<(String, PathBuf)>, VolumeError> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
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
            let cm_name = c["name"].as_str().unwrap_or("");
            let optional = c["optional"].as_bool().unwrap_or(false);
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
            let data: Vec<(String, Vec<u8>)> = match api.get_opt(cm_name).await {
                Ok(Some(cm)) => cm
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
                    .collect(),
                Ok(None) if optional => Vec::new(),
                Ok(None) => {
                    return Err(src(format!(
                        "configmap {cm_name:?} not found in namespace {ns}"
                    )));
                }
                Err(e) => return Err(src(format!("reading configmap {cm_name:?}: {e}"))),
            };
            write_files(&name, &dir, &files_of(&data, c.get("items")))?;
        } else if let Some(s) = v.get("secret") {
            let secret_name = s["secretName"].as_str().unwrap_or("");
            let optional = s["optional"].as_bool().unwrap_or(false);
            let api: Api<Secret> = Api::namespaced(client.clone(), ns);
            let data: Vec<(String, Vec<u8>)> = match api.get_opt(secret_name).await {
                Ok(Some(secret)) => secret
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect(),
                Ok(None) if optional => Vec::new(),
                Ok(None) => {
                    return Err(src(format!(
                        "secret {secret_name:?} not found in namespace {ns}"
                    )));
                }
                Err(e) => return Err(src(format!("reading secret {secret_name:?}: {e}"))),
            };
            write_files(&name, &dir, &files_of(&data, s.get("items")))?;
        } else {
            // Other sources (downwardAPI, projected, ...) are not supported yet; an empty
            // folder keeps the mount from failing and the event says so.
            write_files(&name, &dir, &[])?;
        }
        out.push((name, dir));
    }
    Ok(out)
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
