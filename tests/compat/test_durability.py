"""Durability (issue 2): every write a client saw acknowledged survives a SIGKILL, and the
revision never goes backwards."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time

from brumetest import BrumeServer, uniq, wait_until

WRITERS = 8


def list_all(srv: BrumeServer, path: str) -> tuple[dict[str, str], int]:
    """Every object under `path` (name -> resourceVersion), paging, and the list's revision."""
    out: dict[str, str] = {}
    cont = ""
    rv = 0
    while True:
        q = "?limit=500" + (f"&continue={cont}" if cont else "")
        r = srv.get(path + q)
        assert r.status == 200, r
        body = r.json()
        for i in body["items"]:
            out[i["metadata"]["name"]] = i["metadata"]["resourceVersion"]
        rv = max(rv, int(body["metadata"]["resourceVersion"]))
        cont = body["metadata"].get("continue") or ""
        if not cont:
            return out, rv


class Writer(threading.Thread):
    """Creates ConfigMaps on its own keep-alive connection until told to stop or the server dies,
    and records each create the server acknowledged (201) with its resourceVersion."""

    def __init__(self, srv: BrumeServer, ns: str, idx: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.srv, self.ns, self.idx, self.stop_ev = srv, ns, idx, stop
        self.acked: dict[str, int] = {}
        self.errors = 0
        self.unexpected: list[str] = []

    def run(self):
        headers = {"Authorization": f"Bearer {self.srv.token}", "Content-Type": "application/json", "Accept": "application/json"}
        conn = self.srv.connection(timeout=10)
        i = 0
        while not self.stop_ev.is_set() and i < 100_000:
            name = f"w{self.idx}-{i}"
            i += 1
            body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"i": str(i)}})
            try:
                conn.request("POST", f"/api/v1/namespaces/{self.ns}/configmaps", body=body, headers=headers)
                resp = conn.getresponse()
                payload = resp.read()
            except (OSError, http.client.HTTPException):
                self.errors += 1
                conn.close()
                if self.errors > 50:
                    return
                time.sleep(0.01)
                continue
            if resp.status == 201:
                self.acked[name] = int(json.loads(payload)["metadata"]["resourceVersion"])
            else:
                self.unexpected.append(f"{resp.status} {payload[:300]!r}")
        conn.close()


def test_sigkill_under_concurrent_writes_loses_no_acknowledged_write(own_brume):
    srv = own_brume
    ns = srv.create_namespace(uniq("dur"))
    path = f"/api/v1/namespaces/{ns}/configmaps"
    stop = threading.Event()
    writers = [Writer(srv, ns, i, stop) for i in range(WRITERS)]
    for w in writers:
        w.start()
    try:
        # Let the load build up: wait for a good number of acknowledged writes (bounded), then
        # kill the server while the writers are still writing.
        wait_until(lambda: sum(len(w.acked) for w in writers) >= 400, timeout=60, what="400 acknowledged creates")
        assert all(w.is_alive() for w in writers), "a writer stopped before the kill"
        srv.kill9()
    finally:
        stop.set()
        for w in writers:
            w.join(timeout=30)
    assert not any(w.is_alive() for w in writers)
    unexpected = [u for w in writers for u in w.unexpected]
    assert not unexpected, f"unexpected responses during the load: {unexpected[:5]}"
    acked = {n: rv for w in writers for n, rv in w.acked.items()}
    max_rv = max(acked.values())
    assert len(set(acked.values())) == len(acked), "two creates were acknowledged with the same resourceVersion"

    srv.restart()
    present, list_rv = list_all(srv, path)
    missing = sorted(set(acked) - set(present))
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged creates are lost after SIGKILL, e.g. {missing[:10]}"
    changed = {n: (acked[n], present[n]) for n in acked if int(present[n]) != acked[n]}
    assert not changed, f"objects came back with another resourceVersion: {list(changed.items())[:5]}"
    assert list_rv >= max_rv, f"the revision went backwards: list at {list_rv} < acknowledged {max_rv}"

    # The next write gets a newer revision than anything acknowledged before the crash.
    r = srv.post(path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after-crash"}})
    assert r.status == 201, r
    assert int(r.json()["metadata"]["resourceVersion"]) > max_rv

    # A clean stop (SIGINT, as Ctrl-C) exits 0 and keeps everything too.
    code = srv.stop(signal.SIGINT, timeout=10)
    assert code == 0, f"brume dev exited {code} on SIGINT:\n{srv.log_tail()}"
    srv.restart()
    present2, list_rv2 = list_all(srv, path)
    assert set(present2) == set(present) | {"after-crash"}
    assert list_rv2 >= int(r.json()["metadata"]["resourceVersion"])


def test_sigterm_stops_cleanly_and_restart_keeps_objects(own_brume):
    srv = own_brume
    ns = srv.create_namespace(uniq("term"))
    created = {}
    for i in range(5):
        r = srv.post(f"/api/v1/namespaces/{ns}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"}, "data": {"i": str(i)}})
        assert r.status == 201, r
        created[f"c{i}"] = r.json()["metadata"]["uid"]
    t0 = time.monotonic()
    code = srv.stop(signal.SIGTERM, timeout=10)
    assert code == 0, f"brume dev exited {code} on SIGTERM:\n{srv.log_tail()}"
    assert time.monotonic() - t0 < 10
    token = srv.token
    srv.restart()
    assert srv.token == token, "the admin token must survive a restart"
    items = srv.get(f"/api/v1/namespaces/{ns}/configmaps").json()["items"]
    assert {i["metadata"]["name"]: i["metadata"]["uid"] for i in items} == created
    assert srv.get("/api/v1/namespaces/default").status == 200
