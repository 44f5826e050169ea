//! The child processes of `brume bench proxy`, as hidden `brume bench` verbs: an HTTP/1.1
//! backend (`proxy-backend`) and the Brume proxy with a static routing table (`proxy-child`).
//! Each runs in its own process so that its CPU time and resident memory are its own.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use brume_proxy::{
    Demand, Endpoint, Gateway, ListenMode, ListenerSpec, ListenerState, PolicyKind, Proxy,
    ProxyConfig, RoutingSpec, RoutingTable, ServicePort, ServicePortKey,
};
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

/// The body every backend answers with: small, so the figures are about the proxy's per-request
/// work, not about copying bytes.
pub(crate) const BODY: &[u8] = b"hello from a brume bench backend\n";

/// Arguments of the hidden `brume bench proxy-backend`.
#[derive(clap::Args)]
pub struct BackendArgs {
    /// Where to listen.
    #[arg(long)]
    listen: SocketAddr,
}

/// Arguments of the hidden `brume bench proxy-child`.
#[derive(clap::Args)]
pub struct ProxyArgs {
    /// The HTTP-mode listener (per-request round robin).
    #[arg(long)]
    http: SocketAddr,
    /// The TCP-mode listener (per-connection round robin).
    #[arg(long)]
    tcp: SocketAddr,
    /// A backend; repeated.
    #[arg(long = "backend", required = true)]
    backends: Vec<SocketAddr>,
    /// Tokio worker threads (set by `main` through [`super::Bench::worker_threads`]).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// Dies with the benchmark, even when the benchmark is killed and cannot drop its children.
fn die_with_parent() {
    if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL) {
        tracing::debug!(error = %e, "this child may outlive the benchmark");
    }
}

/// Serves `GET` (or anything) with [`BODY`] over HTTP/1.1 keep-alive until killed.
pub async fn backend(args: BackendArgs) -> anyhow::Result<()> {
    die_with_parent();
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding the backend to {}", args.listen))?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(BODY))))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The Service port behind each listener of the proxy child.
fn key(name: &str) -> ServicePortKey {
    ServicePortKey::tcp("bench", name, "", 80)
}

/// Runs the Brume proxy with a static table: the same backends behind an HTTP-mode and a
/// TCP-mode Service port, both round robin, until killed.
pub async fn proxy(args: ProxyArgs) -> anyhow::Result<()> {
    die_with_parent();
    // As `brume agent` runs (see `main`): no transparent huge pages, so the resident memory
    // is what a node would see. The parent also sets MIMALLOC_ALLOW_THP=0.
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        tracing::debug!(error = %e, "transparent huge pages stay on");
    }
    let gateway = Gateway {
        node: "bench".into(),
        zone: None,
    };
    let table = RoutingTable::new(gateway);
    let endpoints: Vec<Endpoint> = args
        .backends
        .iter()
        .map(|b| Endpoint::ready(*b, "bench"))
        .collect();
    let routing = RoutingSpec {
        policy: PolicyKind::RoundRobin,
        ..RoutingSpec::default()
    };
    for (name, app_protocol) in [("http", Some("http".to_owned())), ("tcp", None)] {
        let port = ServicePort {
            app_protocol,
            endpoints: endpoints.clone(),
            routing,
        };
        table.upsert(key(name), port);
    }
    let demand = Demand::new("bench", Duration::from_secs(10));
    let proxy = Proxy::new(table, demand, ProxyConfig::default());
    let listeners = [
        (args.http, "http", ListenMode::Http),
        (args.tcp, "tcp", ListenMode::Tcp),
    ];
    proxy
        .set_listeners(listeners.map(|(bind, name, mode)| ListenerSpec {
            bind,
            service: key(name),
            mode,
        }))
        .await;
    for (bind, _, _) in listeners {
        let listening = proxy.wait_for(bind, |s| matches!(s, ListenerState::Listening(_)));
        tokio::time::timeout(Duration::from_secs(10), listening)
            .await
            .with_context(|| format!("the proxy did not listen on {bind}: {:?}", proxy.status()))?;
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// A `brume bench proxy-…` child, killed on drop.
pub(crate) struct BenchChild {
    /// The process.
    pub child: Child,
}

impl BenchChild {
    /// Starts `brume bench <args>` and waits until `ready` accepts TCP connections.
    pub async fn start(args: &[String], ready: SocketAddr) -> anyhow::Result<Self> {
        let child = Command::new(std::env::current_exe()?)
            .arg("bench")
            .args(args)
            .env("BRUME_LOG", "warn")
            // As `brume agent` runs (see `main`).
            .env("MIMALLOC_ALLOW_THP", "0")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting brume bench {}", args.join(" ")))?;
        let mut c = Self { child };
        c.wait_port(ready).await?;
        Ok(c)
    }

    /// Waits until `addr` accepts connections, or fails if the child exits first.
    pub async fn wait_port(&mut self, addr: SocketAddr) -> anyhow::Result<()> {
        wait_port(addr, || match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("exited with {status}")),
            _ => None,
        })
        .await
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the child has exited")
    }
}

/// Waits up to 10 s until `addr` accepts a TCP connection; `exited` says why to stop early.
pub(crate) async fn wait_port(
    addr: SocketAddr,
    mut exited: impl FnMut() -> Option<String>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if let Some(why) = exited() {
            anyhow::bail!("the process meant to listen on {addr} {why}");
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "nothing listens on {addr} after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A loopback port that was free a moment ago.
pub(crate) fn free_port() -> anyhow::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}
