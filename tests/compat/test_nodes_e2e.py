"""End to end with separate processes: a `brume server` and three `brume agent`s (process runtime)
on 127.0.0.2/3/4 — spreading, rolling update watched for maxUnavailable, undo, failover after an
agent is SIGKILLed, re-adoption after a quick agent restart, server restart; and, where a Docker
engine answers, a Docker pod whose containers share localhost, a liveness restart, limits and a
missing image."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

import conftest
from brumetest import table_header, table_rows, uniq, wait_until
from nodes import Cluster, record_alive, running_cluster

LOOP = "while true; do echo hi; sleep 1; done"


@pytest.fixture
def cluster(tmp_path):
    """A server and three process-runtime agents; everything is stopped and killed at teardown."""
    with running_cluster(tmp_path, 3, conftest._LIVE) as c:
        yield c


def deployment(name: str, replicas: int, *, env: dict | None = None, probe: bool = False, strategy: dict | None = None) -> dict:
    container = {
        "name": "main",
        "image": "none",
        "command": ["sh", "-c", LOOP],
        "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
        "resources": {"requests": {"cpu": "50m", "memory": "16Mi"}},
    }
    if probe:
        container["readinessProbe"] = {"exec": {"command": ["true"]}, "periodSeconds": 1}
    spec = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"runtimeClassName": "process", "terminationGracePeriodSeconds": 2, "containers": [container]},
        },
    }
    if strategy:
        spec["strategy"] = strategy
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


def apply(c: Cluster, ns: str, obj: dict) -> None:
    c.server.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(obj))


def is_ready(pod: dict) -> bool:
    """Ready condition True, and not being deleted."""
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conds = pod.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def wait_ready(c: Cluster, ns: str, app: str, n: int, timeout: float = 45.0, exact: bool = True) -> list[dict]:
    """Waits until `n` pods of `app` are ready (and, if `exact`, no other pod of it exists)."""

    def check():
        pods = c.pods(ns, f"app={app}")
        ready = [p for p in pods if is_ready(p)]
        if len(ready) == n and (not exact or len(pods) == n):
            return ready
        return None

    return wait_until(check, timeout, 0.2, f"{n} ready pods of {app} in {ns}")


def env_of(pod: dict) -> dict:
    return {e["name"]: e.get("value") for e in pod["spec"]["containers"][0].get("env") or []}


# -- 1. spreading ---------------------------------------------------------------------------------


def test_spreading_over_three_nodes(cluster):
    c = cluster
    ns = c.server.create_namespace(uniq("spread"))
    apply(c, ns, deployment("hi", 3))
    pods = wait_ready(c, ns, "hi", 3)
    nodes = {p["spec"]["nodeName"] for p in pods}
    assert nodes == {a.name for a in c.agents}, f"pods not spread over the 3 nodes: {[(p['metadata']['name'], p['spec']['nodeName']) for p in pods]}"
    for p in pods:
        assert p["status"]["phase"] == "Running"
        assert p["status"]["hostIP"] == c.agent(p["spec"]["nodeName"]).address

    out = c.server.kubectl("get", "nodes", "-o", "wide").stdout
    header = table_header(out)
    rows = {r[0]: dict(zip(header, r)) for r in table_rows(out)}
    assert set(rows) == {a.name for a in c.agents}, out
    for a in c.agents:
        assert rows[a.name]["STATUS"] == "Ready", out
        assert rows[a.name]["INTERNAL-IP"] == a.address, out

    name = pods[0]["metadata"]["name"]
    wait_until(lambda: "hi" in c.server.kubectl("logs", "-n", ns, name).stdout.split(), 20, 0.5, f"`kubectl logs {name}` shows hi")

    def described():
        out = c.server.kubectl("describe", "pod", "-n", ns, name).stdout
        return out if ("Scheduled" in out and "Started" in out) else None

    out = wait_until(described, 20, 0.5, "Scheduled and Started events in `kubectl describe pod`")
    assert f"Successfully assigned {ns}/{name} to {pods[0]['spec']['nodeName']}" in out, out


# -- 2. rolling update and undo -------------------------------------------------------------------


class ReadyWatcher:
    """Watches the pods of one app with the Python client and records the ready count at every event."""

    def __init__(self, c: Cluster, ns: str, app: str):
        from kubernetes import client, watch

        self.api = client.CoreV1Api(c.server.api_client())
        self.watch = watch.Watch()
        self.ns, self.app = ns, app
        self.pods: dict[str, dict] = {}
        self.samples: list[tuple[float, int, str]] = []  # (monotonic time, ready count, event)
        self.error: BaseException | None = None
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for ev in self.watch.stream(
                self.api.list_namespaced_pod, self.ns, label_selector=f"app={self.app}", timeout_seconds=170,
                _request_timeout=180,
            ):
                obj = self.api.api_client.sanitize_for_serialization(ev["object"])
                name = obj["metadata"]["name"]
                if ev["type"] == "DELETED":
                    self.pods.pop(name, None)
                elif ev["type"] in ("ADDED", "MODIFIED"):
                    self.pods[name] = obj
                ready = sum(1 for p in self.pods.values() if is_ready(p))
                self.samples.append((time.monotonic(), ready, f"{ev['type']} {name}"))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            # The client's Watch.stop() shuts the socket down to unblock the reader, which then
            # sees the stream end early: that is the stop, not a failure of the watch.
            if not self.stopping:
                self.error = exc

    def ready_now(self) -> int:
        return self.samples[-1][1] if self.samples else 0

    def stop(self):
        self.stopping = True
        self.watch.stop()
        self.thread.join(timeout=10)


def test_rolling_update_honours_max_unavailable_and_undo(cluster):
    c = cluster
    ns = c.server.create_namespace(uniq("roll"))
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}
    apply(c, ns, deployment("web", 4, env={"VERSION": "1"}, probe=True, strategy=strategy))
    c.server.kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=60s", timeout=70)
    wait_ready(c, ns, "web", 4)

    w = ReadyWatcher(c, ns, "web")
    try:
        wait_until(lambda: w.ready_now() == 4, 15, 0.1, "the watch to see the 4 ready pods")
        began = time.monotonic()
        c.server.kubectl("set", "env", "-n", ns, "deployment/web", "VERSION=2")
        c.server.kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=90s", timeout=100)
        pods = wait_ready(c, ns, "web", 4, timeout=30)
        time.sleep(0.5)  # the last events reach the watch
    finally:
        w.stop()
    assert w.error is None, f"the watch failed: {w.error!r}"
    during = [s for s in w.samples if s[0] >= began]
    assert len(during) >= 8, f"the watch saw too few events during the rollout: {during}"
    low = min(during, key=lambda s: s[1])
    print(f"\nrolling update: {len(during)} watch events, ready pods never below {low[1]}")
    assert low[1] >= 3, f"ready pods dropped to {low[1]} (< 4 - maxUnavailable) at '{low[2]}'; samples: {[(s[1], s[2]) for s in during]}"
    assert all(env_of(p).get("VERSION") == "2" for p in pods), [env_of(p) for p in pods]

    c.server.kubectl("rollout", "undo", "-n", ns, "deployment/web")
    c.server.kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=90s", timeout=100)
    dep = c.server.get(f"/apis/apps/v1/namespaces/{ns}/deployments/web").json()
    assert env_of(dep["spec"]["template"]) == {"VERSION": "1"}, dep["spec"]["template"]
    pods = wait_ready(c, ns, "web", 4, timeout=30)
    assert all(env_of(p).get("VERSION") == "1" for p in pods), [env_of(p) for p in pods]


# -- 3. failover ----------------------------------------------------------------------------------


def test_failover_after_agent_sigkill_and_stale_copy_removed(cluster):
    c = cluster
    ns = c.server.create_namespace(uniq("fail"))
    apply(c, ns, deployment("fo", 3))
    pods = wait_ready(c, ns, "fo", 3)
    assert len({p["spec"]["nodeName"] for p in pods}) == 3, [p["spec"]["nodeName"] for p in pods]

    victim_pod = pods[0]
    victim = c.agent(victim_pod["spec"]["nodeName"])
    live_nodes = {a.name for a in c.agents} - {victim.name}
    rec = victim.latest_record(victim_pod["metadata"]["uid"], "main")
    assert rec is not None and record_alive(rec), f"no live record for {victim_pod['metadata']['name']}: {victim.records()}"

    t0 = time.monotonic()
    victim.kill9()
    wait_until(lambda: c.node_ready(victim.name) in ("Unknown", "False"), 60, 0.5, f"node {victim.name} NotReady")
    t_notready = time.monotonic() - t0

    def replaced():
        pods = c.pods(ns, "app=fo")
        ready = [p for p in pods if is_ready(p)]
        if len(ready) == 3 and all(p["spec"]["nodeName"] in live_nodes for p in ready):
            return ready
        return None

    ready = wait_until(replaced, 75, 0.5, "3 ready pods on the 2 live nodes")
    t_replaced = time.monotonic() - t0
    print(f"\nfailover: node NotReady after {t_notready:.1f}s, 3 ready pods again after {t_replaced:.1f}s")
    assert victim_pod["metadata"]["uid"] not in {p["metadata"]["uid"] for p in ready}
    # As on a partitioned node, the pod process outlived its agent.
    assert record_alive(rec), "the victim's pod process died with its agent"

    victim.start()
    c.wait_nodes_ready([victim.name], timeout=30)
    wait_until(lambda: not record_alive(rec), 30, 0.5, f"the stale pod process (pid {rec['pid']}) to be stopped")

    def settled():
        pods = c.pods(ns, "app=fo")
        return pods if len(pods) == 3 and all(is_ready(p) for p in pods) else None

    wait_until(settled, 30, 0.5, "exactly 3 pods, all ready")
    # ... and it stays so: no duplicate appears once the node is back.
    end = time.monotonic() + 4
    while time.monotonic() < end:
        pods = c.pods(ns, "app=fo")
        assert len(pods) == 3, [(p["metadata"]["name"], p["spec"].get("nodeName")) for p in pods]
        time.sleep(0.5)
    assert victim_pod["metadata"]["name"] not in {p["metadata"]["name"] for p in pods}


# -- 4. re-adoption -------------------------------------------------------------------------------


def snapshot(c: Cluster, ns: str, app: str) -> dict[str, tuple]:
    """uid → (node, containerID, restartCount, pid of the latest record) of the app's pods."""
    out = {}
    for p in c.pods(ns, f"app={app}"):
        st = (p["status"].get("containerStatuses") or [{}])[0]
        rec = c.agent(p["spec"]["nodeName"]).latest_record(p["metadata"]["uid"], "main")
        out[p["metadata"]["uid"]] = (p["spec"]["nodeName"], st.get("containerID"), st.get("restartCount"), rec and rec["pid"])
    return out


