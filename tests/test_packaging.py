"""The installed package (a wheel) finds its templates, migrations and translations."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

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
    print("wheel ok")
    """
)


def test_wheel_finds_templates_migrations_and_translations(tmp_path):
    wheel_dir = tmp_path / "wheel"
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
            str(ROOT),
        ],
        check=True,
        cwd=tmp_path,
        capture_output=True,
    )
    (wheel,) = wheel_dir.glob("ki_booking-*.whl")
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(installed)
    assert "booking/templates/base.html" in names
    assert "booking/migrations/env.py" in names
    assert any(n.startswith("booking/migrations/versions/0001") for n in names)
    # Every catalogue of the checkout travels, compiled, the "@" of de@easy included.
    for po in (ROOT / "booking" / "translations").glob("*/LC_MESSAGES/messages.po"):
        folder = po.parent.relative_to(ROOT).as_posix()
        assert f"{folder}/messages.po" in names and f"{folder}/messages.mo" in names, folder
    for data in (ROOT / "booking" / "data" / "service-names").glob("*.json"):
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
