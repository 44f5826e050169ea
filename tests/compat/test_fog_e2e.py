"""End to end on an emulated fog testbed: `brume dev --nodes 6 --latency-matrix FILE` runs six
agents on 127.0.0.2..7 whose probes and proxied hops are delayed by the matrix's RTTs.

An echo Deployment answers with the name of its node. Clients on each gateway (each node's
address and node port) check: with proximity α = 1 every request lands on the nearest ready
replica; with α = 0 the spread is uniform; with the nearest replica gone, traffic moves to the
next nearest. Also: TCP and HTTP ports, DNS A/SRV on each agent, a Service with no endpoints
refusing connections at once, the demand showing up in TrafficReports, and kubectl listing it
all."""

from __future__ import annotations

import json
import socket
import struct
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

import conftest
from brumetest import wait_until

# Six nodes on a line (ms), 2 ms of access delay each: RTT = |x_i - x_j| + 4. The replicas go
# to node-1, node-4 and node-6; the gaps make every gateway's nearest replica clear (>= 25 %).
POSITIONS = [0, 12, 30, 50, 70, 100]
REPLICA_NODES = ["node-1", "node-4", "node-6"]


def rtt(i: int, j: int) -> float:
    return 0.0 if i == j else abs(POSITIONS[i] - POSITIONS[j]) + 4.0


def nearest_replica(gateway: str, replicas: list[str]) -> str:
    g = int(gateway.split("-")[1]) - 1
    return min(replicas, key=lambda r: rtt(g, int(r.split("-")[1]) - 1))


ECHO = r"""
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_GET(self):
        body = os.environ["NODE"].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((os.environ["BRUME_BIND_ADDRESS"], int(os.environ["PORT"])), H).serve_forever()
"""


@pytest.fixture(scope="module")
def testbed(tmp_path_factory, request):
    matrix = tmp_path_factory.mktemp("matrix") / "line.tsv"
    n = len(POSITIONS)
    matrix.write_text("\n".join("\t".join(f"{rtt(i, j):g}" for j in range(n)) for i in range(n)) + "\n")
    args = ["--nodes", str(n), "--latency-matrix", str(matrix), "--runtimes", "process"]
    srv = conftest._start(tmp_path_factory, "brume-fog", args)
    yield srv
    conftest._finish(srv, request)


def node_addresses(srv) -> dict[str, str]:
    nodes = json.loads(srv.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    return {
        n["metadata"]["name"]: next(a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP")
        for n in nodes
    }


def coordinates(srv) -> dict[str, dict]:
    nodes = json.loads(srv.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    return {
        n["metadata"]["name"]: json.loads(n["metadata"]["annotations"]["fog.brume.io/coordinates"])
        for n in nodes
        if "fog.brume.io/coordinates" in n["metadata"].get("annotations", {})
    }


def estimated(a: dict, b: dict) -> float:
    d = sum((x - y) ** 2 for x, y in zip(a["vector"], b["vector"])) ** 0.5
    return d + a["height"] + b["height"]


def apply(srv, ns: str, *objs: dict) -> None:
    srv.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(objs))


def echo_objects(alpha: str) -> list[dict]:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "echo"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "echo"}},
            "template": {
                "metadata": {"labels": {"app": "echo"}},
                "spec": {
                    "runtimeClassName": "process",
                    "terminationGracePeriodSeconds": 1,
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [
                            {"key": "kubernetes.io/hostname", "operator": "In", "values": REPLICA_NODES}]}]}}},
                    "topologySpreadConstraints": [{
                        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "echo"}}}],
                    "containers": [{
                        "name": "echo",
                        "image": "none",
                        "command": ["python3", "-c", ECHO],
                        "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    }],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "echo", "annotations": {
            "fog.brume.io/routing": "proximity", "fog.brume.io/proximity-alpha": alpha}},
        "spec": {
            "type": "NodePort",
            "selector": {"app": "echo"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "appProtocol": "http"},
                {"name": "tcp", "port": 81, "targetPort": "http"},
            ],
        },
    }
    return [deployment, service]


def node_ports(srv, ns: str, svc: str) -> dict[str, int]:
    spec = json.loads(srv.kubectl("get", "svc", svc, "-n", ns, "-o", "json").stdout)["spec"]
    return {p.get("name", ""): p["nodePort"] for p in spec["ports"]}


def get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def spread(address: str, port: int, count: int, workers: int = 8) -> Counter:
    with ThreadPoolExecutor(workers) as pool:
        return Counter(pool.map(lambda _: get(f"http://{address}:{port}/"), range(count)))


def ready_replicas(srv, ns: str) -> list[str]:
    pods = json.loads(srv.kubectl("get", "pods", "-n", ns, "-l", "app=echo", "-o", "json").stdout)["items"]
    return sorted(
        p["spec"]["nodeName"]
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))
    )


