"""kubectl against `brume dev`: the fog.brume.io/v1 TrafficReport kind (apply, get, short name,
label selector, 422 on bad input, removal with its Service) and the COORD-ERROR node column."""

from __future__ import annotations

import json

from brumetest import table_header, table_rows, uniq, wait_until

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {ns}
spec:
  selector:
    app: web
  ports:
  - port: 80
"""

REPORT = """\
apiVersion: fog.brume.io/v1
kind: TrafficReport
metadata:
  name: web.{gateway}
  namespace: {ns}
  labels:
    fog.brume.io/service: web
    fog.brume.io/gateway: {gateway}
  ownerReferences:
  - apiVersion: v1
    kind: Service
    name: web
    uid: {uid}
spec:
  service: web
  gateway: {gateway}
  requestsPerSecond: {rps}
  connectionsPerSecond: 0.0
  requestsTotal: 1234
  connectionsTotal: 0
  observedTime: "2026-12-03T07:00:00Z"
"""

NODE = """\
apiVersion: v1
kind: Node
metadata:
  name: {name}
  annotations:
    fog.brume.io/coordinates: '{{"vector":[1.5,-2.0],"height":0.4,"error":0.2}}'
"""

COLUMNS = ["NAME", "SERVICE", "GATEWAY", "REQ/S", "CONN/S", "AGE"]


def service_uid(brume, ns: str) -> str:
    brume.kubectl("apply", "-f", "-", input=SERVICE.format(ns=ns))
    svc = json.loads(brume.kubectl("get", "svc", "web", "-n", ns, "-o", "json").stdout)
    return svc["metadata"]["uid"]


def apply_report(brume, ns: str, uid: str, gateway: str, rps, check: bool = True):
    text = REPORT.format(ns=ns, uid=uid, gateway=gateway, rps=rps)
    return brume.kubectl("apply", "-f", "-", input=text, check=check)


def test_api_resources_lists_traffic_reports(brume):
    out = brume.kubectl("api-resources", "--api-group=fog.brume.io").stdout
    rows = {r[0]: r for r in table_rows(out)}
    assert rows["trafficreports"] == ["trafficreports", "tr", "fog.brume.io/v1", "true", "TrafficReport"], out


def test_apply_and_get_traffic_reports(brume, ns):
    uid = service_uid(brume, ns)
    out = apply_report(brume, ns, uid, "node-3", 12.46).stdout
    assert "trafficreport.fog.brume.io/web.node-3 created" in out, out
    apply_report(brume, ns, uid, "node-4", 2)

    out = brume.kubectl("get", "trafficreports", "-n", ns).stdout
    assert table_header(out) == COLUMNS, out
    assert table_rows(out)[0][:5] == ["web.node-3", "web", "node-3", "12.5", "0.0"], out
    assert table_rows(out)[1][:5] == ["web.node-4", "web", "node-4", "2.0", "0.0"], out

    wide = brume.kubectl("get", "tr", "-o", "wide", "-n", ns).stdout
    assert table_header(wide) == COLUMNS, wide
    assert [r[0] for r in table_rows(wide)] == ["web.node-3", "web.node-4"], wide

    picked = brume.kubectl("get", "tr", "-n", ns, "-l", "fog.brume.io/gateway=node-4").stdout
    assert [r[0] for r in table_rows(picked)] == ["web.node-4"], picked

    # A second apply of a changed file patches the report (a JSON merge patch: kubectl knows no
    # strategic-merge schema for a kind it was not built with).
    out = apply_report(brume, ns, uid, "node-3", 30).stdout
    assert "trafficreport.fog.brume.io/web.node-3 configured" in out, out
    report = json.loads(brume.kubectl("get", "tr", "web.node-3", "-n", ns, "-o", "json").stdout)
    assert report["spec"]["requestsPerSecond"] == 30, report
    assert report["spec"]["requestsTotal"] == 1234, report

    # Its Service's deletion takes the reports along.
    brume.kubectl("delete", "svc", "web", "-n", ns)
    wait_until(
        lambda: brume.kubectl("get", "tr", "-n", ns, "-o", "name").stdout.strip() == "",
        what="the reports to go with their Service",
    )


def test_bad_report_is_refused_with_the_field(brume, ns):
    uid = service_uid(brume, ns)
    p = apply_report(brume, ns, uid, "node-3", -1, check=False)
    assert p.returncode != 0, p
    assert 'spec.requestsPerSecond: Invalid value: "-1": must be a finite number >= 0' in p.stderr, p.stderr
    assert brume.kubectl("get", "tr", "-n", ns, "-o", "name").stdout.strip() == ""


def test_nodes_wide_show_the_coordinate_error(brume):
    with_coords, without = uniq("fog-n"), uniq("fog-n")
    brume.kubectl("apply", "-f", "-", input=NODE.format(name=with_coords))
    brume.kubectl("apply", "-f", "-", input=f"apiVersion: v1\nkind: Node\nmetadata:\n  name: {without}\n")
    try:
        out = brume.kubectl("get", "nodes", with_coords, without, "-o", "wide").stdout
        header = table_header(out)
        assert header[-1] == "COORD-ERROR", out
        # The last column is the error; earlier cells may be empty for a node without status.
        last = {r[0]: r[-1] for r in table_rows(out)}
        assert last == {with_coords: "0.20", without: "<none>"}, out
        narrow = brume.kubectl("get", "nodes", with_coords).stdout
        assert "COORD-ERROR" not in table_header(narrow), narrow
    finally:
        brume.kubectl("delete", "node", with_coords, without, check=False)
