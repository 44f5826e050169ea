//! `brume describe`: the object as readable YAML without the noisy bookkeeping fields, followed
//! by the events that name it.

use serde_json::Value;

use super::client::{Api, object_path, resolve_kind};
use super::get::percent;
use super::print::format_table;

/// Arguments of `brume describe`.
#[derive(clap::Args)]
pub struct Args {
    /// The resource type.
    resource: String,
    /// The object name.
    name: String,
    /// The namespace (default: the kubeconfig context's).
    #[arg(short, long)]
    namespace: Option<String>,
}

/// Runs `brume describe`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let info = resolve_kind(&args.resource)?;
    let api = Api::connect().await?;
    let ns = args.namespace.unwrap_or_else(|| api.namespace.clone());
    let mut obj = api.get(&object_path(info, &ns, &args.name)).await?;
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            ann.remove(super::apply::LAST_APPLIED);
        }
    }
    print!("{}", serde_saphyr::to_string(&obj)?);
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let events_ns = if info.namespaced() {
        ns.as_str()
    } else {
        "default"
    };
    let path = format!(
        "/api/v1/namespaces/{events_ns}/events?fieldSelector={}",
        percent(&format!("involvedObject.uid={uid}"))
    );
    let events = api
        .request(
            http::Method::GET,
            &path,
            None,
            Some("application/json;as=Table;v=v1;g=meta.k8s.io"),
        )
        .await?;
    if events["rows"].as_array().is_none_or(Vec::is_empty) {
        println!("Events: <none>");
    } else {
        println!("Events:");
        print!("{}", format_table(&events, false, false));
    }
    Ok(())
}
