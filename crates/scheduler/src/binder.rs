//! The scheduling loop: watches Nodes and Pods, keeps the [`Cache`] current, takes the pods
//! waiting for a node from the [`Queue`], runs [`select`] on each and binds them through
//! `pods/<name>/binding`, many at a time. A pod that fits nowhere gets `PodScheduled=False`
//! and a `FailedScheduling` event, and is retried when the cluster changes. Services and
//! TrafficReports are watched into the [`Demand`] mirror, which seeds each pod's cycle state
//! with the demand of its Services for [`ProximityPlacement`].
//!
//! The loop keeps its own indexed node list rather than a `reflector::Store`, because every
//! pod event must update the resources counted on one node in O(1) and the scheduler must count
//! its own (assumed) placements before the watch reports them.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use brume_api::TrafficReport;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::time::Instant;

use crate::SCHEDULER_NAME;
use crate::cache::Cache;
use crate::demand::Demand;
use crate::error::SchedulerError;
use crate::framework::{CycleState, PodInfo, Profile, Search, feasible_nodes_to_find, select};
use crate::messages;
use crate::plugins::ProximityPlacement;
use crate::queue::Queue;
use crate::recorder::Recorder;

/// How the loop runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Bindings (and failure reports) in flight at once.
    pub max_in_flight: usize,
    /// Unschedulable pods are retried at least this often even if nothing seems to change.
    pub retry_every: Duration,
    /// kube-scheduler's `percentageOfNodesToScore`: 0 is adaptive (see
    /// [`feasible_nodes_to_find`]), 100 examines every node.
    pub percentage_of_nodes_to_score: u32,
    /// Events (`Scheduled`, `FailedScheduling`) created at once, apart from the bindings.
    pub event_concurrency: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_in_flight: 64,
            retry_every: Duration::from_secs(5),
            percentage_of_nodes_to_score: 0,
            event_concurrency: 16,
        }
    }
}

/// Runs the scheduler with the default [`Config`] until a watch fails for good.
pub async fn run(client: kube::Client, profile: Profile) -> Result<(), SchedulerError> {
    run_with(client, profile, Config::default()).await
}

