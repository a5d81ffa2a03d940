"""Configuration: Config (from the environment) and TestConfig.

They live in ``booking/config.py`` so that an installed wheel carries them; this module
keeps the top-level name of the checkout's layout.
"""

from booking.config import Config, TestConfig

__all__ = ["Config", "TestConfig"]
