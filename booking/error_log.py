"""How an error is logged: by its class and where it happened, never by its text (pure)."""

from __future__ import annotations

import logging
import traceback


def log_error(logger: logging.Logger, error: BaseException, message: str, *args) -> None:
    """Log an error by its class and where it happened, never by its text: the text can
    hold what a person typed (an address, a name), and logs keep no personal data."""
    frames = "".join(traceback.format_tb(error.__traceback__))
    logger.error(message + ": %s\n%s", *args, type(error).__name__, frames.rstrip())
