//! One Deployment's pods as the live controllers see them, carried through the simulation: the
//! users-moving and load scenarios hand [`SimDeployment::deployment`] and
//! [`SimDeployment::pods`] (real `k8s-openapi` objects) to the controllers' own pure decisions
//! (`follow_users::decide`, `latency_autoscaler::decide`, `hpa::decide`) and carry out what they
//! answer as the live cluster would:
//!
//! - a scale-up schedules each new pod through the live scheduler profile
//!   ([`placement::schedule`], with the ReplicaMove score honouring a `move-to` mark), and the
//!   pod is Ready and listed in the endpoints [`POD_STARTUP_S`] later;
//! - a scale-down deletes the pods the ReplicaSet controller's own
//!   [`deletion_order`](brume_controllers::replicaset::decide::deletion_order) puts first, and
//!   each leaves the endpoints at once (it is terminating).
//!
//! The ReplicaSet and Deployment controllers themselves are not stepped: a replica count
//! written takes effect at once, and the Deployment's status is always caught up. Simulated
//! time `t` seconds is [`timestamp`]`(t)`.

use std::collections::BTreeMap;
use std::sync::Arc;

use brume_api::placement::{
    LAST_MOVE_ANNOTATION, MOVE_ANNOTATION, MOVE_TO_ANNOTATION, POD_DELETION_COST,
};
use brume_controllers::fog_inputs::{DemandView, Site};
use brume_controllers::follow_users::Step;
use brume_controllers::replicaset::decide::deletion_order;
use brume_scheduler::NodeInfo;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStatus};
use k8s_openapi::api::core::v1::{
    Container, Pod, PodCondition, PodSpec, PodStatus, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::engine::Engine;
use crate::estimates::Estimates;
use crate::placement::{self, node_name};
use crate::scenario::failures::POD_STARTUP_S;

/// Simulated second 0 as a wall-clock time (the controllers compare timestamps).
const EPOCH_S: i64 = 1_800_000_000;

/// Simulated time `t` (seconds) as a timestamp, to the millisecond.
pub fn timestamp(t: f64) -> Timestamp {
    let ms = (t * 1000.0).round() as i64;
    Timestamp::from_second(EPOCH_S).expect("in range") + SignedDuration::from_millis(ms)
}

/// The node index of a scheduler node name ([`node_name`]).
pub fn node_index(name: &str) -> Option<usize> {
    name.strip_prefix("node-")?.parse().ok()
}

/// The nodes as the fog controllers read them: each node's location from `estimates`, usable
/// when the scheduler's node is ready.
pub fn sites(estimates: &Estimates, nodes: &[NodeInfo]) -> Vec<Site> {
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| Site {
            name: n.name.clone(),
            location: estimates.location(i).cloned().unwrap_or_default(),
            usable: n.ready,
        })
        .collect()
}

/// The fresh demand reports of the Deployment's Service: one per gateway with users, at the
/// rate its users send (requests per second).
pub fn demand_view(demand: &[(usize, f64)]) -> DemandView {
    let per_gateway: Vec<(String, f64)> = demand
        .iter()
        .filter(|(_, r)| *r > 0.0)
        .map(|&(g, r)| (node_name(g), r))
        .collect();
    DemandView {
        fresh: per_gateway.len(),
        per_gateway,
        stale: 0,
    }
}

/// One pod of the Deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct SimPod {
    /// Its name, the scheduler's (`sim-<index>`).
    pub name: String,
    /// Its node.
    pub node: usize,
    /// When it was created and bound.
    pub created_s: f64,
    /// When it is Ready and joins the endpoints.
    pub ready_s: f64,
    /// Its replica in the engine, once listed.
    pub replica: Option<usize>,
    /// `controller.kubernetes.io/pod-deletion-cost`.
    pub deletion_cost: Option<i32>,
    /// `fog.brume.io/move-to`.
    pub move_to: Option<String>,
}

