//! Strategic merge patch metadata: for each field of the kinds Brume serves, whether a list is
//! merged item by item on a key, merged as a set of primitives, or replaced. The entries mirror
//! the `patchStrategy` and `patchMergeKey` struct tags of the Kubernetes API types (k8s.io/api
//! `core/v1/types.go`, `apps/v1/types.go`, ...); a list without a tag is replaced.

/// How a strategic merge patch combines a list in the patch with the list in the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListStrategy {
    /// The patch's list replaces the object's (no `patchStrategy` tag, or `atomic`).
    Replace,
    /// Items are matched on this key (`patchMergeKey`) and merged one by one.
    MergeByKey(&'static str),
    /// The lists are merged as sets of primitive values (`patchStrategy:"merge"` on scalars).
    MergePrimitives,
}

/// The patch metadata of one field: its list strategy (meaningful for lists only) and the schema
/// of its value, or of its items for a list.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    name: &'static str,
    /// How the field's list is merged.
    pub(crate) list: ListStrategy,
    /// The schema below the field.
    pub(crate) schema: Schema,
}

/// The fields with patch metadata below one point of an object; fields not listed are maps
/// merged key by key or lists replaced.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Schema(&'static [Field]);

impl Schema {
    /// A schema that knows no fields: maps merge and lists are replaced.
    pub(crate) const OPAQUE: Schema = Schema(&[]);

    /// The metadata of a field below this point.
    pub(crate) fn field(self, name: &str) -> Field {
        self.0
            .iter()
            .find(|f| f.name == name)
            .copied()
            .unwrap_or(Field {
                name: "",
                list: ListStrategy::Replace,
                schema: Schema::OPAQUE,
            })
    }

    /// The schema at the top of an object of the given kind.
    pub(crate) fn for_kind(kind: &str) -> Schema {
        Schema(match kind {
            "Pod" => POD,
            "Deployment" | "ReplicaSet" | "DaemonSet" => WORKLOAD,
            "Node" => NODE,
            "Service" => SERVICE,
            "Namespace" | "HorizontalPodAutoscaler" => WITH_CONDITIONS,
            "Endpoints" => ENDPOINTS,
            "EndpointSlice" => ENDPOINT_SLICE,
            _ => OBJECT,
        })
    }
}

/// The list strategy of the field at `path` in an object of `kind`. List indices in the path
/// (`["spec", "containers", "0", "ports"]`) are skipped, so a path may come from a JSON pointer.
pub fn list_strategy(kind: &str, path: &[&str]) -> ListStrategy {
    let mut schema = Schema::for_kind(kind);
    let mut strategy = ListStrategy::Replace;
    for segment in path {
        if segment.parse::<usize>().is_ok() {
            continue;
        }
        let field = schema.field(segment);
        strategy = field.list;
        schema = field.schema;
    }
    strategy
}

const fn child(name: &'static str, fields: &'static [Field]) -> Field {
    Field {
        name,
        list: ListStrategy::Replace,
        schema: Schema(fields),
    }
}

const fn keyed(name: &'static str, key: &'static str, items: &'static [Field]) -> Field {
    Field {
        name,
        list: ListStrategy::MergeByKey(key),
        schema: Schema(items),
    }
}

const fn set(name: &'static str) -> Field {
    Field {
        name,
        list: ListStrategy::MergePrimitives,
        schema: Schema::OPAQUE,
    }
}

/// Written out for lists Kubernetes replaces on purpose, so the table documents them.
const fn replaced(name: &'static str) -> Field {
    child(name, &[])
}

static OBJECT_META: &[Field] = &[set("finalizers"), keyed("ownerReferences", "uid", &[])];

static CONTAINER: &[Field] = &[
    keyed("ports", "containerPort", &[]),
    keyed("env", "name", &[]),
    keyed("volumeMounts", "mountPath", &[]),
    keyed("volumeDevices", "devicePath", &[]),
    replaced("envFrom"),
    replaced("resizePolicy"),
];

static POD_SPEC: &[Field] = &[
    keyed("containers", "name", CONTAINER),
    keyed("initContainers", "name", CONTAINER),
    keyed("ephemeralContainers", "name", CONTAINER),
    keyed("volumes", "name", &[]),
    keyed("imagePullSecrets", "name", &[]),
    keyed("hostAliases", "ip", &[]),
    keyed("topologySpreadConstraints", "topologyKey", &[]),
    keyed("resourceClaims", "name", &[]),
    keyed("schedulingGates", "name", &[]),
    replaced("tolerations"),
    replaced("readinessGates"),
];

static POD_TEMPLATE: &[Field] = &[child("metadata", OBJECT_META), child("spec", POD_SPEC)];

