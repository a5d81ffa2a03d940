"""What an operator meets: an update by reload with no error page, nginx's own answers (no
version, nosniff on static files, IPv6, HTTP/2, the port kept by the http redirect, a
maintenance page in German and the app's languages), the installed package served from
outside the checkout, and gunicorn refusing to start without SERVER_NAME.

The outage test stops gunicorn: it is the last of this module (the stack is the module's).
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

from tests.deploy.conftest import DEPLOY, PUBLIC_HOST, ROOT, WORKERS, unit_command
from tests.helpers import free_port

PAGES = ("/", "/centres/herne", "/find", "/static/style.css")


def _context(alpn: list[str] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


def get(stack, path: str, host: str = "127.0.0.1") -> http.client.HTTPResponse:
    """One https GET to nginx, the public host name in SNI and Host."""
    raw = socket.create_connection((host, stack.https_port), timeout=30)
    sock = _context().wrap_socket(raw, server_hostname=PUBLIC_HOST)
    conn = http.client.HTTPSConnection(PUBLIC_HOST, stack.https_port, timeout=30)
    conn.sock = sock
    conn.request("GET", path, headers={"Host": f"{PUBLIC_HOST}:{stack.https_port}"})
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


def test_nginx_names_no_version_and_static_files_are_nosniff(stack):
    page = get(stack, "/")
    assert page.status == 200
    assert page.getheader("Server") == "nginx", page.getheader("Server")
    static = get(stack, "/static/style.css")
    assert static.status == 200
    assert static.getheader("X-Content-Type-Options") == "nosniff"
    assert static.getheader("Strict-Transport-Security", "").startswith("max-age=")


def test_nginx_answers_over_ipv6_and_http2(stack):
    assert get(stack, "/", host="::1").status == 200
    raw = socket.create_connection(("127.0.0.1", stack.https_port), timeout=30)
    with _context(["h2", "http/1.1"]).wrap_socket(raw, server_hostname=PUBLIC_HOST) as sock:
        assert sock.selected_alpn_protocol() == "h2"


def test_the_http_redirect_keeps_the_https_port(stack):
    conn = http.client.HTTPConnection("127.0.0.1", stack.http_port, timeout=30)
    conn.request("GET", "/find?lang=tr", headers={"Host": PUBLIC_HOST})
    response = conn.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == (
        f"https://{PUBLIC_HOST}:{stack.https_port}/find?lang=tr"
    )
    conn.close()


def test_the_units_serve_the_installed_package_from_outside_the_checkout(stack):
    for unit in ("ki-booking.service", "ki-booking-outbox.service"):
        text = (DEPLOY / "systemd" / unit).read_text()
        assert "WorkingDirectory=/var/lib/ki-booking" in text, unit
        assert "wsgi" not in " ".join(unit_command(unit)), unit
    gunicorn = stack.processes["gunicorn"]
    workdir = Path(os.readlink(f"/proc/{gunicorn.pid}/cwd"))
    assert ROOT not in (workdir, *workdir.parents)
    # gunicorn 27's control socket is off: no error at start under HOME=/nonexistent.
    assert "Control server error" not in stack.log("gunicorn")


def test_gunicorn_refuses_to_start_without_server_name(stack, tmp_path):
    env = {k: v for k, v in stack.env.items() if k != "SERVER_NAME"}
    env["GUNICORN_BIND"] = f"127.0.0.1:{free_port()}"
    done = subprocess.run(
        unit_command("ki-booking.service"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "SERVER_NAME is not set" in done.stdout + done.stderr


def check_with(stack, **changed: str) -> subprocess.CompletedProcess:
    env = {**stack.env, **changed}
    return subprocess.run(
        [*unit_command("ki-booking-outbox.service")[:3], "check"],
        env=env,
        cwd=stack.workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_fails_on_each_unsafe_setting_an_operator_may_make(stack):
    assert check_with(stack).returncode == 0  # the stack as it is: ready
    for changed, said in (
        # The env template's submission settings against a local relay without TLS.
        ({"MAIL_USE_TLS": "1"}, "does not take mail as configured"),
        ({"MAIL_USERNAME": "termine@example.org"}, "does not take mail as configured"),
        ({"MAIL_PORT": str(free_port())}, "does not take mail as configured"),
        ({"TRUSTED_PROXIES": "5"}, "TRUSTED_PROXIES is 5"),
        ({"SERVER_NAME": ""}, "SERVER_NAME is not set"),
    ):
        done = check_with(stack, **changed)
        assert done.returncode == 1, (changed, done.stdout)
        assert said in done.stdout, (changed, done.stdout)


def test_a_reload_under_requests_shows_no_error_page(stack):
    """README's update: systemctl reload ki-booking (SIGHUP): new workers, old ones finish."""
    statuses: list[int] = []
    stop = threading.Event()

    def browse():
        number = 0
        while not stop.is_set():
            statuses.append(get(stack, PAGES[number % len(PAGES)]).status)
            number += 1

    booted = stack.log("gunicorn").count("Booting worker")
    clients = [threading.Thread(target=browse) for _ in range(4)]
    for client in clients:
        client.start()

    def wait_for(condition, what: str) -> None:
        deadline = time.monotonic() + 90
        while not condition():
            assert time.monotonic() < deadline, what
            time.sleep(0.1)

    try:
        wait_for(lambda: len(statuses) >= 4, "requests before the reload")
        before = len(statuses)
        stack.processes["gunicorn"].send_signal(signal.SIGHUP)
        wait_for(
            lambda: stack.log("gunicorn").count("Booting worker") >= booted + WORKERS,
            stack.log("gunicorn")[-2000:],
        )
        # Requests go on while the old workers finish and leave.
        wait_for(lambda: len(statuses) >= before + 12, "requests after the reload")
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=60)
    assert set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}


def test_an_outage_shows_the_maintenance_page_in_german(stack):
    gunicorn = stack.processes["gunicorn"]
    gunicorn.send_signal(signal.SIGTERM)
    gunicorn.wait(timeout=60)
    response = get(stack, "/centres/herne")
    assert response.status == 502
    page = response.body.decode()
    assert '<html lang="de"' in page and "Bitte versuchen Sie es in ein paar Minuten" in page
    for lang in ("en", "tr", "ar", "fa", "uk", "ru", "bg", "ro"):
        assert f'lang="{lang}"' in page, lang
    assert "Bad Gateway" not in page and "nginx/" not in page
    assert response.getheader("Cache-Control") == "no-store"