/// A Deployment, its pods and the nodes they run on.
pub struct SimDeployment {
    /// `spec.replicas`.
    replicas: i32,
    /// The Deployment's annotations.
    annotations: BTreeMap<String, String>,
    /// The pods that are not being deleted.
    pods: Vec<SimPod>,
    /// The scheduler's view of the nodes, the Deployment's pods counted.
    nodes: Vec<NodeInfo>,
    /// Whether the scheduler runs ProximityPlacement.
    proximity: bool,
    /// The Service's demand the scheduler reads.
    demand: Vec<(usize, f64)>,
    /// The next pod index.
    next_index: usize,
    /// Pods created in all, the starting ones included.
    created: usize,
    /// Pods deleted in all.
    deleted: usize,
    /// Events the controllers recorded: (time, type, reason, message).
    pub events: Vec<(f64, &'static str, &'static str, String)>,
}

impl SimDeployment {
    /// A Deployment whose pods already run, Ready since time 0, on `placed` (the indices the
    /// scheduler chose on `nodes`, where they are already counted: `pods` named
    /// `sim-0`..`sim-<n-1>` as [`placement::schedule`] names them); each is listed in `engine`.
    pub fn running(
        nodes: Vec<NodeInfo>,
        placed: &[usize],
        proximity: bool,
        engine: &mut Engine<'_>,
    ) -> SimDeployment {
        let pods: Vec<SimPod> = placed
            .iter()
            .enumerate()
            .map(|(i, &node)| SimPod {
                name: format!("sim-{i}"),
                node,
                created_s: 0.0,
                ready_s: 0.0,
                replica: Some(engine.add_replica(node)),
                deletion_cost: None,
                move_to: None,
            })
            .collect();
        SimDeployment {
            replicas: i32::try_from(pods.len()).unwrap_or(i32::MAX),
            annotations: BTreeMap::new(),
            next_index: pods.len(),
            created: pods.len(),
            deleted: 0,
            pods,
            nodes,
            proximity,
            demand: Vec::new(),
            events: Vec::new(),
        }
    }

    /// `spec.replicas`.
    pub fn replicas(&self) -> i32 {
        self.replicas
    }

    /// The pods not being deleted.
    pub fn live_pods(&self) -> &[SimPod] {
        &self.pods
    }

    /// The scheduler's nodes.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// Pods created and deleted so far.
    pub fn churn(&self) -> (usize, usize) {
        (self.created, self.deleted)
    }

    /// Sets the demand the scheduler's ProximityPlacement reads for the next pods.
    pub fn set_demand(&mut self, demand: &[(usize, f64)]) {
        self.demand = demand.to_vec();
    }

    /// Lists in `engine` every pod that is Ready by `now_s`.
    pub fn list_ready(&mut self, engine: &mut Engine<'_>, now_s: f64) {
        for p in self.pods.iter_mut() {
            if p.replica.is_none() && p.ready_s <= now_s {
                p.replica = Some(engine.add_replica(p.node));
            }
        }
    }

    /// The next time a pod becomes Ready, if one is starting.
    pub fn next_ready_s(&self) -> Option<f64> {
        self.pods
            .iter()
            .filter(|p| p.replica.is_none())
            .map(|p| p.ready_s)
            .min_by(f64::total_cmp)
    }

    /// The Deployment as the API serves it at `now_s`: its replicas, annotations and a status
    /// that is caught up.
    pub fn deployment(&self, now_s: f64) -> Deployment {
        let ready = self.pods.iter().filter(|p| p.ready_s <= now_s).count();
        let count = |n: usize| Some(i32::try_from(n).unwrap_or(i32::MAX));
        Deployment {
            metadata: ObjectMeta {
                name: Some("sim".into()),
                namespace: Some("default".into()),
                generation: Some(1),
                annotations: Some(self.annotations.clone()),
                ..ObjectMeta::default()
            },
            spec: DeploymentSpec {
                replicas: Some(self.replicas),
                ..DeploymentSpec::default()
            },
            status: Some(DeploymentStatus {
                observed_generation: Some(1),
                replicas: count(self.pods.len()),
                ready_replicas: count(ready),
                updated_replicas: count(self.pods.len()),
                available_replicas: count(ready),
                ..DeploymentStatus::default()
            }),
        }
    }

    /// The pods as the API serves them at `now_s`.
    pub fn pods(&self, now_s: f64) -> Vec<Pod> {
        self.pods.iter().map(|p| pod_object(p, now_s)).collect()
    }

