"""What a booking asks of the person who holds it: the one place of the language rule.

SPEC "Bookings": when the family names a language, only counsellors who speak it are
offered; when it asks for an interpreter instead, anyone (the need is recorded). A ``Need``
is built once, from a request (``Need(language, interpreter_language)``) or a booking
(``Need.of_booking``), and asked by every path: the slot search (booking/slots.py takes
``need.spoken``), booking, moving, handing over, the colleagues free to take over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def primary_subtag(language: str) -> str:
    """The lower-case primary subtag of a BCP 47 tag: "tr-TR" -> "tr"."""
    return language.replace("_", "-").split("-", 1)[0].strip().lower()


def speaks(languages: Iterable[str], language: str) -> bool:
    """Whether someone speaking ``languages`` speaks ``language`` (primary subtags)."""
    wanted = primary_subtag(language)
    return any(primary_subtag(spoken) == wanted for spoken in languages)


@dataclass(frozen=True)
class Need:
    """The family's language and the interpreter's, as asked or as recorded."""

    language: str | None = None
    interpreter_language: str | None = None

    @classmethod
    def of_booking(cls, booking) -> Need:
        """The need a booking recorded (its family's language and interpreter)."""
        return cls(booking.language, booking.interpreter_language)

    @property
    def spoken(self) -> str | None:
        """The language the holder must speak: the family's, unless an interpreter comes."""
        if self.interpreter_language:
            return None
        return self.language or None

    def is_met_by(self, languages: Iterable[str] | None) -> bool:
        """Whether someone speaking ``languages`` may take the booking."""
        return self.spoken is None or speaks(languages or (), self.spoken)
