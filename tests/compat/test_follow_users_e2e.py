"""End to end on the emulated fog testbed (six agents on a line, `brume dev --latency-matrix`):
replicas follow their users, and a LatencyAutoscaler holds a latency objective.

- Follow the users: a one-replica `fog.brume.io/placement: follow-users` Deployment serves users
  at gateway node-1; the users move to node-6, 104 ms away. Within 90 s a replica runs on node-6,
  the one on node-1 is gone, no request failed during the move, and the Deployment's events say
  which gateway's demand caused the move and the expected gain.
- Latency-SLO autoscaling: demand at node-3 of 6 req/s needs one 10-req/s replica; doubled past
  capacity it needs more, and the replica count rises within 90 s; when the demand stops it falls
  back to minReplicas, never below. `kubectl get latencyautoscalers` shows it all, and an HPA on
  the same Deployment is refused.

The fog controllers run with short timings here (`--fog-sync-period 2 --scale-down-window 15
--move-cooldown 5`); the defaults are 10 s, 120 s and 60 s."""

from __future__ import annotations

import json
from pathlib import Path
import threading
import time
import urllib.error
import urllib.request

import pytest

import conftest
from brumetest import wait_until
from test_fog_e2e import ECHO, POSITIONS, apply, node_addresses, node_ports, rtt


@pytest.fixture(scope="module")
def testbed(tmp_path_factory, request):
    matrix = tmp_path_factory.mktemp("matrix") / "line.tsv"
    n = len(POSITIONS)
    matrix.write_text("\n".join("\t".join(f"{rtt(i, j):g}" for j in range(n)) for i in range(n)) + "\n")
    args = ["--nodes", str(n), "--latency-matrix", str(matrix), "--runtimes", "process",
            "--fog-sync-period", "2", "--scale-down-window", "15", "--move-cooldown", "5"]
    srv = conftest._start(tmp_path_factory, "brume-follow", args)
    yield srv
    conftest._finish(srv, request)


class Load:
    """Users at one gateway: `rps` GETs per second on the gateway's node port, counting
    answers and failures, until stopped or moved."""

    def __init__(self, address: str, port: int, rps: float, threads: int = 2):
        self.address, self.port, self.rps = address, port, rps
        self.ok, self.failed, self.by_node = 0, [], {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self):
        period = len(self._threads) / self.rps
        while not self._stop.is_set():
            started = time.monotonic()
            url = f"http://{self.address}:{self.port}/"
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    node = r.read().decode()
                with self._lock:
                    self.ok += 1
                    self.by_node[node] = self.by_node.get(node, 0) + 1
            except (urllib.error.URLError, OSError) as e:
                with self._lock:
                    self.failed.append(f"{time.strftime('%H:%M:%S')} {url}: {e}")
            self._stop.wait(max(0.0, period - (time.monotonic() - started)))

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(10)


def echo(name: str, replicas: int, annotations: dict, node_pool: list[str] | None = None) -> list[dict]:
    spec = {
        "runtimeClassName": "process",
        "terminationGracePeriodSeconds": 2,
        "containers": [{
            "name": "echo", "image": "none", "command": ["python3", "-c", ECHO],
            "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
        }],
    }
    if node_pool:
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": node_pool}]}]}}}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": spec}},
    }
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "annotations": {"fog.brume.io/routing": "proximity"}},
        "spec": {"type": "NodePort", "selector": {"app": name},
                 "ports": [{"name": "http", "port": 80, "targetPort": "http", "appProtocol": "http"}]},
    }
    return [deployment, service]


def pods(srv, ns: str, app: str) -> list[dict]:
    return json.loads(srv.kubectl("get", "pods", "-n", ns, "-l", f"app={app}", "-o", "json").stdout)["items"]


def ready_nodes(srv, ns: str, app: str) -> list[str]:
    return sorted(
        p["spec"]["nodeName"] for p in pods(srv, ns, app)
        if not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))
    )


def events(srv, ns: str, name: str, reason: str) -> list[dict]:
    items = json.loads(srv.kubectl("get", "events", "-n", ns, "-o", "json").stdout)["items"]
    return [e for e in items if e["involvedObject"]["name"] == name and e["reason"] == reason]


