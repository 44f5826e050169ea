//! `brume scale`: writes the scale subresource, as kubectl does.

use http::Method;
use serde_json::json;

use super::apply::display_name;
use super::client::{Api, resolve_kind};

/// Arguments of `brume scale`.
#[derive(clap::Args)]
pub struct Args {
    /// `deployment/web`, or the type followed by the name.
    args: Vec<String>,
    /// The new replica count.
    #[arg(long)]
    replicas: u32,
    /// The namespace (default: the kubeconfig context's).
    #[arg(short, long)]
    namespace: Option<String>,
}

/// Runs `brume scale`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let (kind, name) = match args.args.as_slice() {
        [one] if one.contains('/') => {
            let (k, n) = one.split_once('/').unwrap_or_default();
            (k.to_string(), n.to_string())
        }
        [k, n] => (k.clone(), n.clone()),
        _ => anyhow::bail!("name what to scale: brume scale deployment/web --replicas=3"),
    };
    let info = resolve_kind(&kind)?;
    if !info.has_subresource("scale") {
        anyhow::bail!(
            "{} cannot be scaled: it has no scale subresource",
            info.plural
        );
    }
    let api = Api::connect().await?;
    let ns = args.namespace.unwrap_or_else(|| api.namespace.clone());
    let path = format!("{}/scale", super::client::object_path(info, &ns, &name));
    let patch = serde_json::to_vec(&json!({"spec": {"replicas": args.replicas}}))?;
    api.request(
        Method::PATCH,
        &path,
        Some(("application/merge-patch+json", patch)),
        None,
    )
    .await?;
    println!("{} scaled", display_name(info, &name));
    Ok(())
}
