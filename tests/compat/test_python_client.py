"""The official Python `kubernetes` client (37.x) against `brume dev`."""

from __future__ import annotations

import threading

import pytest
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException

from brumetest import uniq, wait_until


@pytest.fixture(scope="module")
def api(brume):
    c = brume.api_client()
    yield c
    c.close()


@pytest.fixture(scope="module")
def core(api):
    return client.CoreV1Api(api)


@pytest.fixture(scope="module")
def apps(api):
    return client.AppsV1Api(api)


def cm(name: str, data=None, labels=None, **meta) -> client.V1ConfigMap:
    return client.V1ConfigMap(
        api_version="v1",
        kind="ConfigMap",
        metadata=client.V1ObjectMeta(name=name, labels=labels, **meta),
        data=data if data is not None else {"k": "v"},
    )


def deployment(name: str, replicas: int = 2, image: str = "nginx:1.25") -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        api_version="apps/v1",
        kind="Deployment",
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image=image)]),
            ),
        ),
    )


def gone(read, *args) -> bool:
    try:
        read(*args)
    except ApiException as e:
        if e.status == 404:
            return True
        raise
    return False


def test_configmap_crud(core, ns):
    created = core.create_namespaced_config_map(ns, cm("c1", {"a": "1"}, labels={"app": "x"}))
    assert created.metadata.uid and created.metadata.creation_timestamp
    assert int(created.metadata.resource_version) > 0
    got = core.read_namespaced_config_map("c1", ns)
    assert got.data == {"a": "1"} and got.metadata.uid == created.metadata.uid
    lst = core.list_namespaced_config_map(ns)
    assert [i.metadata.name for i in lst.items] == ["c1"]
    assert int(lst.metadata.resource_version) >= int(created.metadata.resource_version)

    patched = core.patch_namespaced_config_map("c1", ns, {"data": {"b": "2"}, "metadata": {"labels": {"tier": "t"}}})
    assert patched.data == {"a": "1", "b": "2"}
    assert patched.metadata.labels == {"app": "x", "tier": "t"}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)

    # A list body is a JSON patch; a merge patch can be asked for by content type.
    jp = core.patch_namespaced_config_map("c1", ns, [{"op": "add", "path": "/data/c", "value": "3"}, {"op": "remove", "path": "/data/a"}])
    assert jp.data == {"b": "2", "c": "3"}
    mp = core.patch_namespaced_config_map("c1", ns, {"data": {"b": None}}, _content_type="application/merge-patch+json")
    assert mp.data == {"c": "3"}
    patched = mp
    patched.data = {"only": "this"}
    replaced = core.replace_namespaced_config_map("c1", ns, patched)
    assert replaced.data == {"only": "this"}
    assert core.read_namespaced_config_map("c1", ns).data == {"only": "this"}

    st = core.delete_namespaced_config_map("c1", ns)
    assert st is not None
    assert gone(core.read_namespaced_config_map, "c1", ns)
    with pytest.raises(ApiException) as ei:
        core.delete_namespaced_config_map("c1", ns)
    assert ei.value.status == 404


def test_json_patch_that_cannot_apply_is_422(core, ns):
    # Kubernetes answers 422 when a well-formed JSON patch fails to apply (apiserver
    # handlers/patch.go: jsonPatcher), and 400 only when the patch cannot be decoded.
    core.create_namespaced_config_map(ns, cm("jp", {"c": "3"}))
    with pytest.raises(ApiException) as ei:
        core.patch_namespaced_config_map("jp", ns, [{"op": "test", "path": "/data/c", "value": "wrong"}])
    assert ei.value.status == 422, f"expected 422, got {ei.value.status}: {ei.value.body}"
    with pytest.raises(ApiException) as ei:
        core.patch_namespaced_config_map("jp", ns, [{"op": "remove", "path": "/data/missing"}])
    assert ei.value.status == 422, f"expected 422, got {ei.value.status}: {ei.value.body}"
    assert core.read_namespaced_config_map("jp", ns).data == {"c": "3"}


