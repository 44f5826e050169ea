//! `brume agent`: a node agent joining a server, and the in-process agents of `brume dev`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use brume_agent::heartbeat::{self, HeartbeatConfig};
use brume_agent::join::{JoinToken, NodeCredentials};
use brume_agent::manager::{self, Runtimes};
use brume_agent::node::NodeIdentity;
use brume_runtime::ContainerRuntime;
use brume_runtime::docker::{DockerConfig, DockerRuntime};
use brume_runtime::process::ProcessRuntime;

/// Arguments of `brume agent`.
#[derive(clap::Args)]
pub struct AgentArgs {
    /// The API server to join, `https://<host>:<port>` (not needed once the node has joined:
    /// its credential is kept in the data folder).
    #[arg(long)]
    server: Option<String>,
    /// The join token, `<ca-sha256>::<id>.<secret>`: the server data folder's `join-token`, or
    /// one from `brume token create`.
    #[arg(long, env = "BRUME_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The node name (default: the host name).
    #[arg(long)]
    name: Option<String>,
    /// The address pods and node ports are reached at.
    #[arg(long, default_value = "127.0.0.1")]
    address: IpAddr,
    /// The agent's state folder (its credential, process runtime pods, logs).
    #[arg(long, default_value = "brume-agent")]
    data: PathBuf,
    /// Extra node labels, `k=v,k2=v2`.
    #[arg(long, value_delimiter = ',')]
    labels: Vec<String>,
    /// The node's GPS position, `lat,lon`.
    #[arg(long)]
    geo: Option<String>,
    /// Runtime handlers to offer, the default first (`docker`, `process`, `fake`).
    #[arg(long, value_delimiter = ',', default_value = "docker,process")]
    runtimes: Vec<String>,
    /// Let the docker runtime pull absent images from a registry (off: import them instead).
    #[arg(long)]
    pull_images: bool,
    /// A folder of image tarballs (`docker save` output, `*.tar`) loaded into the docker
    /// runtime at start, for air-gapped sites.
    #[arg(long)]
    images_dir: Option<PathBuf>,
    /// The port of the node's DNS server for Services, on --address (0: no DNS server).
    #[arg(long, default_value_t = 53)]
    dns_port: u16,
}

/// Everything an agent needs, however it was started.
pub struct AgentSpec {
    /// Node name.
    pub name: String,
    /// Node address.
    pub address: IpAddr,
    /// State folder.
    pub data: PathBuf,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// GPS position.
    pub geo: Option<(f64, f64)>,
    /// Handlers asked for, default first.
    pub runtimes: Vec<String>,
    /// The TLS of the log endpoint: the node's serving certificate, and the CA whose client
    /// certificates (the API server's) it accepts.
    pub log_tls: rustls::ServerConfig,
    /// Whether docker may pull absent images.
    pub pull_images: bool,
    /// Image tarballs to load into docker at start.
    pub images_dir: Option<PathBuf>,
    /// The fog side: service proxy, DNS, Vivaldi prober, demand reports.
    pub fog: FogOptions,
    /// The resource metrics of its pods and of itself (`kubectl top`, the HPA), or `None` for
    /// hollow nodes, thousands of which would each write every 15 s.
    pub metrics: Option<brume_agent::metrics::MetricsConfig>,
}

/// What the agent runs besides pods (DESIGN §7, §8).
#[derive(Clone, Default)]
pub struct FogOptions {
    /// Runs the service proxy, the Vivaldi prober and the demand reports (off for hollow
    /// nodes, thousands of which share one process).
    pub enabled: bool,
    /// The port of the agent's DNS server on the node address; `None` runs none.
    pub dns_port: Option<u16>,
    /// The emulated RTT to each other node (`brume dev --latency-matrix`).
    pub link_delay: Option<Arc<dyn brume_proxy::LinkDelay>>,
}

