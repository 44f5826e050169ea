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