def lease_renew_time(c: Cluster, node: str) -> str | None:
    r = c.server.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}")
    return r.json()["spec"].get("renewTime") if r.status == 200 else None


def test_quick_agent_restart_readopts_pods(cluster):
    c = cluster
    ns = c.server.create_namespace(uniq("adopt"))
    apply(c, ns, deployment("ad", 3))
    wait_ready(c, ns, "ad", 3)
    before = snapshot(c, ns, "ad")
    agent = c.agent(next(iter(before.values()))[0])
    mine = {uid: v for uid, v in before.items() if v[0] == agent.name}
    assert mine and all(v[1] and v[3] for v in mine.values()), before
    records_before = sorted(r["_path"] for r in agent.records())

    t0 = time.monotonic()
    agent.terminate()
    agent.start()
    assert time.monotonic() - t0 < 5, "the agent took too long to stop"
    renewed_before = lease_renew_time(c, agent.name)
    wait_until(lambda: lease_renew_time(c, agent.name) != renewed_before, 20, 0.3, "the restarted agent's lease renewal")
    # Give the restarted agent time to sync its pods (several status rounds), then compare.
    time.sleep(6)
    assert agent.running(), agent.log_tail()
    after = snapshot(c, ns, "ad")
    assert after == before, f"pods changed across the agent restart:\nbefore {before}\nafter  {after}"
    for uid in mine:
        rec = agent.latest_record(uid, "main")
        assert record_alive(rec), f"pod {uid}'s process is gone"
    assert sorted(r["_path"] for r in agent.records()) == records_before, "the agent started new containers"
    assert all(is_ready(p) and p["status"]["phase"] == "Running" for p in c.pods(ns, "app=ad"))


