"""The message catalogues are complete, current and fit the layout (SPEC "Languages").

No app is needed: the check reads babel.cfg, the templates, the sources and the .po files.
1. Extraction over Python and every template type gives exactly the msgids of messages.pot,
   so a string added without `make extract-messages` fails here.
2. Every language of LANGUAGES has a catalogue; every public message is translated in every
   language, every message in German (English may fall back to the msgid).
3. No fuzzy entries. 4. Placeholders identical to the source.
5. Button labels short enough for one line of a 320 px screen.
Failures name the language and the msgid.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from booking.config import Config

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "booking" / "translations"
POT = TRANSLATIONS / "messages.pot"
LANGUAGES = tuple(Config.LANGUAGES)

# A message is staff/admin-only when ALL its source locations start with one of these;
# those are needed in German and English only. Everything else is public.
STAFF_ONLY_PREFIXES = (
    "templates/staff/",
    "templates/admin/",
    "booking/staff/",
    "booking/admin/",
    "booking/centre_settings.py",
    "booking/service_catalogue.py",
    "booking/accounts.py",
    "booking/settings_checks.py",
    "booking/auth.py",
    "booking/reports.py",
    "booking/audit.py",
    "booking/invitations.py",
    "booking/feeds.py",
    "booking/cli.py",
)
STAFF_LANGUAGES = ("de", "en")

# One line of a button at 320 px: 288 px of content less the button's padding leaves room
# for about 28 characters of Latin, Cyrillic or Arabic script at the page's font size.
BUTTON_BUDGET = 28

PLACEHOLDER = re.compile(r"%\([A-Za-z_][A-Za-z0-9_]*\)[sdif]|%[sdif]|\{[A-Za-z_][A-Za-z0-9_]*\}")
BUTTON_ELEMENT = re.compile(
    r"<button\b[^>]*>(.*?)</button>|<a\b[^>]*class=\"[^\"]*\bbutton\b[^>]*>(.*?)</a>", re.S
)
GETTEXT_CALL = re.compile(r"""\b_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*[,)]""")


def catalogue_path(code: str) -> Path:
    return TRANSLATIONS / code / "LC_MESSAGES" / "messages.po"


def read_catalogue(path: Path):
    with path.open("rb") as handle:
        return read_po(handle)


def msgids(catalog) -> set:
    return {message.id for message in catalog if message.id}


def singular(msgid) -> str:
    return msgid[0] if isinstance(msgid, tuple) else msgid


def is_public(message) -> bool:
    """Public unless every source location is a staff or admin file."""
    locations = [path for path, _line in message.locations]
    return not locations or not all(path.startswith(STAFF_ONLY_PREFIXES) for path in locations)


def placeholders(text: str) -> Counter:
    return Counter(PLACEHOLDER.findall(text.replace("%%", "")))


def translations_of(message) -> list[str]:
    if isinstance(message.string, tuple | list):
        return list(message.string)
    return [message.string]


def button_msgids() -> set[str]:
    """The msgids on buttons (and links styled as buttons) of the pages families use.

    Staff and admin pages are used at a desk and are left out.
    """
    found = set()
    for template in (ROOT / "templates").rglob("*.html"):
        if (
            template.relative_to(ROOT)
            .as_posix()
            .startswith(("templates/staff/", "templates/admin/"))
        ):
            continue
        for match in BUTTON_ELEMENT.finditer(template.read_text(encoding="utf-8")):
            inner = match.group(1) or match.group(2) or ""
            for call in GETTEXT_CALL.finditer(inner):
                found.add(call.group(1) if call.group(1) is not None else call.group(2))
    return found


@pytest.fixture(scope="module")
def pot():
    return read_catalogue(POT)


@pytest.fixture(scope="module")
def catalogues() -> dict:
    return {
        code: read_catalogue(catalogue_path(code))
        for code in LANGUAGES
        if catalogue_path(code).is_file()
    }


def test_messages_pot_matches_the_sources(tmp_path, monkeypatch):
    """Extraction with babel.cfg (Python, html, txt, ics) gives exactly the committed ids."""
    monkeypatch.chdir(ROOT)
    fresh = tmp_path / "messages.pot"
    CommandLineInterface().run(
        [
            "pybabel",
            "--quiet",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "lazy_gettext",
            "-k",
            "_l",
            "-o",
            str(fresh),
            ".",
        ]
    )
    extracted, committed = msgids(read_catalogue(fresh)), msgids(read_catalogue(POT))
    missing = sorted(map(singular, extracted - committed))
    stale = sorted(map(singular, committed - extracted))
    assert not missing and not stale, (
        "booking/translations/messages.pot is out of date; run `make extract-messages`.\n"
        f"not in messages.pot: {missing}\nno longer in the sources: {stale}"
    )


def test_babel_cfg_covers_every_template_type():
    config = (ROOT / "babel.cfg").read_text()
    kinds = {path.suffix for path in (ROOT / "templates").rglob("*") if path.is_file()}
    for suffix in kinds:
        assert f"templates/**{suffix}]" in config, f"babel.cfg does not extract *{suffix}"


@pytest.mark.parametrize("code", LANGUAGES)
def test_language_has_a_catalogue(code):
    assert catalogue_path(code).is_file(), (
        f"{code}: no catalogue at {catalogue_path(code).relative_to(ROOT)} "
        f"(pybabel init -i booking/translations/messages.pot -d booking/translations -l {code})"
    )


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_needed_message_is_translated(code, pot, catalogues):
    if code not in catalogues:
        pytest.skip(f"{code}: no catalogue (test_language_has_a_catalogue fails for it)")
    catalog = catalogues[code]
    problems = []
    for source in pot:
        if not source.id:
            continue
        if code == "en":
            continue  # English may show the msgid itself
        if code not in STAFF_LANGUAGES and not is_public(source):
            continue
        message = catalog.get(source.id, source.context)
        if message is None:
            problems.append(f"{code}: missing {singular(source.id)!r}")
        elif not all(form.strip() for form in translations_of(message)):
            problems.append(f"{code}: not translated {singular(source.id)!r}")
    assert not problems, f"{len(problems)} messages:\n" + "\n".join(problems)


@pytest.mark.parametrize("code", LANGUAGES)
def test_no_fuzzy_entries(code, catalogues):
    if code not in catalogues:
        pytest.skip(f"{code}: no catalogue (test_language_has_a_catalogue fails for it)")
    fuzzy = [f"{code}: fuzzy {singular(m.id)!r}" for m in catalogues[code] if m.id and m.fuzzy]
    assert not fuzzy, "\n".join(fuzzy)


@pytest.mark.parametrize("code", LANGUAGES)
def test_placeholders_match_the_source(code, catalogues):
    if code not in catalogues:
        pytest.skip(f"{code}: no catalogue (test_language_has_a_catalogue fails for it)")
    catalog = catalogues[code]
    problems = []
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            wanted = placeholders(message.id[1])
            forms = [form for form in translations_of(message) if form]
            # A singular form may say "one" instead of the number; the others keep all.
            bad = [f for f in forms[:-1] if not placeholders(f) <= wanted]
            bad += [f for f in forms[-1:] if placeholders(f) != wanted]
        else:
            wanted = placeholders(message.id)
            bad = [f for f in translations_of(message) if f and placeholders(f) != wanted]
        for form in bad:
            problems.append(
                f"{code}: {singular(message.id)!r} has {sorted(placeholders(form).elements())}, "
                f"the source {sorted(wanted.elements())}: {form!r}"
            )
    assert not problems, "\n".join(problems)


def test_buttons_are_found():
    labels = button_msgids()
    # The booking form's submit and the manage page's buttons, at least.
    assert {"Book the appointment", "Choose another time"} <= labels, sorted(labels)


@pytest.mark.parametrize("code", LANGUAGES)
def test_button_labels_fit_a_phone_screen(code, pot, catalogues):
    if code not in catalogues:
        pytest.skip(f"{code}: no catalogue (test_language_has_a_catalogue fails for it)")
    catalog = catalogues[code]
    problems = []
    for msgid in sorted(button_msgids()):
        message = catalog.get(msgid)
        label = message.string if message is not None and message.string else msgid
        if code != "en" and (message is None or not message.string):
            continue  # reported by the completeness check
        if len(label) > BUTTON_BUDGET:
            problems.append(
                f"{code}: button {msgid!r} reads {label!r}: {len(label)} characters, "
                f"more than {BUTTON_BUDGET} fit one line at 320 px"
            )
    assert not problems, "\n".join(problems)