/// Starts the service proxy, the prober, the demand reports and DNS of one node.
async fn start_fog(client: &kube::Client, spec: &AgentSpec) -> anyhow::Result<()> {
    use brume_agent::{coordinates, services, traffic};
    use brume_proxy::{Demand, Gateway, Proxy, ProxyConfig, RoutingTable};
    let gateway = Gateway {
        node: spec.name.clone(),
        zone: spec.labels.get(brume_fog::location::ZONE_LABEL).cloned(),
    };
    let demand = Demand::new(spec.name.clone(), brume_proxy::demand::DEFAULT_TAU);
    let config = ProxyConfig {
        link_delay: spec.fog.link_delay.clone(),
        ..ProxyConfig::default()
    };
    let proxy = Arc::new(Proxy::new(
        RoutingTable::new(gateway),
        demand.clone(),
        config,
    ));
    let view = services::start(client.clone(), spec.name.clone(), spec.address, proxy);

    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client.clone());
    let published = nodes
        .get_opt(&spec.name)
        .await
        .ok()
        .flatten()
        .and_then(|n| n.metadata.annotations)
        .and_then(|mut a| a.remove(brume_fog::COORDINATES_ANNOTATION));
    let state = coordinates::initial_state(published.as_deref());
    let probe_addr = std::net::SocketAddr::new(spec.address, coordinates::PROBE_PORT);
    let socket = tokio::net::UdpSocket::bind(probe_addr)
        .await
        .with_context(|| format!("binding the probe port {probe_addr}/udp"))?;
    tokio::spawn(coordinates::respond(
        Arc::new(socket),
        spec.name.clone(),
        state.clone(),
    ));
    tokio::spawn(coordinates::run(
        client.clone(),
        spec.name.clone(),
        spec.address,
        view.nodes.clone(),
        state,
        spec.fog.link_delay.clone(),
        coordinates::ProberConfig::default(),
    ));
    tokio::spawn(traffic::run(
        client.clone(),
        demand,
        view.services.clone(),
        traffic::ReporterConfig::default(),
    ));
    if let Some(port) = spec.fog.dns_port {
        start_dns(
            std::net::SocketAddr::new(spec.address, port),
            spec.address,
            view,
        )
        .await;
    }
    Ok(())
}

/// Serves DNS for Services on `addr`, following the mirrored Services; a port that cannot be
/// bound (53 needs root) is logged and the node runs without DNS.
async fn start_dns(
    addr: std::net::SocketAddr,
    node_address: IpAddr,
    view: brume_agent::services::ClusterView,
) {
    use brume_agent::dns::DnsRecords;
    let records = move |view: &brume_agent::services::ClusterView| {
        Arc::new(DnsRecords::from_services(
            "cluster.local",
            node_address,
            &view.services.state(),
        ))
    };
    let (tx, rx) = tokio::sync::watch::channel(records(&view));
    match brume_agent::dns::serve(addr, rx).await {
        Ok(_server) => {
            tokio::spawn(async move {
                let mut view = view;
                while view.changed.changed().await.is_ok() {
                    tx.send_replace(records(&view));
                }
            });
        }
        Err(e) => {
            tracing::warn!(%addr, error = %e, "the DNS server could not start: Services are not resolvable on this node")
        }
    }
}

fn parse_labels(items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    items
        .iter()
        .filter(|s| !s.is_empty())
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("label {kv:?} is not key=value"))
        })
        .collect()
}

fn parse_geo(s: &str) -> anyhow::Result<(f64, f64)> {
    let (lat, lon) = s.split_once(',').context("--geo must be lat,lon")?;
    let lat: f64 = lat
        .trim()
        .parse()
        .context("--geo latitude is not a number")?;
    let lon: f64 = lon
        .trim()
        .parse()
        .context("--geo longitude is not a number")?;
    anyhow::ensure!(
        (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon),
        "--geo {s:?} is out of range: latitude in [-90, 90], longitude in [-180, 180]"
    );
    Ok((lat, lon))
}

