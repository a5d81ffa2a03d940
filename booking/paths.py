"""Where the top-level templates/ and migrations/ are, in a checkout and in a wheel."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_DIR = PACKAGE_DIR.parent


def _find(name: str) -> Path:
    # A wheel carries the folder inside the package; a checkout has it beside the package.
    inside = PACKAGE_DIR / name
    if inside.is_dir():
        return inside
    return CHECKOUT_DIR / name


TEMPLATES_DIR = _find("templates")
MIGRATIONS_DIR = _find("migrations")
