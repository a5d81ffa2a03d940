"""What the HTTP benchmarks share: gunicorn on a free loopback port, wrk, worker memory.

Not a benchmark itself; ``bench_http.py`` and ``bench_booking.py`` import it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
FLASK = [str(BIN / "flask"), "--app", "wsgi"]


class BenchError(RuntimeError):
    """Something that is not a slow figure but a broken measurement: the run must fail."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes

    def json(self):
        return json.loads(self.body or b"null")

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def fetch(port: int, method: str, path: str, body: dict | None = None) -> Response:
    """One request on a new connection; redirects are not followed (a 301 is a 301)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = json.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        return Response(response.status, response.getheader("Content-Type", ""), response.read())
    finally:
        conn.close()


def demo_env(instance: Path, **extra: str) -> dict[str, str]:
    """The environment of the app on a throw-away SQLite database in ``instance``."""
    instance.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{instance / 'bench.db'}",
        "INSTANCE_PATH": str(instance),
        "RATELIMIT_ENABLED": "0",
        "SECRET_KEY": "bench",
        "SERVER_NAME": "",
        **extra,
    }


def migrate_and_seed(env: dict[str, str]) -> None:
    """``flask db upgrade`` and ``seed-demo`` on the database of ``env``."""
    for command in (["db", "upgrade"], ["seed-demo"]):
        done = subprocess.run([*FLASK, *command], env=env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise BenchError(f"flask {' '.join(command)} failed:\n{done.stderr[-2000:]}")


class Server:
    """A gunicorn master with its workers, serving ``app`` (``module:name``) on loopback."""

    def __init__(
        self, app: str, env: dict[str, str], log: Path, *, workers: int = 2, chdir: Path = ROOT
    ):
        self.port = free_port()
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log_file = log.open("wb")
        # No max_requests: a worker must live through the whole run, for the memory figures.
        self.process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--chdir",
                str(chdir),
                app,
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self.log_file,
        )
        self.workers = workers

    def wait_ready(self, path: str = "/") -> None:
        for _ in range(300):
            if self.process.poll() is not None:
                raise BenchError(
                    f"gunicorn exited ({self.process.returncode}):\n"
                    + self.log.read_text("utf-8", "replace")[-2000:]
                )
            try:
                fetch(self.port, "GET", path)
            except OSError:
                time.sleep(0.1)
                continue
            if len(self.worker_pids()) == self.workers:
                return
            time.sleep(0.1)
        raise BenchError(f"gunicorn on port {self.port} did not answer {path}")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return sorted(int(pid) for pid in children.read_text().split())

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log_file.close()


@contextlib.contextmanager
def serve(
    app: str, env: dict[str, str], log: Path, *, ready_path: str = "/", chdir: Path = ROOT
) -> Iterator[Server]:
    """gunicorn -w 2 serving ``app``, its errors written to ``log``; stopped afterwards."""
    server = Server(app, env, log, chdir=chdir)
    try:
        server.wait_ready(ready_path)
        yield server
    finally:
        server.stop()


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for process {pid}")


def ensure_wrk() -> str:
    """The path of wrk; installed from Debian's packages when missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise BenchError("wrk is missing: install it with `sudo apt-get install -y wrk`")
    print("wrk is missing: apt-get install -y wrk", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    found = shutil.which("wrk")
    if not found:
        raise BenchError("apt-get install wrk did not give a wrk command")
    return found


@dataclass
class WrkResult:
    requests: int
    requests_per_s: float
    latency: str
    bad: int  # non-2xx/3xx answers, socket errors and timeouts
    errors: str  # wrk's lines about them
    not_200: int  # counted by the scripts of bench_http.py ("not-200: N")


def run_wrk(
    url: str, seconds: int, *, connections: int = 4, script: Path | None = None
) -> WrkResult:
    """wrk with one thread and ``connections`` connections for ``seconds``."""
    # wrk's own timeout (2 s) would count a slow answer of a busy machine as an error.
    command = [ensure_wrk(), "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s"]
    if script is not None:
        command += ["-s", str(script)]
    done = subprocess.run([*command, url], capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"wrk failed: {done.stderr or done.stdout}")
    out = done.stdout
    per_s = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    latency = re.search(r"Latency\s+(\S+)", out)
    if not (per_s and total and latency):
        raise BenchError(f"cannot read wrk's output:\n{out}")
    bad = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        bad += int(non_2xx.group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors:
        bad += sum(int(n) for n in errors.groups())
    not_200 = re.search(r"not-200: (\d+)", out)
    return WrkResult(
        int(total.group(1)),
        float(per_s.group(1)),
        latency.group(1),
        bad,
        "; ".join(
            line.strip() for line in out.splitlines() if "errors" in line or "Non-2xx" in line
        ),
        int(not_200.group(1)) if not_200 else 0,
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"
