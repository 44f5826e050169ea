//! The agent's Vivaldi prober (DESIGN §8): it measures RTTs to peer agents over UDP, feeds them
//! to the pure [`brume_fog::VivaldiNode`], and publishes the node's coordinate in the
//! `fog.brume.io/coordinates` annotation when it moved meaningfully.
//!
//! The wire protocol is one JSON datagram each way on the agent port ([`PROBE_PORT`]/udp):
//! `{"probe": <nonce>}` is answered with `{"probe": <nonce>, "node": <name>, "coordinate":
//! {...}, "adjustment": <ms>}`. Carrying the responder's current coordinate in the answer, as
//! Serf does in its ping acks, means a sample is never paired with a stale position read from
//! the API. Only well-formed probes are answered, and the answer is at most a few hundred
//! bytes.
//!
//! Under `brume dev --latency-matrix`, the emulated RTT to the peer ([`brume_proxy::LinkDelay`])
//! is waited before the probe is sent, so the measured sample is the emulated link plus the
//! real loopback round trip, as for proxied hops.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brume_fog::{COORDINATES_ANNOTATION, Coordinate, ProbePlan, VivaldiConfig, VivaldiNode};
use brume_proxy::LinkDelay;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::Store;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// The annotation where a node publishes the RTTs it measured to its nearest peers, as JSON
/// `{"<peer>": <median ms>, ...}`, next to its coordinate: the scheduler, the controllers and
/// the proxies take a measurement before an estimate (`brume_fog::named_rtt_ms`), and `brume
/// nodes --latency` puts the estimate beside it.
pub use brume_fog::MEASURED_RTT_ANNOTATION;

/// How many recent samples per peer the published median is taken over.
const MEASURED_SAMPLES: usize = 5;

/// How many peers' samples an agent keeps: four times the peers it publishes, so a peer that
/// drifts nearer is still known, while on a cluster of thousands the map stays small (the
/// random half of the probes reaches every peer in time).
const MEASURED_KEPT: usize = 4 * brume_fog::MEASURED_PEERS;

/// Each peer with the median of its samples (the upper one of an even count; infinite for
/// none), nearest first, ties by name.
fn by_median(samples: &HashMap<String, Vec<f64>>) -> Vec<(&str, f64)> {
    let median = |v: &Vec<f64>| {
        let mut v = v.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::INFINITY)
    };
    let mut peers: Vec<(&str, f64)> = samples
        .iter()
        .map(|(peer, v)| (peer.as_str(), median(v)))
        .collect();
    peers.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(b.0)));
    peers
}

/// Drops the peers of the highest medians until at most `keep` are left.
fn forget_the_farthest(samples: &mut HashMap<String, Vec<f64>>, keep: usize) {
    if samples.len() <= keep {
        return;
    }
    let farthest: Vec<String> = by_median(samples)
        .into_iter()
        .skip(keep)
        .map(|(peer, _)| peer.to_string())
        .collect();
    for peer in farthest {
        samples.remove(&peer);
    }
}

/// The median of recent samples to each peer, rounded to 0.1 ms, for the annotation: the
/// [`brume_fog::MEASURED_PEERS`] nearest peers by that median (ties by name).
fn nearest_medians(samples: &HashMap<String, Vec<f64>>) -> BTreeMap<String, f64> {
    by_median(samples)
        .into_iter()
        .filter(|(_, ms)| ms.is_finite())
        .take(brume_fog::MEASURED_PEERS)
        .map(|(peer, ms)| (peer.to_string(), (ms * 10.0).round() / 10.0))
        .collect()
}

/// [`nearest_medians`] as the annotation's JSON.
fn measured_json(medians: &BTreeMap<String, f64>) -> String {
    serde_json::to_string(medians).unwrap_or_default()
}

/// The UDP port probes are answered on: the agent's port (its TCP side serves logs).
pub const PROBE_PORT: u16 = crate::logs::AGENT_PORT;

