//! `brume delete`: delete with background propagation, then wait until the objects are gone,
//! as kubectl does.

use std::path::PathBuf;
use std::time::Duration;

use http::Method;
use serde_json::{Value, json};

use super::apply::display_name;
use super::client::{Api, is_not_found, object_path, resolve_kind};

/// Arguments of `brume delete`.
#[derive(clap::Args)]
pub struct Args {
    /// The resource type, then names (`brume delete deploy web`); or use `-f`.
    args: Vec<String>,
    /// Delete the objects named in a manifest file.
    #[arg(short, long)]
    filename: Option<PathBuf>,
    /// The namespace (default: the kubeconfig context's).
    #[arg(short, long)]
    namespace: Option<String>,
    /// Do not wait until the objects are gone.
    #[arg(long)]
    no_wait: bool,
    /// How long to wait, in seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

/// Runs `brume delete`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let api = Api::connect().await?;
    let ns = args
        .namespace
        .clone()
        .unwrap_or_else(|| api.namespace.clone());
    let mut targets = Vec::new();
    if let Some(file) = &args.filename {
        for doc in super::manifest::read(file)? {
            let info = brume_api::resource::by_kind(
                doc["apiVersion"].as_str().unwrap_or(""),
                doc["kind"].as_str().unwrap_or(""),
            )
            .ok_or_else(|| {
                anyhow::anyhow!("unknown kind in {}: {}", file.display(), doc["kind"])
            })?;
            let name = doc
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let obj_ns = doc
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or(&ns)
                .to_string();
            targets.push((info, obj_ns, name));
        }
    } else {
        let (kind, names) = args.args.split_first().ok_or_else(|| {
            anyhow::anyhow!("say what to delete: brume delete <type> <name>... or -f FILE")
        })?;
        if names.is_empty() {
            anyhow::bail!("name the {kind} to delete: brume delete {kind} <name>...");
        }
        let info = resolve_kind(kind)?;
        targets.extend(names.iter().map(|n| (info, ns.clone(), n.clone())));
    }
    let body = serde_json::to_vec(
        &json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}),
    )?;
    let mut failed = 0;
    for (info, ns, name) in &targets {
        match api
            .request(
                Method::DELETE,
                &object_path(info, ns, name),
                Some(("application/json", body.clone())),
                None,
            )
            .await
        {
            Ok(_) => println!("{} deleted", display_name(info, name)),
            Err(e) => {
                eprintln!("{e:#}");
                failed += 1;
            }
        }
    }
    if !args.no_wait {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
        for (info, ns, name) in &targets {
            loop {
                match api.get(&object_path(info, ns, name)).await {
                    Err(e) if is_not_found(&e) => break,
                    _ if tokio::time::Instant::now() > deadline => {
                        anyhow::bail!(
                            "timed out waiting for {} to be deleted",
                            display_name(info, name)
                        )
                    }
                    _ => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} object(s) could not be deleted");
    }
    Ok(())
}
