"""Fixtures: a real `brume dev` server per test module, on a fresh data folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from brumetest import BrumeServer, uniq

# The servers alive now, so a failing test's report can carry their log.
_LIVE: list[BrumeServer] = []


def _start(tmp_path_factory, name: str, extra_args: list[str] | None = None) -> BrumeServer:
    base = tmp_path_factory.mktemp(name)
    srv = BrumeServer(base / "data", base / "logs", extra_args)
    srv.start()
    _LIVE.append(srv)
    return srv


def _remove_node_leftovers(data: Path) -> None:
    """Pods outlive their agent by design (a node cut off keeps serving); a test server's nodes
    must not outlive the test. Removes the docker containers of this server's nodes (their
    `io.brume.node` label names the node's state folder) and kills its process-runtime pods."""
    root = str(data.resolve())
    try:
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", "label=io.brume.node"],
            capture_output=True, text=True, timeout=30,
        ).stdout.split()
        if ids:
            out = subprocess.run(
                ["docker", "inspect", "--format", '{{.Id}} {{index .Config.Labels "io.brume.node"}}', *ids],
                capture_output=True, text=True, timeout=60,
            ).stdout
            mine = [line.split()[0] for line in out.splitlines() if root in line]
            if mine:
                subprocess.run(["docker", "rm", "-f", *mine], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        pass
    for record in data.glob("nodes/*/process/pods/*/*.json"):
        try:
            pid = int(json.loads(record.read_text()).get("pid", 0))
            if pid > 1:
                os.killpg(pid, signal.SIGKILL)
        except (OSError, ValueError, json.JSONDecodeError, AttributeError):
            pass


def _finish(srv: BrumeServer, request) -> None:
    try:
        srv.stop()
    finally:
        _LIVE.remove(srv)
        _remove_node_leftovers(srv.data)


@pytest.fixture(scope="module")
def brume(tmp_path_factory, request):
    """A `brume dev` server shared by the tests of one module.

    It has `.kubeconfig`, `.url`, `.token`, `.data` and the helpers `kubectl(*args, check=True,
    input=None)`, `brume(*args)`, `restart()`, `kill9()`, `request(...)` and `api_client()`."""
    srv = _start(tmp_path_factory, "brume-" + request.module.__name__.rsplit(".", 1)[-1])
    yield srv
    _finish(srv, request)


@pytest.fixture
def own_brume(tmp_path_factory, request):
    """A server of its own, for a test that kills or restarts it."""
    srv = _start(tmp_path_factory, "brume-" + request.node.name[:40])
    yield srv
    _finish(srv, request)


@pytest.fixture
def ns(brume) -> str:
    """A fresh namespace, so a test never sees another's objects."""
    return brume.create_namespace(uniq("t"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        # The server's stdout and stderr go with the failure.
        for srv in _LIVE:
            report.sections.append((f"brume server log ({srv.data})", srv.log_tail(6000)))
