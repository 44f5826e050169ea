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
}

/// Runs `brume server`.
pub async fn server(args: ServerArgs) -> anyhow::Result<()> {
    run(args.data, args.listen, None).await
}

/// Runs `brume dev`.
pub async fn dev(args: DevArgs) -> anyhow::Result<()> {
    let data = args.data.clone();
    run(
        args.data,
        args.listen,
        Some(DevNodes {
            nodes: args.nodes,
            hollow: args.hollow_nodes,
            runtimes: args.runtimes,
            data,
        }),
    )
    .await
}

/// Starts the control loops (controllers, scheduler) as API clients of the server whose
/// kubeconfig is given: the same code path as remote clients (DESIGN §2.1).
async fn start_control_loops(kubeconfig: &std::path::Path) -> anyhow::Result<kube::Client> {
    let client = crate::agent::client_from(kubeconfig).await?;
    let c = client.clone();
    tokio::spawn(async move {
        let config = brume_controllers::ControllersConfig::default();
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

async fn start_cluster(
    kubeconfig: &std::path::Path,
    token: String,
    dev: DevNodes,
) -> anyhow::Result<()> {
    let client = start_control_loops(kubeconfig).await?;
    let real = (1..=dev.nodes).map(|i| {
        (
            format!("node-{i}"),
            std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, i.saturating_add(1))),
            dev.runtimes.clone(),
        )
    });
    let hollow = (0..dev.hollow).map(|i| {
        (
            format!("hollow-{i}"),
            hollow_address(i),
            vec!["fake".to_string()],
        )
    });
    for (name, address, runtimes) in real.chain(hollow) {
        let spec = crate::agent::AgentSpec {
            data: dev.data.join("nodes").join(&name),
            name,
            address,
            labels: Default::default(),
            geo: None,
            runtimes,
            token: token.clone(),
            pull_images: false,
            images_dir: None,
        };
        let c = client.clone();
        tokio::spawn(async move {
            let name = spec.name.clone();
            if let Err(e) = crate::agent::run_agent(c, spec).await {
                tracing::error!(node = %name, error = %format!("{e:#}"), "the agent stopped");
            }
        });
    }
    Ok(())
}

async fn run(data: PathBuf, listen: SocketAddr, dev: Option<DevNodes>) -> anyhow::Result<()> {
    let dir = DataDir::open(&data)?;
    let token = dir.admin_token()?;
    let store = Arc::new(
        RedbStore::open(&dir.store_path())
            .with_context(|| format!("opening the store in {}", data.display()))?,
    );
    let state = Arc::new(AppState::new(
        store.clone() as Arc<dyn Store>,
        Config::new(token.clone()),
    ));
    brume_apiserver::start(state.clone())
        .await
        .context("preparing the API server")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    let mut hosts = vec![
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "localhost".to_string(),
    ];
    if !addr.ip().is_unspecified() {
        hosts.push(addr.ip().to_string());
    }
    let pki = brume_apiserver::pki::Pki::load_or_create(&data, &hosts)
        .context("preparing the server's certificates")?;
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
    tracing::info!(%url, "API server listening");
    let serving_state = state.clone();
    let nodes = dev.clone().unwrap_or(DevNodes {
        nodes: 0,
        hollow: 0,
        runtimes: Vec::new(),
        data: data.clone(),
    });
    {
        // The control loops talk to the API: they start once it serves, just below.
        let kubeconfig = kubeconfig.clone();
        let token = token.clone();
        tokio::spawn(async move {
            if let Err(e) = start_cluster(&kubeconfig, token, nodes).await {
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
