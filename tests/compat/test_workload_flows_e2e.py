"""End to end with separate processes (a `brume server` and three process-runtime `brume agent`s):
the kubectl flows of a workload's life that the other e2e files do not drive — `kubectl cordon`
and `kubectl drain` (the eviction API), `kubectl logs -f` and `kubectl logs --previous` — and the
bad-input cases of issue 3 that end at a pod: an unknown runtimeClassName, impossible requests,
and a command that does not exist on the node."""

from __future__ import annotations

import json
import pytest
import yaml

import conftest
from brumetest import table_header, table_rows, uniq, wait_until
from nodes import Cluster, running_cluster


@pytest.fixture
def cluster(tmp_path):
    """A server and three process-runtime agents; everything is stopped and killed at teardown."""
    with running_cluster(tmp_path, 3, conftest._LIVE) as c:
        yield c


def pod(name: str, command: str, *, runtime: str = "process", restart: str = "Always", requests: dict | None = None) -> dict:
    container = {"name": "main", "image": "none", "command": ["sh", "-c", command]}
    if requests:
        container["resources"] = {"requests": requests}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "runtimeClassName": runtime,
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 2,
            "containers": [container],
        },
    }


def deployment(name: str, replicas: int) -> dict:
    template = pod(name, "while true; do sleep 1; done")
    template.pop("apiVersion"), template.pop("kind")
    template["metadata"] = {"labels": {"app": name}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template},
    }


def apply(c: Cluster, ns: str, obj: dict) -> None:
    c.server.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(obj))


def get_pod(c: Cluster, ns: str, name: str) -> dict:
    r = c.server.get(f"/api/v1/namespaces/{ns}/pods/{name}")
    assert r.status == 200, r
    return r.json()


def condition(p: dict, kind: str) -> dict | None:
    return next((c for c in p.get("status", {}).get("conditions") or [] if c.get("type") == kind), None)


def events_for(c: Cluster, ns: str, name: str) -> list[dict]:
    out = c.server.kubectl("get", "events", "-n", ns, "--field-selector", f"involvedObject.name={name}", "-o", "json").stdout
    return json.loads(out)["items"]


def running_pods(c: Cluster, ns: str, app: str) -> list[dict]:
    return [
        p
        for p in c.pods(ns, f"app={app}")
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]


# -- cordon and drain ----------------------------------------------------------------------------


def test_cordon_and_drain_move_the_pods_off_the_node(cluster):
    c = cluster
    ns = c.server.create_namespace(uniq("drain"))
    apply(c, ns, deployment("dr", 3))
    pods = wait_until(lambda: (p := running_pods(c, ns, "dr")) and len(p) == 3 and p, 45, 0.3, "3 running pods")
    node = pods[0]["spec"]["nodeName"]
    others = {a.name for a in c.agents} - {node}

    c.server.kubectl("cordon", node)
    out = c.server.kubectl("get", "nodes").stdout
    rows = {r[0]: dict(zip(table_header(out), r)) for r in table_rows(out)}
    assert rows[node]["STATUS"] == "Ready,SchedulingDisabled", out

    # kubectl drain cordons (already done), evicts each pod through pods/<name>/eviction, and
    # waits until they are gone; the Deployment replaces them on the other nodes.
    drained = c.server.kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=60s", timeout=75)
    assert "evicting pod" in drained.stdout + drained.stderr, drained
    assert f"node/{node} drained" in drained.stdout, drained

    def moved():
        pods = running_pods(c, ns, "dr")
        return pods if len(pods) == 3 and all(p["spec"]["nodeName"] in others for p in pods) else None

    wait_until(moved, 45, 0.3, f"3 running pods, none on the drained node {node}")
    assert not [p for p in c.pods(ns, "app=dr") if p["spec"].get("nodeName") == node]

    # While cordoned, a scale-up still avoids the node; after uncordon the node takes pods again.
    c.server.kubectl("scale", "-n", ns, "deployment/dr", "--replicas=4")
    wait_until(lambda: len(running_pods(c, ns, "dr")) == 4, 45, 0.3, "4 running pods")
    assert all(p["spec"]["nodeName"] != node for p in c.pods(ns, "app=dr"))
    c.server.kubectl("uncordon", node)
    r = c.server.get(f"/api/v1/nodes/{node}")
    assert not r.json()["spec"].get("unschedulable"), r.json()["spec"]
    c.server.kubectl("scale", "-n", ns, "deployment/dr", "--replicas=9")

    def spread_again():
        pods = running_pods(c, ns, "dr")
        return pods if len(pods) == 9 and any(p["spec"]["nodeName"] == node for p in pods) else None

    wait_until(spread_again, 45, 0.3, f"9 running pods, some on the uncordoned node {node}")


def test_eviction_of_a_missing_pod_is_404(cluster):
    c = cluster
    ns = c.server.create_namespace(uniq("evict"))
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "ghost", "namespace": ns}}
    r = c.server.post(f"/api/v1/namespaces/{ns}/pods/ghost/eviction", body)
    assert r.status == 404, r
    assert "ghost" in r.json()["message"], r.json()


# -- logs -f and --previous ----------------------------------------------------------------------