/// Builds the runtimes a node offers; docker is skipped (with a log line) when no daemon answers.
async fn runtimes(spec: &AgentSpec) -> anyhow::Result<Runtimes> {
    let mut out: Vec<Arc<dyn ContainerRuntime>> = Vec::new();
    for handler in &spec.runtimes {
        match handler.as_str() {
            "process" => out.push(Arc::new(
                ProcessRuntime::new(spec.data.join("process"), spec.address)
                    .context("starting the process runtime")?,
            )),
            "docker" => match DockerRuntime::connect_with(
                spec.address,
                DockerConfig {
                    // The name alone could collide between clusters sharing one engine
                    // (every `brume dev` has a node-1); the state folder is unique per agent.
                    node_name: Some(format!(
                        "{}@{}",
                        spec.name,
                        std::fs::canonicalize(&spec.data)
                            .unwrap_or(spec.data.clone())
                            .display()
                    )),
                    pull_images: spec.pull_images,
                    ..DockerConfig::default()
                },
            )
            .await
            {
                Ok(Some(d)) => {
                    if let Some(dir) = &spec.images_dir {
                        load_images(&d, dir).await?;
                    }
                    out.push(Arc::new(d))
                }
                Ok(None) => {
                    tracing::info!("no Docker daemon answers: the docker handler is not offered")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the Docker daemon is unusable: the docker handler is not offered")
                }
            },
            "fake" => out.push(Arc::new(
                brume_runtime::fake::FakeRuntime::new(spec.address).without_recording(),
            )),
            other => anyhow::bail!("unknown runtime {other:?}: use docker, process or fake"),
        }
    }
    anyhow::ensure!(!out.is_empty(), "no runtime is available on this node");
    Ok(Runtimes(out))
}

/// Runs one agent with `client` until the process stops.
pub async fn run_agent(client: kube::Client, spec: AgentSpec) -> anyhow::Result<()> {
    std::fs::create_dir_all(&spec.data)
        .with_context(|| format!("creating {}", spec.data.display()))?;
    let runtimes = runtimes(&spec).await?;
    let id = NodeIdentity {
        name: spec.name.clone(),
        address: spec.address,
        labels: spec.labels.clone(),
        geo: spec.geo,
        handlers: runtimes.handlers(),
        runtime_version: format!("brume://{}", env!("CARGO_PKG_VERSION")),
        max_pods: 110,
    };
    let logs = brume_agent::logs::LogRegistry::default();
    let log_addr = std::net::SocketAddr::new(spec.address, brume_agent::logs::AGENT_PORT);
    let listener = brume_agent::logs::bind(log_addr).await.with_context(|| {
        format!("binding the log endpoint {log_addr} (is another agent using this address?)")
    })?;
    let (registry, tls) = (logs.clone(), spec.log_tls.clone());
    tokio::spawn(async move {
        if let Err(e) = brume_agent::logs::serve(listener, registry, tls).await {
            tracing::error!(%log_addr, error = %e, "the log endpoint stopped: kubectl logs will not reach this node");
        }
    });
    heartbeat::register(&client, &id, &brume_agent::host::facts())
        .await
        .with_context(|| format!("registering node {}", spec.name))?;
    tracing::info!(node = %spec.name, address = %spec.address, handlers = ?id.handlers, "node registered");
    tokio::spawn(heartbeat::run(
        client.clone(),
        spec.name.clone(),
        HeartbeatConfig::default(),
    ));
    if spec.fog.enabled {
        start_fog(&client, &spec).await?;
    }
    if let Some(config) = spec.metrics {
        let reporter = brume_agent::metrics::Reporter::new(
            client.clone(),
            spec.name.clone(),
            logs.clone(),
            config,
        );
        tokio::spawn(brume_agent::metrics::run(reporter));
    }
    manager::run(
        client,
        spec.name,
        spec.address,
        runtimes,
        logs,
        spec.data.join("pods"),
    )
    .await?;
    Ok(())
}

