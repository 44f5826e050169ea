"""kubectl 1.37's imperative commands against `brume dev`.

`kubectl create <kind>`, `run` and `expose` build the object in kubectl and send it as Kubernetes
protobuf (`Content-Type: application/vnd.kubernetes.protobuf`), with no JSON retry on a 415. Each
test checks the stored object has what the command asked for; one checks that the protobuf path
stores exactly what the JSON path (`--dry-run=client -o json | kubectl create -f -`) stores.
"""

from __future__ import annotations

import base64
import json

import pytest

from brumetest import uniq

# The commands of the JSON-equivalence test: (resource to read back, kubectl arguments).
COMMANDS = [
    ("configmap/c", ["create", "configmap", "c", "--from-literal=a=b", "--from-literal=empty="]),
    ("secret/s", ["create", "secret", "generic", "s", "--from-literal=p=q"]),
    ("deployment/web", ["create", "deployment", "web", "--image=nginx:1.27", "--replicas=2", "--port=80"]),
    ("pod/p", ["run", "p", "--image=busybox", "--restart=Never", "--labels=app=p", "--port=8080"]),
    ("service/web", ["create", "service", "nodeport", "web", "--tcp=80:8080"]),
]


def get_json(brume, ns: str | None, ref: str) -> dict:
    args = ["get", ref, "-o", "json"] + (["-n", ns] if ns else [])
    return json.loads(brume.kubectl(*args).stdout)


def test_create_sends_protobuf(brume, ns):
    # Guards the other tests: if kubectl stopped sending protobuf they would prove nothing.
    p = brume.kubectl("create", "configmap", "wire", "-n", ns, "--from-literal=a=b", "-v=8")
    assert "Content-Type: application/vnd.kubernetes.protobuf" in p.stderr, p.stderr[-3000:]
    assert get_json(brume, ns, "cm/wire")["data"] == {"a": "b"}


def test_create_namespace(brume):
    name = uniq("imp")
    out = brume.kubectl("create", "namespace", name).stdout
    assert f"namespace/{name} created" in out, out
    got = get_json(brume, None, f"ns/{name}")
    assert got["metadata"]["name"] == name
    assert got["status"]["phase"] == "Active"


def test_create_configmap(brume, ns):
    brume.kubectl("create", "configmap", "c", "-n", ns, "--from-literal=a=b", "--from-literal=x=y z")
    got = get_json(brume, ns, "cm/c")
    assert got["data"] == {"a": "b", "x": "y z"}
    assert got["metadata"]["namespace"] == ns


def test_create_secret_generic(brume, ns):
    brume.kubectl("create", "secret", "generic", "s", "-n", ns, "--from-literal=p=q", "--from-literal=bin=\u00e9\u00e8")
    got = get_json(brume, ns, "secret/s")
    assert got["type"] == "Opaque"
    assert {k: base64.b64decode(v).decode() for k, v in got["data"].items()} == {"p": "q", "bin": "\u00e9\u00e8"}


def test_create_deployment(brume, ns):
    brume.kubectl("create", "deployment", "web", "-n", ns, "--image=nginx:1.27", "--replicas=2", "--port=80")
    got = get_json(brume, ns, "deploy/web")
    spec = got["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"] == {"matchLabels": {"app": "web"}}
    assert spec["template"]["metadata"]["labels"] == {"app": "web"}
    [c] = spec["template"]["spec"]["containers"]
    assert c["name"] == "nginx" and c["image"] == "nginx:1.27"
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    # Zero values kubectl did not set came over the wire as zeros and were not taken as values:
    # the server's defaults apply, as they do for JSON.
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}


def test_create_deployment_with_zero_replicas_keeps_zero(brume, ns):
    # `replicas` is a pointer in Go: a zero on the wire is a value, not "unset" (which means 1).
    brume.kubectl("create", "deployment", "idle", "-n", ns, "--image=nginx:1.27", "--replicas=0")
    assert get_json(brume, ns, "deploy/idle")["spec"]["replicas"] == 0


def test_run_pod(brume, ns):
    brume.kubectl("run", "p", "-n", ns, "--image=busybox", "--restart=Never", "--", "sleep", "10")
    got = get_json(brume, ns, "pod/p")
    assert got["metadata"]["labels"] == {"run": "p"}
    spec = got["spec"]
    assert spec["restartPolicy"] == "Never"
    [c] = spec["containers"]
    assert c["name"] == "p" and c["image"] == "busybox"
    assert c["args"] == ["sleep", "10"]
    assert "command" not in c


def test_create_service_nodeport(brume, ns):
    brume.kubectl("create", "service", "nodeport", "web", "-n", ns, "--tcp=80:8080")
    got = get_json(brume, ns, "svc/web")
    spec = got["spec"]
    assert spec["type"] == "NodePort"
    assert spec["selector"] == {"app": "web"}
    [port] = spec["ports"]
    assert (port["name"], port["port"], port["targetPort"], port["protocol"]) == ("80-8080", 80, 8080, "TCP")


def test_expose_deployment(brume, ns):
    brume.kubectl("create", "deployment", "api", "-n", ns, "--image=nginx:1.27", "--port=80")
    brume.kubectl("expose", "deployment", "api", "-n", ns, "--name=api-svc", "--port=81", "--target-port=80")
    spec = get_json(brume, ns, "svc/api-svc")["spec"]
    assert spec["selector"] == {"app": "api"}
    assert [(p["port"], p["targetPort"]) for p in spec["ports"]] == [(81, 80)]


def normalised(obj: dict) -> dict:
    """The object less what differs between any two creations (identity, times, namespace)
    and what the cluster's controllers, scheduler and agents write afterwards."""
    meta = obj["metadata"]
    for key in ("uid", "resourceVersion", "creationTimestamp", "namespace", "managedFields"):
        meta.pop(key, None)
    annotations = meta.get("annotations", {})
    for key in ("fog.brume.io/host-ports", "deployment.kubernetes.io/revision"):
        annotations.pop(key, None)
    if not annotations:
        meta.pop("annotations", None)
    obj.pop("status", None)
    spec = obj.get("spec", {})
    spec.pop("nodeName", None)
    for port in spec.get("ports", []) if obj.get("kind") == "Service" else []:
        # The cluster allocates node ports; each creation gets its own, from the range.
        if "nodePort" in port:
            assert 30000 <= port.pop("nodePort") <= 32767, port
    return obj


@pytest.mark.parametrize("ref,args", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_protobuf_and_json_store_the_same_object(brume, ref, args):
    via_protobuf, via_json = brume.create_namespace(), brume.create_namespace()
    brume.kubectl(*args, "-n", via_protobuf)
    manifest = brume.kubectl(*args, "-n", via_json, "--dry-run=client", "-o", "json").stdout
    brume.kubectl("create", "-f", "-", "-n", via_json, input=manifest)
    assert normalised(get_json(brume, via_protobuf, ref)) == normalised(get_json(brume, via_json, ref))