def test_replicas_follow_their_users_make_before_break(testbed):
    srv = testbed
    ns = srv.create_namespace("follow")
    addresses = wait_until(lambda: (a := node_addresses(srv)) and len(a) == 6 and a, 30, 0.5, "six nodes")
    apply(srv, ns, *echo("web", 1, {"fog.brume.io/placement": "follow-users"}))
    wait_until(lambda: len(ready_nodes(srv, ns, "web")) == 1, 60, 0.5, "one ready replica")
    port = node_ports(srv, ns, "web")["http"]

    # Users at node-1: the replica comes to (or stays at) node-1.
    at_a = Load(addresses["node-1"], port, rps=10)
    try:
        wait_until(lambda: ready_nodes(srv, ns, "web") == ["node-1"], 120, 1.0, "the replica at gateway node-1")
    finally:
        at_a.stop()
    assert not at_a.failed, at_a.failed[:5]

    # The users move to node-6, 104 ms away: a replica follows, the far one goes, and no request
    # fails on the way.
    moved_at = time.monotonic()
    at_b = Load(addresses["node-6"], port, rps=10)
    try:
        wait_until(lambda: ready_nodes(srv, ns, "web") == ["node-6"]
                   and all(p["spec"]["nodeName"] == "node-6" for p in pods(srv, ns, "web")),
                   90, 0.5, "the replica on node-6 and none left on node-1")
        took = time.monotonic() - moved_at
        # Served from node-6 itself from then on.
        served = dict(at_b.by_node)
        # Keep the users on for 10 s more of answers from node-6, however fast the move was.
        wait_until(lambda: at_b.by_node.get("node-6", 0) > served.get("node-6", 0) + 100, 30, 0.5,
                   "answers from node-6")
    finally:
        at_b.stop()
    assert not at_b.failed, f"{len(at_b.failed)} requests failed during the move: {at_b.failed[:5]}"
    assert at_b.ok > 100, at_b.ok
    print(f"replica followed the users from node-1 to node-6 in {took:.1f} s; {at_b.ok} requests, 0 failed")

    moving = wait_until(lambda: [e for e in events(srv, ns, "web", "MovingReplica") if "to node-6" in e["message"]],
                        10, 0.5, "a MovingReplica event")
    assert "for the demand at gateway node-6" in moving[-1]["message"], moving[-1]
    assert "expected p90 latency" in moving[-1]["message"], moving[-1]
    moved = wait_until(lambda: [e for e in events(srv, ns, "web", "MovedReplica") if "to node-6" in e["message"]],
                       20, 0.5, "a MovedReplica event")
    assert "replaced by" in moved[-1]["message"], moved[-1]
    d = json.loads(srv.kubectl("get", "deployment", "web", "-n", ns, "-o", "json").stdout)
    assert d["spec"]["replicas"] == 1, "the surge replica was taken back"
    assert "fog.brume.io/move" not in d["metadata"]["annotations"], "the move is over"
    described = srv.kubectl("describe", "deployment", "web", "-n", ns).stdout
    assert "MovedReplica" in described, described


LA = {
    "apiVersion": "fog.brume.io/v1", "kind": "LatencyAutoscaler",
    "metadata": {"name": "api"},
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
             "objective": {"percentile": 90, "latencyMs": 30}, "replicaCapacity": 10,
             "minReplicas": 1, "maxReplicas": 4},
}


def autoscaler(srv, ns: str) -> dict:
    return json.loads(srv.kubectl("get", "latencyautoscaler", "api", "-n", ns, "-o", "json").stdout)