/// How the prober paces itself.
#[derive(Debug, Clone)]
pub struct ProberConfig {
    /// Time between two probes (Serf probes about once a second).
    pub interval: Duration,
    /// How long an answer may take before the probe counts as lost.
    pub timeout: Duration,
    /// Which peers to probe.
    pub plan: ProbePlan,
    /// How far (ms, vector plus height) the coordinate must move before it is republished.
    pub republish_ms: f64,
    /// How much the error estimate must change before it is republished.
    pub republish_error: f64,
    /// The shortest time between two publications, to spare the API server.
    pub min_publish_interval: Duration,
    /// Samples taken before the first publication.
    pub first_publish_after: u64,
}

impl Default for ProberConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(500),
            timeout: Duration::from_secs(2),
            plan: ProbePlan::default(),
            republish_ms: 2.0,
            republish_error: 0.05,
            min_publish_interval: Duration::from_secs(2),
            first_publish_after: 3,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Probe {
    probe: u64,
}

#[derive(Serialize, Deserialize)]
struct Answer {
    probe: u64,
    node: String,
    coordinate: Coordinate,
    adjustment: f64,
}

/// The node's Vivaldi state, shared by the responder and the prober.
pub type SharedVivaldi = Arc<Mutex<VivaldiNode<String>>>;

/// A Vivaldi state resumed from the coordinate the node published before a restart, or new.
pub fn initial_state(published: Option<&str>) -> SharedVivaldi {
    let config = VivaldiConfig::default();
    let resumed = published
        .and_then(|text| Coordinate::from_annotation(text).ok())
        .and_then(|c| VivaldiNode::resume(config.clone(), c).ok());
    let node = resumed.unwrap_or_else(|| {
        VivaldiNode::new(config).expect("Serf's default Vivaldi configuration is valid")
    });
    Arc::new(Mutex::new(node))
}

fn lock(state: &SharedVivaldi) -> std::sync::MutexGuard<'_, VivaldiNode<String>> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Answers probes on `socket` until the process ends.
pub async fn respond(socket: Arc<UdpSocket>, node: String, state: SharedVivaldi) {
    let mut buf = [0u8; 512];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Ok(Probe { probe }) = serde_json::from_slice::<Probe>(&buf[..n]) else {
            continue;
        };
        let answer = {
            let v = lock(&state);
            Answer {
                probe,
                node: node.clone(),
                coordinate: v.coordinate().clone(),
                adjustment: v.adjustment_ms(),
            }
        };
        if let Ok(bytes) = serde_json::to_vec(&answer) {
            let _ = socket.send_to(&bytes, from).await;
        }
    }
}

/// The InternalIP of a node, where its agent answers probes.
fn internal_ip(node: &Node) -> Option<IpAddr> {
    node.status
        .as_ref()?
        .addresses
        .iter()
        .flatten()
        .find(|a| a.type_ == "InternalIP")?
        .address
        .parse()
        .ok()
}

/// What the node last published.
#[derive(Debug, Clone)]
struct Published {
    coordinate: Coordinate,
    /// The peers whose measured RTTs it published.
    peers: Vec<String>,
    at: Instant,
}

/// Whether the coordinate (and the measured RTTs) should be published now: after the first
/// samples, no more often than `min_publish_interval`, and only when the nearest peers to
/// publish (`peers`, by name) changed or the coordinate moved or its error changed enough since
/// the last publication (a median that drifts alone does not cause a write).
fn publish_due(
    config: &ProberConfig,
    samples: u64,
    peers: &[String],
    last: Option<&Published>,
    current: &Coordinate,
    now: Instant,
) -> bool {
    if samples < config.first_publish_after {
        return false;
    }
    let Some(last) = last else {
        return true;
    };
    now.duration_since(last.at) >= config.min_publish_interval
        && (peers != last.peers.as_slice()
            || brume_fog::moved_meaningfully(&last.coordinate, current, config.republish_ms)
            || (last.coordinate.error - current.error).abs() > config.republish_error)
}

