"""Weight and shape of the booking form at phone width (320 px) in German, Arabic and
Leichte Sprache: bytes of HTML and CSS (raw and gzip), page height, horizontal overflow.

Run: .venv/bin/python benchmarks/page_weight.py [--screenshots DIR]
Needs Chromium at /usr/bin/chromium. Uses a throw-away SQLite database with the demo data.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from booking import availability, create_app
from booking.config import TestConfig
from booking.demo import seed_demo
from booking.extensions import db
from booking.models import Centre, Service

LANGUAGES = [("de", "Deutsch"), ("ar", "العربية"), ("de-easy", "Leichte Sprache")]


def first_free_start(app) -> str:
    with app.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "herne"))
        service = db.session.scalar(
            select(Service).where(Service.centre_id == centre.id, Service.slug == "beratung-1")
        )
        now = datetime.now(UTC)
        slots = availability.find_slots(
            centre, service, now.date(), (now + timedelta(days=40)).date(), now
        )
        return slots[0].start_at.isoformat()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--screenshots", type=Path)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="ki-weight-"))
    app = create_app(
        TestConfig,
        instance_path=str(folder),
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{folder / 'weight.sqlite'}",
    )
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        seed_demo()
    start = first_free_start(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    path = "/centres/herne/beratung-1/book?" + urlencode({"start": start})
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
            )
            print("booking form at 320 px: HTML + CSS bytes (gzip), height, overflow")
            for code, name in LANGUAGES:
                context = browser.new_context(viewport={"width": 320, "height": 640})
                page = context.new_page()
                bodies: dict[str, bytes] = {}

                def keep(response, bodies=bodies):
                    if response.request.resource_type in ("document", "stylesheet"):
                        bodies[response.request.resource_type] = response.body()

                page.on("response", keep)
                page.goto(f"{base}{path}&lang={code}")
                page.wait_for_load_state("networkidle")
                html, css = len(bodies["document"]), len(bodies["stylesheet"])
                zipped = sum(len(gzip.compress(b)) for b in bodies.values())
                height, scroll, width, lang, direction = page.evaluate(
                    "[document.documentElement.scrollHeight,"
                    " document.documentElement.scrollWidth, document.documentElement.clientWidth,"
                    " document.documentElement.lang, document.documentElement.dir]"
                )
                print(
                    f"  {name:16} lang={lang} dir={direction}: HTML {html} B + CSS {css} B"
                    f" = {html + css} B ({zipped} B gzip); height {height} px;"
                    f" {'no horizontal scroll' if scroll <= width else f'OVERFLOW {scroll}px'}"
                )
                if args.screenshots:
                    args.screenshots.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(args.screenshots / f"book-{code}.png"), full_page=True)
                context.close()
            browser.close()
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