# -- 5. server restart ----------------------------------------------------------------------------


def test_server_restart_leaves_pods_running(cluster):
    c = cluster
    ns = c.server.create_namespace(uniq("srv"))
    apply(c, ns, deployment("sv", 3))
    wait_ready(c, ns, "sv", 3)
    before = snapshot(c, ns, "sv")
    port = c.server.port

    c.server.stop(signal.SIGTERM)
    c.server.start(port=port)
    assert c.server.port == port
    c.wait_nodes_ready([a.name for a in c.agents], timeout=30)
    time.sleep(3)
    after = snapshot(c, ns, "sv")
    assert after == before, f"pods changed across the server restart:\nbefore {before}\nafter  {after}"
    for uid, (node, _, _, pid) in before.items():
        assert record_alive(c.agent(node).latest_record(uid, "main")), f"pid {pid} of {uid} is gone"

    c.server.kubectl("scale", "-n", ns, "deployment/sv", "--replicas=5")
    pods = wait_ready(c, ns, "sv", 5, timeout=45)
    assert before.keys() <= {p["metadata"]["uid"] for p in pods}


# -- 6. docker ------------------------------------------------------------------------------------


def docker_ok() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def docker_pod(name: str, containers: list[dict]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"runtimeClassName": "docker", "terminationGracePeriodSeconds": 2, "containers": containers},
    }