def test_a_latency_objective_sizes_the_deployment(testbed):
    srv = testbed
    ns = srv.create_namespace("slo")
    addresses = wait_until(lambda: (a := node_addresses(srv)) and len(a) == 6 and a, 30, 0.5, "six nodes")
    # Any of node-2..4 serves gateway node-3 within 30 ms (RTT 22 and 24 ms).
    pool = ["node-2", "node-3", "node-4"]
    apply(srv, ns, *echo("api", 1, {}, pool), LA)
    wait_until(lambda: len(ready_nodes(srv, ns, "api")) == 1, 60, 0.5, "one ready replica")
    port = node_ports(srv, ns, "api")["http"]

    # One Deployment takes one autoscaler: an HPA on it is refused with the reason. (`kubectl
    # autoscale` hides the server's message: on any error it retries as autoscaling/v1.)
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "api-cpu"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
                    "maxReplicas": 3, "metrics": [{"type": "Resource", "resource": {
                        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}}
    refused = srv.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(hpa), check=False)
    assert refused.returncode != 0
    assert 'already sized by LatencyAutoscaler "api"' in refused.stderr, refused.stderr
    assert "spec.scaleTargetRef.name" in refused.stderr, refused.stderr

    # A bad objective is refused with the field and what would be valid; nothing is stored.
    bad = json.loads(json.dumps(LA))
    bad["metadata"]["name"] = "bad"
    bad["spec"]["objective"]["percentile"] = 190
    refused = srv.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(bad), check=False)
    assert refused.returncode != 0
    assert "spec.objective.percentile" in refused.stderr and "0 < percentile <= 100" in refused.stderr, refused.stderr
    assert srv.kubectl("get", "latencyautoscaler", "bad", "-n", ns, check=False).returncode != 0

    # 6 req/s fit one 10 req/s replica: it stays at 1, meeting the objective.
    load = Load(addresses["node-3"], port, rps=6)
    try:
        la = wait_until(lambda: (a := autoscaler(srv, ns)).get("status", {}).get("demand", 0) > 4 and a,
                        60, 1.0, "the demand seen by the autoscaler")
        assert la["status"]["desiredReplicas"] == 1, la["status"]
        assert la["status"]["reason"] == "ObjectiveMet", la["status"]
        measured = wait_until(lambda: (m := autoscaler(srv, ns)["status"].get("measuredAttainment")) is not None
                              and [m], 60, 1.0, "a measured attainment")[0]
        assert 0 <= measured <= 100, measured
        # Served on the gateway itself every request is fast; from node-2 or node-4 the proxied
        # hop costs 22-24 ms (and a new upstream connection twice that), so less is in time.
        if ready_nodes(srv, ns, "api") == ["node-3"]:
            assert measured >= 90, measured
    finally:
        load.stop()

    # Doubled past capacity (24 req/s): the count rises to meet the objective.
    load = Load(addresses["node-3"], port, rps=24, threads=3)
    started = time.monotonic()
    try:
        wait_until(lambda: len(ready_nodes(srv, ns, "api")) >= 3, 90, 1.0, "three ready replicas for 24 req/s")
        rose_in = time.monotonic() - started
        status = autoscaler(srv, ns)["status"]
        assert status["desiredReplicas"] >= 3 and status["predictedAttainment"] >= 90, status
        table = srv.kubectl("get", "latencyautoscalers", "-n", ns).stdout
        header = table.splitlines()[0].split()
        assert header[:8] == ["NAME", "REFERENCE", "OBJECTIVE", "REPLICAS", "DESIRED", "MEASURED", "PREDICTED", "REASON"], table
        assert "Deployment/api" in table and "p90 < 30ms" in table, table
        rescaled = events(srv, ns, "api", "SuccessfulRescale")
        assert any(e["message"].startswith("New size: 3") for e in rescaled), rescaled
    finally:
        load.stop()
    assert not load.failed, load.failed[:5]

    # The users leave: after the scale-down window it falls back to minReplicas, not below.
    stopped = time.monotonic()
    wait_until(lambda: autoscaler(srv, ns)["status"]["desiredReplicas"] == 1
               and len(ready_nodes(srv, ns, "api")) == 1, 120, 1.0, "back to one replica")
    fell_in = time.monotonic() - stopped
    time.sleep(6)
    assert len(ready_nodes(srv, ns, "api")) == 1, "never below minReplicas"
    d = json.loads(srv.kubectl("get", "deployment", "api", "-n", ns, "-o", "json").stdout)
    assert d["spec"]["replicas"] == 1
    print(f"rose to 3 replicas in {rose_in:.1f} s; fell back to 1 in {fell_in:.1f} s after the demand stopped")


def test_the_readme_example_is_accepted(testbed):
    """examples/echo-slo.yaml, which the README tour applies, is valid as written."""
    srv = testbed
    ns = srv.create_namespace("example")
    example = Path(__file__).resolve().parents[2] / "examples" / "echo-slo.yaml"
    out = srv.kubectl("apply", "-n", ns, "--dry-run=server", "-f", str(example)).stdout
    assert "deployment.apps/echo-slo created (server dry run)" in out, out
    assert "latencyautoscaler.fog.brume.io/echo-slo created (server dry run)" in out, out
