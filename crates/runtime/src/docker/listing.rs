//! Pure grouping of labelled Docker containers into [`SandboxListing`]s, for re-adoption.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::labels::Parsed;
use crate::{ContainerId, ContainerListing, ContainerState, Sandbox, SandboxListing};

/// One Brume container as found on the engine.
#[derive(Clone, Debug)]
pub struct Found {
    /// Its Docker id.
    pub id: String,
    /// Its Brume labels.
    pub labels: Parsed,
    /// Its state.
    pub state: ContainerState,
}

/// Groups containers by pod: one listing per pod uid, holding its sandbox and its app
/// containers sorted by name then attempt. A pod whose sandbox container is gone is still
/// listed (its sandbox has an empty `id`) so the agent can remove what is left of it.
/// `default_ip` is the pod IP when the labels do not record one.
pub fn group(found: Vec<Found>, default_ip: IpAddr) -> Vec<SandboxListing> {
    let mut pods: BTreeMap<String, (Option<Found>, Vec<Found>)> = BTreeMap::new();
    for f in found {
        let entry = pods.entry(f.labels.pod_uid.clone()).or_default();
        if f.labels.is_sandbox() {
            // Two sandboxes for one pod can only come from a crash mid-create: keep a
            // running one.
            let keep_old = matches!(&entry.0, Some(old) if matches!(old.state, ContainerState::Running { .. }));
            if !keep_old {
                entry.0 = Some(f);
            }
        } else {
            entry.1.push(f);
        }
    }
    pods.into_iter()
        .map(|(pod_uid, (sandbox, mut containers))| {
            containers.sort_by(|a, b| {
                (&a.labels.container, a.labels.attempt)
                    .cmp(&(&b.labels.container, b.labels.attempt))
            });
            let source = sandbox
                .as_ref()
                .map(|s| &s.labels)
                .or(containers.first().map(|c| &c.labels));
            let sandbox = Sandbox {
                pod_uid,
                id: sandbox.as_ref().map(|s| s.id.clone()).unwrap_or_default(),
                pod_ip: source.and_then(|l| l.host_ip).unwrap_or(default_ip),
                host_ports: source.map(|l| l.host_ports.clone()).unwrap_or_default(),
            };
            SandboxListing {
                sandbox,
                containers: containers
                    .into_iter()
                    .map(|c| ContainerListing {
                        id: ContainerId(c.id),
                        name: c.labels.container,
                        attempt: c.labels.attempt,
                        state: c.state,
                    })
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(id: &str, uid: &str, container: &str, attempt: u32, running: bool) -> Found {
        Found {
            id: id.into(),
            labels: Parsed {
                pod_uid: uid.into(),
                container: container.into(),
                attempt,
                host_ports: vec![40000],
                host_ip: Some("127.0.0.2".parse().unwrap()),
            },
            state: if running {
                ContainerState::Running {
                    started_at: "t".into(),
                }
            } else {
                ContainerState::Created
            },
        }
    }

    #[test]
    fn containers_are_grouped_under_their_sandbox() {
        let listings = group(
            vec![
                found("c2", "u1", "app", 1, true),
                found("s1", "u1", "POD", 0, true),
                found("c1", "u1", "app", 0, false),
                found("s2", "u2", "POD", 0, true),
            ],
            "10.0.0.1".parse().unwrap(),
        );
        assert_eq!(listings.len(), 2);
        let u1 = &listings[0];
        assert_eq!(u1.sandbox.id, "s1");
        assert_eq!(u1.sandbox.host_ports, vec![40000]);
        assert_eq!(u1.sandbox.pod_ip, "127.0.0.2".parse::<IpAddr>().unwrap());
        let ids: Vec<_> = u1
            .containers
            .iter()
            .map(|c| (c.id.0.as_str(), c.attempt))
            .collect();
        assert_eq!(ids, vec![("c1", 0), ("c2", 1)]);
        assert!(listings[1].containers.is_empty());
    }

    #[test]
    fn orphans_are_listed_with_an_empty_sandbox_id() {
        let listings = group(
            vec![found("c1", "u1", "app", 0, true)],
            "10.0.0.1".parse().unwrap(),
        );
        assert_eq!(listings[0].sandbox.id, "");
        assert_eq!(listings[0].containers.len(), 1);
    }

    #[test]
    fn a_running_sandbox_wins_over_a_leftover() {
        let listings = group(
            vec![
                found("s-run", "u1", "POD", 0, true),
                found("s-dead", "u1", "POD", 0, false),
            ],
            "10.0.0.1".parse().unwrap(),
        );
        assert_eq!(listings[0].sandbox.id, "s-run");
    }
}
