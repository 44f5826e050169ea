//! Who may do what (DESIGN §10), decided without I/O.
//!
//! Three kinds of callers reach the API. The admin (the kubeconfig's bearer token) may do
//! anything. A node (the credential an agent received when it joined) may read the cluster,
//! write only its own Node and Lease, write the status of pods bound to it, create events, write
//! the TrafficReports of its own gateway, and read a secret only when a pod bound to it uses
//! that secret: the rules of Kubernetes' node authorizer and NodeRestriction admission, which
//! keep one compromised fog node from reaching the rest of the cluster. A bootstrap token may
//! only join a node.
//!
//! Some rules depend on stored objects (which node a pod is bound to); [`decide`] then says
//! which fact the caller must look up, and [`pod_uses_secret`] answers the secret rule from a
//! pod.

use serde_json::Value;

use crate::metrics;
use crate::traffic_report::{self, TrafficReport};

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// The cluster administrator.
    Admin,
    /// The agent of the named node.
    Node(String),
    /// A bootstrap (join) token, by its id.
    Bootstrap(String),
}

impl Identity {
    /// The user name, as Kubernetes writes it in messages (`system:node:<name>`).
    pub fn user(&self) -> String {
        match self {
            Identity::Admin => "brume-admin".into(),
            Identity::Node(n) => format!("system:node:{n}"),
            Identity::Bootstrap(id) => format!("system:bootstrap:{id}"),
        }
    }
}

/// The Kubernetes verb of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// Read one object.
    Get,
    /// Read a collection.
    List,
    /// Watch a collection.
    Watch,
    /// Create an object (or a subresource such as `binding`).
    Create,
    /// Replace an object.
    Update,
    /// Patch an object.
    Patch,
    /// Delete an object.
    Delete,
    /// Delete a collection.
    DeleteCollection,
}

impl Verb {
    /// The verb's name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }

    fn is_read(self) -> bool {
        matches!(self, Verb::Get | Verb::List | Verb::Watch)
    }
}

/// What a request does, in the terms the rules use.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The verb.
    pub verb: Verb,
    /// The API group (empty for core).
    pub group: &'a str,
    /// The resource (`pods`).
    pub plural: &'a str,
    /// The subresource (`status`).
    pub sub: Option<&'a str>,
    /// The namespace, for namespaced requests.
    pub namespace: Option<&'a str>,
    /// The object's name: from the URL, or from the body of a create.
    pub name: Option<&'a str>,
}

/// The answer to "may this identity make this request?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Yes.
    Allow,
    /// No, for this reason.
    Deny(String),
    /// Only if the pod the request names is bound to this node (`spec.nodeName`).
    IfPodOnNode(String),
    /// Only if a pod of this name exists in the request's namespace and is bound to this node:
    /// for objects about a pod (its PodMetrics), where a missing pod is no 404 of the handler.
    IfExistingPodOnNode(String),
    /// Only if a pod bound to this node, in the request's namespace, uses the named secret.
    IfSecretUsedOnNode(String),
}

/// The namespace of node Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// Decides `req` for `identity`.
pub fn decide(identity: &Identity, req: &Request) -> Decision {
    match identity {
        Identity::Admin => Decision::Allow,
        Identity::Bootstrap(_) => Decision::Deny(
            "a bootstrap token may only join a node (POST /brume/v1/join); the node then \
             uses the credential it receives"
                .into(),
        ),
        Identity::Node(node) => decide_node(node, req),
    }
}

