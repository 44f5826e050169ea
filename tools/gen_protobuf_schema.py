#!/usr/bin/env python3
"""Generates crates/api/src/decode/protobuf_schema.rs: the protobuf schema of every message the API
decodes, as a static table that maps field numbers to JSON names and wire kinds.

Two crates already in the cargo registry give the facts, and neither is linked into Brume:

- k8s-pb (kube-rs' prost bindings) gives each message's field numbers, wire types and cardinality
  (`#[prost(int32, optional, tag = "3")]`) and the Rust types of message fields.
- k8s-openapi (the v1_37 sources) gives each type's JSON field names (`"hostIP" =>
  Field::Key_host_ip` in its `Deserialize` impls) and which fields are optional (`Option<...>`).

A prost field is matched to a JSON name by normalising both (drop underscores, lower case) within
the same type. A message field that matches no JSON name is a Go embedded struct (`ProbeHandler` in
`Probe`, `LocalObjectReference` in `ConfigMapKeySelector`): its fields must then match the host's
JSON names, and the decoder writes them into the host object. Anything else that does not match
stops the generator.

Usage: python3 tools/gen_protobuf_schema.py [--k8s-pb DIR] [--k8s-openapi DIR] [--check]
(from the repository root; the crate folders default to the ones in ~/.cargo/registry/src).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

K8S_PB = "k8s-pb-0.9.0"
K8S_OPENAPI = "k8s-openapi-0.29.0"
OPENAPI_VERSION = "v1_37"
OUT = Path("crates/api/src/decode/protobuf_schema.rs")
RESOURCES = Path("crates/api/src/resource.rs")

# Bodies the API reads besides the kinds of resource.rs: (module, message, apiVersion, kind).
# An apiVersion of "*" accepts any: DeleteOptions is registered in every group version.
EXTRA_ROOTS = [
    ("apimachinery/pkg/apis/meta/v1", "DeleteOptions", "*", "DeleteOptions"),
    ("api/core/v1", "Binding", "v1", "Binding"),
    ("api/policy/v1", "Eviction", "policy/v1", "Eviction"),
    ("api/autoscaling/v1", "Scale", "autoscaling/v1", "Scale"),
]

# Messages whose JSON form is not an object (apimachinery's custom marshallers), by
# (module, message): the Rust `Kind` variant the decoder handles by hand. A message that k8s-openapi
# has no struct for and that is not embedded stops the generator: add it here and to the decoder.
SPECIAL = {
    ("apimachinery/pkg/apis/meta/v1", "Time"): "Time",
    ("apimachinery/pkg/apis/meta/v1", "MicroTime"): "MicroTime",
    ("apimachinery/pkg/apis/meta/v1", "Duration"): "Duration",
    ("apimachinery/pkg/apis/meta/v1", "FieldsV1"): "FieldsV1",
    ("apimachinery/pkg/api/resource", "Quantity"): "Quantity",
    ("apimachinery/pkg/util/intstr", "IntOrString"): "IntOrString",
    ("apimachinery/pkg/runtime", "RawExtension"): "RawExtension",
}

# Go writes a non-pointer scalar field on the protobuf wire even when it holds its zero value, where
# its JSON tag (`omitempty`) leaves it out; so a zero on the wire for an optional field usually
# means "not set", and the decoder drops it, as JSON would never have carried it. The exceptions
# are below, as `module.Message: jsonName...` (k8s-pb's spelling of the message).
#
# ZERO_IS_SET: optional fields that Go holds in a pointer (or writes without `omitempty`), so a zero
# on the wire was set on purpose (`replicas: 0`, `automountServiceAccountToken: false`).
# ZERO_IS_UNSET: fields k8s-openapi calls required that Go nevertheless writes with `omitempty`.
# Both come from the Go field types and JSON tags of k8s.io/api and k8s.io/apimachinery v0.37.
ZERO_IS_SET = """
api/apps/v1.DaemonSetCondition: status type
api/apps/v1.DaemonSetSpec: revisionHistoryLimit
api/apps/v1.DaemonSetStatus: collisionCount
api/apps/v1.DeploymentCondition: status type
api/apps/v1.DeploymentSpec: progressDeadlineSeconds replicas revisionHistoryLimit
api/apps/v1.DeploymentStatus: collisionCount terminatingReplicas
api/apps/v1.ReplicaSetCondition: status type
api/apps/v1.ReplicaSetSpec: replicas
api/apps/v1.ReplicaSetStatus: terminatingReplicas
api/autoscaling/v2.HorizontalPodAutoscalerSpec: minReplicas
api/autoscaling/v2.HorizontalPodAutoscalerStatus: observedGeneration
api/autoscaling/v2.HpaScalingRules: selectPolicy stabilizationWindowSeconds
api/autoscaling/v2.MetricTarget: averageUtilization
api/autoscaling/v2.MetricValueStatus: averageUtilization
api/coordination/v1.LeaseSpec: holderIdentity leaseDurationSeconds leaseTransitions preferredHolder
    strategy
