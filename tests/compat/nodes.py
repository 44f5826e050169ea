"""Helpers for the end-to-end tests with separate processes: a `brume server` and `brume agent`s,
each in its own process group, and the process-runtime records an agent keeps in its data folder.

Every wait polls against a deadline. Teardown deletes the pods through the API, then stops the
agents and the server, then kills whatever pod process a record still names (checked by its start
time, so a reused pid is never touched).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import yaml

from brumetest import START_TIMEOUT, BrumeServer, brume_bin, wait_until

AGENT_STOP_TIMEOUT = 15.0


def _log_tail(paths, max_chars: int) -> str:
    out = []
    for p in paths:
        if p and Path(p).exists():
            out.append(f"--- {Path(p).name} ---\n{Path(p).read_text(errors='replace')[-max_chars:]}")
    return "\n".join(out)


class Server(BrumeServer):
    """A `brume server` (API server, scheduler, controllers) in its own process group."""

    def start(self, port: int = 0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        if self.kubeconfig.exists():
            self.kubeconfig.unlink()
        self.starts += 1
        self._stdout_path = self.log_dir / f"server-{self.starts}.stdout"
        self._stderr_path = self.log_dir / f"server-{self.starts}.stderr"
        env = dict(os.environ)
        env.setdefault("BRUME_LOG", "info")
        env["NO_COLOR"] = "1"
        self.proc = subprocess.Popen(
            [str(brume_bin()), "server", "--data", str(self.data), "--listen", f"127.0.0.1:{port}"],
            stdout=open(self._stdout_path, "wb"),
            stderr=open(self._stderr_path, "wb"),
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"brume server exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"brume server was not ready after {START_TIMEOUT}s:\n{self.log_tail()}")
            if self.kubeconfig.exists():
                try:
                    self._read_kubeconfig()
                    if self.get("/readyz", token=None).status == 200:
                        return
                except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
                    pass
            time.sleep(0.05)

    def kill_group(self) -> None:
        """SIGKILLs the server's process group (teardown)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)


def proc_start_ticks(pid: int) -> int | None:
    """The start time (clock ticks since boot) of a live, non-zombie process, else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def record_alive(rec: dict) -> bool:
    """Whether the process a container record names still runs (same pid, same start time)."""
    pid = rec.get("pid")
    if not pid:
        return False
    ticks = proc_start_ticks(pid)
    return ticks is not None and (rec.get("start_ticks") is None or ticks == rec["start_ticks"])


class Agent:
    """A `brume agent` process joined to a server, in its own process group."""

    def __init__(
        self, server: Server, name: str, address: str, data: Path, log_dir: Path, runtimes: str = "process",
        token: str | None = None,
    ):
        self.server = server
        self.token = token
        self.name = name
        self.address = address
        self.data = Path(data)
        self.log_dir = Path(log_dir)
        self.runtimes = runtimes
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self._paths: list[Path] = []

    def start(self) -> None:
        """Starts the agent (it registers its Node itself)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        out = self.log_dir / f"agent-{self.name}-{self.starts}.stdout"
        err = self.log_dir / f"agent-{self.name}-{self.starts}.stderr"
        self._paths = [out, err]
        env = dict(os.environ)
        env.setdefault("BRUME_LOG", "info")
        env["NO_COLOR"] = "1"
        self.proc = subprocess.Popen(
            [
                str(brume_bin()), "agent",
                "--server", self.server.url,
                "--token", self.token or (self.server.data / "join-token").read_text().strip(),
                "--name", self.name,
                "--address", self.address,
                "--data", str(self.data),
                "--runtimes", self.runtimes,
            ],
            stdout=open(out, "wb"),
            stderr=open(err, "wb"),
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout: float = AGENT_STOP_TIMEOUT) -> int:
        """SIGTERMs the agent and waits for it to exit; returns its exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError(f"agent {self.name} did not stop within {timeout}s of SIGTERM:\n{self.log_tail()}")

    def kill9(self) -> None:
        """SIGKILLs the agent's process group; pod processes have groups of their own and survive."""
        if self.running():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)

    def log_tail(self, max_chars: int = 6000) -> str:
        return _log_tail(self._paths, max_chars)

    # -- process runtime records -------------------------------------------------------------

    def pods_dir(self) -> Path:
        return self.data / "process" / "pods"

    def records(self) -> list[dict]:
        """Every container record (`pods/<uid>/<container>-<attempt>.json`) of this agent."""
        out = []
        base = self.pods_dir()
        if not base.is_dir():
            return out
        for f in base.glob("*/*.json"):
            if f.name == "sandbox.json":
                continue
            try:
                rec = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
            rec["_path"] = str(f)
            out.append(rec)
        return out

    def latest_record(self, pod_uid: str, container: str) -> dict | None:
        """The record of the latest attempt of one container of one pod, or None."""
        recs = [r for r in self.records() if r.get("pod_uid") == pod_uid and r.get("name") == container]
        return max(recs, key=lambda r: r.get("attempt", 0)) if recs else None

    def kill_leftover_pods(self) -> None:
        """Kills the process group of every pod process a record names that still runs."""
        for rec in self.records():
            if record_alive(rec):
                for kill in (lambda: os.killpg(rec["pid"], signal.SIGKILL), lambda: os.kill(rec["pid"], signal.SIGKILL)):
                    try:
                        kill()
                    except (ProcessLookupError, PermissionError):
                        pass


