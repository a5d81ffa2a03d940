"""A real browser against the real app: headless Debian Chromium driven by Playwright.

pytest-playwright provides the ``browser``, ``context`` and ``page`` fixtures; here its
launch arguments point it at Debian's Chromium (``playwright install`` cannot download
here), and ``live_server`` serves a seeded app on a free port in a thread.
Missing Chromium is a skip, or a failure when KI_REQUIRED_SUITES names "browser".
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import skip_or_fail

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


def find_chromium() -> str | None:
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        skip_or_fail(
            "browser",
            "Chromium not found (apt-get install chromium; playwright install cannot download)",
        )
    return path


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, chromium_path):
    """pytest-playwright's launch arguments, pointed at Debian's Chromium."""
    return {
        **browser_type_launch_args,
        "executable_path": chromium_path,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def base_url() -> None:
    """No base URL: every test has its own live server.

    This also replaces pytest-playwright's own ``base_url``, a session fixture written as an
    instance method, which pytest 9 warns about (and filterwarnings=error makes that fail).
    """
    return None


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """German first, like a family's browser in Herne; a fixed time zone."""
    return {**browser_context_args, "locale": "de-DE", "timezone_id": "Europe/Berlin"}


@pytest.fixture
def live_app(seeded):
    """The seeded app; mails are written synchronously as .eml files into OUTBOX_DIR."""
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "inline"
    return seeded


@pytest.fixture
def live_server(live_app):
    """The base URL of the seeded app, served by werkzeug on 127.0.0.1 and a free port."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def outbox_dir(live_app) -> Path:
    return Path(live_app.config["OUTBOX_DIR"])