api/core/v1.AppArmorProfile: localhostProfile
api/core/v1.AzureDiskVolumeSource: cachingMode fsType kind readOnly
api/core/v1.CSIVolumeSource: fsType readOnly
api/core/v1.ClientIpConfig: timeoutSeconds
api/core/v1.ClusterTrustBundleProjection: name optional signerName
api/core/v1.ConfigMap: immutable
api/core/v1.ConfigMapEnvSource: optional
api/core/v1.ConfigMapKeySelector: optional
api/core/v1.ConfigMapProjection: optional
api/core/v1.ConfigMapVolumeSource: defaultMode optional
api/core/v1.Container: restartPolicy
api/core/v1.ContainerStatus: started stopSignal
api/core/v1.DownwardAPIVolumeFile: mode
api/core/v1.DownwardAPIVolumeSource: defaultMode
api/core/v1.EndpointAddress: nodeName
api/core/v1.EndpointPort: appProtocol
api/core/v1.EphemeralContainerCommon: restartPolicy
api/core/v1.Event: reportingComponent reportingInstance
api/core/v1.FcVolumeSource: lun
api/core/v1.FileKeySelector: optional
api/core/v1.GrpcAction: service
api/core/v1.HostPathVolumeSource: type
api/core/v1.IscsiVolumeSource: initiatorName
api/core/v1.KeyToPath: mode
api/core/v1.Lifecycle: stopSignal
api/core/v1.LoadBalancerIngress: ipMode
api/core/v1.NodeFeatures: supplementalGroupsPolicy
api/core/v1.NodeRuntimeHandler: name
api/core/v1.NodeRuntimeHandlerFeatures: recursiveReadOnlyMounts userNamespaces
api/core/v1.NodeSwapStatus: capacity
api/core/v1.PersistentVolumeClaimSpec: storageClassName volumeAttributesClassName volumeMode
api/core/v1.PodCertificateProjection: maxExpirationSeconds
api/core/v1.PodDnsConfigOption: value
api/core/v1.PodResourceClaim: resourceClaimName resourceClaimTemplateName
api/core/v1.PodResourceClaimStatus: resourceClaimName
api/core/v1.PodSecurityContext: fsGroup fsGroupChangePolicy runAsGroup runAsNonRoot runAsUser
    seLinuxChangePolicy supplementalGroupsPolicy
api/core/v1.PodSpec: activeDeadlineSeconds automountServiceAccountToken enableServiceLinks
    hostUsers hostnameOverride preemptionPolicy priority runtimeClassName setHostnameAsFQDN
    shareProcessNamespace terminationGracePeriodSeconds
api/core/v1.PortStatus: error
api/core/v1.Probe: terminationGracePeriodSeconds
api/core/v1.ProjectedVolumeSource: defaultMode
api/core/v1.SeccompProfile: localhostProfile
api/core/v1.Secret: immutable
api/core/v1.SecretEnvSource: optional
api/core/v1.SecretKeySelector: optional
api/core/v1.SecretProjection: optional
api/core/v1.SecretVolumeSource: defaultMode optional
api/core/v1.SecurityContext: allowPrivilegeEscalation privileged procMount readOnlyRootFilesystem
    runAsGroup runAsNonRoot runAsUser
