//! `brume top pods|nodes`: the CPU and memory the agents measured (metrics.k8s.io), printed as
//! `kubectl top` prints them: millicores and mebibytes, and for nodes the share of their
//! allocatable capacity.

use brume_api::metrics::{CPU, MEMORY, NodeMetrics, PodMetrics, milli_value, top_cpu, top_memory};
use k8s_openapi::api::core::v1::Node;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::client::{Api, is_not_found};
use super::get::percent;

const METRICS: &str = "/apis/metrics.k8s.io/v1beta1";

/// Arguments of `brume top`.
#[derive(clap::Args)]
pub struct Args {
    /// What to show: `pods` (`pod`, `po`) or `nodes` (`node`, `no`).
    resource: String,
    /// One pod or node; all of them when none is given.
    name: Option<String>,
    /// The namespace of the pods (default: the kubeconfig context's).
    #[arg(short, long)]
    namespace: Option<String>,
    /// Pods of every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Label selector, e.g. `app=web`.
    #[arg(short = 'l', long)]
    selector: Option<String>,
}

/// What `brume top` can show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resource {
    Pods,
    Nodes,
}

impl Resource {
    fn parse(s: &str) -> anyhow::Result<Resource> {
        match s.to_ascii_lowercase().as_str() {
            "pods" | "pod" | "po" => Ok(Resource::Pods),
            "nodes" | "node" | "no" => Ok(Resource::Nodes),
            other => anyhow::bail!(
                "brume top shows pods or nodes, not {other:?}: use `brume top pods` or \
                 `brume top nodes`"
            ),
        }
    }
}

/// What no metrics means, and when they come.
const NOT_YET: &str = "metrics not available yet: each agent writes them every 15 s, \
                       from its second reading of a running container";

/// Lays rows out in columns three spaces apart, as kubectl's tab writer does.
fn grid(rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, t)| format!("{t:<w$}", w = widths[c]))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

fn usage_text(milli: Option<i128>, format: fn(i128) -> String) -> String {
    milli.map_or_else(|| "<unknown>".to_string(), format)
}

/// The pod table: NAME CPU(cores) MEMORY(bytes), with NAMESPACE first across namespaces.
fn pod_table(items: &[PodMetrics], all_namespaces: bool) -> String {
    let mut sorted: Vec<&PodMetrics> = items.iter().collect();
    sorted.sort_by_key(|m| (m.metadata.namespace.clone(), m.metadata.name.clone()));
    let mut header = vec!["NAME", "CPU(cores)", "MEMORY(bytes)"];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    for m in sorted {
        let mut row = vec![
            m.metadata.name.clone().unwrap_or_default(),
            usage_text(m.total_milli(CPU), top_cpu),
            usage_text(m.total_milli(MEMORY), top_memory),
        ];
        if all_namespaces {
            row.insert(0, m.metadata.namespace.clone().unwrap_or_default());
        }
        rows.push(row);
    }
    grid(&rows)
}

/// The share of `available` that `used` is, truncated to a whole percent as kubectl prints it.
fn percent_of(used: Option<i128>, available: Option<i128>) -> String {
    match (used, available) {
        (Some(u), Some(a)) if a > 0 => format!("{}%", u * 100 / a),
        (Some(_), Some(_)) => "0%".into(),
        _ => "<unknown>".into(),
    }
}

/// The node table: NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%), the shares of allocatable;
/// a node without metrics gets `<unknown>`, as kubectl shows it.
fn node_table(metrics: &[NodeMetrics], nodes: &[Node]) -> String {
    let mut rows = vec![
        ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
            .map(String::from)
            .to_vec(),
    ];
    let mut names: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    names.extend(metrics.iter().filter_map(|m| m.metadata.name.clone()));
    names.sort();
    names.dedup();
    for name in names {
        let m = metrics
            .iter()
            .find(|m| m.metadata.name.as_deref() == Some(&name));
        let allocatable = |r: &str| {
            nodes
                .iter()
                .find(|n| n.metadata.name.as_deref() == Some(&name))
                .and_then(|n| n.status.as_ref()?.allocatable.as_ref()?.get(r).cloned())
                .and_then(|q| milli_value(&q))
        };
        let used = |r: &str| m.and_then(|m| m.usage_milli(r));
        rows.push(vec![
            name.clone(),
            usage_text(used(CPU), top_cpu),
            percent_of(used(CPU), allocatable(CPU)),
            usage_text(used(MEMORY), top_memory),
            percent_of(used(MEMORY), allocatable(MEMORY)),
        ]);
    }
    grid(&rows)
}

/// The `items` of a list, typed.
fn items<T: DeserializeOwned>(list: Value) -> anyhow::Result<Vec<T>> {
    Ok(serde_json::from_value(
        list.get("items")
            .cloned()
            .unwrap_or(Value::Array(Vec::new())),
    )?)
}

fn query(selector: Option<&str>) -> String {
    selector.map_or_else(String::new, |s| format!("?labelSelector={}", percent(s)))
}

