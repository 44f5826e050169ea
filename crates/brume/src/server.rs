//! `brume server` and `brume dev`: wiring the store and the API server, and shutting down
//! cleanly on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use brume_apiserver::{AppState, Config};
use brume_store::{RedbStore, Store};

use crate::data_dir::{DEFAULT_DEV_DATA, DataDir};

/// Arguments of `brume server`.
#[derive(clap::Args)]
pub struct ServerArgs {
    /// The data folder: store, admin token and kubeconfig.
    #[arg(long)]
    data: PathBuf,
    /// The address to listen on (port 0 picks a free port, written into the kubeconfig).
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// More names or addresses for the serving certificate, for agents and clients that reach
    /// the server by another name (listening on 0.0.0.0, behind NAT).
    #[arg(long, value_delimiter = ',')]
    tls_san: Vec<String>,
    #[command(flatten)]
    fog: FogTimings,
}

/// The timings of the fog controllers (latency autoscaler, re-placement), in seconds.
#[derive(clap::Args, Clone, Debug)]
pub struct FogTimings {
    /// How often the latency autoscaler and re-placement look at each Deployment again.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    fog_sync_period: u64,
    /// How long a higher recommendation holds a LatencyAutoscaler's scale-down back.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    scale_down_window: u64,
    /// The least time between two replica moves of one follow-users Deployment.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    move_cooldown: u64,
}

impl FogTimings {
    /// The controllers' settings with these timings.
    fn controllers(&self) -> brume_controllers::ControllersConfig {
        let secs = std::time::Duration::from_secs;
        brume_controllers::ControllersConfig {
            fog_sync_period: secs(self.fog_sync_period.max(1)),
            latency_scale_down_window: secs(self.scale_down_window),
            move_cooldown: secs(self.move_cooldown),
            ..brume_controllers::ControllersConfig::default()
        }
    }
}

/// Arguments of `brume dev`.
#[derive(clap::Args)]
pub struct DevArgs {
    /// The data folder: store, admin token and kubeconfig.
    #[arg(long, default_value = DEFAULT_DEV_DATA)]
    data: PathBuf,
    /// The address to listen on (port 0 picks a free port, written into the kubeconfig).
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Node agents to run in this process, each on its own loopback address (127.0.0.2, ...).
    #[arg(long, default_value_t = 3)]
    nodes: u8,
    /// Hollow nodes to add: agents on the fake runtime, for scale work (127.1.x.y addresses).
    #[arg(long, default_value_t = 0)]
    hollow_nodes: u32,
    /// Runtime handlers the dev nodes offer, the default first (docker is skipped where no
    /// engine answers).
    #[arg(long, value_delimiter = ',', default_value = "docker,process")]
    runtimes: Vec<String>,
    /// Emulate RTTs between the dev nodes: a file of milliseconds, one row per node
    /// (tab-separated, as `../shared/data/planetlab-490-rtt-ms.tsv`; node-i takes row i), or
    /// `synthetic` for nodes spread on a plane, up to about 80 ms apart.
    #[arg(long)]
    latency_matrix: Option<String>,
    /// The port of each dev node's DNS server on its address (0: none).
    #[arg(long, default_value_t = 53)]
    dns_port: u16,
    #[command(flatten)]
    fog: FogTimings,
}

/// Runs `brume server`.
pub async fn server(args: ServerArgs) -> anyhow::Result<()> {
    let controllers = args.fog.controllers();
    run(args.data, args.listen, args.tls_san, None, controllers).await
}

/// Runs `brume dev`.
pub async fn dev(args: DevArgs) -> anyhow::Result<()> {
    let data = args.data.clone();
    let latency = match &args.latency_matrix {
        Some(m) => Some(Arc::new(crate::latency::load(m, usize::from(args.nodes))?)),
        None => None,
    };
    run(
        args.data,
        args.listen,
        Vec::new(),
        Some(DevNodes {
            nodes: args.nodes,
            hollow: args.hollow_nodes,
            runtimes: args.runtimes,
            data,
            latency,
            dns_port: args.dns_port,
        }),
        args.fog.controllers(),
    )
    .await
}

