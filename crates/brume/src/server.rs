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
}

/// Runs `brume server`.
pub async fn server(args: ServerArgs) -> anyhow::Result<()> {
    run(args.data, args.listen, false).await
}

/// Runs `brume dev`.
pub async fn dev(args: DevArgs) -> anyhow::Result<()> {
    run(args.data, args.listen, true).await
}

async fn run(data: PathBuf, listen: SocketAddr, dev: bool) -> anyhow::Result<()> {
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
    if dev {
        println!(
            "Brume is running: API server at {url}, data in {}",
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
    let serving = brume_apiserver::serve(listener, state, tls, async move {
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