static POD_STATUS: &[Field] = &[
    keyed("conditions", "type", &[]),
    keyed("podIPs", "ip", &[]),
    keyed("hostIPs", "ip", &[]),
    keyed("resourceClaimStatuses", "name", &[]),
];

static CONDITIONS: &[Field] = &[keyed("conditions", "type", &[])];

static WORKLOAD_SPEC: &[Field] = &[child("template", POD_TEMPLATE)];

static NODE_SPEC: &[Field] = &[keyed("taints", "key", &[]), set("podCIDRs")];

static NODE_STATUS: &[Field] = &[
    keyed("conditions", "type", &[]),
    keyed("addresses", "type", &[]),
];

static SERVICE_SPEC: &[Field] = &[keyed("ports", "port", &[])];

static OBJECT: &[Field] = &[child("metadata", OBJECT_META)];

static POD: &[Field] = &[
    child("metadata", OBJECT_META),
    child("spec", POD_SPEC),
    child("status", POD_STATUS),
];

static WORKLOAD: &[Field] = &[
    child("metadata", OBJECT_META),
    child("spec", WORKLOAD_SPEC),
    child("status", CONDITIONS),
];

static NODE: &[Field] = &[
    child("metadata", OBJECT_META),
    child("spec", NODE_SPEC),
    child("status", NODE_STATUS),
];

static SERVICE: &[Field] = &[
    child("metadata", OBJECT_META),
    child("spec", SERVICE_SPEC),
    child("status", CONDITIONS),
];

static WITH_CONDITIONS: &[Field] = &[child("metadata", OBJECT_META), child("status", CONDITIONS)];

static ENDPOINTS: &[Field] = &[child("metadata", OBJECT_META), replaced("subsets")];

static ENDPOINT_SLICE: &[Field] = &[
    child("metadata", OBJECT_META),
    replaced("endpoints"),
    replaced("ports"),
];

#[cfg(test)]
mod tests {
    use super::ListStrategy::{MergeByKey, MergePrimitives, Replace};
    use super::*;

    #[test]
    fn lists_follow_the_kubernetes_tags() {
        let table: &[(&str, &str, ListStrategy)] = &[
            ("Pod", "spec.containers", MergeByKey("name")),
            ("Pod", "spec.initContainers", MergeByKey("name")),
            ("Pod", "spec.ephemeralContainers", MergeByKey("name")),
            (
                "Pod",
                "spec.containers.0.ports",
                MergeByKey("containerPort"),
            ),
            ("Pod", "spec.containers.env", MergeByKey("name")),
            (
                "Pod",
                "spec.initContainers.volumeMounts",
                MergeByKey("mountPath"),
            ),
            (
                "Pod",
                "spec.containers.volumeDevices",
                MergeByKey("devicePath"),
            ),
            ("Pod", "spec.containers.args", Replace),
            ("Pod", "spec.volumes", MergeByKey("name")),
            ("Pod", "spec.imagePullSecrets", MergeByKey("name")),
            ("Pod", "spec.hostAliases", MergeByKey("ip")),
            ("Pod", "spec.tolerations", Replace),
            (
                "Pod",
                "spec.topologySpreadConstraints",
                MergeByKey("topologyKey"),
            ),
            ("Pod", "spec.readinessGates", Replace),
            ("Pod", "status.conditions", MergeByKey("type")),
            ("Pod", "metadata.finalizers", MergePrimitives),
            ("Pod", "metadata.ownerReferences", MergeByKey("uid")),
            (
                "Deployment",
                "spec.template.spec.containers",
                MergeByKey("name"),
            ),
            (
                "ReplicaSet",
                "spec.template.spec.containers.2.ports",
                MergeByKey("containerPort"),
            ),
            (
                "DaemonSet",
                "spec.template.spec.volumes",
                MergeByKey("name"),
            ),
            (
                "Deployment",
                "spec.template.metadata.finalizers",
                MergePrimitives,
            ),
            ("Deployment", "status.conditions", MergeByKey("type")),
            ("Deployment", "spec.containers", Replace),
            ("Node", "status.conditions", MergeByKey("type")),
            ("Node", "status.addresses", MergeByKey("type")),
            ("Node", "spec.taints", MergeByKey("key")),
            ("Service", "spec.ports", MergeByKey("port")),
            ("Endpoints", "subsets", Replace),
            ("EndpointSlice", "endpoints", Replace),
            ("ConfigMap", "metadata.finalizers", MergePrimitives),
            ("Lease", "spec.anything", Replace),
        ];
        for (kind, path, want) in table {
            let segments: Vec<&str> = path.split('.').collect();
            assert_eq!(list_strategy(kind, &segments), *want, "{kind} {path}");
        }
    }
}
