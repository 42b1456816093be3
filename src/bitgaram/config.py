"""Settings of a bitgaram process, read once from ``BITGARAM_*`` environment variables.

The settings object is built explicitly by the entry point (CLI command, service
start-up, test fixture) with :meth:`Settings.from_env` and passed down; nothing
in bitgaram reads the environment or builds settings at import time, so tests
construct the :class:`Settings` they need instead of patching globals.

==========================  ==============================  ============================
Variable                    Field                           Default
==========================  ==============================  ============================
``BITGARAM_DATABASE_URL``   :attr:`Settings.database_url`   ``None`` (``bitgaram.duckdb``)
``BITGARAM_DATABASE_SCHEMA`` :attr:`Settings.database_schema` ``None`` (``public``)
``BITGARAM_SITE``           :attr:`Settings.site_file`      ``None``
==========================  ==============================  ============================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Prefix of every environment variable bitgaram reads.
ENV_PREFIX = "BITGARAM_"

#: Embedded store used when no database URL is given.
DEFAULT_STORE_PATH = Path("bitgaram.duckdb")


@dataclass(frozen=True)
class Settings:
    """Process-wide settings.

    Attributes
    ----------
    database_url : str or None
        Where the store lives: a file path or ``duckdb:///path`` (embedded
        DuckDB) or ``postgresql://user@host:port/db`` (PostgreSQL). ``None``
        means :data:`DEFAULT_STORE_PATH` in the working directory.
    database_schema : str or None
        PostgreSQL schema holding bitgaram's tables (``None``: ``public``, or
        the ``schema`` query parameter of the URL). Ignored by DuckDB.
    site_file : pathlib.Path or None
        Default site file (TOML) for commands that need one.
    """

    database_url: str | None = None
    database_schema: str | None = None
    site_file: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``BITGARAM_*`` variables.

        Parameters
        ----------
        environ : mapping, optional
            Variables to read (default: :data:`os.environ`). Empty values count
            as unset.

        Returns
        -------
        Settings

        Examples
        --------
        >>> Settings.from_env({"BITGARAM_DATABASE_URL": "park.duckdb"}).database_url
        'park.duckdb'
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name, "").strip()
            return value or None

        site = get("SITE")
        return cls(
            database_url=get("DATABASE_URL"),
            database_schema=get("DATABASE_SCHEMA"),
            site_file=Path(site) if site else None,
        )