    /// Writes `spec.replicas` and carries it out at `now_s`: new pods through the scheduler,
    /// surplus pods deleted in the ReplicaSet controller's order.
    pub fn scale(&mut self, engine: &mut Engine<'_>, replicas: i32, now_s: f64) {
        self.replicas = replicas.max(0);
        let want = usize::try_from(self.replicas).unwrap_or(0);
        let have = self.pods.len();
        if want > have {
            let placed = placement::schedule(
                &mut self.nodes,
                &self.demand,
                want - have,
                self.proximity,
                self.next_index,
            );
            for node in placed {
                self.pods.push(SimPod {
                    name: format!("sim-{}", self.next_index),
                    node,
                    created_s: now_s,
                    ready_s: now_s + POD_STARTUP_S,
                    replica: None,
                    deletion_cost: None,
                    move_to: None,
                });
                self.next_index += 1;
                self.created += 1;
            }
        } else if want < have {
            let now = timestamp(now_s);
            let mut ranked: Vec<(Pod, usize)> = self
                .pods
                .iter()
                .enumerate()
                .map(|(i, p)| (pod_object(p, now_s), i))
                .collect();
            ranked.sort_by(|a, b| deletion_order(&a.0, &b.0, now));
            let mut doomed: Vec<usize> = ranked[..have - want].iter().map(|(_, i)| *i).collect();
            doomed.sort_unstable_by(|a, b| b.cmp(a));
            for i in doomed {
                let gone = self.pods.remove(i);
                if let Some(id) = gone.replica {
                    engine.unlist(id);
                }
                self.nodes[gone.node].remove_pod("default", &gone.name);
                self.deleted += 1;
            }
        }
    }

    /// Carries out one step of the re-placement controller at `now_s`.
    pub fn apply(&mut self, engine: &mut Engine<'_>, step: Step, now_s: f64) {
        match step {
            Step::SetMove(state) => match state {
                Some(s) => {
                    let json = serde_json::to_string(&s).expect("a move state serialises");
                    self.annotations.insert(MOVE_ANNOTATION.into(), json);
                }
                None => {
                    self.annotations.remove(MOVE_ANNOTATION);
                }
            },
            Step::StampLastMove(at) => {
                self.annotations
                    .insert(LAST_MOVE_ANNOTATION.into(), at.to_string());
            }
            Step::MarkPod(name, to) => {
                if let Some(p) = self.pods.iter_mut().find(|p| p.name == name) {
                    p.move_to = to.clone();
                    let node = &mut self.nodes[p.node];
                    for info in node.pods.iter_mut().filter(|i| i.name == name) {
                        let mut marked = (**info).clone();
                        marked.move_to = to.clone();
                        *info = Arc::new(marked);
                    }
                }
            }
            Step::DeletionCost(name, cost) => {
                if let Some(p) = self.pods.iter_mut().find(|p| p.name == name) {
                    p.deletion_cost = Some(cost);
                }
            }
            Step::Scale(n) => self.scale(engine, n, now_s),
            Step::Event(type_, reason, message) => {
                self.events.push((now_s, type_, reason, message));
            }
        }
    }
}

/// The name of the pods' one container.
pub const CONTAINER: &str = "app";

/// The pods' one container, requesting what the scheduler counts for a replica
/// ([`placement::replica_pod`]): the HPA reads the CPU request as 100 % utilization.
fn container() -> Container {
    let requests = placement::replica_pod(0).requests;
    Container {
        name: CONTAINER.into(),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                (
                    "cpu".to_string(),
                    Quantity(format!("{}m", requests.cpu_milli)),
                ),
                ("memory".to_string(), Quantity(requests.memory.to_string())),
            ])),
            ..ResourceRequirements::default()
        }),
        ..Container::default()
    }
}