async fn top_pods(api: &Api, args: &Args) -> anyhow::Result<String> {
    let ns = args
        .namespace
        .clone()
        .unwrap_or_else(|| api.namespace.clone());
    let scope = if args.all_namespaces {
        String::new()
    } else {
        format!("/namespaces/{ns}")
    };
    let metrics: Vec<PodMetrics> = match &args.name {
        Some(name) => match api
            .get(&format!("{METRICS}/namespaces/{ns}/pods/{name}"))
            .await
        {
            Ok(one) => vec![serde_json::from_value(one)?],
            Err(e) if is_not_found(&e) => {
                // Say whether the pod is missing or only its metrics are.
                api.get(&format!("/api/v1/namespaces/{ns}/pods/{name}"))
                    .await?;
                anyhow::bail!("{NOT_YET} (pod {ns}/{name} has none)");
            }
            Err(e) => return Err(e),
        },
        None => items(
            api.get(&format!(
                "{METRICS}{scope}/pods{}",
                query(args.selector.as_deref())
            ))
            .await?,
        )?,
    };
    if metrics.is_empty() {
        let pods_scope = if args.all_namespaces {
            String::new()
        } else {
            format!("/namespaces/{ns}")
        };
        let pods = api
            .get(&format!(
                "/api/v1{pods_scope}/pods{}",
                query(args.selector.as_deref())
            ))
            .await?;
        if pods["items"].as_array().is_some_and(|p| !p.is_empty()) {
            anyhow::bail!("{NOT_YET}");
        }
        return Ok(if args.all_namespaces {
            "No resources found\n".into()
        } else {
            format!("No resources found in {ns} namespace.\n")
        });
    }
    Ok(pod_table(&metrics, args.all_namespaces))
}

async fn top_nodes(api: &Api, args: &Args) -> anyhow::Result<String> {
    let (metrics, nodes): (Vec<NodeMetrics>, Vec<Node>) = match &args.name {
        Some(name) => {
            let node: Node =
                serde_json::from_value(api.get(&format!("/api/v1/nodes/{name}")).await?)?;
            match api.get(&format!("{METRICS}/nodes/{name}")).await {
                Ok(m) => (vec![serde_json::from_value(m)?], vec![node]),
                Err(e) if is_not_found(&e) => anyhow::bail!("{NOT_YET} (node {name} has none)"),
                Err(e) => return Err(e),
            }
        }
        None => {
            let q = query(args.selector.as_deref());
            (
                items(api.get(&format!("{METRICS}/nodes{q}")).await?)?,
                items(api.get(&format!("/api/v1/nodes{q}")).await?)?,
            )
        }
    };
    if metrics.is_empty() {
        anyhow::bail!("{NOT_YET}");
    }
    Ok(node_table(&metrics, &nodes))
}

/// Runs `brume top`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let resource = Resource::parse(&args.resource)?;
    if resource == Resource::Nodes && (args.namespace.is_some() || args.all_namespaces) {
        anyhow::bail!("nodes are not in a namespace: drop -n/--namespace and -A");
    }
    if args.name.is_some() && args.all_namespaces {
        anyhow::bail!("a pod is named within one namespace: give -n NAMESPACE, not -A");
    }
    if args.name.is_some() && args.selector.is_some() {
        anyhow::bail!("give either a name or a label selector (-l), not both");
    }
    let api = Api::connect().await?;
    let text = match resource {
        Resource::Pods => top_pods(&api, &args).await?,
        Resource::Nodes => top_nodes(&api, &args).await?,
    };
    print!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(ns: &str, name: &str, cpu: &str, memory: &str) -> PodMetrics {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns},
            "timestamp": "2026-12-03T07:00:00Z", "window": "15s",
            "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": memory}}]}))
        .unwrap()
    }

    #[test]
    fn pods_print_like_kubectl_top() {
        let items = [
            pod("shop", "web", "987654321n", "104857600"),
            pod("default", "idle", "1200000n", "2Mi"),
        ];
        assert_eq!(
            pod_table(&items, false),
            "NAME   CPU(cores)   MEMORY(bytes)\n\
             idle   2m           2Mi\n\
             web    988m         100Mi\n"
        );
        let all = pod_table(&items, true);
        assert!(all.starts_with("NAMESPACE   NAME"), "{all}");
        assert!(all.contains("shop        web    988m"), "{all}");
    }

    #[test]
    fn nodes_show_their_share_of_allocatable_or_unknown() {
        let metrics: Vec<NodeMetrics> = vec![
            serde_json::from_value(json!({"metadata": {"name": "node-1"},
                "usage": {"cpu": "500m", "memory": "1Gi"}}))
            .unwrap(),
        ];
        let nodes: Vec<Node> = serde_json::from_value(json!([
            {"metadata": {"name": "node-1"},
             "status": {"allocatable": {"cpu": "2", "memory": "4Gi"}}},
            {"metadata": {"name": "node-2"},
             "status": {"allocatable": {"cpu": "2", "memory": "4Gi"}}}]))
        .unwrap();
        assert_eq!(
            node_table(&metrics, &nodes),
            "NAME     CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)\n\
             node-1   500m         25%         1024Mi          25%\n\
             node-2   <unknown>    <unknown>   <unknown>       <unknown>\n"
        );
    }

    #[test]
    fn only_pods_and_nodes_are_shown() {
        assert_eq!(Resource::parse("po").unwrap(), Resource::Pods);
        assert_eq!(Resource::parse("Nodes").unwrap(), Resource::Nodes);
        let err = Resource::parse("deployments").unwrap_err().to_string();
        assert_eq!(
            err,
            "brume top shows pods or nodes, not \"deployments\": use `brume top pods` or \
             `brume top nodes`"
        );
    }
}
