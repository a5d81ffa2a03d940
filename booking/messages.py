"""Messages the pure core shows to people, translated only when they are read.

The core (validation.py) marks a message with ``_`` as usual, so `make extract-messages`
finds it, and gets a Message: it becomes text when it is read (``str``), in the language of
the request, through the translation the app installs (i18n.py installs Flask-Babel's
gettext). Outside an app it reads as its English source. No Flask here.
"""

from __future__ import annotations

from collections.abc import Callable

_translate: Callable[[str], str] | None = None


def install(translate: Callable[[str], str]) -> None:
    """The translation every Message goes through when it is read (the app's gettext)."""
    global _translate  # noqa: PLW0603 - one translation for the process, set by the app
    _translate = translate


class Message:
    """A message and its placeholders' values (``%(name)s``), translated when read."""

    __slots__ = ("msgid", "params")

    def __init__(self, msgid: str, **params) -> None:
        self.msgid = msgid
        self.params = params

    def __str__(self) -> str:
        text = self.msgid if _translate is None else _translate(self.msgid)
        return text % self.params if self.params else text

    def __repr__(self) -> str:
        return f"Message({self.msgid!r})"