fn pod_object(p: &SimPod, now_s: f64) -> Pod {
    let mut annotations = BTreeMap::new();
    if let Some(c) = p.deletion_cost {
        annotations.insert(POD_DELETION_COST.to_string(), c.to_string());
    }
    if let Some(to) = &p.move_to {
        annotations.insert(MOVE_TO_ANNOTATION.to_string(), to.clone());
    }
    let ready = p.ready_s <= now_s;
    Pod {
        metadata: ObjectMeta {
            name: Some(p.name.clone()),
            namespace: Some("default".into()),
            labels: Some([("app".to_string(), "sim".to_string())].into()),
            annotations: Some(annotations),
            creation_timestamp: Some(Time(timestamp(p.created_s))),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node_name(p.node)),
            containers: vec![container()],
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some(if ready { "Running" } else { "Pending" }.into()),
            start_time: Some(Time(timestamp(p.created_s))),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                last_transition_time: Some(Time(timestamp(if ready {
                    p.ready_s
                } else {
                    p.created_s
                }))),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ServiceModel;
    use crate::router::Routing;
    use crate::topology::{CitySettings, Topology};

    /// A city of 20 nodes, its coordinates, one zone.
    struct Fog {
        topology: Topology,
        estimates: Estimates,
        zones: Vec<u16>,
        seed: u64,
    }

    impl Fog {
        fn new(seed: u64) -> Fog {
            let topology = Topology::city(&CitySettings::new(20, seed));
            let estimates =
                Estimates::compute(&topology, crate::estimates::Distances::Vivaldi, seed).unwrap();
            Fog {
                topology,
                estimates,
                zones: vec![0; 20],
                seed,
            }
        }

        fn engine(&self) -> Engine<'_> {
            let service = ServiceModel::default();
            let (t, e, z) = (&self.topology, &self.estimates, &self.zones);
            Engine::new(t, e, z, Routing::Random, service, 30.0, self.seed)
        }

        /// The scheduler's nodes, no background load.
        fn nodes(&self) -> Vec<NodeInfo> {
            placement::cluster(&self.estimates, 20, &[0.0; 20])
        }
    }

    #[test]
    fn scaling_schedules_then_lists_after_startup_and_deletes_in_the_replicasets_order() {
        let fog = Fog::new(3);
        let mut engine = fog.engine();
        let mut nodes = fog.nodes();
        let placed = placement::schedule(&mut nodes, &[], 2, false, 0);
        let mut d = SimDeployment::running(nodes, &placed, false, &mut engine);
        assert_eq!(engine.listed().len(), 2);
        d.scale(&mut engine, 3, 10.0);
        assert_eq!(d.live_pods().len(), 3);
        assert_eq!(d.next_ready_s(), Some(10.0 + POD_STARTUP_S));
        let status = d.deployment(10.0).status.unwrap();
        assert_eq!((status.replicas, status.ready_replicas), (Some(3), Some(2)));
        d.list_ready(&mut engine, 12.0);
        assert_eq!(engine.listed().len(), 2, "not Ready before its startup");
        d.list_ready(&mut engine, 15.0);
        assert_eq!(engine.listed().len(), 3);
        // The lowest deletion cost goes first, before the newest pod.
        d.apply(&mut engine, Step::DeletionCost("sim-0".into(), -5), 20.0);
        d.scale(&mut engine, 2, 20.0);
        let names: Vec<&str> = d.live_pods().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["sim-1", "sim-2"]);
        assert_eq!(engine.listed().len(), 2);
        let on_nodes: usize = d.nodes().iter().map(|n| n.pods.len()).sum();
        assert_eq!(on_nodes, 2, "the deleted pod left the scheduler's node");
        assert_eq!(d.churn(), (3, 1));
    }

    #[test]
    fn a_marked_pods_replacement_goes_to_its_target() {
        let fog = Fog::new(4);
        let mut engine = fog.engine();
        let mut nodes = fog.nodes();
        let placed = placement::schedule(&mut nodes, &[], 1, true, 0);
        let target = (placed[0] + 7) % 20;
        let mut d = SimDeployment::running(nodes, &placed, true, &mut engine);
        d.apply(
            &mut engine,
            Step::MarkPod("sim-0".into(), Some(node_name(target))),
            1.0,
        );
        d.apply(&mut engine, Step::Scale(2), 1.0);
        assert_eq!(d.live_pods()[1].node, target);
        assert_eq!(node_index(&node_name(target)), Some(target));
        let pods = d.pods(1.0);
        let marks = pods[0].metadata.annotations.as_ref().unwrap();
        assert_eq!(marks.get(MOVE_TO_ANNOTATION), Some(&node_name(target)));
    }
}
