"""Pod volumes on `brume dev`'s in-process nodes: configMap, secret and emptyDir volumes are
made on the node and mounted into docker containers."""

from __future__ import annotations

import subprocess

import pytest

from brumetest import wait_until

POD = """
apiVersion: v1
kind: Pod
metadata: {{name: vol, namespace: {ns}}}
spec:
  runtimeClassName: docker
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: brume/busybox:1
    command: ["sh", "-c", "cat /conf/greeting; echo; cat /sec/pw; echo; echo x > /scratch/f && cat /scratch/f; sleep 3600"]
    volumeMounts:
    - {{name: conf, mountPath: /conf}}
    - {{name: sec, mountPath: /sec, readOnly: true}}
    - {{name: scratch, mountPath: /scratch}}
  volumes:
  - {{name: conf, configMap: {{name: conf}}}}
  - {{name: sec, secret: {{secretName: sec}}}}
  - {{name: scratch, emptyDir: {{}}}}
"""


def docker_ready() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_configmap_secret_and_emptydir_volumes_are_mounted(brume, ns):
    if not docker_ready():
        pytest.skip("no Docker engine answers")
    subprocess.run(["bash", "tests/images/build.sh"], check=True)
    brume.kubectl("create", "configmap", "conf", "-n", ns, "--from-literal=greeting=bonjour")
    brume.kubectl("create", "secret", "generic", "sec", "-n", ns, "--from-literal=pw=s3cret")
    brume.kubectl("apply", "-f", "-", input=POD.format(ns=ns))
    wait_until(
        lambda: brume.kubectl("logs", "-n", ns, "vol", check=False).stdout.split() == ["bonjour", "s3cret", "x"],
        60, 0.5, "the container to print the configMap, the secret and the emptyDir file",
    )
    brume.kubectl("delete", "pod", "vol", "-n", ns)


INIT_POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}}}
spec:
  runtimeClassName: process
  restartPolicy: {policy}
  terminationGracePeriodSeconds: 1
  initContainers:
  - {{name: first, image: none, command: ["sh", "-c", "{init}"]}}
  containers:
  - {{name: app, image: none, command: ["sh", "-c", "echo app started; sleep 3600"]}}
"""


def pod_json(brume, ns: str, name: str) -> dict:
    import json

    return json.loads(brume.kubectl("get", "pod", name, "-n", ns, "-o", "json").stdout)


def test_init_containers_run_first_and_a_failed_one_fails_the_pod(brume, ns):
    brume.kubectl("apply", "-f", "-", input=INIT_POD.format(name="ok", ns=ns, policy="Always", init="echo first done"))
    wait_until(lambda: pod_json(brume, ns, "ok")["status"].get("phase") == "Running", 30, 0.3, "pod ok Running")
    assert brume.kubectl("logs", "-n", ns, "ok", "-c", "first").stdout.strip() == "first done"
    assert brume.kubectl("logs", "-n", ns, "ok", "-c", "app").stdout.strip() == "app started"
    status = pod_json(brume, ns, "ok")["status"]
    assert status["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    assert any(c["type"] == "Initialized" and c["status"] == "True" for c in status["conditions"])

    brume.kubectl("apply", "-f", "-", input=INIT_POD.format(name="bad", ns=ns, policy="Never", init="exit 3"))
    wait_until(lambda: pod_json(brume, ns, "bad")["status"].get("phase") == "Failed", 30, 0.3, "pod bad Failed")
    bad = pod_json(brume, ns, "bad")["status"]
    assert bad["containerStatuses"][0]["state"].get("running") is None, "the app must not start after a failed init"
    brume.kubectl("delete", "pod", "ok", "bad", "-n", ns)


DOWNWARD_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: info
  namespace: {ns}
  labels: {{app: shop, tier: front}}
spec:
  runtimeClassName: process
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: none
    command: ["sh", "-c", "cat $BRUME_MOUNT_PODINFO/name; echo; cat $BRUME_MOUNT_PODINFO/labels; echo; cat $BRUME_MOUNT_PODINFO/mem; echo; cat $BRUME_MOUNT_ALL/greeting; echo; cat $BRUME_MOUNT_ALL/pw; echo; cat $BRUME_MOUNT_ALL/ns; echo; echo cpu=$CPU_MILLI; sleep 3600"]
    resources:
      requests: {{cpu: 250m, memory: 32Mi}}
      limits: {{memory: 64Mi}}
    env:
    - name: CPU_MILLI
      valueFrom: {{resourceFieldRef: {{resource: requests.cpu, divisor: 1m}}}}
    volumeMounts:
    - {{name: podinfo, mountPath: /podinfo}}
    - {{name: all, mountPath: /all}}
  volumes:
  - name: podinfo
    downwardAPI:
      items:
      - {{path: name, fieldRef: {{fieldPath: metadata.name}}}}
      - {{path: labels, fieldRef: {{fieldPath: metadata.labels}}}}
      - {{path: mem, resourceFieldRef: {{containerName: c, resource: limits.memory, divisor: 1Mi}}}}
  - name: all
    projected:
      sources:
      - configMap: {{name: conf, items: [{{key: greeting, path: greeting}}]}}
      - secret: {{name: sec}}
      - downwardAPI: {{items: [{{path: ns, fieldRef: {{fieldPath: metadata.namespace}}}}]}}
"""


def test_downward_api_and_projected_volumes_carry_the_pods_own_facts(brume, ns):
    brume.kubectl("create", "configmap", "conf", "-n", ns, "--from-literal=greeting=bonjour")
    brume.kubectl("create", "secret", "generic", "sec", "-n", ns, "--from-literal=pw=s3cret")
    brume.kubectl("apply", "-f", "-", input=DOWNWARD_POD.format(ns=ns))
    expected = ["info", 'app="shop"', 'tier="front"', "64", "bonjour", "s3cret", ns, "cpu=250"]
    wait_until(
        lambda: brume.kubectl("logs", "-n", ns, "info", check=False).stdout.split() == expected,
        60, 0.5, f"the container to print {expected}",
    )
    brume.kubectl("delete", "pod", "info", "-n", ns)


def test_an_unsupported_projection_fails_the_mount_with_a_reason(brume, ns):
    pod = """
apiVersion: v1
kind: Pod
metadata: {{name: sat, namespace: {ns}}}
spec:
  runtimeClassName: process
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: c, image: none, command: ["sleep", "3600"], volumeMounts: [{{name: t, mountPath: /t}}]}}
  volumes:
  - name: t
    projected: {{sources: [{{serviceAccountToken: {{path: token}}}}]}}
"""
    brume.kubectl("apply", "-f", "-", input=pod.format(ns=ns))

    def failed_mount():
        out = brume.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=sat", "-o", "json").stdout
        import json

        return [e["message"] for e in json.loads(out)["items"] if e.get("reason") == "FailedMount"]

    wait_until(lambda: failed_mount(), 30, 0.5, "a FailedMount event for the serviceAccountToken projection")
    assert "serviceAccountToken" in failed_mount()[0] and "not supported" in failed_mount()[0], failed_mount()
    brume.kubectl("delete", "pod", "sat", "-n", ns, "--wait=false")