fn decide_node(node: &str, req: &Request) -> Decision {
    let own = req.name == Some(node);
    match (req.group, req.plural) {
        ("", "secrets") => match (req.verb, req.name) {
            (Verb::Get, Some(name)) => Decision::IfSecretUsedOnNode(name.to_string()),
            _ => Decision::Deny(format!(
                "node {node:?} may only get a secret that a pod bound to it uses"
            )),
        },
        _ if req.verb.is_read() => Decision::Allow,
        ("", "nodes") => match req.verb {
            Verb::Create | Verb::Update | Verb::Patch if own => Decision::Allow,
            _ => Decision::Deny(format!(
                "node {node:?} may only create, update or patch its own Node object"
            )),
        },
        ("coordination.k8s.io", "leases") => match req.verb {
            Verb::Create | Verb::Update | Verb::Patch | Verb::Delete
                if own && req.namespace == Some(LEASE_NAMESPACE) =>
            {
                Decision::Allow
            }
            _ => Decision::Deny(format!(
                "node {node:?} may only write its own Lease in {LEASE_NAMESPACE}"
            )),
        },
        ("", "pods") => match (req.verb, req.sub, req.name) {
            (Verb::Update | Verb::Patch, None | Some("status"), Some(name))
            | (Verb::Delete, None, Some(name)) => Decision::IfPodOnNode(name.to_string()),
            _ => Decision::Deny(format!(
                "node {node:?} may only update, patch or delete pods bound to it"
            )),
        },
        // The gateway is read from the name: validation holds a report's name to
        // `<spec.service>.<spec.gateway>` and a name never changes, so the name in the request
        // (the URL's, or the body's on create) is the gateway of the body and of the stored
        // report alike. A request the name does not settle is refused.
        (traffic_report::GROUP, traffic_report::PLURAL) => {
            match (req.verb, req.name.and_then(TrafficReport::gateway_of)) {
                (Verb::Create | Verb::Update | Verb::Patch | Verb::Delete, Some(gateway))
                    if gateway == node =>
                {
                    Decision::Allow
                }
                _ => Decision::Deny(format!(
                    "node {node:?} may only write the TrafficReports of its own gateway, named \
                     <service>.{node} with spec.gateway {node:?}"
                )),
            }
        }
        // A node measures itself and its pods (the kubelet's role behind the metrics-server):
        // its own NodeMetrics, and the PodMetrics of pods bound to it, named like the pod.
        (metrics::GROUP, metrics::NODE_PLURAL) => match req.verb {
            Verb::Create | Verb::Update | Verb::Patch | Verb::Delete if own => Decision::Allow,
            _ => Decision::Deny(format!(
                "node {node:?} may only write its own NodeMetrics, named {node:?}"
            )),
        },
        (metrics::GROUP, metrics::POD_PLURAL) => match (req.verb, req.name) {
            (Verb::Create | Verb::Update | Verb::Patch | Verb::Delete, Some(name)) => {
                Decision::IfExistingPodOnNode(name.to_string())
            }
            _ => Decision::Deny(format!(
                "node {node:?} may only write the PodMetrics of pods bound to it, each named \
                 like its pod"
            )),
        },
        ("" | "events.k8s.io", "events") => match req.verb {
            Verb::Create | Verb::Update | Verb::Patch => Decision::Allow,
            _ => Decision::Deny(format!("node {node:?} may only create or update events")),
        },
        _ => Decision::Deny(format!(
            "a node may read the cluster but writes only its Node, its Lease, the pods bound \
             to it, events, its gateway's TrafficReports and the metrics of itself and its \
             pods ({node:?} asked to {} {})",
            req.verb.as_str(),
            req.plural
        )),
    }
}

/// The message of a 403, in Kubernetes' words: `pods "web" is forbidden: User
/// "system:node:n1" cannot patch resource "pods/status" in API group "" in the namespace
/// "default": <reason>`.
pub fn forbidden_message(identity: &Identity, req: &Request, reason: &str) -> String {
    let what = match req.name {
        Some(name) if req.verb != Verb::Create || req.sub.is_some() => {
            format!("{} {name:?}", req.plural)
        }
        _ => req.plural.to_string(),
    };
    let resource = match req.sub {
        Some(sub) => format!("{}/{sub}", req.plural),
        None => req.plural.to_string(),
    };
    let scope = match req.namespace {
        Some(ns) => format!("in the namespace {ns:?}"),
        None => "at the cluster scope".into(),
    };
    format!(
        "{what} is forbidden: User {:?} cannot {} resource {resource:?} in API group {:?} {scope}: {reason}",
        identity.user(),
        req.verb.as_str(),
        req.group
    )
}