def container_status(c: Cluster, ns: str, pod: str, container: str) -> dict:
    r = c.server.get(f"/api/v1/namespaces/{ns}/pods/{pod}")
    assert r.status == 200, r
    for st in r.json().get("status", {}).get("containerStatuses") or []:
        if st["name"] == container:
            return st
    return {}


@pytest.fixture
def docker_cluster(tmp_path):
    if not docker_ok():
        pytest.skip("no Docker engine answers `docker info`")
    subprocess.run(["bash", "tests/images/build.sh"], check=True, timeout=300,
                   cwd=str(Path(__file__).resolve().parents[2]))
    pods: list[str] = []
    try:
        with running_cluster(tmp_path, 1, conftest._LIVE, runtimes="docker,process") as c:
            c.pod_names = pods
            yield c
    finally:
        for name in pods:
            ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.brume.pod-name={name}"],
                                 capture_output=True, text=True).stdout.split()
            if ids:
                subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)


def test_docker_pods(docker_cluster):
    c = docker_cluster
    ns = c.server.create_namespace(uniq("dock"))
    token = uniq("served")
    duo, live, nope = uniq("duo"), uniq("liveness"), uniq("nope")
    c.pod_names.extend([duo, live, nope])

    apply(c, ns, docker_pod(duo, [
        {"name": "web", "image": "brume/busybox:1",
         "command": ["sh", "-c", f"mkdir -p /www && echo {token} > /www/index.html && httpd -f -p 8080 -h /www"],
         "resources": {"limits": {"cpu": "200m", "memory": "32Mi"}}},
        {"name": "client", "image": "brume/busybox:1",
         "command": ["sh", "-c", "while true; do wget -q -O- http://localhost:8080/; sleep 1; done"]},
    ]))
    apply(c, ns, docker_pod(live, [
        {"name": "main", "image": "brume/busybox:1", "command": ["sh", "-c", "sleep 3600"],
         "livenessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1}},
    ]))
    apply(c, ns, docker_pod(nope, [{"name": "main", "image": "brume/nope:1", "command": ["sh"]}]))

    # Two containers of one pod talk over localhost.
    wait_until(lambda: token in c.server.kubectl("logs", "-n", ns, duo, "-c", "client", check=False).stdout, 60, 1,
               "the client container's log to show what the web container serves")

    # Limits reach the engine.
    def web_container():
        ids = subprocess.run(["docker", "ps", "-q", "--filter", f"label=io.brume.pod-name={duo}",
                              "--filter", "label=io.brume.container=web"], capture_output=True, text=True).stdout.split()
        return ids[0] if len(ids) == 1 else None

    cid = wait_until(web_container, 10, 0.5, "the web container in `docker ps`")
    info = json.loads(subprocess.run(["docker", "inspect", cid], capture_output=True, text=True, check=True).stdout)[0]
    assert info["HostConfig"]["NanoCpus"] == 200_000_000, info["HostConfig"]
    assert info["HostConfig"]["Memory"] == 32 * 1024 * 1024, info["HostConfig"]

    # A failing liveness probe restarts the container.
    wait_until(lambda: (container_status(c, ns, live, "main").get("restartCount") or 0) >= 1, 60, 1,
               "a liveness restart")

    # A missing image: back-off with a message saying how to import it.
    def pull_failed():
        w = container_status(c, ns, nope, "main").get("state", {}).get("waiting") or {}
        return w if w.get("reason") in ("ImagePullBackOff", "ErrImagePull") else None

    waiting = wait_until(pull_failed, 30, 0.5, "ImagePullBackOff / ErrImagePull")
    assert "brume image import" in (waiting.get("message") or ""), waiting
