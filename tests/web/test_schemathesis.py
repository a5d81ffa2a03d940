"""schemathesis against the served OpenAPI document (/api/v1/openapi.json).

The app runs on 127.0.0.1 on a free port (Werkzeug, in a thread) over a migrated SQLite
database with the demo data and one booking; the schemathesis CLI runs every phase and
every check against it: no 5xx, answers as documented (status, media type, schema),
schema-valid requests accepted, invalid ones refused. Path parameters are real (see
schemathesis_hooks.py), the seed is fixed and the examples per operation bounded, so the
run is the same every time and takes well under a minute.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.helpers import at, next_working_day

SEED = 20261130
MAX_EXAMPLES = 10
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def served_api(seeded, make_booking):
    """The app with the demo data and a booking, served on a free port; (url, token, the id
    of a demo event of Herne)."""
    from sqlalchemy import select

    from booking.extensions import db
    from booking.models import Centre, Event

    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    booking = make_booking(at(next_working_day(0, 8), 10))
    with seeded.app_context():
        event_id = db.session.scalar(
            select(Event.id).join(Centre).where(Centre.slug == "herne").order_by(Event.id)
        )
    server = make_server("127.0.0.1", 0, seeded, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", booking.token, event_id
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.mark.slow
def test_api_against_its_openapi_document(served_api, tmp_path):
    url, token, event_id = served_api
    st = Path(sys.executable).with_name("st")
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.web.schemathesis_hooks",
        "KI_SCHEMATHESIS_TOKEN": token,
        "KI_SCHEMATHESIS_EVENT": str(event_id),
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
    }
    result = subprocess.run(
        [
            str(st),
            "run",
            f"{url}/api/v1/openapi.json",
            "--checks",
            "all",
            "--seed",
            str(SEED),
            "--max-examples",
            str(MAX_EXAMPLES),
            "--generation-deterministic",
            "--workers",
            "1",
            "--suppress-health-check",
            "all",
            "--continue-on-failure",
            "--no-color",
            "--report-dir",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        # A safety net against a hung run, not a speed target: a loaded machine took 294 s.
        timeout=900,
    )
    output = result.stdout + result.stderr
    (tmp_path / "schemathesis.log").write_text(output)
    print(output[-3000:])
    assert result.returncode == 0, output[-8000:]
    cases = re.search(r"(\d+) generated", output)
    assert cases and int(cases.group(1)) > 100, output[-2000:]
