"""The `brume` CLI's everyday verbs (for devices without kubectl), against `brume dev`."""

from __future__ import annotations

import json
import re

import yaml

from brumetest import load_yaml_docs, table_header, table_rows, wait_until

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 3
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
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  mode: {mode}
"""


def raw(brume, ns, name):
    return brume.get(f"/apis/apps/v1/namespaces/{ns}/deployments/{name}")


def test_apply_created_configured_unchanged(brume, ns, tmp_path):
    f = tmp_path / "web.yaml"
    f.write_text(DEPLOY.format(image="nginx:1.25", mode="a"))
    out = brume.brume("apply", "-f", str(f), "-n", ns).stdout
    assert "deployment.apps/web created" in out and "configmap/web-config created" in out, out
    d = raw(brume, ns, "web").json()
    assert d["spec"]["replicas"] == 3 and d["metadata"]["namespace"] == ns

    f.write_text(DEPLOY.format(image="nginx:1.27", mode="a"))
    out = brume.brume("apply", "-f", str(f), "-n", ns).stdout
    assert "deployment.apps/web configured" in out, out
    assert "configmap/web-config unchanged" in out, out
    d = raw(brume, ns, "web").json()
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert d["metadata"]["generation"] == 2

    out = brume.brume("apply", "-f", str(f), "-n", ns).stdout
    assert "deployment.apps/web unchanged" in out and "configmap/web-config unchanged" in out, out
    # Controllers write the status, so compare what an apply would change: spec and annotations.
    again = raw(brume, ns, "web").json()
    assert again["metadata"]["generation"] == d["metadata"]["generation"]
    applied = "kubectl.kubernetes.io/last-applied-configuration"
    assert again["metadata"]["annotations"][applied] == d["metadata"]["annotations"][applied]

    # Standard input, as `-f -`.
    out = brume.brume("apply", "-f", "-", "-n", ns, input=DEPLOY.format(image="nginx:1.27", mode="b")).stdout
    assert "configmap/web-config configured" in out, out
    assert brume.get(f"/api/v1/namespaces/{ns}/configmaps/web-config").json()["data"] == {"mode": "b"}


def test_apply_reports_invalid_objects(brume, ns, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(DEPLOY.format(image="nginx:1.25", mode="a").replace("replicas: 3", "replicas: -1"))
    p = brume.brume("apply", "-f", str(f), "-n", ns, check=False)
    assert p.returncode != 0, p
    assert "spec.replicas" in p.stderr, p.stderr
    assert raw(brume, ns, "web").status == 404


def test_get_table_yaml_json(brume, ns, tmp_path):
    f = tmp_path / "web.yaml"
    f.write_text(DEPLOY.format(image="nginx:1.25", mode="a"))
    brume.brume("apply", "-f", str(f), "-n", ns)

    out = brume.brume("get", "deploy", "-n", ns).stdout
    assert table_header(out) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], out
    assert [r[:2] for r in table_rows(out)] == [["web", "0/3"]], out
    # The same table kubectl prints (both render the server's Table).
    kout = brume.kubectl("get", "deploy", "-n", ns).stdout
    assert table_header(kout) == table_header(out)

    wide = brume.brume("get", "deployments", "-n", ns, "-o", "wide").stdout
    assert "IMAGES" in table_header(wide) and "nginx:1.25" in wide, wide

    docs = load_yaml_docs(brume.brume("get", "deploy", "web", "-n", ns, "-o", "yaml").stdout)
    assert len(docs) == 1 and docs[0]["kind"] == "Deployment" and docs[0]["metadata"]["name"] == "web"
    assert int(docs[0]["metadata"]["resourceVersion"]) > 0
    j = json.loads(brume.brume("get", "configmap", "web-config", "-n", ns, "-o", "json").stdout)
    assert j["data"] == {"mode": "a"}

    lst = yaml.safe_load(brume.brume("get", "cm", "-n", ns, "-o", "yaml").stdout)
    assert "web-config" in [i["metadata"]["name"] for i in lst["items"]]

    out = brume.brume("get", "deploy", "-A").stdout
    assert table_header(out)[:2] == ["NAMESPACE", "NAME"], out
    assert [ns, "web"] in [r[:2] for r in table_rows(out)], out

    out = brume.brume("get", "cm", "-n", ns, "-l", "app=nothing").stdout
    assert "No resources found" in out, out

    p = brume.brume("get", "deploy", "nope", "-n", ns, check=False)
    assert p.returncode != 0 and re.search(r"not found|NotFound", p.stderr), p


def test_describe(brume, ns, tmp_path):
    f = tmp_path / "web.yaml"
    f.write_text(DEPLOY.format(image="nginx:1.25", mode="a"))
    brume.brume("apply", "-f", str(f), "-n", ns)
    out = brume.brume("describe", "deployment", "web", "-n", ns).stdout
    # kubectl's "Name:" layout or the object's own fields: either names it.
    assert re.search(r"^\s*[Nn]ame:\s+web$", out, re.M), out
    assert re.search(rf"^\s*[Nn]amespace:\s+{ns}$", out, re.M), out
    assert "nginx:1.25" in out, out
    assert re.search(r"^Events:", out, re.M), out


def test_scale(brume, ns, tmp_path):
    f = tmp_path / "web.yaml"
    f.write_text(DEPLOY.format(image="nginx:1.25", mode="a"))
    brume.brume("apply", "-f", str(f), "-n", ns)
    out = brume.brume("scale", "deploy/web", "--replicas=2", "-n", ns).stdout
    assert "deployment.apps/web scaled" in out, out
    assert raw(brume, ns, "web").json()["spec"]["replicas"] == 2
    brume.brume("scale", "deployment", "web", "--replicas", "4", "-n", ns)
    assert raw(brume, ns, "web").json()["spec"]["replicas"] == 4
    p = brume.brume("scale", "configmap/web-config", "--replicas=2", "-n", ns, check=False)
    assert p.returncode != 0, p


def test_delete_waits_until_gone(brume, ns, tmp_path):
    f = tmp_path / "web.yaml"
    f.write_text(DEPLOY.format(image="nginx:1.25", mode="a"))
    brume.brume("apply", "-f", str(f), "-n", ns)
    out = brume.brume("delete", "deploy", "web", "-n", ns).stdout
    assert 'deployment.apps "web" deleted' in out or "deployment.apps/web deleted" in out, out
    assert raw(brume, ns, "web").status == 404
    # An object held by a finalizer: delete does not claim it is gone; it waits and gives up.
    r = brume.request(
        "PATCH",
        f"/api/v1/namespaces/{ns}/configmaps/web-config",
        {"metadata": {"finalizers": ["test.brume.io/hold"]}},
        content_type="application/merge-patch+json",
    )
    assert r.status == 200, r
    p = brume.brume("delete", "cm", "web-config", "-n", ns, "--timeout", "2", check=False)
    assert p.returncode != 0, f"delete must not report success while the object is still there: {p}"
    held = brume.get(f"/api/v1/namespaces/{ns}/configmaps/web-config").json()
    assert held["metadata"].get("deletionTimestamp"), held
    r = brume.request(
        "PATCH",
        f"/api/v1/namespaces/{ns}/configmaps/web-config",
        {"metadata": {"finalizers": None}},
        content_type="application/merge-patch+json",
    )
    assert r.status == 200, r
    wait_until(lambda: brume.get(f"/api/v1/namespaces/{ns}/configmaps/web-config").status == 404, timeout=15, what="web-config to go")
    p = brume.brume("delete", "deploy", "web", "-n", ns, check=False)
    assert p.returncode != 0 and re.search(r"not found|NotFound", p.stderr + p.stdout), p


def test_kubeconfig_command(brume):
    out = brume.brume("kubeconfig", "--data", str(brume.data)).stdout
    cfg = yaml.safe_load(out)
    assert cfg["kind"] == "Config"
    assert cfg["clusters"][0]["cluster"]["server"] == brume.url
    assert cfg["users"][0]["user"]["token"] == brume.token
    assert out == brume.kubeconfig.read_text()