/// Whether `pod` uses the secret `name`: as a volume (directly or projected), through an
/// environment variable or `envFrom` of any container, or as an image pull secret.
pub fn pod_uses_secret(pod: &Value, name: &str) -> bool {
    let spec = &pod["spec"];
    let is = |v: &Value| v.as_str() == Some(name);
    let volumes = spec["volumes"].as_array().into_iter().flatten();
    let in_volumes = volumes.into_iter().any(|v| {
        is(&v["secret"]["secretName"])
            || v["projected"]["sources"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| is(&s["secret"]["name"]))
    });
    let containers = ["containers", "initContainers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().into_iter().flatten());
    let in_env = containers.into_iter().any(|c| {
        c["env"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| is(&e["valueFrom"]["secretKeyRef"]["name"]))
            || c["envFrom"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| is(&e["secretRef"]["name"]))
    });
    let pull = spec["imagePullSecrets"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| is(&s["name"]));
    in_volumes || in_env || pull
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req<'a>(
        verb: Verb,
        group: &'a str,
        plural: &'a str,
        sub: Option<&'a str>,
        namespace: Option<&'a str>,
        name: Option<&'a str>,
    ) -> Request<'a> {
        Request {
            verb,
            group,
            plural,
            sub,
            namespace,
            name,
        }
    }

    fn node(n: &str) -> Identity {
        Identity::Node(n.into())
    }

    #[test]
    fn the_admin_may_do_anything() {
        let r = req(Verb::Delete, "", "nodes", None, None, Some("n2"));
        assert_eq!(decide(&Identity::Admin, &r), Decision::Allow);
    }

    #[test]
    fn a_node_writes_only_its_own_node_and_lease() {
        let n1 = node("n1");
        for verb in [Verb::Create, Verb::Patch, Verb::Update] {
            let own = req(verb, "", "nodes", Some("status"), None, Some("n1"));
            assert_eq!(decide(&n1, &own), Decision::Allow);
            let other = req(verb, "", "nodes", Some("status"), None, Some("n2"));
            assert!(matches!(decide(&n1, &other), Decision::Deny(_)));
        }
        let delete = req(Verb::Delete, "", "nodes", None, None, Some("n1"));
        assert!(matches!(decide(&n1, &delete), Decision::Deny(_)));
        let lease = |ns, name| {
            req(
                Verb::Patch,
                "coordination.k8s.io",
                "leases",
                None,
                Some(ns),
                Some(name),
            )
        };
        assert_eq!(decide(&n1, &lease(LEASE_NAMESPACE, "n1")), Decision::Allow);
        assert!(matches!(
            decide(&n1, &lease(LEASE_NAMESPACE, "n2")),
            Decision::Deny(_)
        ));
        assert!(matches!(
            decide(&n1, &lease("default", "n1")),
            Decision::Deny(_)
        ));
    }

    #[test]
    fn pod_writes_depend_on_where_the_pod_is_bound() {
        let n1 = node("n1");
        let status = req(
            Verb::Patch,
            "",
            "pods",
            Some("status"),
            Some("default"),
            Some("web"),
        );
        assert_eq!(decide(&n1, &status), Decision::IfPodOnNode("web".into()));
        let delete = req(Verb::Delete, "", "pods", None, Some("default"), Some("web"));
        assert_eq!(decide(&n1, &delete), Decision::IfPodOnNode("web".into()));
        for (verb, sub) in [
            (Verb::Create, None),
            (Verb::Create, Some("binding")),
            (Verb::Create, Some("eviction")),
            (Verb::DeleteCollection, None),
        ] {
            let r = req(verb, "", "pods", sub, Some("default"), Some("web"));
            assert!(
                matches!(decide(&n1, &r), Decision::Deny(_)),
                "{verb:?} {sub:?}"
            );
        }
    }

    #[test]
    fn a_node_reads_everything_but_secrets_its_pods_do_not_use() {
        let n1 = node("n1");
        for plural in ["pods", "services", "configmaps", "nodes", "endpoints"] {
            let r = req(Verb::Watch, "", plural, None, None, None);
            assert_eq!(decide(&n1, &r), Decision::Allow);
        }
        let get = req(
            Verb::Get,
            "",
            "secrets",
            None,
            Some("kube-system"),
            Some("s"),
        );
        assert_eq!(decide(&n1, &get), Decision::IfSecretUsedOnNode("s".into()));
        let list = req(Verb::List, "", "secrets", None, Some("kube-system"), None);
        assert!(matches!(decide(&n1, &list), Decision::Deny(_)));
        let create = req(Verb::Create, "", "secrets", None, Some("a"), Some("s"));
        assert!(matches!(decide(&n1, &create), Decision::Deny(_)));
    }

    #[test]
    fn nodes_create_events_and_bootstrap_tokens_only_join() {
        let r = req(Verb::Create, "", "events", None, Some("default"), Some("e"));
        assert_eq!(decide(&node("n1"), &r), Decision::Allow);
        let deploy = req(Verb::Create, "apps", "deployments", None, Some("a"), None);
        assert!(matches!(decide(&node("n1"), &deploy), Decision::Deny(_)));
        let get = req(Verb::Get, "", "pods", None, Some("default"), Some("web"));
        let Decision::Deny(why) = decide(&Identity::Bootstrap("abcdef".into()), &get) else {
            panic!("a bootstrap token read a pod");
        };
        assert!(why.contains("/brume/v1/join"), "{why}");
    }

    #[test]
    fn a_node_writes_only_the_traffic_reports_of_its_gateway() {
        let report = |verb, name| {
            req(
                verb,
                "fog.brume.io",
                "trafficreports",
                None,
                Some("default"),
                name,
            )
        };
        let n3 = node("node-3");
        for verb in [Verb::Create, Verb::Update, Verb::Patch, Verb::Delete] {
            assert_eq!(
                decide(&n3, &report(verb, Some("web.node-3"))),
                Decision::Allow,
                "{verb:?}"
            );
            for other in ["web.node-4", "web.node-30", "node-3", "web.node-3.paris"] {
                let Decision::Deny(why) = decide(&n3, &report(verb, Some(other))) else {
                    panic!("{verb:?} {other} allowed");
                };
                assert!(why.contains("spec.gateway \"node-3\""), "{why}");
            }
            // A create whose name the server could not read (generateName, a non-JSON body).
            assert!(matches!(
                decide(&n3, &report(verb, None)),
                Decision::Deny(_)
            ));
        }
        assert!(matches!(
            decide(&n3, &report(Verb::DeleteCollection, None)),
            Decision::Deny(_)
        ));
        // Any node reads every gateway's reports; the admin writes any of them.
        for verb in [Verb::Get, Verb::List, Verb::Watch] {
            assert_eq!(
                decide(&n3, &report(verb, Some("web.node-4"))),
                Decision::Allow
            );
        }
        assert_eq!(
            decide(&Identity::Admin, &report(Verb::Patch, Some("web.node-4"))),
            Decision::Allow
        );
    }

    #[test]
    fn a_node_writes_only_its_own_metrics_and_those_of_its_pods() {
        let n1 = node("n1");
        let writes = [Verb::Create, Verb::Update, Verb::Patch, Verb::Delete];
        for verb in writes {
            let own = req(verb, "metrics.k8s.io", "nodes", None, None, Some("n1"));
            assert_eq!(decide(&n1, &own), Decision::Allow, "{verb:?}");
            let other = req(verb, "metrics.k8s.io", "nodes", None, None, Some("n2"));
            let Decision::Deny(why) = decide(&n1, &other) else {
                panic!("{verb:?} of another node's metrics allowed");
            };
            assert!(why.contains("its own NodeMetrics"), "{why}");
            let pod = req(
                verb,
                "metrics.k8s.io",
                "pods",
                None,
                Some("default"),
                Some("web-1"),
            );
            assert_eq!(
                decide(&n1, &pod),
                Decision::IfExistingPodOnNode("web-1".into()),
                "{verb:?}"
            );
        }
        // A create whose name the server could not read, and collection deletes, are refused.
        let nameless = req(
            Verb::Create,
            "metrics.k8s.io",
            "pods",
            None,
            Some("a"),
            None,
        );
        assert!(matches!(decide(&n1, &nameless), Decision::Deny(_)));
        let all = req(
            Verb::DeleteCollection,
            "metrics.k8s.io",
            "pods",
            None,
            Some("a"),
            None,
        );
        assert!(matches!(decide(&n1, &all), Decision::Deny(_)));
        let all = req(
            Verb::DeleteCollection,
            "metrics.k8s.io",
            "nodes",
            None,
            None,
            None,
        );
        assert!(matches!(decide(&n1, &all), Decision::Deny(_)));
        // Every node reads every metric (the HPA controller and kubectl top are admins).
        for verb in [Verb::Get, Verb::List, Verb::Watch] {
            let r = req(verb, "metrics.k8s.io", "pods", None, None, None);
            assert_eq!(decide(&n1, &r), Decision::Allow);
        }
        // The core Node of the same name stays the Node rule's: metrics give no right on it.
        let core = req(Verb::Delete, "", "nodes", None, None, Some("n1"));
        assert!(matches!(decide(&n1, &core), Decision::Deny(_)));
    }

    #[test]
    fn an_agent_may_publish_its_coordinates_and_watch_what_its_proxy_needs() {
        let n1 = node("n1");
        // `fog.brume.io/coordinates` goes out as a merge patch of its own Node's metadata.
        let own = req(Verb::Patch, "", "nodes", None, None, Some("n1"));
        assert_eq!(decide(&n1, &own), Decision::Allow);
        let other = req(Verb::Patch, "", "nodes", None, None, Some("n2"));
        assert!(matches!(decide(&n1, &other), Decision::Deny(_)));
        for (group, plural, namespace) in [
            ("", "services", None),
            ("", "services", Some("default")),
            ("discovery.k8s.io", "endpointslices", None),
            ("discovery.k8s.io", "endpointslices", Some("default")),
            ("", "nodes", None),
        ] {
            for verb in [Verb::List, Verb::Watch] {
                let r = req(verb, group, plural, None, namespace, None);
                assert_eq!(decide(&n1, &r), Decision::Allow, "{verb:?} {plural}");
            }
        }
    }

    #[test]
    fn forbidden_messages_read_like_kubernetes() {
        let r = req(
            Verb::Patch,
            "",
            "pods",
            Some("status"),
            Some("default"),
            Some("web"),
        );
        assert_eq!(
            forbidden_message(&node("n1"), &r, "not bound to it"),
            "pods \"web\" is forbidden: User \"system:node:n1\" cannot patch resource \
             \"pods/status\" in API group \"\" in the namespace \"default\": not bound to it"
        );
        let r = req(Verb::List, "", "secrets", None, None, None);
        assert!(
            forbidden_message(&node("n1"), &r, "x")
                .starts_with("secrets is forbidden: User \"system:node:n1\" cannot list")
        );
    }

    #[test]
    fn every_way_a_pod_can_use_a_secret_counts() {
        let uses = |spec: Value| pod_uses_secret(&json!({"spec": spec}), "s");
        assert!(uses(
            json!({"volumes": [{"name": "v", "secret": {"secretName": "s"}}]})
        ));
        assert!(uses(
            json!({"volumes": [{"name": "v", "projected": {"sources": [
            {"configMap": {"name": "s"}}, {"secret": {"name": "s"}}]}}]})
        ));
        assert!(uses(json!({"containers": [{"name": "c", "env": [
            {"name": "E", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]})));
        assert!(uses(
            json!({"initContainers": [{"name": "c", "envFrom": [{"secretRef": {"name": "s"}}]}]})
        ));
        assert!(uses(json!({"imagePullSecrets": [{"name": "s"}]})));
        assert!(!uses(
            json!({"volumes": [{"name": "v", "configMap": {"name": "s"}}],
                   "containers": [{"name": "c", "env": [{"name": "s", "value": "s"}]}]})
        ));
    }
}