/// Runs the scheduler with the given settings until a watch fails for good.
pub async fn run_with(
    client: kube::Client,
    profile: Profile,
    config: Config,
) -> Result<(), SchedulerError> {
    let mut nodes = watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut pods = watcher(Api::<Pod>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut services = watcher(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .boxed();
    let mut reports = watcher(
        Api::<TrafficReport>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .boxed();
    let mut state = Loop::new(client, profile, config);
    let mut in_flight: FuturesUnordered<BoxFuture<'static, Outcome>> = FuturesUnordered::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!("scheduler started");
    loop {
        if state.synced() {
            while in_flight.len() < state.config.max_in_flight {
                match state.next_job() {
                    // Each job runs as a task of its own, so the requests' work is spread over
                    // the runtime's threads while this loop keeps up with the watches.
                    Some((key, job)) => in_flight.push(
                        tokio::spawn(job)
                            .map(move |done| done.unwrap_or(Outcome::BindFailed { key }))
                            .boxed(),
                    ),
                    None => break,
                }
            }
        }
        tokio::select! {
            ev = nodes.next() => match ev {
                Some(Ok(ev)) => state.on_node(ev),
                Some(Err(e)) => tracing::warn!(error = %e, "node watch failed; retrying"),
                None => return Err(SchedulerError::WatchEnded("node")),
            },
            ev = pods.next() => match ev {
                Some(Ok(ev)) => state.on_pod(ev),
                Some(Err(e)) => tracing::warn!(error = %e, "pod watch failed; retrying"),
                None => return Err(SchedulerError::WatchEnded("pod")),
            },
            ev = services.next() => match ev {
                Some(Ok(ev)) => state.on_service(ev),
                Some(Err(e)) => tracing::warn!(error = %e, "service watch failed; retrying"),
                None => return Err(SchedulerError::WatchEnded("service")),
            },
            ev = reports.next() => match ev {
                Some(Ok(ev)) => state.on_report(ev),
                Some(Err(e)) => state.reports_failed(&e),
                None => return Err(SchedulerError::WatchEnded("trafficreport")),
            },
            Some(outcome) = in_flight.next(), if !in_flight.is_empty() => state.on_outcome(outcome),
            _ = tick.tick() => {
                let now = state.epoch.elapsed();
                state.queue.maybe_retry(now);
            }
        }
    }
}

/// What a finished job reports back to the loop.
enum Outcome {
    /// The pod was bound.
    Bound,
    /// The binding failed; the pod is tried again.
    BindFailed { key: String },
    /// A failure was reported (condition and event).
    Reported,
}

/// Whether a watch is listing (and which objects the list has shown so far) or watching.
enum Sync {
    /// Before the first complete list: nothing may be scheduled yet.
    Starting,
    /// A (re)list is under way; the keys seen so far.
    Listing(HashSet<String>),
    /// Listed; following changes.
    Watching,
}

struct Loop {
    client: kube::Client,
    recorder: Recorder,
    profile: Profile,
    config: Config,
    cache: Cache,
    queue: Queue,
    /// Where the next node search starts (kube-scheduler's `nextStartNodeIndex`).
    start: usize,
    nodes_sync: Sync,
    pods_sync: Sync,
    services_sync: Sync,
    reports_sync: Sync,
    /// Whether each watch has completed one list.
    listed: Listed,
    /// Services and TrafficReports, for the demand of each pod's Services.
    demand: Demand,
    epoch: Instant,
}

/// Which watches have completed one list.
#[derive(Default)]
struct Listed {
    nodes: bool,
    pods: bool,
    services: bool,
    /// Also set when TrafficReports cannot be listed at all: proximity is a preference, and a
    /// server that does not serve the kind must not stop scheduling.
    reports: bool,
}

impl Loop {
    fn new(client: kube::Client, profile: Profile, config: Config) -> Loop {
        let queue = Queue::new(config.retry_every);
        Loop {
            recorder: Recorder::start(client.clone(), config.event_concurrency),
            client,
            profile,
            config,
            cache: Cache::default(),
            queue,
            start: 0,
            nodes_sync: Sync::Starting,
            pods_sync: Sync::Starting,
            services_sync: Sync::Starting,
            reports_sync: Sync::Starting,
            listed: Listed::default(),
            demand: Demand::default(),
            epoch: Instant::now(),
        }
    }

    /// Every watch has listed once, so the cache knows every bound pod and the mirror every
    /// Service and its demand (a restarted scheduler does not place a backlog blind to users).
    fn synced(&self) -> bool {
        let l = &self.listed;
        l.nodes && l.pods && l.services && l.reports
    }

    fn on_node(&mut self, ev: watcher::Event<Node>) {
        match ev {
            watcher::Event::Init => self.nodes_sync = Sync::Listing(HashSet::new()),
            watcher::Event::InitApply(node) => {
                if let Sync::Listing(seen) = &mut self.nodes_sync {
                    seen.insert(node.metadata.name.clone().unwrap_or_default());
                }
                self.apply_node(&node);
            }
            watcher::Event::InitDone => {
                if let Sync::Listing(seen) = std::mem::replace(&mut self.nodes_sync, Sync::Watching)
                {
                    self.cache.retain_nodes(&seen);
                }
                self.listed.nodes = true;
                self.queue.cluster_changed();
            }
            watcher::Event::Apply(node) => self.apply_node(&node),
            watcher::Event::Delete(node) => {
                self.cache
                    .delete_node(node.metadata.name.as_deref().unwrap_or_default());
            }
        }
    }

    fn apply_node(&mut self, node: &Node) {
        if self.cache.apply_node(node) {
            self.queue.cluster_changed();
        }
    }

    fn on_pod(&mut self, ev: watcher::Event<Pod>) {
        match ev {
            watcher::Event::Init => self.pods_sync = Sync::Listing(HashSet::new()),
            watcher::Event::InitApply(pod) => {
                let key = self.apply_pod(&pod);
                if let Sync::Listing(seen) = &mut self.pods_sync {
                    seen.insert(key);
                }
            }
            watcher::Event::InitDone => {
                if let Sync::Listing(seen) = std::mem::replace(&mut self.pods_sync, Sync::Watching)
                {
                    for key in self.cache.pod_keys() {
                        if !seen.contains(&key) {
                            self.cache.unplace(&key);
                        }
                    }
                    self.queue.retain(&seen);
                }
                self.listed.pods = true;
                self.queue.cluster_changed();
            }
            watcher::Event::Apply(pod) => {
                self.apply_pod(&pod);
            }
            watcher::Event::Delete(pod) => {
                let key = key_of(&pod);
                if self.cache.unplace(&key) {
                    self.queue.cluster_changed();
                }
                self.queue.remove(&key);
            }
        }
    }

    fn on_service(&mut self, ev: watcher::Event<Service>) {
        mirror(
            ev,
            &mut self.services_sync,
            &mut self.listed.services,
            &mut self.demand,
            Demand::apply_service,
            Demand::delete_service,
            Demand::retain_services,
        );
    }

    fn on_report(&mut self, ev: watcher::Event<TrafficReport>) {
        mirror(
            ev,
            &mut self.reports_sync,
            &mut self.listed.reports,
            &mut self.demand,
            Demand::apply_report,
            Demand::delete_report,
            Demand::retain_reports,
        );
    }

    fn reports_failed(&mut self, e: &watcher::Error) {
        if self.listed.reports {
            tracing::warn!(error = %e, "traffic report watch failed; retrying");
        } else {
            // Scheduling goes on without demand until the list succeeds.
            tracing::warn!(error = %e, "cannot list traffic reports; scheduling without demand");
            self.listed.reports = true;
        }
    }

    /// Accounts for a pod as the API shows it; returns its key. A bound pod is read once per
    /// node it is bound to: later updates (status, labels) do not change what it counts for,
    /// which keeps the flood of status updates from running pods cheap.
    fn apply_pod(&mut self, pod: &Pod) -> String {
        let key = key_of(pod);
        match view(pod) {
            PodView::Finished => {
                // A finished pod holds no resources.
                if self.cache.unplace(&key) {
                    self.queue.cluster_changed();
                }
                self.queue.remove(&key);
            }
            PodView::Bound(node) => {
                let terminating = pod.metadata.deletion_timestamp.is_some();
                let move_to = crate::pod_info::move_to(&pod.metadata);
                if !self.cache.is_bound_on(&key, node, terminating, move_to) {
                    self.cache
                        .place(Arc::new(PodInfo::from_pod(pod)), node, false);
                }
                self.queue.remove(&key);
            }
            PodView::Waiting => self.queue.upsert(Arc::new(PodInfo::from_pod(pod))),
            PodView::NotOurs => self.queue.remove(&key),
        }
        key
    }

    /// Schedules the next waiting pod and returns the request to send: a binding, or the report
    /// of a new failure. `None` when no pod is waiting (failures already reported send nothing).
    /// The next binding or failure report to run, with the key of its pod.
    fn next_job(&mut self) -> Option<(String, BoxFuture<'static, Outcome>)> {
        loop {
            let popped = self.queue.pop()?;
            let info = popped.info;
            let nodes = self.cache.nodes();
            let search = Search {
                start: self.start,
                feasible_wanted: feasible_nodes_to_find(
                    nodes.len(),
                    self.config.percentage_of_nodes_to_score,
                ),
            };
            let mut state = CycleState::default();
            ProximityPlacement::seed(&mut state, self.demand.for_pod(&info, Timestamp::now()));
            match select(&self.profile, &info, nodes, search, state) {
                Ok(placement) => {
                    self.start = placement.next_start;
                    let node = nodes[placement.node].name.clone();
                    self.cache.place(info.clone(), &node, true);
                    let key = info.key();
                    let job = bind(
                        self.client.clone(),
                        self.recorder.clone(),
                        info,
                        node,
                        popped.was_reported,
                    );
                    return Some((key, job.boxed()));
                }
                Err(why) => {
                    let message = why.to_string();
                    if self.queue.unschedulable(&info.key(), &message) {
                        tracing::debug!(pod = %info.key(), %message, "unschedulable");
                        let key = info.key();
                        let job = report(self.client.clone(), self.recorder.clone(), info, message);
                        return Some((key, job.boxed()));
                    }
                }
            }
        }
    }

    fn on_outcome(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Bound | Outcome::Reported => {}
            Outcome::BindFailed { key } => {
                self.cache.forget_assumed(&key);
                self.queue.binding_failed(&key);
            }
        }
    }
}

/// What a pod, as the API shows it, means to the scheduler.
#[derive(Debug, PartialEq, Eq)]
enum PodView<'a> {
    /// `Succeeded` or `Failed`: it holds no resources any more.
    Finished,
    /// Bound to this node: it counts there.
    Bound(&'a str),
    /// Waits for this scheduler to pick a node.
    Waiting,
    /// Unbound, but for another scheduler or being deleted.
    NotOurs,
}

fn view(pod: &Pod) -> PodView<'_> {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return PodView::Finished;
    }
    let spec = pod.spec.as_ref();
    if let Some(node) = spec
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
    {
        return PodView::Bound(node);
    }
    let ours = spec
        .and_then(|s| s.scheduler_name.as_deref())
        .is_none_or(|n| n.is_empty() || n == SCHEDULER_NAME);
    if ours && pod.metadata.deletion_timestamp.is_none() {
        PodView::Waiting
    } else {
        PodView::NotOurs
    }
}