def test_pod_crud(core, ns):
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="p1", labels={"app": "p"}),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(
                    name="c",
                    image="busybox:1.36",
                    resources=client.V1ResourceRequirements(requests={"cpu": "100m", "memory": "64Mi"}),
                )
            ]
        ),
    )
    created = core.create_namespaced_pod(ns, pod)
    assert created.status.phase == "Pending"
    assert created.spec.restart_policy == "Always", "defaulted as Kubernetes does"
    assert created.spec.containers[0].resources.requests == {"cpu": "100m", "memory": "64Mi"}
    assert core.read_namespaced_pod("p1", ns).metadata.uid == created.metadata.uid
    assert [p.metadata.name for p in core.list_namespaced_pod(ns).items] == ["p1"]
    patched = core.patch_namespaced_pod("p1", ns, {"metadata": {"labels": {"extra": "1"}}})
    assert patched.metadata.labels == {"app": "p", "extra": "1"}
    patched.metadata.annotations = {"a": "b"}
    replaced = core.replace_namespaced_pod("p1", ns, patched)
    assert replaced.metadata.annotations == {"a": "b"}
    core.delete_namespaced_pod("p1", ns, grace_period_seconds=0)
    wait_until(lambda: gone(core.read_namespaced_pod, "p1", ns), timeout=30, what="pod p1 to be gone")


def test_deployment_crud(apps, ns):
    created = apps.create_namespaced_deployment(ns, deployment("d1"))
    assert created.spec.replicas == 2
    assert created.spec.strategy.type == "RollingUpdate", "defaulted as Kubernetes does"
    assert created.metadata.generation == 1
    got = apps.read_namespaced_deployment("d1", ns)
    assert got.spec.template.spec.containers[0].image == "nginx:1.25"
    assert [d.metadata.name for d in apps.list_namespaced_deployment(ns).items] == ["d1"]
    assert "d1" in [d.metadata.name for d in apps.list_deployment_for_all_namespaces().items]
    patched = apps.patch_namespaced_deployment("d1", ns, {"spec": {"replicas": 4}})
    assert patched.spec.replicas == 4
    patched.spec.template.spec.containers[0].image = "nginx:1.27"
    # The Deployment controller writes the status meanwhile; an update without a
    # resourceVersion is unconditional, as Kubernetes allows for Deployments.
    patched.metadata.resource_version = None
    replaced = apps.replace_namespaced_deployment("d1", ns, patched)
    assert replaced.spec.template.spec.containers[0].image == "nginx:1.27"
    assert replaced.spec.replicas == 4
    apps.delete_namespaced_deployment("d1", ns)
    wait_until(lambda: gone(apps.read_namespaced_deployment, "d1", ns), timeout=30, what="deployment d1 to be gone")


def test_watch_delivers_added_modified_deleted_in_order(core, ns):
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, cm("w"))
    core.patch_namespaced_config_map("w", ns, {"data": {"k": "v2"}})
    core.delete_namespaced_config_map("w", ns)

    events = []
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=10):
        events.append((ev["type"], ev["object"].metadata.name, int(ev["object"].metadata.resource_version), ev["object"].data))
        if ev["type"] == "DELETED":
            w.stop()
    assert [e[0] for e in events] == ["ADDED", "MODIFIED", "DELETED"], events
    assert all(e[1] == "w" for e in events)
    rvs = [e[2] for e in events]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3 and rvs[0] > int(rv), rvs
    assert events[1][3] == {"k": "v2"}


def test_watch_sees_live_changes(core, ns):
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    name = uniq("live")

    def writer():
        core.create_namespaced_config_map(ns, cm(name))
        core.patch_namespaced_config_map(name, ns, {"data": {"k": "2"}})

    w = watch.Watch()
    t = threading.Timer(0.5, writer)
    t.start()
    seen = []
    try:
        for ev in w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=20):
            seen.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "MODIFIED" and ev["object"].metadata.name == name:
                w.stop()
    finally:
        t.join()
    assert seen == [("ADDED", name), ("MODIFIED", name)], seen


def test_create_without_kind_and_api_version(core, ns):
    """The Python client sends what the model holds; Kubernetes takes the kind from the URL."""
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="bare"), data={"a": "b"})
    created = core.create_namespaced_config_map(ns, body)
    assert created.kind == "ConfigMap" and created.api_version == "v1"
    assert core.read_namespaced_config_map("bare", ns).data == {"a": "b"}