def test_logs_follow_and_previous(cluster):
    c = cluster
    ns = c.server.create_namespace(uniq("logs"))
    # Each run starts with its own stamp (the clock), then ticks three times and fails.
    apply(c, ns, pod("counter", 'echo "run $(date +%s%N)"; i=0; while [ $i -lt 3 ]; do echo "tick $i"; i=$((i+1)); sleep 1; done; exit 1'))

    def restarted():
        p = get_pod(c, ns, "counter")
        st = (p["status"].get("containerStatuses") or [{}])[0]
        return p if st.get("restartCount", 0) >= 1 and st.get("state", {}).get("running") else None

    p = wait_until(restarted, 60, 0.3, "the container restarted once and running again")
    st = p["status"]["containerStatuses"][0]
    assert st["lastState"]["terminated"]["exitCode"] == 1, st

    previous = c.server.kubectl("logs", "-n", ns, "counter", "--previous").stdout.splitlines()
    current = c.server.kubectl("logs", "-n", ns, "counter").stdout.splitlines()
    assert previous[0].startswith("run ") and previous[1:] == ["tick 0", "tick 1", "tick 2"], previous
    assert current and current[0].startswith("run "), current
    assert current[0] != previous[0], f"--previous shows the current run: {previous} / {current}"

    # --previous of a container that never restarted is an error that says so.
    apply(c, ns, pod("steady", "i=0; while true; do echo \"beat $i\"; i=$((i+1)); sleep 0.5; done"))
    wait_until(lambda: get_pod(c, ns, "steady")["status"].get("phase") == "Running", 30, 0.3, "steady running")
    r = c.server.kubectl("logs", "-n", ns, "steady", "--previous", check=False)
    assert r.returncode != 0, r
    assert "previous" in r.stderr and "steady" in r.stderr, r.stderr

    # -f keeps the stream open and shows lines written after it started.
    follow = c.server.kubectl_popen("logs", "-f", "-n", ns, "steady")
    try:
        first = follow.wait_for(lambda line: line.startswith("beat "), 20, "a beat line from `kubectl logs -f`")
        follow.wait_for(lambda line: line.startswith("beat ") and line != first, 20, "a later beat line")
    finally:
        err = follow.stop()
    assert "error" not in err.lower(), err


# -- bad input that ends at a pod ----------------------------------------------------------------


def test_unknown_runtime_class_stays_pending_with_the_reason(cluster):
    c = cluster
    ns = c.server.create_namespace(uniq("rtc"))
    apply(c, ns, pod("gvisor", "sleep 100", runtime="gvisor"))

    def unschedulable():
        p = get_pod(c, ns, "gvisor")
        cond = condition(p, "PodScheduled")
        return (p, cond) if cond and cond.get("status") == "False" else None

    p, cond = wait_until(unschedulable, 30, 0.3, "PodScheduled=False")
    assert p["status"]["phase"] == "Pending" and not p["spec"].get("nodeName"), p
    assert cond["reason"] == "Unschedulable", cond
    assert cond["message"] == '0/3 nodes are available: 3 node(s) did not offer runtime handler "gvisor".', cond
    evs = wait_until(lambda: [e for e in events_for(c, ns, "gvisor") if e["reason"] == "FailedScheduling"], 20, 0.5, "a FailedScheduling event")
    assert "gvisor" in evs[0]["message"], evs


def test_impossible_requests_are_pending_with_counted_reasons(cluster):
    c = cluster
    ns = c.server.create_namespace(uniq("huge"))
    # One node carries a label the pod asks for; none has 1000 CPUs.
    labelled = c.agents[0].name
    c.server.kubectl("label", "node", labelled, "disk=ssd")
    big = pod("big", "sleep 100", requests={"cpu": "1000", "memory": "16Mi"})
    apply(c, ns, big)
    picky = pod("picky", "sleep 100", requests={"cpu": "1000"})
    picky["spec"]["nodeSelector"] = {"disk": "ssd"}
    apply(c, ns, picky)

    def message(name):
        cond = condition(get_pod(c, ns, name), "PodScheduled")
        return cond["message"] if cond and cond.get("status") == "False" else None

    assert wait_until(lambda: message("big"), 30, 0.3, "big unschedulable") == "0/3 nodes are available: 3 Insufficient cpu."
    assert (
        wait_until(lambda: message("picky"), 30, 0.3, "picky unschedulable")
        == "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector."
    )

    # kubectl describe shows why, as a Kubernetes user expects.
    out = c.server.kubectl("describe", "pod", "-n", ns, "big").stdout
    assert "FailedScheduling" in out and "Insufficient cpu" in out, out


def test_a_missing_command_waits_with_a_reason_naming_it(cluster):
    c = cluster
    ns = c.server.create_namespace(uniq("nocmd"))
    bad = pod("nocmd", "unused")
    bad["spec"]["containers"][0]["command"] = ["no-such-program-here", "--flag"]
    apply(c, ns, bad)

    def waiting():
        p = get_pod(c, ns, "nocmd")
        st = (p["status"].get("containerStatuses") or [{}])[0]
        w = st.get("state", {}).get("waiting")
        return (p, w) if w and "no-such-program-here" in (w.get("message") or "") else None

    p, w = wait_until(waiting, 30, 0.3, "a waiting container whose message names the command")
    assert w["reason"] in ("RunContainerError", "CrashLoopBackOff", "StartError", "CreateContainerError"), w
    assert p["status"]["phase"] == "Pending", p["status"]
    assert not condition(p, "Ready") or condition(p, "Ready")["status"] == "False"
    out = c.server.kubectl("get", "pod", "-n", ns, "nocmd").stdout
    assert "Running" not in out, out