api/core/v1.ServiceAccountTokenProjection: expirationSeconds
api/core/v1.ServicePort: appProtocol
api/core/v1.ServiceSpec: allocateLoadBalancerNodePorts internalTrafficPolicy ipFamilyPolicy
    loadBalancerClass trafficDistribution
api/core/v1.Toleration: tolerationSeconds
api/core/v1.TopologySpreadConstraint: minDomains nodeAffinityPolicy nodeTaintsPolicy
api/core/v1.TypedLocalObjectReference: apiGroup
api/core/v1.TypedObjectReference: apiGroup namespace
api/core/v1.VolumeMount: mountPropagation recursiveReadOnly
api/core/v1.VolumeMountStatus: recursiveReadOnly
api/core/v1.WindowsSecurityContextOptions: gmsaCredentialSpec gmsaCredentialSpecName hostProcess
    runAsUserName
api/discovery/v1.Endpoint: hostname nodeName zone
api/discovery/v1.EndpointConditions: ready serving terminating
api/discovery/v1.EndpointPort: appProtocol name port protocol
apimachinery/pkg/apis/meta/v1.DeleteOptions: gracePeriodSeconds
    ignoreStoreReadErrorWithClusterBreakingPotential orphanDependents propagationPolicy
apimachinery/pkg/apis/meta/v1.ObjectMeta: deletionGracePeriodSeconds
apimachinery/pkg/apis/meta/v1.OwnerReference: blockOwnerDeletion controller
apimachinery/pkg/apis/meta/v1.Preconditions: resourceVersion uid
"""
ZERO_IS_UNSET = """
api/core/v1.ContainerRestartRule: action
api/core/v1.ContainerRestartRuleOnExitCodes: operator
api/core/v1.LocalObjectReference: name
api/core/v1.PodCertificateProjection: keyType signerName
"""

# Fields k8s-pb still has but the Kubernetes of k8s-openapi has removed, with why: the decoder
# skips their numbers as unknown. Any other field without a JSON name stops the generator.
REMOVED = {
    "k8s.io.api.core.v1.PodSpec.workload_ref":
        "alpha field 42 of 1.35, replaced by schedulingGroup (43) in 1.36",
}

MODULE_PROTO_PREFIX = "k8s.io."

PRIMITIVES = {"string": "String", "bytes": "Bytes", "bool": "Bool", "int32": "Int32",
              "int64": "Int64", "double": "Double"}


@dataclass
class PbField:
    """One field of a prost message."""

    name: str
    tag: int
    wire: str  # a PRIMITIVES key or "message"
    repeated: bool
    map_value: str | None  # for maps: a PRIMITIVES key or "message"
    message: tuple[str, str] | None  # (module, name) of a message-typed field or map value


@dataclass
class PbMessage:
    """One prost message."""

    module: str
    name: str
    fields: list[PbField]
    api_version: str | None = None
    kind: str | None = None


@dataclass
class OaType:
    """One k8s-openapi struct: JSON names keyed by normalised name, and optionality by JSON name."""

    json: dict[str, str] = field(default_factory=dict)
    optional: dict[str, bool] = field(default_factory=dict)
    newtype: bool = False


def fail(message: str) -> None:
    sys.exit(f"gen_protobuf_schema: {message}")


def norm(name: str) -> str:
    return name.removeprefix("r#").replace("_", "").lower()


def find_crate(explicit: str | None, name: str) -> Path:
    if explicit:
        return Path(explicit)
    home = os.environ.get("CARGO_HOME") or os.path.expanduser("~/.cargo")
    hits = sorted(glob.glob(os.path.join(home, "registry", "src", "*", name)))
    if not hits:
        fail(f"{name} is not in {home}/registry/src: run `cargo fetch` or pass its folder")
    return Path(hits[0])


# -- k8s-pb -------------------------------------------------------------------------------------

STRUCT_RE = re.compile(r"::prost::Message\)\]\s*pub struct (\w+) \{(.*?)\n\}", re.S)
FIELD_RE = re.compile(r"#\[prost\(([^\]]*)\)\]\s*pub ((?:r#)?\w+):\s*(.*?),\s*(?=#\[prost|$)", re.S)
RESOURCE_RE = re.compile(
    r"impl crate::Resource for (\w+) \{\s*const API_VERSION: &'static str = \"([^\"]*)\";"
    r".*?const KIND: &'static str = \"([^\"]*)\";", re.S)
CONTAINERS = {"core", "option", "Option", "prost", "alloc", "vec", "Vec", "boxed", "Box",
              "string", "String", "collections", "BTreeMap", "u8", "i32", "i64", "bool", "f64"}


def resolve_type(module: str, rust_type: str, want_last: bool) -> tuple[str, str]:
    """The (module, name) of the message named in a prost field's Rust type."""
    paths = [p for p in re.findall(r"(?:\w+::)*\w+", rust_type)
             if p.split("::")[-1] not in CONTAINERS]
    if not paths:
        fail(f"no message type in {rust_type!r} ({module})")
    path = (paths[-1] if want_last else paths[0]).split("::")
    parts = module.split("/")
    if path[0] == "crate":
        parts, path = [], path[1:]
    while path[0] == "super":
        parts, path = parts[:-1], path[1:]
    return "/".join(parts + path[:-1]), path[-1]


