"""Messages the pure core shows to people, translated only when they are read.

The core (validation.py) marks a message with ``_`` as usual, so `make extract-messages`
finds it, and gets a Message: it becomes text when it is read (``str``), in the language of
the request, through the translation the app installs (i18n.py installs Flask-Babel's
gettext). Outside an app it reads as its English source. No Flask here.
"""

from __future__ import annotations

from collections.abc import Callable

_translate: Callable[[str], str] | None = None
_translate_plural: Callable[[str, str, int], str] | None = None


def install(translate: Callable[[str], str], translate_plural: Callable[..., str]) -> None:
    """The translations every Message goes through when it is read (the app's gettext and
    ngettext)."""
    global _translate, _translate_plural  # noqa: PLW0603 - one for the process, set by the app
    _translate, _translate_plural = translate, translate_plural


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


class PluralMessage:
    """A message with a singular and a plural form, chosen by ``num`` when read."""

    __slots__ = ("num", "params", "plural", "singular")

    def __init__(self, singular: str, plural: str, num: int, **params) -> None:
        self.singular, self.plural, self.num = singular, plural, num
        self.params = {"num": num, **params}

    def __str__(self) -> str:
        if _translate_plural is None:
            text = self.singular if self.num == 1 else self.plural
        else:
            text = _translate_plural(self.singular, self.plural, self.num)
        return text % self.params


def ngettext(singular: str, plural: str, num: int, **params) -> PluralMessage:
    """Marks a message with a plural form (pybabel extracts ``ngettext``)."""
    return PluralMessage(singular, plural, num, **params)
