"""Configuration of the web API: page sizes; the settings are bitgaram's one :class:`Settings`.

The settings are built explicitly (:meth:`Settings.from_env`) and passed to
:func:`bitgaram.api.create_app`; nothing reads the environment at import time.
"""

from __future__ import annotations

from bitgaram.config import Settings

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "Settings"]

#: Largest page any list endpoint returns [rows]. A month of 15-minute data is 2,976 rows.
MAX_PAGE_SIZE = 10_000

#: Page size when the client does not ask for one [rows].
DEFAULT_PAGE_SIZE = 100