/// Starts the control loops (controllers, scheduler) as API clients of the server whose state
/// is given, through the in-process client ([`crate::local`]): the same API path as remote
/// clients (DESIGN §2.1), without TLS in between.
fn start_control_loops(
    state: Arc<AppState>,
    config: brume_controllers::ControllersConfig,
) -> anyhow::Result<kube::Client> {
    let client = crate::local::client(state)?;
    let c = client.clone();
    tokio::spawn(async move {
        if let Err(e) = brume_controllers::run_all(c, config).await {
            tracing::error!(error = %e, "the controllers stopped");
        }
    });
    let c = client.clone();
    tokio::spawn(async move {
        if let Err(e) = brume_scheduler::run(c, brume_scheduler::default_profile()).await {
            tracing::error!(error = %e, "the scheduler stopped");
        }
    });
    Ok(client)
}

/// Starts the control loops and, for `brume dev`, `nodes` agents in this process, each on its
/// own loopback address.
/// The nodes `brume dev` runs in its own process.
#[derive(Clone)]
struct DevNodes {
    nodes: u8,
    hollow: u32,
    runtimes: Vec<String>,
    data: PathBuf,
    /// The emulated RTTs between the real dev nodes (node-i is index i-1).
    latency: Option<Arc<brume_fog::RttMatrix>>,
    dns_port: u16,
}

/// The address of hollow node `i` (from 0): 127.1.0.1, 127.1.0.2, ... (all of 127/8 is local).
fn hollow_address(i: u32) -> std::net::IpAddr {
    let n = i + 1;
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(
        127,
        1 + (n / 65_000) as u8,
        ((n % 65_000) / 250) as u8,
        (n % 250) as u8 + 1,
    ))
}

/// How the nodes of `brume dev` get their credentials: the real ones join over the API with
/// the server's join token, as remote agents do; hollow ones share the control loops' client
/// (thousands of them would otherwise each hold a connection) and get their log endpoint's
/// certificate straight from the CA.
struct DevJoin {
    url: String,
    join_token: brume_agent::join::JoinToken,
    pki: Arc<brume_apiserver::pki::Pki>,
    controllers: brume_controllers::ControllersConfig,
}

async fn start_cluster(state: Arc<AppState>, join: DevJoin, dev: DevNodes) -> anyhow::Result<()> {
    let client = start_control_loops(state, join.controllers.clone())?;
    let real = (1..=dev.nodes).map(|i| {
        (
            format!("node-{i}"),
            std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, i.saturating_add(1))),
            false,
        )
    });
    let hollow = (0..dev.hollow).map(|i| (format!("hollow-{i}"), hollow_address(i), true));
    for (name, address, hollow) in real.chain(hollow) {
        let data = dev.data.join("nodes").join(&name);
        let (client, log_tls) = if hollow {
            let cert = join
                .pki
                .issue_node(&name, &[address.to_string()])
                .with_context(|| format!("issuing the certificate of {name}"))?;
            let tls = brume_agent::join::log_tls(&join.pki.ca_pem, &cert.cert_pem, &cert.key_pem)?;
            (client.clone(), tls)
        } else {
            let creds = match brume_agent::join::NodeCredentials::load(&data, &name)? {
                Some(saved) if saved.server == join.url => saved,
                _ => {
                    let creds = brume_agent::join::join(
                        &join.url,
                        &join.join_token,
                        &name,
                        &[address.to_string()],
                    )
                    .await
                    .with_context(|| format!("joining node {name}"))?;
                    creds.save(&data)?;
                    creds
                }
            };
            (creds.client().await?, creds.log_tls()?)
        };
        let link_delay = dev
            .latency
            .as_ref()
            .filter(|_| !hollow)
            .map(|m| crate::latency::delays_from(m, &name));
        let spec = crate::agent::AgentSpec {
            data,
            name,
            address,
            labels: Default::default(),
            geo: None,
            runtimes: if hollow {
                vec!["fake".to_string()]
            } else {
                dev.runtimes.clone()
            },
            log_tls,
            pull_images: false,
            images_dir: None,
            fog: crate::agent::FogOptions {
                enabled: !hollow,
                dns_port: (dev.dns_port != 0).then_some(dev.dns_port),
                link_delay,
            },
            // Several nodes share this host: each reports the sum of its pods as its usage.
            metrics: (!hollow).then_some(brume_agent::metrics::MetricsConfig {
                node_usage: brume_agent::metrics::NodeUsage::Pods,
                ..Default::default()
            }),
        };
        tokio::spawn(async move {
            let name = spec.name.clone();
            if let Err(e) = crate::agent::run_agent(client, spec).await {
                tracing::error!(node = %name, error = %format!("{e:#}"), "the agent stopped");
            }
        });
    }
    Ok(())
}