LOG_PORT = 10250


def port_free(address: str, port: int = LOG_PORT) -> bool:
    """Whether `address:port` can be bound now (an agent serves logs there)."""
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def free_addresses(n: int) -> list[str]:
    """`n` loopback addresses whose log port is free: 127.0.0.2, .3, ... unless another cluster on
    this machine already uses them."""
    found = [f"127.0.0.{i}" for i in range(2, 250) if port_free(f"127.0.0.{i}")]
    if len(found) < n:
        raise RuntimeError(f"only {len(found)} loopback addresses have port {LOG_PORT} free")
    return found[:n]


class Cluster:
    """A server and its agents, on folders under `base`."""

    def __init__(self, base: Path):
        self.base = Path(base)
        self.server = Server(self.base / "server", self.base / "logs")
        self.agents: list[Agent] = []
        # Node names unique to this cluster: a Docker engine shared by two runs tells their
        # containers apart by the node label.
        self.prefix = "e2e-" + uuid.uuid4().hex[:6]

    def start(self, n_agents: int = 3, runtimes: str = "process") -> None:
        self.server.start()
        for i, address in enumerate(free_addresses(n_agents)):
            agent = Agent(
                self.server, f"{self.prefix}-{i + 1}", address, self.base / f"agent-{i + 1}", self.base / "logs", runtimes
            )
            agent.start()
            self.agents.append(agent)
        self.wait_nodes_ready([a.name for a in self.agents])

    def agent(self, name: str) -> Agent:
        return next(a for a in self.agents if a.name == name)

    def node_ready(self, name: str) -> str | None:
        """The status of the node's Ready condition ("True", "False", "Unknown"), None if absent."""
        r = self.server.get(f"/api/v1/nodes/{name}")
        if r.status != 200:
            return None
        for c in r.json().get("status", {}).get("conditions", []) or []:
            if c.get("type") == "Ready":
                return c.get("status")
        return None

    def wait_nodes_ready(self, names: list[str], timeout: float = 40.0) -> None:
        wait_until(lambda: all(self.node_ready(n) == "True" for n in names), timeout, 0.2, f"nodes {names} Ready")

    def pods(self, ns: str, selector: str | None = None) -> list[dict]:
        path = f"/api/v1/namespaces/{ns}/pods"
        if selector:
            path += f"?labelSelector={selector}"
        r = self.server.get(path)
        assert r.status == 200, r
        return r.json()["items"]

    def teardown(self) -> None:
        """Deletes every pod, waits (bounded) for the agents to stop them, then stops everything."""
        try:
            if self.server.proc is not None and self.server.proc.poll() is None:
                self.server.kubectl("delete", "deployments,daemonsets,replicasets,pods", "--all", "--all-namespaces",
                                    "--wait=false", check=False, timeout=30)
                live = any(a.running() for a in self.agents)
                if live:
                    try:
                        wait_until(lambda: not self._pods_on_live_nodes(), 30, 0.3, "pods of live agents gone")
                    except AssertionError:
                        pass
        finally:
            for a in self.agents:
                if a.running():
                    try:
                        a.terminate(timeout=10)
                    except AssertionError:
                        pass
                a.kill9()
            try:
                self.server.stop(signal.SIGTERM)
            except AssertionError:
                pass
            self.server.kill_group()
            for a in self.agents:
                a.kill_leftover_pods()

    def _pods_on_live_nodes(self) -> list[str]:
        r = self.server.get("/api/v1/pods")
        if r.status != 200:
            return []
        live = {a.name for a in self.agents if a.running()}
        return [p["metadata"]["name"] for p in r.json()["items"] if p.get("spec", {}).get("nodeName") in live]


@contextlib.contextmanager
def running_cluster(base: Path, n_agents: int, live: list, runtimes: str = "process"):
    """A started cluster of a server and `n_agents` agents offering `runtimes`, registered in
    `live` (the list the session's teardown kills from) and torn down when the block ends."""
    c = Cluster(base)
    live.append(c.server)
    try:
        c.start(n_agents, runtimes=runtimes)
        live.extend(c.agents)
        yield c
    finally:
        try:
            c.teardown()
        finally:
            for p in [c.server, *c.agents]:
                if p in live:
                    live.remove(p)
