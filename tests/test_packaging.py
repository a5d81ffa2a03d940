"""The installed package (a wheel) finds its templates, migrations and translations."""

from __future__ import annotations

import email
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from email import policy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHECK = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import booking
    from booking import create_app
    from booking.config import TestConfig
    from booking.paths import MIGRATIONS_DIR, TEMPLATES_DIR

    installed = Path(sys.argv[1])
    assert Path(booking.__file__).is_relative_to(installed), booking.__file__
    assert TEMPLATES_DIR.is_relative_to(installed) and (TEMPLATES_DIR / "base.html").is_file()
    assert MIGRATIONS_DIR.is_relative_to(installed) and (MIGRATIONS_DIR / "env.py").is_file()

    db_file = installed.parent / "wheel.sqlite"
    app = create_app(TestConfig, instance_path=str(installed.parent / "instance"),
                     SQLALCHEMY_DATABASE_URI=f"sqlite:///{db_file}")
    from flask_migrate import upgrade
    from booking.demo import seed_demo
    with app.app_context():
        upgrade()
        seed_demo()
    html = app.test_client().get("/").get_data(as_text=True)
    assert "Kommunales Integrationszentrum Herne" in html, html[:300]
    assert "Öffnungszeiten" in html, "German catalogue missing from the wheel"
    english = app.test_client().get("/centres/herne?lang=en").get_data(as_text=True)
    assert "Advice on day care" in english, "service names of data/service-names missing"
    arabic = app.test_client().get("/centres/herne?lang=ar").get_data(as_text=True)
    assert "شهادات طفلكم" in arabic, "service texts of data/service-texts missing"
    print("wheel ok")
    """
)


# What a checkout holds that a build must not depend on: compiled catalogues above all.
NOT_SOURCE = shutil.ignore_patterns(
    "*.mo", ".venv", ".git", "instance", "build", "dist", "*.egg-info", "__pycache__", ".*cache"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the checkout without any compiled .mo file."""
    source = tmp_path_factory.mktemp("source") / "ki-booking"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    assert not list(source.rglob("*.mo"))
    wheel_dir = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheel_dir),
            str(source),
        ],
        check=True,
        cwd=wheel_dir,
        capture_output=True,
    )
    (built,) = wheel_dir.glob("ki_booking-*.whl")
    return built


def test_wheel_finds_templates_migrations_and_translations(tmp_path, wheel):
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(installed)
    assert "booking/templates/base.html" in names
    assert "booking/migrations/env.py" in names
    assert any(n.startswith("booking/migrations/versions/0001") for n in names)
    # The build compiled the catalogues: no `make translations` ran on this copy.
    assert "booking/translations/de/LC_MESSAGES/messages.mo" in names
    # Every catalogue of the checkout travels, compiled, the "@" of de@easy included.
    for po in (ROOT / "booking" / "translations").glob("*/LC_MESSAGES/messages.po"):
        folder = po.parent.relative_to(ROOT).as_posix()
        assert f"{folder}/messages.po" in names and f"{folder}/messages.mo" in names, folder
    for folder in ("service-names", "service-texts"):
        for data in (ROOT / "booking" / "data" / folder).glob("*.json"):
            assert data.relative_to(ROOT).as_posix() in names, data.name
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(installed)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "wheel ok" in result.stdout


BOOK_ONE = textwrap.dedent(
    """
    from datetime import date, timedelta
    from wsgi import app

    client = app.test_client()
    home = client.get("/").get_data(as_text=True)
    assert "Öffnungszeiten" in home, home[:300]
    today = date.today()
    slots = client.get(
        "/api/v1/centres/herne/slots",
        query_string={"service": "beratung-1", "from": today.isoformat(),
                      "to": (today + timedelta(days=30)).isoformat()},
    ).get_json()["slots"]
    created = client.post(
        "/api/v1/centres/herne/bookings",
        json={"service": "beratung-1", "start": slots[0]["start"], "name": "Ayşe Öztürk",
              "email": "ayse@example.org", "consent": True},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    manage = client.get(created.get_json()["manage_url"]).get_data(as_text=True)
    assert "<dt>Buchungsnummer</dt>" in manage, manage[:500]
    print("booked", created.get_json()["reference"])
    """
)

GERMAN_DATE = re.compile(
    r"Wann: (Montag|Dienstag|Mittwoch|Donnerstag|Freitag), \d{1,2}\. "
    r"(Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember) "
    r"\d{4}, \d\d:\d\d–\d\d:\d\d"
)


@pytest.mark.slow
def test_the_wheel_in_a_fresh_virtualenv_speaks_german_without_make(tmp_path, wheel):
    """pip install of the wheel, then the operator's commands: German pages and mails."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env["PATH"] = f"{venv / 'bin'}:/usr/bin:/bin"
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]

    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(ROOT / "wsgi.py", site / "wsgi.py")
    env.update(
        INSTANCE_PATH=str(site / "instance"),
        DATABASE_URL=f"sqlite:///{site / 'ki.sqlite'}",
        OUTBOX_SEND_AFTER_COMMIT="inline",
        SECRET_KEY="wheel-test-" + "k" * 40,
    )
    env.pop("MAIL_SERVER", None)
    flask = str(venv / "bin" / "flask")
    for command in (["db", "upgrade"], ["seed-demo", "--no-bookings"]):
        done = subprocess.run(
            [flask, "--app", "wsgi", *command], cwd=site, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
    booked = subprocess.run(
        [str(venv / "bin" / "python"), "-c", BOOK_ONE],
        cwd=site,
        env=env,
        capture_output=True,
        text=True,
    )
    assert booked.returncode == 0, booked.stderr[-2000:]
    assert "booked" in booked.stdout

    (eml,) = (site / "instance" / "mail").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Guten Tag Ayşe Öztürk," in text, text
    assert message["Subject"].startswith("Ihr Termin"), message["Subject"]
    assert GERMAN_DATE.search(text), text
    assert "Hello" not in text and "When" not in text
