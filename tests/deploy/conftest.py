"""The app served as deploy/ says: nginx (TLS) -> gunicorn (several workers) -> PostgreSQL,
Redis for rate limits, an `outbox work` process, and an aiosmtpd server receiving the mail.

Everything runs on 127.0.0.1 and free ports; the public host name ``termine.test`` is mapped
to 127.0.0.1 inside Chromium only. The certificate is made for the run with openssl.
Missing nginx, openssl, PostgreSQL, Redis or Chromium is a skip, or a failure when
KI_REQUIRED_SUITES names "deploy".
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import pytest
from aiosmtpd.controller import Controller

from tests.browser.conftest import CHROMIUM_ARGS, find_chromium
from tests.conftest import emptied_redis_url, empty_pg_tables, redis_to_ourselves, skip_or_fail
from tests.helpers import Inbox, free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
PUBLIC_HOST = "termine.test"
STAFF_PASSWORD = "Sichere-Beratung-2026"
ADMIN = "admin@herne.example"
RECEPTION = "rezeption@herne.example"
WORKERS = 3


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.deploy)
            item.add_marker(pytest.mark.slow)


def unit_command(unit: str) -> list[str]:
    """The ExecStart of a unit of deploy/systemd, its programs and files taken from this
    checkout and its virtualenv instead of /opt/ki-booking."""
    text = (DEPLOY / "systemd" / unit).read_text()
    (line,) = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    words = shlex.split(line.removeprefix("ExecStart="))
    words[0] = str(BIN / Path(words[0]).name)
    return [w.replace("/opt/ki-booking/deploy", str(DEPLOY)) for w in words]


@dataclass
class Stack:
    base_url: str
    inbox: Inbox
    env: dict[str, str]
    logs: Path
    # The units' working directory: outside the checkout, so the installed package runs.
    workdir: Path
    https_port: int = 0
    http_port: int = 0
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def flask(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        """An operator's command, run as the systemd units would run it (README's ``ki``)."""
        return subprocess.run(
            [str(BIN / "flask"), "--app", "booking", *args],
            cwd=self.workdir,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _need(condition: bool, reason: str) -> None:
    if not condition:
        skip_or_fail("deploy", reason)


def _make_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={PUBLIC_HOST}",
            "-addext",
            f"subjectAltName=DNS:{PUBLIC_HOST}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _wait_for_port(port: int, process: subprocess.Popen, name: str, stack: Stack) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited ({process.returncode}):\n{stack.log(name)}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"{name} did not listen on {port}:\n{stack.log(name)}")


def _nginx_conf(folder: Path, site: Path) -> Path:
    """A main nginx.conf of the run's own: pid, logs and buffers in the run's folder."""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / sub).mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = folder / "nginx.conf"
    conf.write_text(
        f"""{user}worker_processes 2;
