"""Joining nodes with tokens (DESIGN §10), with separate `brume server` and `brume agent`
processes: `brume token create`, a node's own credential (kubectl can use it, and it is refused
what is not the node's), tokens that are wrong, expired or revoked."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

import conftest
from brumetest import brume_bin, wait_until
from nodes import Agent, Cluster, free_addresses, running_cluster


@pytest.fixture
def cluster(tmp_path):
    """A server and one agent; extra agents are added by the tests."""
    with running_cluster(tmp_path, 1, conftest._LIVE) as c:
        yield c


def token_create(c: Cluster, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, KUBECONFIG=str(c.server.kubeconfig))
    return subprocess.run(
        [str(brume_bin()), "token", "create", *args], capture_output=True, text=True, timeout=30, env=env
    )


def add_agent(c: Cluster, name: str, token: str) -> Agent:
    address = free_addresses(len(c.agents) + 1)[-1]
    agent = Agent(c.server, f"{c.prefix}-{name}", address, c.base / f"agent-{name}", c.base / "logs", token=token)
    agent.start()
    c.agents.append(agent)
    conftest._LIVE.append(agent)
    return agent


def exits_with(agent: Agent, timeout: float = 20.0) -> str:
    """Waits for an agent that must refuse to start; returns its stderr."""
    assert agent.proc is not None
    code = agent.proc.wait(timeout=timeout)
    assert code != 0, f"agent {agent.name} exited 0"
    return agent.log_tail(max_chars=10**6)


def test_a_created_token_joins_a_node_whose_credential_is_its_own(cluster):
    c = cluster
    made = token_create(c, "--ttl", "1h")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert "brume agent --server" in made.stderr and "expires at" in made.stderr
    token_id = token.split("::")[1].split(".")[0]
    secrets = c.server.kubectl("get", "secrets", "-n", "kube-system", "-o", "name").stdout.split()
    assert f"secret/bootstrap-token-{token_id}" in secrets
    agent = add_agent(c, "joined", token)
    c.wait_nodes_ready([agent.name])
    # The node kept its own credential, a kubeconfig kubectl can use.
    node_kubeconfig = agent.data / "kubeconfig"
    as_node = ["--kubeconfig", str(node_kubeconfig)]
    nodes = c.server.kubectl(*as_node, "get", "nodes", "-o", "name").stdout.split()
    assert f"node/{agent.name}" in nodes and f"node/{c.agents[0].name}" in nodes
    other = c.server.kubectl(*as_node, "label", "node", c.agents[0].name, "stolen=yes", check=False)
    assert other.returncode != 0
    assert f'User "system:node:{agent.name}" cannot patch resource "nodes"' in other.stderr, other.stderr
    secrets = c.server.kubectl(*as_node, "get", "secrets", "-n", "kube-system", check=False)
    assert secrets.returncode != 0 and "Forbidden" in secrets.stderr, secrets.stderr
    # A restart needs no token: the kept credential is used.
    agent.terminate()
    agent.token = "not-a-token"
    agent.start()
    c.wait_nodes_ready([agent.name])
    assert agent.running()


def test_wrong_expired_and_revoked_tokens_are_refused_with_a_reason(cluster):
    c = cluster
    good = (c.server.data / "join-token").read_text().strip()
    ca_hash, secret = good.split("::")
    wrong_ca = add_agent(c, "wrongca", ("0" * 64) + "::" + secret)
    assert "does not hold the CA the join token names" in exits_with(wrong_ca)
    wrong_secret = add_agent(c, "wrongsecret", f"{ca_hash}::{secret.split('.')[0]}.0000000000000000")
    assert "rejects the join token (401 Unauthorized" in exits_with(wrong_secret)
    malformed = add_agent(c, "malformed", "hello")
    assert "<ca-sha256>::<id>.<secret>" in exits_with(malformed)
    short = token_create(c, "--ttl", "1s")
    assert short.returncode == 0, short.stderr
    time.sleep(2)
    expired = add_agent(c, "expired", short.stdout.strip())
    assert "rejects the join token" in exits_with(expired)
    assert "--ttl" in token_create(c, "--ttl", "soon").stderr
    # Deleting the node's credential Secret revokes it: the agent's requests get 401.
    first = c.agents[0]
    c.server.kubectl("delete", "secret", "-n", "kube-system", f"brume-node-{first.name}")
    wait_until(lambda: "401" in first.log_tail() or "Unauthorized" in first.log_tail(), 30, 0.5,
               "the revoked agent to see 401")