def parse_pb_field(module: str, attrs: str, name: str, rust_type: str) -> PbField:
    tag = int(re.search(r'tag = "(\d+)"', attrs).group(1))
    head = attrs.split(",")[0].strip()
    m = re.match(r'btree_map = "(\w+), (\w+)"', attrs)
    if m:
        if m.group(1) != "string":
            fail(f"{module} {name}: map key {m.group(1)} is not a string")
        value = m.group(2)
        msg = resolve_type(module, rust_type, want_last=True) if value == "message" else None
        return PbField(name, tag, "map", True, value, msg)
    wire = head.split("=")[0].strip()
    if wire not in PRIMITIVES and wire != "message":
        fail(f"{module} {name}: wire type {head!r} is not handled")
    repeated = "repeated" in attrs
    msg = resolve_type(module, rust_type, want_last=False) if wire == "message" else None
    return PbField(name, tag, wire, repeated, None, msg)


def load_pb(root: Path) -> dict[tuple[str, str], PbMessage]:
    messages: dict[tuple[str, str], PbMessage] = {}
    for path in sorted((root / "src").rglob("mod.rs")):
        module = str(path.parent.relative_to(root / "src"))
        text = path.read_text()
        # Doc comments may contain anything, braces included.
        code = "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))
        for sm in STRUCT_RE.finditer(code):
            body = sm.group(2).strip()
            fields = [parse_pb_field(module, fm.group(1), fm.group(2), fm.group(3))
                      for fm in FIELD_RE.finditer(body)]
            if body.count("#[prost(") != len(fields):
                fail(f"{module}::{sm.group(1)}: could not read every field")
            messages[(module, sm.group(1))] = PbMessage(module, sm.group(1), fields)
        for rm in RESOURCE_RE.finditer(code):
            msg = messages.get((module, rm.group(1)))
            if msg:
                msg.api_version, msg.kind = rm.group(2), rm.group(3)
    return messages


# -- k8s-openapi --------------------------------------------------------------------------------