async fn run(
    data: PathBuf,
    listen: SocketAddr,
    tls_san: Vec<String>,
    dev: Option<DevNodes>,
    controllers: brume_controllers::ControllersConfig,
) -> anyhow::Result<()> {
    let dir = DataDir::open(&data)?;
    let token = dir.admin_token()?;
    let store = Arc::new(
        RedbStore::open(&dir.store_path())
            .with_context(|| format!("opening the store in {}", data.display()))?,
    );
    let mut hosts = vec![
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "localhost".to_string(),
    ];
    if !listen.ip().is_unspecified() {
        hosts.push(listen.ip().to_string());
    }
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        hosts.push(h.trim().to_string());
    }
    hosts.extend(tls_san.into_iter().filter(|h| !h.is_empty()));
    hosts.sort();
    hosts.dedup();
    let pki = Arc::new(
        brume_apiserver::pki::Pki::load_or_create(&data, &hosts)
            .context("preparing the server's certificates")?,
    );
    let state = Arc::new(
        AppState::new(store.clone() as Arc<dyn Store>, Config::new(token.clone()))
            .with_pki(pki.clone()),
    );
    brume_apiserver::start(state.clone())
        .await
        .context("preparing the API server")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    let tls = pki
        .server_config()
        .map_err(|e| anyhow::anyhow!("preparing TLS: {e}"))?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let url = format!(
        "https://{}",
        std::net::SocketAddr::new(host.parse()?, addr.port())
    );
    let kubeconfig = dir.write_kubeconfig(&url, &token, &pki.ca_pem)?;
    let kubeconfig = std::fs::canonicalize(&kubeconfig).unwrap_or(kubeconfig);
    let ca_sha256 = pki.ca_sha256().map_err(|e| anyhow::anyhow!(e))?;
    let standing = dir.join_token()?;
    let secret = brume_apiserver::tokens::ensure_join_token(
        &state,
        standing.as_ref().map(|t| t.secret.as_str()),
    )
    .await
    .context("preparing the join token")?;
    let join_token: brume_agent::join::JoinToken = format!("{ca_sha256}::{secret}").parse()?;
    dir.write_join_token(&join_token)?;
    tracing::info!(%url, "API server listening");
    let serving_state = state.clone();
    let nodes = dev.clone().unwrap_or(DevNodes {
        nodes: 0,
        hollow: 0,
        latency: None,
        dns_port: 0,
        runtimes: Vec::new(),
        data: data.clone(),
    });
    {
        // The control loops talk to the API in-process; the dev agents join over HTTPS once
        // the server serves, just below.
        let state = state.clone();
        let join = DevJoin {
            url: url.clone(),
            join_token: join_token.clone(),
            pki: pki.clone(),
            controllers,
        };
        tokio::spawn(async move {
            if let Err(e) = start_cluster(state, join, nodes).await {
                tracing::error!(error = %format!("{e:#}"), "starting the dev cluster failed");
            }
        });
    }
    if let Some(DevNodes { nodes, hollow, .. }) = &dev {
        let nodes = u32::from(*nodes) + hollow;
        println!(
            "Brume is running: API server at {url}, {nodes} node(s), data in {}",
            data.display()
        );
        println!("Use it with kubectl or brume:");
        println!("  export KUBECONFIG={}", kubeconfig.display());
        println!("  kubectl get namespaces");
        println!("Press Ctrl-C to stop; the data folder keeps every object for the next start.");
    } else {
        println!("kubeconfig: {}", kubeconfig.display());
        println!(
            "join a node: brume agent --server {url} --token \"$(cat {})\"",
            dir.join_token_path().display()
        );
    }
    // Long watches would hold a graceful shutdown open for up to an hour: give open requests
    // a moment to finish, then stop.
    let stop = Arc::new(tokio::sync::Notify::new());
    let notified = stop.clone();
    let serving = brume_apiserver::serve(listener, serving_state, tls, async move {
        shutdown_signal().await;
        notified.notify_waiters();
    });
    tokio::select! {
        r = serving => r.context("serving the API")?,
        _ = async {
            stop.notified().await;
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        } => {}
    }
    drop(store);
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
