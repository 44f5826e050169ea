"""Resource metrics end to end on `brume dev --nodes 2 --runtimes process`: the agents measure
their pods and write metrics.k8s.io PodMetrics and NodeMetrics every 15 s; `kubectl top` and
`brume top` show a CPU-burning pod above an idle one, and node-1 (which runs it) above node-2;
and an autoscaling/v2 HPA made by `kubectl autoscale --cpu=50% --min=1 --max=3` scales a
CPU-burning Deployment (cpu request 100m) to 3, with `kubectl get hpa` showing the measured
utilization and the HPA a SuccessfulRescale event.

Timings are the defaults (metrics every 15 s, HPA sync 15 s): a pod's first PodMetrics needs two
readings (15 to 30 s after it starts), and the HPA only counts a window measured wholly after
the pod became Ready, so the scale-up comes 30 to 60 s after the Deployment. The HPA's
Deployment is made at the start of the module, so both tests wait for the same readings and
the module takes about a minute."""

from __future__ import annotations

import json
import time

import pytest
import yaml

import conftest
from brumetest import table_header, table_rows, wait_until

# A busy loop at the lowest priority: it takes every idle cycle (so it measures near a whole
# core) without starving the server and agents it shares two cores with.
BURN = "exec nice -n 19 sh -c 'while :; do :; done'"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, request):
    args = ["--nodes", "2", "--runtimes", "process", "--dns-port", "0"]
    srv = conftest._start(tmp_path_factory, "brume-metrics", args)
    yield srv
    conftest._finish(srv, request)


def pod(name: str, node: str, script: str, cpu: str = "100m") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "nodeName": node,
            "runtimeClassName": "process",
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "main",
                "image": "none",
                "command": ["sh", "-c", script],
                "resources": {"requests": {"cpu": cpu, "memory": "16Mi"}},
            }],
        },
    }


def burn_deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "burn"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "burn"}},
            "template": {
                "metadata": {"labels": {"app": "burn"}},
                "spec": {
                    "runtimeClassName": "process",
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "burn",
                        "image": "none",
                        "command": ["sh", "-c", BURN],
                        "resources": {"requests": {"cpu": "100m", "memory": "16Mi"}},
                    }],
                },
            },
        },
    }


@pytest.fixture(scope="module")
def autoscaled(cluster):
    """A CPU-burning Deployment with an HPA, made first so its clock runs during the top test."""
    ns = cluster.create_namespace("hpa")
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(burn_deployment()))
    out = cluster.kubectl("autoscale", "deployment", "burn", "-n", ns, "--cpu=50%", "--min=1", "--max=3").stdout
    assert "autoscaled" in out, out
    return ns, time.monotonic()


def millicores(cell: str) -> int:
    assert cell.endswith("m"), cell
    return int(cell[:-1])


def top_rows(output: str) -> dict[str, list[str]]:
    return {row[0]: row for row in table_rows(output)}