def load_openapi(root: Path) -> dict[tuple[str, str], OaType]:
    """Every k8s-openapi type, keyed by module and lower-case name."""
    types: dict[tuple[str, str], OaType] = {}
    base = root / "src" / OPENAPI_VERSION
    for path in sorted(base.rglob("*.rs")):
        if path.name == "mod.rs":
            continue
        module = str(path.parent.relative_to(base))
        text = path.read_text()
        m = re.search(r"^pub (struct|enum) (\w+)(.)", text, re.M)
        if not m:
            continue
        oa = OaType(newtype=m.group(1) == "enum" or m.group(3) == "(")
        rust_optional = {fm.group(1).removeprefix("r#"): fm.group(2).startswith("Option<")
                         for fm in re.finditer(r"^    pub ((?:r#)?\w+): (.*),$", text, re.M)}
        for fm in re.finditer(r'"(\w+)" => Field::Key_(\w+)', text):
            json_name, rust_name = fm.group(1), fm.group(2)
            if json_name in ("apiVersion", "kind") and rust_name not in rust_optional:
                continue  # a resource's TypeMeta: the envelope carries it, never the message
            oa.json[norm(json_name)] = json_name
            oa.optional[json_name] = rust_optional.get(rust_name, True)
        # k8s-pb spells acronyms as words (`GcePersistentDiskVolumeSource`).
        types[(module, m.group(2).lower())] = oa
    return types


# -- roots --------------------------------------------------------------------------------------


def load_roots(pb: dict[tuple[str, str], PbMessage]) -> list[tuple[str, str, tuple[str, str]]]:
    """(apiVersion, kind, message) for each kind of resource.rs, then EXTRA_ROOTS."""
    text = RESOURCES.read_text()
    aliases: dict[str, str] = {}
    for use in re.finditer(r"use k8s_openapi::api::\{([^}]*)\};", text):
        for item in use.group(1).split(","):
            m = re.match(r"\s*(\w+)::(\w+) as (\w+)", item)
            if m:
                aliases[m.group(3)] = f"api/{m.group(1)}/{m.group(2)}"
    roots = []
    for m in re.finditer(r'^\s*(\w+)::(\w+) => \{ "([^"]*)", "([^"]*)", "([^"]*)",', text, re.M):
        alias, ty, group, version, kind = m.groups()
        if alias not in aliases:
            fail(f"resource.rs: no `use` names the module alias {alias!r}")
        api_version = f"{group}/{version}" if group else version
        roots.append((api_version, kind, (aliases[alias], ty)))
    if not roots:
        fail("resource.rs: found no kinds in `kinds!`")
    for module, name, api_version, kind in EXTRA_ROOTS:
        roots.append((api_version, kind, (module, name)))
    for api_version, kind, key in roots:
        if key not in pb:
            fail(f"{kind}: k8s-pb has no message {key}")
        msg = pb[key]
        if msg.kind is not None and (msg.api_version, msg.kind) != (api_version, kind) \
                and api_version != "*":
            fail(f"{kind}: k8s-pb says {msg.api_version} {msg.kind}")
    return roots


# -- matching -----------------------------------------------------------------------------------


@dataclass
class OutField:
    tag: int
    json: str
    kind: str  # Rust `Kind` expression
    card: str  # Rust `Card` variant