pid {folder}/nginx.pid;
error_log {folder}/nginx-main.error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {site};
}}
"""
    )
    return conf


def _start(stack: Stack, name: str, args: list[str], **kwargs) -> subprocess.Popen:
    with (stack.logs / f"{name}.log").open("w") as log:
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=stack.env, cwd=stack.workdir, **kwargs
        )
    stack.processes[name] = process
    return process


def _stop(process: subprocess.Popen, sig: int) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def stack_redis_url(tmp_path_factory):
    """TEST_REDIS_URL, emptied, and no other worker's while the stack runs."""
    with redis_to_ourselves(tmp_path_factory):
        yield emptied_redis_url("deploy")


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory):
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None
    )
    _need(nginx is not None, "nginx not found (apt-get install nginx)")
    _need(shutil.which("openssl") is not None, "openssl not found (apt-get install openssl)")
    _need(find_chromium() is not None, "Chromium not found (apt-get install chromium)")
    _need(bool(os.environ.get("TEST_DATABASE_URL")), "TEST_DATABASE_URL is not set")
    database_url = request.getfixturevalue("pg_url")
    empty_pg_tables(database_url)
    redis_url = request.getfixturevalue("stack_redis_url")

    folder = tmp_path_factory.mktemp("deploy")
    logs = folder / "logs"
    logs.mkdir()
    cert, key = _make_certificate(folder)
    https_port, http_port, app_port = free_port(), free_port(), free_port()

    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()

    public = f"{PUBLIC_HOST}:{https_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAIL_", "FLASK_"))}
    env.update(
        PATH=f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}",
        SECRET_KEY="deploy-test-" + "s" * 48,
        DATABASE_URL=database_url,
        RATELIMIT_STORAGE_URI=redis_url,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(smtp.port),
        SERVER_NAME=public,
        PREFERRED_URL_SCHEME="https",
        TRUSTED_PROXIES="1",
        INSTANCE_PATH=str(folder / "instance"),
        GUNICORN_BIND=f"127.0.0.1:{app_port}",
        WEB_CONCURRENCY=str(WORKERS),
    )
    workdir = folder / "state"
    workdir.mkdir()
    stack = Stack(
        base_url=f"https://{public}",
        inbox=inbox,
        env=env,
        logs=logs,
        workdir=workdir,
        https_port=https_port,
        http_port=http_port,
    )

    try:
        for args, stdin in (
            (["db", "upgrade"], None),
            (["seed-demo", "--no-bookings"], None),
            (
                ["create-user", ADMIN, "--role", "admin", "--centre", "herne", "--password-stdin"],
                STAFF_PASSWORD,
            ),
            (
                ["create-user", RECEPTION, "--role", "reception", "--centre", "herne"]
                + ["--password-stdin"],
                STAFF_PASSWORD,
            ),
        ):
            done = stack.flask(*args, stdin=stdin)
            assert done.returncode == 0, (args, done.stdout, done.stderr)

        site = folder / "site.conf"
        site.write_text(
            Template((DEPLOY / "nginx" / "ki-booking.conf").read_text()).safe_substitute(
                KI_SERVER_NAME=PUBLIC_HOST,
                KI_HTTPS_PORT=https_port,
                KI_HTTP_PORT=http_port,
                KI_TLS_CERT=cert,
                KI_TLS_KEY=key,
                KI_UPSTREAM=f"127.0.0.1:{app_port}",
                KI_STATIC_DIR=ROOT / "booking" / "static",
                KI_LOG_DIR=logs,
            )
        )
        conf = _nginx_conf(folder, site)
        nginx_args = [nginx, "-p", str(folder), "-c", str(conf)]
        tested = subprocess.run([*nginx_args, "-t"], capture_output=True, text=True)
        assert tested.returncode == 0, tested.stderr

        gunicorn = _start(stack, "gunicorn", unit_command("ki-booking.service"))
        _start(stack, "outbox", [*unit_command("ki-booking-outbox.service"), "--poll", "0.5"])
        proxy = _start(stack, "nginx", [*nginx_args, "-g", "daemon off;"])
        _wait_for_port(app_port, gunicorn, "gunicorn", stack)
        _wait_for_port(https_port, proxy, "nginx", stack)
        yield stack
    finally:
        for name, sig in (("nginx", signal.SIGQUIT), ("gunicorn", signal.SIGTERM)):
            if name in stack.processes:
                _stop(stack.processes[name], sig)
        if "outbox" in stack.processes:
            _stop(stack.processes["outbox"], signal.SIGINT)
        smtp.stop()


@pytest.fixture(scope="module")
def https_browser(playwright, stack):
    """Chromium that finds termine.test at 127.0.0.1 and accepts the run's certificate."""
    browser = playwright.chromium.launch(
        executable_path=find_chromium(),
        args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {PUBLIC_HOST} 127.0.0.1"],
    )
    yield browser
    browser.close()


@pytest.fixture
def https_context(https_browser):
    context = https_browser.new_context(
        ignore_https_errors=True, locale="de-DE", timezone_id="Europe/Berlin"
    )
    yield context
    context.close()