/// Follows a watch that only feeds the demand mirror: applies and deletes objects, and after a
/// (re)list forgets the ones the list no longer shows. Demand decides no pod's feasibility, so
/// nothing here retries unschedulable pods.
fn mirror<K: Resource>(
    ev: watcher::Event<K>,
    sync: &mut Sync,
    listed: &mut bool,
    demand: &mut Demand,
    apply: fn(&mut Demand, &K),
    delete: fn(&mut Demand, &K),
    retain: fn(&mut Demand, &HashSet<String>),
) {
    let key = |k: &K| {
        let meta = k.meta();
        format!(
            "{}/{}",
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default()
        )
    };
    match ev {
        watcher::Event::Init => *sync = Sync::Listing(HashSet::new()),
        watcher::Event::InitApply(k) => {
            if let Sync::Listing(seen) = sync {
                seen.insert(key(&k));
            }
            apply(demand, &k);
        }
        watcher::Event::InitDone => {
            if let Sync::Listing(seen) = std::mem::replace(sync, Sync::Watching) {
                retain(demand, &seen);
            }
            *listed = true;
        }
        watcher::Event::Apply(k) => apply(demand, &k),
        watcher::Event::Delete(k) => delete(demand, &k),
    }
}

fn key_of(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Binds the pod, then clears an earlier `PodScheduled=False` and records the `Scheduled`
/// event. Only the binding decides the outcome; the rest is best effort, as in kube-scheduler.
async fn bind(
    client: kube::Client,
    recorder: Recorder,
    pod: Arc<PodInfo>,
    node: String,
    was_reported: bool,
) -> Outcome {
    let pods: Api<Pod> = Api::namespaced(client, &pod.namespace);
    let body = messages::binding(&pod, &node);
    let bound = pods
        .create_subresource::<_, serde_json::Value>(
            "binding",
            &pod.name,
            &PostParams::default(),
            &body,
        )
        .await;
    if let Err(e) = bound {
        tracing::debug!(pod = %pod.key(), %node, error = %e, "binding failed; will retry");
        return Outcome::BindFailed { key: pod.key() };
    }
    let now = Timestamp::now();
    if was_reported {
        let patch = messages::pod_scheduled(true, None, None, now);
        if let Err(e) = pods
            .patch_status(&pod.name, &PatchParams::default(), &Patch::Strategic(patch))
            .await
        {
            tracing::debug!(pod = %pod.key(), error = %e, "could not set PodScheduled=True");
        }
    }
    let message = format!("Successfully assigned {} to {node}", pod.key());
    recorder.record(messages::event(&pod, "Normal", "Scheduled", &message, now));
    Outcome::Bound
}

/// Sets `PodScheduled=False` with the counted reasons and records a `FailedScheduling` event.
async fn report(
    client: kube::Client,
    recorder: Recorder,
    pod: Arc<PodInfo>,
    message: String,
) -> Outcome {
    recorder.record(messages::event(
        &pod,
        "Warning",
        "FailedScheduling",
        &message,
        Timestamp::now(),
    ));
    let pods: Api<Pod> = Api::namespaced(client, &pod.namespace);
    let now = Timestamp::now();
    let patch = messages::pod_scheduled(false, Some("Unschedulable"), Some(&message), now);
    if let Err(e) = pods
        .patch_status(&pod.name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
    {
        tracing::debug!(pod = %pod.key(), error = %e, "could not set PodScheduled=False");
    }
    Outcome::Reported
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value, status: serde_json::Value, deleting: bool) -> Pod {
        let mut meta = json!({"name": "p", "namespace": "ns"});
        if deleting {
            meta["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        serde_json::from_value(json!({"metadata": meta, "spec": spec, "status": status})).unwrap()
    }

    /// Feeds Service events to [`mirror`] as the loop does.
    fn follow(m: &mut (Sync, bool, Demand), events: Vec<watcher::Event<Service>>) {
        for ev in events {
            let (apply, delete) = (Demand::apply_service, Demand::delete_service);
            mirror(
                ev,
                &mut m.0,
                &mut m.1,
                &mut m.2,
                apply,
                delete,
                Demand::retain_services,
            );
        }
    }

    #[test]
    fn a_relist_forgets_the_services_it_no_longer_shows() {
        let web: Service = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"selector": {"app": "web"}}}))
        .unwrap();
        let p = PodInfo {
            namespace: "ns".into(),
            labels: [("app".to_string(), "web".to_string())].into(),
            ..PodInfo::default()
        };
        use watcher::Event::{Init, InitApply, InitDone};
        let mut m = (Sync::Starting, false, Demand::default());
        follow(&mut m, vec![Init, InitApply(web), InitDone]);
        assert!(m.1, "listed");
        assert_eq!(m.2.for_pod(&p, Timestamp::now()).selectors.len(), 1);
        follow(&mut m, vec![Init, InitDone]);
        assert!(m.2.for_pod(&p, Timestamp::now()).selectors.is_empty());
    }

    #[test]
    fn a_pod_is_waiting_bound_finished_or_not_ours() {
        let c = json!([{"name": "c"}]);
        let waiting = pod(json!({"containers": c}), json!({"phase": "Pending"}), false);
        assert_eq!(view(&waiting), PodView::Waiting);
        assert_eq!(key_of(&waiting), "ns/p");
        let named = pod(
            json!({"containers": c, "schedulerName": "default-scheduler"}),
            json!({}),
            false,
        );
        assert_eq!(view(&named), PodView::Waiting);
        let other = pod(
            json!({"containers": c, "schedulerName": "fancy"}),
            json!({}),
            false,
        );
        assert_eq!(view(&other), PodView::NotOurs);
        let deleting = pod(json!({"containers": c}), json!({}), true);
        assert_eq!(view(&deleting), PodView::NotOurs);
        let bound = pod(json!({"containers": c, "nodeName": "n1"}), json!({}), true);
        assert_eq!(view(&bound), PodView::Bound("n1"));
        let done = pod(
            json!({"containers": c, "nodeName": "n1"}),
            json!({"phase": "Succeeded"}),
            false,
        );
        assert_eq!(view(&done), PodView::Finished);
    }
}