class Schema:
    def __init__(self, pb, oa):
        self.pb = pb
        self.oa = oa
        self.zero_is_set = parse_field_list(ZERO_IS_SET)
        self.zero_is_unset = parse_field_list(ZERO_IS_UNSET)
        self.zero_used: set[str] = set()
        self.out: dict[tuple[str, str], list[OutField]] = {}
        # The host whose JSON names a message without its own k8s-openapi type was matched to.
        self.inline_host: dict[tuple[str, str], tuple[str, str]] = {}
        self.missing: list[str] = []
        self.removed_used: set[str] = set()

    def oa_of(self, key: tuple[str, str]) -> OaType | None:
        return self.oa.get((key[0], key[1].lower()))

    def kind_of(self, key: tuple[str, str]) -> str:
        if key in SPECIAL:
            return SPECIAL[key]
        self.visit(key)
        return f"Message(&{ident(key)})"

    def visit(self, key: tuple[str, str], host: tuple[str, str] | None = None) -> None:
        """Matches the fields of `key` against the JSON names of its own k8s-openapi type, or,
        for an embedded struct that has none, of `host`."""
        if key in self.out:
            if host and self.inline_host.get(key, host) != host:
                fail(f"{key} is embedded in both {self.inline_host[key]} and {host}")
            return
        if key not in self.pb:
            fail(f"k8s-pb has no message {key}")
        names_from = key if self.oa_of(key) else host
        if names_from is None:
            fail(f"k8s-openapi {OPENAPI_VERSION} has no type {key} and it is not embedded")
        if names_from != key:
            self.inline_host[key] = names_from
        oa = self.oa_of(names_from)
        if oa.newtype:
            fail(f"{key} is a newtype in k8s-openapi: add it to SPECIAL")
        self.out[key] = []  # recursion guard
        fields = []
        for f in self.pb[key].fields:
            json_name = oa.json.get(norm(f.name))
            if json_name is None and f"{qname(key)}.{f.name}" in REMOVED:
                self.removed_used.add(f"{qname(key)}.{f.name}")
                continue
            if json_name is None:
                if f.wire != "message" or f.repeated or f.message in SPECIAL:
                    fail(f"{qname(key)}.{f.name}: no JSON field of {names_from} matches")
                self.check_inline(f.message, names_from, f"{qname(key)}.{f.name}")
                fields.append(OutField(f.tag, "", f"Message(&{ident(f.message)})", "Inline"))
                continue
            fields.append(OutField(f.tag, json_name, self.field_kind(f),
                                   self.card(f, key, names_from, json_name)))
        self.out[key] = sorted(fields, key=lambda o: o.tag)
        covered = {o.json for o in self.out[key]}
        if names_from == key:
            for json_name in oa.json.values():
                # apiVersion and kind of a struct that embeds TypeMeta: the envelope's.
                if json_name in covered or json_name in ("apiVersion", "kind"):
                    continue
                if not self.covered_inline(key, json_name):
                    self.missing.append(f"{qname(key)}.{json_name}")

    def check_inline(self, sub: tuple[str, str], host: tuple[str, str], where: str) -> None:
        self.visit(sub, None if self.oa_of(sub) else host)
        names = self.oa_of(host).json.values()
        for o in self.out[sub]:
            if o.card == "Inline":
                continue
            if o.json not in names:
                fail(f"{where}: neither a JSON field of {host} nor an embedded struct of it")

    def covered_inline(self, key, json_name) -> bool:
        for o in self.out[key]:
            if o.card == "Inline":
                sub = re.search(r"&(\w+)", o.kind).group(1)
                sub_key = next(k for k in self.out if ident(k) == sub)
                if any(s.json == json_name for s in self.out[sub_key]) or \
                        self.covered_inline(sub_key, json_name):
                    return True
        return False

    def field_kind(self, f: PbField) -> str:
        if f.wire == "map":
            value = self.kind_of(f.message) if f.map_value == "message" else PRIMITIVES[f.map_value]
            return f"Map(&{value})"
        if f.wire == "message":
            return self.kind_of(f.message)
        return PRIMITIVES[f.wire]

    def card(self, f: PbField, key, names_from, json_name: str) -> str:
        """`Repeated`; `Set` when a zero on the wire is a value; `OmitZero` when it means unset."""
        if f.repeated:
            return "Repeated"
        if f.wire not in PRIMITIVES:
            return "Set"
        label = f"{key[0]}.{key[1]}.{json_name}"
        if label in self.zero_is_set or label in self.zero_is_unset:
            self.zero_used.add(label)
            return "Set" if label in self.zero_is_set else "OmitZero"
        required = not self.oa_of(names_from).optional.get(json_name, True)
        return "Set" if required else "OmitZero"


def parse_field_list(text: str) -> set[str]:
    """`module.Message: a b` lines (indented lines continue the one above) as `module.Message.a`."""
    out = set()
    for entry in re.split(r"\n(?=\S)", text.strip()):
        message, names = entry.split(":")
        out.update(f"{message}.{name}" for name in names.split())
    return out


