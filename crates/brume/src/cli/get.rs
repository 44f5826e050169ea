//! `brume get`.

use brume_api::ResourceInfo;
use serde_json::Value;

use super::client::{Api, collection_path, object_path, resolve_kind};
use super::print::format_table;

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

/// Arguments of `brume get`.
#[derive(clap::Args)]
pub struct Args {
    /// The resource type (`pods`, `po`, `deployments`, ...).
    resource: String,
    /// Object names; all objects when none is given.
    names: Vec<String>,
    /// The namespace (default: the kubeconfig context's).
    #[arg(short, long)]
    namespace: Option<String>,
    /// List across all namespaces.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Label selector, e.g. `app=web,tier!=db`.
    #[arg(short = 'l', long)]
    selector: Option<String>,
    /// Output: `wide`, `yaml` or `json` (default: a table).
    #[arg(short, long)]
    output: Option<String>,
}

/// The output format of `get`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The server's table.
    Table,
    /// The table with wide columns.
    Wide,
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

impl Output {
    fn parse(s: Option<&str>) -> anyhow::Result<Self> {
        Ok(match s {
            None => Output::Table,
            Some("wide") => Output::Wide,
            Some("yaml") => Output::Yaml,
            Some("json") => Output::Json,
            Some(other) => anyhow::bail!("unknown output format {other:?}: use wide, yaml or json"),
        })
    }
}

/// Renders an object or list as YAML or JSON.
pub fn render_document(v: &Value, output: Output) -> anyhow::Result<String> {
    Ok(match output {
        Output::Json => serde_json::to_string_pretty(v)? + "\n",
        _ => serde_saphyr::to_string(v)?,
    })
}

/// Runs `brume get`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let info = resolve_kind(&args.resource)?;
    let output = Output::parse(args.output.as_deref())?;
    let api = Api::connect().await?;
    let ns = args
        .namespace
        .clone()
        .unwrap_or_else(|| api.namespace.clone());
    let text = fetch(&api, info, &args, &ns, output).await?;
    print!("{text}");
    Ok(())
}

async fn fetch(
    api: &Api,
    info: &ResourceInfo,
    args: &Args,
    ns: &str,
    output: Output,
) -> anyhow::Result<String> {
    let table = matches!(output, Output::Table | Output::Wide);
    let accept = table.then_some(TABLE);
    let all = args.all_namespaces && info.namespaced();
    if args.names.is_empty() {
        let mut path = collection_path(info, (!all).then_some(ns));
        if let Some(sel) = &args.selector {
            path.push_str(&format!("?labelSelector={}", percent(sel)));
        }
        let body = api.request(http::Method::GET, &path, None, accept).await?;
        if table {
            if body["rows"].as_array().is_none_or(Vec::is_empty) {
                return Ok(if all {
                    "No resources found\n".into()
                } else {
                    format!("No resources found in {ns} namespace.\n")
                });
            }
            return Ok(format_table(&body, output == Output::Wide, all));
        }
        return render_document(&body, output);
    }
    let mut text = String::new();
    let mut merged: Option<Value> = None;
    for name in &args.names {
        let body = api
            .request(
                http::Method::GET,
                &object_path(info, ns, name),
                None,
                accept,
            )
            .await?;
        match (&mut merged, table) {
            (None, _) => merged = Some(body),
            (Some(m), true) => {
                if let (Some(rows), Some(more)) =
                    (m["rows"].as_array_mut(), body["rows"].as_array())
                {
                    rows.extend(more.iter().cloned());
                }
            }
            (Some(_), false) => text.push_str(&render_document(&body, output)?),
        }
    }
    let first = merged.unwrap_or(Value::Null);
    Ok(if table {
        format_table(&first, output == Output::Wide, false)
    } else {
        render_document(&first, output)? + &text
    })
}

/// Percent-encodes a query value.
pub fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