def dns_query(server: str, name: str, qtype: int) -> tuple[int, list[bytes]]:
    """A raw DNS query over UDP: (rcode, answer RDATAs). qtype 1 = A, 33 = SRV."""
    query = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    query += b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    query += struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(query, (server, 53))
        reply, _ = s.recvfrom(4096)
    _, flags, _, ancount, _, _ = struct.unpack(">HHHHHH", reply[:12])
    offset = len(query)  # the question is echoed
    rdatas = []
    for _ in range(ancount):
        while reply[offset] != 0 and reply[offset] & 0xC0 != 0xC0:
            offset += reply[offset] + 1
        offset += 2 if reply[offset] & 0xC0 == 0xC0 else 1
        _, _, _, rdlength = struct.unpack(">HHIH", reply[offset:offset + 10])
        offset += 10
        rdatas.append(reply[offset:offset + rdlength])
        offset += rdlength
    return flags & 0xF, rdatas


def test_proximity_routing_on_an_emulated_testbed(testbed):
    srv = testbed
    ns = srv.create_namespace("fog")
    addresses = wait_until(lambda: (a := node_addresses(srv)) and len(a) == 6 and a, 30, 0.5, "six nodes")

    # The agents place themselves: every node publishes a coordinate, and the estimates order
    # each gateway's replicas as the matrix does.
    def ordered():
        coords = coordinates(srv)
        if len(coords) < 6:
            return None
        for g in addresses:
            by_estimate = min(REPLICA_NODES, key=lambda r: 0 if r == g else estimated(coords[g], coords[r]))
            if by_estimate != nearest_replica(g, REPLICA_NODES):
                return None
        return coords

    coords = wait_until(ordered, 90, 1.0, "Vivaldi coordinates that order the replicas as the matrix")
    assert all(c["error"] < 1.5 for c in coords.values()), coords

    # `brume nodes --latency`: the estimate next to what the agents measured (RTT + loopback).
    def measured_pairs():
        rows = [line.split() for line in srv.brume("nodes", "--latency").stdout.splitlines()[1:]]
        known = {(r[0], r[1]): (float(r[2]), float(r[3])) for r in rows if "<unknown>" not in r[2:4]}
        return known if ("node-1", "node-6") in known else None

    pairs = wait_until(measured_pairs, 30, 1.0, "measured RTTs published beside the estimates")
    estimate, measured = pairs[("node-1", "node-6")]
    assert rtt(0, 5) <= measured < rtt(0, 5) + 15, pairs[("node-1", "node-6")]
    assert "COORD-ERROR" in srv.kubectl("get", "nodes", "-o", "wide").stdout

    apply(srv, ns, *echo_objects("1"))
    wait_until(lambda: ready_replicas(srv, ns) == REPLICA_NODES, 60, 0.5, "a ready echo replica on node-1, -4, -6")
    ports = node_ports(srv, ns, "echo")

    # α = 1: every request from every gateway lands on its nearest ready replica, over HTTP
    # (per request) and TCP (per connection).
    for gateway, address in sorted(addresses.items()):
        want = nearest_replica(gateway, REPLICA_NODES)
        seen = wait_until(lambda: (c := spread(address, ports["http"], 20)) and set(c) == {want} and c,
                          20, 0.5, f"{gateway} routed to {want}")
        assert seen == Counter({want: 20})
        assert spread(address, ports["tcp"], 6, workers=3) == Counter({want: 6}), gateway

    # The emulated links are felt: a gateway far from every replica pays its RTT.
    started = time.monotonic()
    get(f"http://{addresses['node-2']}:{ports['http']}/")
    assert time.monotonic() - started >= rtt(1, 0) / 1000.0

    # DNS on each agent: the Service's name resolves to that node, SRV gives the node port.
    rcode, answers = dns_query(addresses["node-3"], f"echo.{ns}.svc.cluster.local", 1)
    assert rcode == 0 and answers == [socket.inet_aton(addresses["node-3"])]
    rcode, answers = dns_query(addresses["node-5"], f"_http._tcp.echo.{ns}.svc.cluster.local", 33)
    assert rcode == 0 and [struct.unpack(">HHH", a[:6])[2] for a in answers] == [ports["http"]]
    assert dns_query(addresses["node-5"], f"nothing.{ns}.svc.cluster.local", 1)[0] == 3  # NXDOMAIN

    # α = 0: Kubernetes' random policy, uniform within a stated tolerance (300 requests, 100
    # expected per replica, ±35 is more than 4 standard deviations).
    srv.kubectl("annotate", "svc", "echo", "-n", ns, "--overwrite", "fog.brume.io/proximity-alpha=0")

    def uniform():
        c = spread(addresses["node-2"], ports["http"], 300, workers=16)
        return c if set(c) == set(REPLICA_NODES) and all(abs(v - 100) <= 35 for v in c.values()) else None

    wait_until(uniform, 40, 0.5, "a uniform spread with alpha = 0")

    # The demand shows up where the users are.
    def reports():
        items = json.loads(srv.kubectl("get", "trafficreports", "-n", ns, "-o", "json").stdout)["items"]
        return {r["spec"]["gateway"]: r["spec"] for r in items}

    def counted():
        r = reports()
        return len(r) == 6 and r["node-2"].get("requestsTotal", 0) >= 300 and r

    seen = wait_until(counted, 30, 1.0, "a TrafficReport from each gateway, node-2's with the 300 requests")
    assert seen["node-2"]["requestsPerSecond"] > max(s["requestsPerSecond"] for g, s in seen.items() if g != "node-2")
    listing = srv.kubectl("get", "svc,endpointslices,trafficreports", "-n", ns).stdout
    assert "service/echo" in listing and "endpointslice.discovery.k8s.io/echo-" in listing
    assert f"trafficreport.fog.brume.io/echo.node-2" in listing

    # The nearest replica goes away: traffic moves to the next nearest.
    srv.kubectl("annotate", "svc", "echo", "-n", ns, "--overwrite", "fog.brume.io/proximity-alpha=1")
    wait_until(lambda: spread(addresses["node-2"], ports["http"], 10) == Counter({"node-1": 10}), 20, 0.5,
               "node-2 routed to node-1 again")
    srv.kubectl("cordon", "node-1")
    pod = json.loads(srv.kubectl("get", "pods", "-n", ns, "-l", "app=echo", "--field-selector",
                                 "spec.nodeName=node-1", "-o", "json").stdout)["items"][0]
    srv.kubectl("delete", "pod", "-n", ns, pod["metadata"]["name"], "--wait=false")
    after = wait_until(lambda: (c := spread(addresses["node-2"], ports["http"], 20)) and set(c) == {"node-4"} and c,
                       30, 0.2, "node-2 routed to the next nearest, node-4")
    assert after == Counter({"node-4": 20})
    srv.kubectl("uncordon", "node-1")