def test_dynamic_client_discovery(api, ns):
    dyn = dynamic.DynamicClient(api)
    deploys = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert deploys.namespaced and deploys.name == "deployments"
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "dyn"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "dyn"}},
            "template": {"metadata": {"labels": {"app": "dyn"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}},
        },
    }
    created = deploys.create(body=body, namespace=ns)
    assert created.metadata.name == "dyn"
    items = deploys.get(namespace=ns).items
    assert [i.metadata.name for i in items] == ["dyn"]
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    cms.create(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dyn-cm"}, "data": {"a": "b"}}, namespace=ns)
    assert cms.get(name="dyn-cm", namespace=ns).data.a == "b"
    nodes = dyn.resources.get(api_version="v1", kind="Node")
    assert not nodes.namespaced
    leases = dyn.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")
    assert leases.namespaced


def test_list_paging_returns_each_object_once(core, ns):
    names = {f"pg-{i:02d}" for i in range(23)}
    for n in sorted(names):
        core.create_namespaced_config_map(ns, cm(n))
    seen: list[str] = []
    cont = None
    pages = 0
    while True:
        kw = {"limit": 5}
        if cont:
            kw["_continue"] = cont
        page = core.list_namespaced_config_map(ns, **kw)
        pages += 1
        assert len(page.items) <= 5
        seen.extend(i.metadata.name for i in page.items)
        cont = page.metadata._continue
        if not cont:
            break
        assert pages < 20, "paging does not end"
        # A write between pages must not make the walk repeat or skip objects.
        if pages == 2:
            core.patch_namespaced_config_map("pg-00", ns, {"data": {"k": "changed"}})
    assert pages == 5, f"23 objects in pages of 5 should take 5 pages, took {pages}"
    assert sorted(seen) == sorted(names), seen
    assert len(seen) == len(set(seen))
    last = core.list_namespaced_config_map(ns, limit=23)
    assert not last.metadata._continue and len(last.items) == 23


def test_label_selectors(core, ns):
    objs = {
        "ls-a": {"env": "prod", "tier": "web"},
        "ls-b": {"env": "dev", "tier": "web"},
        "ls-c": {"env": "test"},
        "ls-d": None,
    }
    for n, labels in objs.items():
        core.create_namespaced_config_map(ns, cm(n, labels=labels))

    def sel(s):
        return sorted(i.metadata.name for i in core.list_namespaced_config_map(ns, label_selector=s).items)

    assert sel("env=prod") == ["ls-a"]
    assert sel("env==prod") == ["ls-a"]
    assert sel("env!=prod") == ["ls-b", "ls-c", "ls-d"]
    assert sel("env in (prod,dev)") == ["ls-a", "ls-b"]
    assert sel("env notin (prod,dev)") == ["ls-c", "ls-d"]
    assert sel("tier") == ["ls-a", "ls-b"]
    assert sel("!tier") == ["ls-c", "ls-d"]
    assert sel("tier=web,env!=dev") == ["ls-a"]
    assert sel("env in (nothing)") == []
    with pytest.raises(ApiException) as ei:
        sel("env in (prod")
    assert ei.value.status == 400


def test_field_selector(core, ns):
    core.create_namespaced_config_map(ns, cm("fs-1"))
    core.create_namespaced_config_map(ns, cm("fs-2"))
    items = core.list_namespaced_config_map(ns, field_selector="metadata.name=fs-2").items
    assert [i.metadata.name for i in items] == ["fs-2"]
    items = core.list_namespaced_config_map(ns, field_selector="metadata.name!=fs-2").items
    assert "fs-1" in [i.metadata.name for i in items] and "fs-2" not in [i.metadata.name for i in items]
    items = core.list_config_map_for_all_namespaces(field_selector=f"metadata.namespace={ns},metadata.name=fs-1").items
    assert [(i.metadata.namespace, i.metadata.name) for i in items] == [(ns, "fs-1")]
    with pytest.raises(ApiException) as ei:
        core.list_namespaced_config_map(ns, field_selector="data.k=v")
    assert ei.value.status == 400, "an unsupported field selector is a 400, as on Kubernetes"


def test_replace_with_stale_resource_version_is_409(core, ns):
    first = core.create_namespaced_config_map(ns, cm("oc", {"v": "1"}))
    core.patch_namespaced_config_map("oc", ns, {"data": {"v": "2"}})
    first.data = {"v": "3"}
    with pytest.raises(ApiException) as ei:
        core.replace_namespaced_config_map("oc", ns, first)
    assert ei.value.status == 409
    assert core.read_namespaced_config_map("oc", ns).data == {"v": "2"}


def test_concurrent_replaces_exactly_one_wins(brume, ns):
    # One ApiClient per thread: the client's connection pool is not the thing under test.
    core0 = client.CoreV1Api(brume.api_client())
    base = core0.create_namespaced_config_map(ns, cm("race", {"winner": "none"}))
    rv = base.metadata.resource_version
    n = 8
    results: dict[int, object] = {}
    barrier = threading.Barrier(n)

    def worker(i: int):
        api = client.CoreV1Api(brume.api_client())
        body = cm("race", {"winner": str(i)}, resource_version=rv)
        barrier.wait(timeout=30)
        try:
            results[i] = api.replace_namespaced_config_map("race", ns, body)
        except ApiException as e:
            results[i] = e.status

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    winners = [i for i, r in results.items() if not isinstance(r, int)]
    losers = [r for r in results.values() if isinstance(r, int)]
    assert len(results) == n
    assert len(winners) == 1, results
    assert losers == [409] * (n - 1), results
    final = core0.read_namespaced_config_map("race", ns)
    assert final.data == {"winner": str(winners[0])}


def test_status_subresource(core, ns):
    # A Service: no controller writes its status, so the test owns it (a Deployment's status
    # belongs to the Deployment controller, which would race with the test).
    svc = client.V1Service(
        metadata=client.V1ObjectMeta(name="st"),
        spec=client.V1ServiceSpec(selector={"app": "st"}, ports=[client.V1ServicePort(port=80)]),
    )
    created = core.create_namespaced_service(ns, svc)
    assert created.metadata.generation == 1
    after = core.patch_namespaced_service_status(
        "st", ns,
        {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}, "spec": {"ports": [{"port": 81}]}},
    )
    assert after.status.load_balancer.ingress[0].ip == "192.0.2.10"
    assert after.spec.ports[0].port == 80, "a status write must not change spec"
    assert after.metadata.generation == 1, "a status write does not bump generation"

    # A write to the main resource cannot change status.
    cur = core.read_namespaced_service("st", ns)
    cur.status.load_balancer.ingress[0].ip = "192.0.2.99"
    cur.metadata.labels = {"app": "st", "x": "y"}
    upd = core.replace_namespaced_service("st", ns, cur)
    assert upd.metadata.labels.get("x") == "y"
    assert upd.status.load_balancer.ingress[0].ip == "192.0.2.10", upd.status
    pat = core.patch_namespaced_service("st", ns, {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.77"}]}}})
    assert pat.status.load_balancer.ingress[0].ip == "192.0.2.10"
    assert core.read_namespaced_service_status("st", ns).status.load_balancer.ingress[0].ip == "192.0.2.10"


def test_generation_increments_on_spec_change_only(apps, ns):
    d = apps.create_namespaced_deployment(ns, deployment("gen"))
    assert d.metadata.generation == 1
    d = apps.patch_namespaced_deployment("gen", ns, {"metadata": {"labels": {"a": "b"}, "annotations": {"c": "d"}}})
    assert d.metadata.generation == 1, "metadata changes do not bump generation"
    d = apps.patch_namespaced_deployment("gen", ns, {"spec": {"replicas": 3}})
    assert d.metadata.generation == 2
    d = apps.patch_namespaced_deployment("gen", ns, {"spec": {"replicas": 3}})
    assert d.metadata.generation == 2, "a no-op spec patch does not bump generation"
    d = apps.patch_namespaced_deployment_scale("gen", ns, {"spec": {"replicas": 4}})
    assert d.spec.replicas == 4
    assert apps.read_namespaced_deployment("gen", ns).metadata.generation == 3


def owned(core, ns, owner_name: str, name: str, **kw) -> client.V1ConfigMap:
    owner = core.create_namespaced_config_map(ns, cm(owner_name))
    ref = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name=owner_name, uid=owner.metadata.uid, **kw)
    return core.create_namespaced_config_map(ns, cm(name, owner_references=[ref]))


def test_owner_references_background_gc(core, ns):
    owned(core, ns, "bg-owner", "bg-dep")
    core.delete_namespaced_config_map("bg-owner", ns, propagation_policy="Background")
    assert gone(core.read_namespaced_config_map, "bg-owner", ns), "Background deletes the owner at once"
    wait_until(lambda: gone(core.read_namespaced_config_map, "bg-dep", ns), timeout=30, what="the dependent to be collected")


def test_owner_references_orphan(core, ns):
    owned(core, ns, "or-owner", "or-dep")
    core.delete_namespaced_config_map("or-owner", ns, propagation_policy="Orphan")
    wait_until(lambda: gone(core.read_namespaced_config_map, "or-owner", ns), timeout=30, what="the owner to be gone")
    dep = wait_until(
        lambda: (lambda d: d if not d.metadata.owner_references else None)(core.read_namespaced_config_map("or-dep", ns)),
        timeout=30,
        what="the orphan to lose its ownerReference",
    )
    assert dep.metadata.deletion_timestamp is None


def test_owner_references_foreground(core, ns):
    owned(core, ns, "fg-owner", "fg-dep", block_owner_deletion=True)
    # A finalizer on the dependent keeps it, so the owner's waiting can be observed.
    core.patch_namespaced_config_map("fg-dep", ns, {"metadata": {"finalizers": ["test.brume.io/hold"]}})
    core.delete_namespaced_config_map("fg-owner", ns, propagation_policy="Foreground")
    owner = core.read_namespaced_config_map("fg-owner", ns)
    assert owner.metadata.deletion_timestamp is not None
    assert "foregroundDeletion" in (owner.metadata.finalizers or [])
    wait_until(
        lambda: core.read_namespaced_config_map("fg-dep", ns).metadata.deletion_timestamp is not None,
        timeout=30,
        what="the dependent to be marked for deletion",
    )
    assert core.read_namespaced_config_map("fg-owner", ns).metadata.deletion_timestamp is not None, "owner lingers"
    core.patch_namespaced_config_map("fg-dep", ns, {"metadata": {"finalizers": None}})
    wait_until(lambda: gone(core.read_namespaced_config_map, "fg-dep", ns), timeout=30, what="the dependent to go")
    wait_until(lambda: gone(core.read_namespaced_config_map, "fg-owner", ns), timeout=30, what="the owner to go after it")


def test_finalizers(core, ns):
    core.create_namespaced_config_map(ns, cm("fin", finalizers=["test.brume.io/keep"]))
    core.delete_namespaced_config_map("fin", ns)
    obj = core.read_namespaced_config_map("fin", ns)
    assert obj.metadata.deletion_timestamp is not None
    assert obj.metadata.finalizers == ["test.brume.io/keep"]
    # Deleting again is harmless; the object stays.
    core.delete_namespaced_config_map("fin", ns)
    assert core.read_namespaced_config_map("fin", ns).metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("fin", ns, {"metadata": {"finalizers": None}})
    wait_until(lambda: gone(core.read_namespaced_config_map, "fin", ns), timeout=30, what="the object to go once its finalizer is removed")


def test_dry_run_create_stores_nothing(core, apps, ns):
    before = core.list_namespaced_config_map(ns).metadata.resource_version
    out = core.create_namespaced_config_map(ns, cm("dry"), dry_run="All")
    assert out.metadata.name == "dry"
    assert gone(core.read_namespaced_config_map, "dry", ns)
    d = apps.create_namespaced_deployment(ns, deployment("dryd"), dry_run="All")
    assert d.spec.strategy.type == "RollingUpdate", "dry run still defaults"
    assert gone(apps.read_namespaced_deployment, "dryd", ns)
    core.create_namespaced_config_map(ns, cm("real"))
    core.patch_namespaced_config_map("real", ns, {"data": {"k": "dry"}}, dry_run="All")
    assert core.read_namespaced_config_map("real", ns).data == {"k": "v"}
    core.delete_namespaced_config_map("real", ns, dry_run="All")
    assert core.read_namespaced_config_map("real", ns).data == {"k": "v"}
    assert int(before) > 0


def test_events_create_and_list(core, ns):
    target = core.create_namespaced_config_map(ns, cm("evt-target"))
    ev = client.CoreV1Event(
        metadata=client.V1ObjectMeta(name="evt-target.1"),
        involved_object=client.V1ObjectReference(
            api_version="v1", kind="ConfigMap", name="evt-target", namespace=ns, uid=target.metadata.uid
        ),
        reason="Tested",
        message="an event from the compat tests",
        type="Normal",
        source=client.V1EventSource(component="compat-test"),
        count=1,
    )
    created = core.create_namespaced_event(ns, ev)
    assert created.reason == "Tested"
    items = core.list_namespaced_event(ns).items
    assert [(e.metadata.name, e.reason, e.message) for e in items] == [("evt-target.1", "Tested", "an event from the compat tests")]


def test_events_field_selector_on_involved_object(core, ns):
    """kubectl describe finds an object's events with these field selectors."""
    target = core.create_namespaced_config_map(ns, cm("evt-sel"))
    for name, obj in (("evt-sel.1", "evt-sel"), ("other.1", "other")):
        core.create_namespaced_event(
            ns,
            client.CoreV1Event(
                metadata=client.V1ObjectMeta(name=name),
                involved_object=client.V1ObjectReference(api_version="v1", kind="ConfigMap", name=obj, namespace=ns),
                reason="Tested",
                message="m",
                type="Normal",
            ),
        )
    fs = f"involvedObject.name=evt-sel,involvedObject.namespace={ns},involvedObject.kind=ConfigMap"
    sel = core.list_namespaced_event(ns, field_selector=fs).items
    assert [e.metadata.name for e in sel] == ["evt-sel.1"]
    assert target.metadata.uid
