"""Compile the translations (.po -> .mo) whenever the package is built.

Everything else about the package is in pyproject.toml. Building a wheel, `pip install .` and
`pip install -e .` all run build_py, so German pages and mails need no `make` step.
"""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py

TRANSLATIONS = Path(__file__).resolve().parent / "booking" / "translations"


def compile_catalogues(folder: Path) -> list[Path]:
    """Write messages.mo beside every messages.po (fuzzy entries included, as `make` does)."""
    written = []
    for po_path in sorted(folder.glob("*/LC_MESSAGES/messages.po")):
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parent.parent.name)
        mo_path = po_path.with_suffix(".mo")
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, catalog, use_fuzzy=True)
        written.append(mo_path)
    return written


class BuildPyWithCatalogues(build_py):
    def run(self):
        compile_catalogues(TRANSLATIONS)
        super().run()


setup(cmdclass={"build_py": BuildPyWithCatalogues})