def test_top_shows_a_busy_pod_above_an_idle_one(cluster, autoscaled):
    ns = cluster.create_namespace("top")
    docs = [pod("busy", "node-1", BURN), pod("idle", "node-2", "exec sleep 3600")]
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(docs))

    # Before the second reading there are no metrics yet, and both CLIs say so.
    early = cluster.kubectl("top", "pods", "-n", ns, check=False)
    if early.returncode != 0:
        assert "metrics not available yet" in early.stderr, early.stderr
    early = cluster.brume("top", "pods", "-n", ns, check=False)
    if early.returncode != 0:
        assert "metrics not available yet" in early.stderr, early.stderr

    def both():
        p = cluster.kubectl("top", "pods", "-n", ns, check=False)
        rows = top_rows(p.stdout) if p.returncode == 0 else {}
        return rows if {"busy", "idle"} <= rows.keys() else None

    rows = wait_until(both, 60, 1, "kubectl top pods to show busy and idle")
    assert table_header(cluster.kubectl("top", "pods", "-n", ns).stdout) == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    busy, idle = millicores(rows["busy"][1]), millicores(rows["idle"][1])
    # The loop measures near a core when the machine has a free one; 200m leaves room for a
    # loaded CI machine, and the idle pod stays far below it.
    assert busy >= 200 and idle < busy / 4, rows
    assert rows["busy"][2].endswith("Mi"), rows

    # brume top pods shows the same ranking, in the same columns.
    out = cluster.brume("top", "pods", "-n", ns).stdout
    assert table_header(out) == ["NAME", "CPU(cores)", "MEMORY(bytes)"], out
    b = top_rows(out)
    assert millicores(b["busy"][1]) >= 200 and millicores(b["idle"][1]) < millicores(b["busy"][1]) / 4, out
    every = cluster.brume("top", "pods", "-A").stdout
    assert table_header(every)[0] == "NAMESPACE" and f"{ns} " in every, every

    # Nodes: node-1 runs the busy pod (and the burning Deployment may land anywhere, but node-1
    # always has at least the busy loop), with its share of allocatable.
    nodes = wait_until(
        lambda: (r := top_rows(cluster.kubectl("top", "nodes").stdout)) and {"node-1", "node-2"} <= r.keys() and r,
        30, 1, "kubectl top nodes to show both nodes",
    )
    assert table_header(cluster.kubectl("top", "nodes").stdout) == [
        "NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"
    ]
    assert millicores(nodes["node-1"][1]) >= 200, nodes
    assert nodes["node-1"][2].endswith("%"), nodes
    out = cluster.brume("top", "nodes").stdout
    assert millicores(top_rows(out)["node-1"][1]) >= 200, out

    # The raw objects have the metrics-server's shape.
    raw = json.loads(cluster.kubectl("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/busy").stdout)
    assert raw["kind"] == "PodMetrics" and raw["window"].endswith("s"), raw
    assert raw["containers"][0]["name"] == "main" and set(raw["containers"][0]["usage"]) == {"cpu", "memory"}, raw
    assert raw["metadata"]["ownerReferences"][0]["kind"] == "Pod", raw

    # Bad input is told what is valid.
    bad = cluster.brume("top", "deployments", check=False)
    assert bad.returncode != 0
    assert "brume top shows pods or nodes, not \"deployments\"" in bad.stderr, bad.stderr
    empty = cluster.create_namespace("empty")
    assert cluster.brume("top", "pods", "-n", empty).stdout == f"No resources found in {empty} namespace.\n"

    # A deleted pod's metrics go with it (owner reference, garbage collector).
    cluster.kubectl("delete", "pod", "idle", "-n", ns, "--wait=true")
    wait_until(
        lambda: "idle" not in cluster.kubectl("get", "podmetrics.metrics.k8s.io", "-n", ns, "-o", "name").stdout,
        30, 0.5, "the idle pod's metrics to go",
    )


def test_an_hpa_scales_a_cpu_burning_deployment_to_max(cluster, autoscaled):
    ns, started = autoscaled

    def replicas():
        d = json.loads(cluster.kubectl("get", "deployment", "burn", "-n", ns, "-o", "json").stdout)
        return d["spec"]["replicas"] == 3

    # Two metrics readings, a window after Ready, one HPA sync: well within 90 s.
    wait_until(replicas, max(5.0, 90 - (time.monotonic() - started)), 1, "the HPA to scale burn to 3")
    hpa = cluster.kubectl("get", "hpa", "burn", "-n", ns).stdout
    assert table_header(hpa)[:3] == ["NAME", "REFERENCE", "TARGETS"], hpa
    targets = hpa.splitlines()[1].split("Deployment/burn", 1)[1].split()
    # "cpu: 958%/50%": the measured utilization over the target.
    assert targets[0] == "cpu:" and targets[1].endswith("%/50%"), hpa
    assert int(targets[1].split("%")[0]) > 50, hpa
    status = json.loads(cluster.kubectl("get", "hpa", "burn", "-n", ns, "-o", "json").stdout)["status"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["ScalingActive"]["status"] == "True", conditions
    assert conditions["ScalingActive"]["reason"] == "ValidMetricFound", conditions
    assert status["desiredReplicas"] == 3 and "lastScaleTime" in status, status
    events = json.loads(cluster.kubectl("get", "events", "-n", ns, "-o", "json").stdout)["items"]
    messages = [e["message"] for e in events if e.get("reason") == "SuccessfulRescale"]
    assert messages == ["New size: 3; reason: cpu resource utilization (percentage of request) above target"], messages