/// One measured round trip to `peer`, in milliseconds, with the peer's coordinate.
async fn probe_once(
    address: IpAddr,
    peer: SocketAddr,
    delay: Duration,
    timeout: Duration,
) -> Option<(f64, Answer)> {
    let socket = UdpSocket::bind(SocketAddr::new(address, 0)).await.ok()?;
    let nonce: u64 = rand::rng().random();
    let bytes = serde_json::to_vec(&Probe { probe: nonce }).ok()?;
    let started = Instant::now();
    tokio::time::sleep(delay).await;
    socket.send_to(&bytes, peer).await.ok()?;
    let mut buf = [0u8; 2048];
    let answer = tokio::time::timeout(timeout, async {
        loop {
            let (n, from) = socket.recv_from(&mut buf).await.ok()?;
            if from != peer {
                continue;
            }
            match serde_json::from_slice::<Answer>(&buf[..n]) {
                Ok(a) if a.probe == nonce => return Some(a),
                _ => continue,
            }
        }
    })
    .await
    .ok()??;
    Some((started.elapsed().as_secs_f64() * 1000.0, answer))
}

/// Probes peers and publishes the coordinate until the process ends.
pub async fn run(
    client: kube::Client,
    me: String,
    address: IpAddr,
    nodes: Store<Node>,
    state: SharedVivaldi,
    link: Option<Arc<dyn LinkDelay>>,
    config: ProberConfig,
) {
    let api: Api<Node> = Api::all(client);
    let mut published: Option<Published> = None;
    let mut samples = 0u64;
    let mut measured: HashMap<String, Vec<f64>> = HashMap::new();
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let peers: HashMap<String, (IpAddr, Option<Coordinate>)> = nodes
            .state()
            .iter()
            .filter(|n| n.metadata.name.as_deref() != Some(&me))
            .filter_map(|n| {
                let name = n.metadata.name.clone()?;
                let coordinate = n
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(COORDINATES_ANNOTATION))
                    .and_then(|t| Coordinate::from_annotation(t).ok());
                Some((name, (internal_ip(n)?, coordinate)))
            })
            .collect();
        let estimates: Vec<(String, Option<f64>)> = {
            let v = lock(&state);
            let mut e: Vec<_> = peers
                .iter()
                .map(|(name, (_, c))| (name.clone(), c.as_ref().map(|c| v.estimate_rtt_ms(c, 0.0))))
                .collect();
            e.sort_by(|a, b| a.0.cmp(&b.0));
            e
        };
        let (coin, pick) = {
            let mut rng = rand::rng();
            (rng.random::<f64>(), rng.random::<f64>())
        };
        let Some(peer) = config.plan.next(&estimates, coin, pick).cloned() else {
            continue;
        };
        let (ip, _) = peers[&peer];
        let delay = link.as_ref().map(|l| l.delay_to(&peer)).unwrap_or_default();
        let target = SocketAddr::new(ip, PROBE_PORT);
        let Some((rtt_ms, answer)) = probe_once(address, target, delay, config.timeout).await
        else {
            tracing::debug!(%peer, "probe lost");
            continue;
        };
        let current = {
            let mut v = lock(&state);
            if let Err(e) = v.observe(&answer.node, &answer.coordinate, rtt_ms) {
                tracing::debug!(%peer, error = %e, "probe sample refused");
                continue;
            }
            v.coordinate().clone()
        };
        samples += 1;
        let recent = measured.entry(peer.clone()).or_default();
        recent.push(rtt_ms);
        if recent.len() > MEASURED_SAMPLES {
            recent.remove(0);
        }
        measured.retain(|name, _| peers.contains_key(name));
        forget_the_farthest(&mut measured, MEASURED_KEPT);
        let now = Instant::now();
        let nearest = nearest_medians(&measured);
        let nearest_peers: Vec<String> = nearest.keys().cloned().collect();
        if publish_due(
            &config,
            samples,
            &nearest_peers,
            published.as_ref(),
            &current,
            now,
        ) {
            let patch = serde_json::json!({"metadata": {"annotations": {
                COORDINATES_ANNOTATION: current.to_annotation(),
                MEASURED_RTT_ANNOTATION: measured_json(&nearest),
            }}});
            match api
                .patch(&me, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    tracing::debug!(error = current.error, "coordinate published");
                    published = Some(Published {
                        coordinate: current,
                        peers: nearest_peers,
                        at: now,
                    });
                }
                Err(e) => tracing::debug!(error = %e, "publishing the coordinate failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publication_waits_for_samples_and_for_a_change() {
        let c = ProberConfig::default();
        let t0 = Instant::now();
        let at = |x: f64, error: f64| Coordinate {
            vector: vec![x, 0.0],
            height: 0.1,
            error,
        };
        let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let one = names(&["a"]);
        let two = names(&["a", "b"]);
        assert!(
            !publish_due(&c, 2, &one, None, &at(0.0, 1.0), t0),
            "too few samples"
        );
        assert!(
            publish_due(&c, 3, &one, None, &at(0.0, 1.0), t0),
            "first publication"
        );
        let last = Published {
            coordinate: at(0.0, 0.5),
            peers: two.clone(),
            at: t0,
        };
        let later = t0 + c.min_publish_interval;
        assert!(
            !publish_due(&c, 9, &two, Some(&last), &at(10.0, 0.5), t0),
            "too soon"
        );
        assert!(
            !publish_due(&c, 9, &two, Some(&last), &at(1.0, 0.52), later),
            "no real change"
        );
        assert!(
            publish_due(&c, 9, &two, Some(&last), &at(10.0, 0.5), later),
            "moved"
        );
        assert!(
            publish_due(&c, 9, &two, Some(&last), &at(0.0, 0.3), later),
            "error changed"
        );
        assert!(
            publish_due(
                &c,
                9,
                &names(&["a", "b", "c"]),
                Some(&last),
                &at(0.0, 0.5),
                later
            ),
            "a new peer"
        );
        assert!(
            publish_due(
                &c,
                9,
                &names(&["a", "c"]),
                Some(&last),
                &at(0.0, 0.5),
                later
            ),
            "a nearer peer in place of one"
        );
    }

    #[test]
    fn measured_rtts_are_medians_per_peer() {
        let samples = HashMap::from([
            ("node-2".to_string(), vec![16.04, 40.0, 16.2]),
            ("node-3".to_string(), vec![]),
            ("node-4".to_string(), vec![9.0]),
        ]);
        assert_eq!(
            measured_json(&nearest_medians(&samples)),
            r#"{"node-2":16.2,"node-4":9.0}"#
        );
        // Only the nearest MEASURED_PEERS are published.
        let many: HashMap<String, Vec<f64>> = (0..40)
            .map(|i| (format!("node-{i:02}"), vec![100.0 - i as f64]))
            .collect();
        let published = nearest_medians(&many);
        assert_eq!(published.len(), brume_fog::MEASURED_PEERS);
        assert!(published.contains_key("node-39") && !published.contains_key("node-23"));
        assert_eq!(published["node-24"], 76.0);
    }

    #[test]
    fn only_the_nearest_peers_samples_are_kept() {
        let mut many: HashMap<String, Vec<f64>> = (0..10)
            .map(|i| (format!("node-{i}"), vec![10.0 * i as f64, 1.0]))
            .collect();
        many.insert("silent".into(), vec![]);
        forget_the_farthest(&mut many, 4);
        let mut kept: Vec<&String> = many.keys().collect();
        kept.sort();
        // Medians (upper of two): node-0 1, node-1 10, node-2 20, node-3 30; none is farthest.
        assert_eq!(kept, ["node-0", "node-1", "node-2", "node-3"]);
        forget_the_farthest(&mut many, 10);
        assert_eq!(many.len(), 4, "fewer than the bound: nothing goes");
    }
}
