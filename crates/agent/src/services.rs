//! The shell that keeps the node's proxy in step with the cluster (DESIGN §7): it mirrors
//! Services, EndpointSlices and Nodes with kube-rs reflectors and, after each burst of
//! changes, hands the routes decided by [`crate::routes`] to the proxy's table and listeners.
//!
//! While the server is away the reflectors keep their last contents, so the proxy keeps
//! serving its users with what it knew (DESIGN §8, autonomy); the watches retry with back-off.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::runtime::reflector::{self, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;

use crate::routes::{NodeMap, routes};
use brume_proxy::Proxy;

/// How long a burst of changes may last before the routes are recomputed: a rolling update
/// moves many endpoints at once, and one recomputation per burst is enough.
const SETTLE: Duration = Duration::from_millis(20);

/// What the shell mirrors, readable by the other parts of the agent (DNS, demand reports).
#[derive(Clone)]
pub struct ClusterView {
    /// The Services of every namespace.
    pub services: Store<Service>,
    /// The Nodes.
    pub nodes: Store<Node>,
    /// Bumped after each recomputation, so readers know the stores moved.
    pub changed: watch::Receiver<u64>,
}

/// Starts mirroring; the returned view fills in as the watches list. The proxy is updated
/// until the process ends.
pub fn start(
    client: kube::Client,
    node: String,
    address: IpAddr,
    proxy: Arc<Proxy>,
) -> ClusterView {
    let (services, services_w) = reflector::store::<Service>();
    let (slices, slices_w) = reflector::store::<EndpointSlice>();
    let (nodes, nodes_w) = reflector::store::<Node>();
    let cfg = watcher::Config::default;
    let svc = reflector(
        services_w,
        watcher(Api::<Service>::all(client.clone()), cfg()),
    )
    .default_backoff()
    .map(|e| e.map(|_| ()).map_err(|e| ("services", e.to_string())))
    .boxed();
    let eps = reflector(
        slices_w,
        watcher(Api::<EndpointSlice>::all(client.clone()), cfg()),
    )
    .default_backoff()
    .map(|e| e.map(|_| ()).map_err(|e| ("endpointslices", e.to_string())))
    .boxed();
    let nds = reflector(nodes_w, watcher(Api::<Node>::all(client), cfg()))
        .default_backoff()
        .map(|e| e.map(|_| ()).map_err(|e| ("nodes", e.to_string())))
        .boxed();
    let (changed_tx, changed) = watch::channel(0u64);
    let view = ClusterView {
        services: services.clone(),
        nodes: nodes.clone(),
        changed,
    };
    let (ready_s, ready_e, ready_n) = (services.clone(), slices.clone(), nodes.clone());
    let mut events = stream::select_all([svc, eps, nds]);
    let (dirty_tx, mut dirty_rx) = watch::channel(());
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                Ok(()) => dirty_tx.send_replace(()),
                Err((what, error)) => {
                    tracing::warn!(%error, "{what} watch interrupted; the proxy keeps its routes")
                }
            }
        }
    });
    tokio::spawn(async move {
        // The first routes wait for all three lists, so a half-listed cluster never unbinds a
        // listener that has endpoints.
        let _ = tokio::join!(
            ready_s.wait_until_ready(),
            ready_e.wait_until_ready(),
            ready_n.wait_until_ready()
        );
        let mut generation = 0u64;
        loop {
            tokio::time::sleep(SETTLE).await;
            dirty_rx.mark_unchanged();
            let map = NodeMap::new(node.clone(), &nodes.state());
            let decided = routes(&services.state(), &slices.state(), &map, address);
            proxy.table().replace_all(decided.ports);
            proxy.set_listeners(decided.listeners).await;
            generation += 1;
            changed_tx.send_replace(generation);
            if dirty_rx.changed().await.is_err() {
                return;
            }
        }
    });
    view
}