/// Loads every `*.tar` of `dir` into the docker runtime, in name order.
async fn load_images(docker: &DockerRuntime, dir: &Path) -> anyhow::Result<()> {
    let mut tars: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading --images-dir {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tar"))
        .collect();
    tars.sort();
    for tar in tars {
        let names = docker
            .import_image(&tar)
            .await
            .with_context(|| format!("loading {}", tar.display()))?;
        tracing::info!(file = %tar.display(), images = ?names, "image loaded");
    }
    Ok(())
}

/// `brume image ...`.
#[derive(clap::Subcommand)]
pub enum ImageCommand {
    /// Load image tarballs (`docker save` output) into the local Docker engine.
    Import {
        /// The tarballs.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Runs `brume image ...`.
pub async fn image(cmd: ImageCommand) -> anyhow::Result<()> {
    let ImageCommand::Import { files } = cmd;
    let docker = DockerRuntime::connect(IpAddr::from([127, 0, 0, 1]))
        .await?
        .context("no Docker engine answers on this host: images are for the docker runtime")?;
    for file in files {
        let names = docker
            .import_image(&file)
            .await
            .with_context(|| format!("importing {}", file.display()))?;
        println!("{}: {}", file.display(), names.join(", "));
    }
    Ok(())
}

/// The node's credential: the one kept in `data` from an earlier join, unless the server
/// rejects it (revoked) or `--server` names another server; otherwise a new join with the
/// token.
async fn credentials(
    args: &AgentArgs,
    name: &str,
) -> anyhow::Result<(NodeCredentials, kube::Client)> {
    if let Some(saved) = NodeCredentials::load(&args.data, name)?
        && args.server.as_ref().is_none_or(|s| *s == saved.server)
    {
        let client = saved.client().await?;
        match client.list_api_groups().await {
            Err(kube::Error::Api(status)) if status.code == 401 => {
                anyhow::ensure!(
                    args.token.is_some(),
                    "the server rejects the credential of node {name} kept in {} (revoked?): \
                     join again with --token",
                    args.data.display()
                );
                tracing::warn!(node = %name, "the kept credential is rejected: joining again");
            }
            // Reachable, or not reachable yet: the agent starts with what it has.
            _ => return Ok((saved, client)),
        }
    }
    let server = args.server.as_deref().context(
        "--server is required to join (https://<host>:<port> of the API server), with --token",
    )?;
    let token: JoinToken = args
        .token
        .as_deref()
        .context("--token is required to join: the server data folder's join-token, or `brume token create`")?
        .parse()?;
    let creds = brume_agent::join::join(server, &token, name, &[args.address.to_string()])
        .await
        .with_context(|| format!("joining {server} as node {name}"))?;
    creds.save(&args.data)?;
    tracing::info!(node = %name, %server, "joined; the credential is kept in the data folder");
    let client = creds.client().await?;
    Ok((creds, client))
}

/// `brume agent`.
pub async fn agent(args: AgentArgs) -> anyhow::Result<()> {
    let name = match &args.name {
        Some(n) => n.clone(),
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "brume-node".into()),
    };
    let (creds, client) = credentials(&args, &name).await?;
    let spec = AgentSpec {
        name,
        address: args.address,
        data: args.data,
        labels: parse_labels(&args.labels)?,
        geo: args.geo.as_deref().map(parse_geo).transpose()?,
        runtimes: args.runtimes,
        log_tls: creds.log_tls()?,
        pull_images: args.pull_images,
        images_dir: args.images_dir,
        fog: FogOptions {
            enabled: true,
            dns_port: (args.dns_port != 0).then_some(args.dns_port),
            link_delay: None,
        },
        // Alone on its machine: the node's usage is the host's.
        metrics: Some(brume_agent::metrics::MetricsConfig::default()),
    };
    run_agent(client, spec).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_geo_parse_or_explain() {
        let l = parse_labels(&["a=1".into(), "zone=lyon".into()]).unwrap();
        assert_eq!(l["zone"], "lyon");
        assert!(parse_labels(&["novalue".into()]).is_err());
        assert_eq!(parse_geo("45.7, 4.8").unwrap(), (45.7, 4.8));
        assert!(parse_geo("95,0").is_err());
        assert!(parse_geo("x").is_err());
    }
}