def test_a_service_without_endpoints_refuses_at_once(testbed):
    srv = testbed
    ns = srv.create_namespace("empty")
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "nobody"},
        "spec": {"type": "NodePort", "selector": {"app": "nobody"}, "ports": [{"port": 80}]},
    }
    apply(srv, ns, service)
    port = node_ports(srv, ns, "nobody")[""]
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.3", port), timeout=5)
    assert time.monotonic() - started < 0.5

    def warned():
        events = json.loads(srv.kubectl("get", "events", "-n", ns, "-o", "json").stdout)["items"]
        return [e for e in events if e["involvedObject"]["name"] == "nobody" and e["reason"] == "NoEndpoints"]

    event = wait_until(warned, 20, 0.5, "a NoEndpoints event on the Service")[0]
    assert event["type"] == "Warning" and "app=nobody" in event["message"], event


def test_a_new_replica_goes_where_the_demand_is(testbed):
    """With all demand on one gateway, scaling from 1 to 2 replicas puts the new one on that node
    or its nearest feasible neighbour."""
    srv = testbed
    ns = srv.create_namespace("place")
    addresses = node_addresses(srv)
    deployment, service = echo_objects("1")
    spec = deployment["spec"]["template"]["spec"]
    del spec["affinity"], spec["topologySpreadConstraints"]
    deployment["spec"]["replicas"] = 1
    # The first replica lands far from the users-to-be: node-4..6 are cordoned meanwhile.
    far_side = ["node-4", "node-5", "node-6"]
    for n in far_side:
        srv.kubectl("cordon", n)
    try:
        apply(srv, ns, deployment, service)
        first = wait_until(lambda: (r := ready_replicas(srv, ns)) and len(r) == 1 and r, 60, 0.5, "the first replica")
    finally:
        for n in far_side:
            srv.kubectl("uncordon", n)
    assert first[0] not in far_side, first

    # All the demand comes from gateway node-5.
    port = node_ports(srv, ns, "echo")["http"]
    assert spread(addresses["node-5"], port, 60, workers=4) == Counter({first[0]: 60})

    def reported():
        items = json.loads(srv.kubectl("get", "trafficreports", "-n", ns, "-o", "json").stdout)["items"]
        return {r["spec"]["gateway"]: r["spec"]["requestsPerSecond"] for r in items}

    demand = wait_until(lambda: (r := reported()) and r.get("node-5", 0) > 0 and r, 30, 0.5, "demand at node-5")
    assert [g for g, rate in demand.items() if rate > 0] == ["node-5"], demand

    srv.kubectl("scale", "deployment", "echo", "-n", ns, "--replicas=2")
    both = wait_until(lambda: (r := ready_replicas(srv, ns)) and len(r) == 2 and r, 60, 0.5, "the second replica")
    new = [n for n in both if n != first[0]] or [first[0]]
    # node-5's nearest neighbour on the line is node-4 (24 ms), then node-6 (34 ms).
    assert new[0] in ("node-5", "node-4"), (first, both)
    assert new[0] == "node-5", f"node-5 is feasible, so the new replica belongs there: {both}"