def qname(key: tuple[str, str]) -> str:
    return MODULE_PROTO_PREFIX + key[0].replace("/", ".") + "." + key[1]


def ident(key: tuple[str, str]) -> str:
    parts = key[0].split("/")
    parts = parts[3:] if parts[:3] == ["apimachinery", "pkg", "apis"] else \
        parts[2:] if parts[:2] == ["apimachinery", "pkg"] else parts[1:]
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", key[1])
    return "_".join(parts + [snake]).upper()


# -- output -------------------------------------------------------------------------------------

HEADER = """\
// @generated by `python3 tools/gen_protobuf_schema.py`, from {pb} (field numbers and wire
// types) and {oa} {ver} (JSON names and optional fields).
// Do not edit: change the generator and run it again.

//! The protobuf schema of every message the API decodes: for each, its fields by number, with the
//! JSON name, the wire kind and the cardinality the decoder of [`super::protobuf`] needs.

use super::protobuf::Card::{{Inline, OmitZero, Repeated, Set}};
use super::protobuf::Kind::{{self, *}};
use super::protobuf::{{Field, Message}};

/// One field: number, JSON name, kind, cardinality.
const fn f(tag: u32, json: &'static str, kind: Kind, card: super::protobuf::Card) -> Field {{
    Field {{ tag, json, kind, card }}
}}

/// The message of each body the API decodes, by `apiVersion` (`*`: any) and `kind`.
pub(super) static ROOTS: &[(&str, &str, &Message)] = &[
"""


def render(schema: Schema, roots, pb_dir: Path, oa_dir: Path) -> str:
    out = [HEADER.format(pb=pb_dir.name, oa=oa_dir.name, ver=OPENAPI_VERSION)]
    for api_version, kind, key in roots:
        out.append(f'    ("{api_version}", "{kind}", &{ident(key)}),\n')
    out.append("];\n")
    for key in sorted(schema.out, key=ident):
        out.append(f'\npub(super) static {ident(key)}: Message = Message {{\n'
                   f'    name: "{qname(key)}",\n    fields: &[\n')
        for o in schema.out[key]:
            out.append(f'        f({o.tag}, "{o.json}", {o.kind}, {o.card}),\n')
        out.append("    ],\n};\n")
    return "".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--k8s-pb", help=f"the {K8S_PB} crate folder")
    ap.add_argument("--k8s-openapi", help=f"the {K8S_OPENAPI} crate folder")
    ap.add_argument("--check", action="store_true", help="fail if the committed file differs")
    args = ap.parse_args()
    if not RESOURCES.exists():
        fail("run me from the repository root")
    pb_dir = find_crate(args.k8s_pb, K8S_PB)
    oa_dir = find_crate(args.k8s_openapi, K8S_OPENAPI)
    pb = load_pb(pb_dir)
    oa = load_openapi(oa_dir)
    roots = load_roots(pb)
    schema = Schema(pb, oa)
    for _, _, key in roots:
        schema.visit(key)
    stale = (schema.zero_is_set | schema.zero_is_unset) - schema.zero_used
    if stale:
        fail(f"ZERO_IS_SET or ZERO_IS_UNSET names fields that no decoded message has: "
             f"{sorted(stale)}")
    if set(REMOVED) - schema.removed_used:
        fail(f"REMOVED names fields that match or are not decoded: "
             f"{sorted(set(REMOVED) - schema.removed_used)}")
    text = render(schema, roots, pb_dir, oa_dir)
    if args.check:
        if OUT.read_text() != text:
            fail(f"{OUT} is stale: run python3 tools/gen_protobuf_schema.py")
        return
    OUT.write_text(text)
    print(f"wrote {OUT}: {len(schema.out)} messages", file=sys.stderr)
    if schema.missing:
        print(f"JSON fields of {OPENAPI_VERSION} that {K8S_PB} has no number for (the decoder "
              f"skips them if a newer client sends them): {', '.join(schema.missing)}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
