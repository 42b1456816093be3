"""Settings of a bitgaram process, read once from ``BITGARAM_*`` environment variables.

One :class:`Settings` for every entry point (CLI commands, the collector, the
web API, fleet workers). It is built explicitly by the entry point with
:meth:`Settings.from_env` (or constructed by a test) and passed down; nothing
in bitgaram reads the environment or builds settings at import time, so tests
construct the :class:`Settings` they need instead of patching globals.

Each field is read from ``BITGARAM_<FIELD>`` (``BITGARAM_SITE_ID``,
``BITGARAM_VIEW_CACHE_SECONDS`` ...), except :attr:`Settings.site_file`, read
from ``BITGARAM_SITE``. Empty values count as unset.

==============================  =================================  ============================
Variable                        Field                              Default
==============================  =================================  ============================
``BITGARAM_DATABASE_URL``       :attr:`Settings.database_url`      ``None`` (``bitgaram.duckdb``)
``BITGARAM_DATABASE_SCHEMA``    :attr:`Settings.database_schema`   ``None`` (``public``)
``BITGARAM_SITE``               :attr:`Settings.site_file`         ``None``
``BITGARAM_SITE_ID``            :attr:`Settings.site_id`           ``None`` (the only site)
``BITGARAM_VIEW_CACHE_SECONDS`` :attr:`Settings.view_cache_seconds` ``10``
==============================  =================================  ============================

(the web API's other fields are listed on :class:`Settings`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bitgaram.errors import ConfigError, validation_message

#: Prefix of every environment variable bitgaram reads.
ENV_PREFIX = "BITGARAM_"

#: Embedded store used when no database URL is given.
DEFAULT_STORE_PATH = Path("bitgaram.duckdb")

#: Fields read from a variable not named after them.
_ENV_NAMES = {"site_file": "SITE"}


def env_name(field: str) -> str:
    """The environment variable of a :class:`Settings` field.

    Examples
    --------
    >>> env_name("site_id"), env_name("site_file")
    ('BITGARAM_SITE_ID', 'BITGARAM_SITE')
    """
    return ENV_PREFIX + _ENV_NAMES.get(field, field.upper())


class Settings(BaseModel):
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
    site_id : str or None
        Which stored site the web API serves (None: the only stored site).
    session_cookie : str
        Name of the HttpOnly cookie holding the browser's session token.
    session_hours : float
        Lifetime of a browser session token [h].
    cookie_secure : bool
        Send the session cookie over HTTPS only (set True behind TLS).
    benchmark_min_group : int
        Fewest comparable tenants (the asking tenant included) before a
        benchmark percentile is shown; below it nothing is shown.
    auth_cache_seconds : float
        How long a verified token is remembered in memory [s], so the salted
        hash is not recomputed on every request; revocation clears it at once.
    view_cache_seconds : float
        How long computed dashboard views (park overview, tenant summary,
        benchmark), readings pages and the end of the data are reused at most
        [s]; any write through the app's store renews them at once; 0 disables.
    login_max_failures : int
        Failed logins or token checks allowed per client within
        ``login_window_seconds``; further attempts answer 429 with
        ``Retry-After`` (0 disables the limit).
    login_window_seconds : float
        The sliding window of ``login_max_failures`` [s].
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str | None = None
    database_schema: str | None = None
    site_file: Path | None = None
    site_id: str | None = None
    session_cookie: str = "bitgaram_session"
    session_hours: float = Field(default=12.0, gt=0)
    cookie_secure: bool = False
    benchmark_min_group: int = Field(default=5, ge=2)
    auth_cache_seconds: float = Field(default=60.0, ge=0)
    view_cache_seconds: float = Field(default=10.0, ge=0)
    login_max_failures: int = Field(default=10, ge=0)
    login_window_seconds: float = Field(default=60.0, gt=0)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``BITGARAM_*`` variables.

        Parameters
        ----------
        environ : mapping, optional
            Variables to read (default: :data:`os.environ`). Empty values count
            as unset; other variables are ignored.

        Returns
        -------
        Settings

        Raises
        ------
        ConfigError
            If a variable holds a value of the wrong type (the message names
            the variable).

        Examples
        --------
        >>> Settings.from_env({"BITGARAM_DATABASE_URL": "park.duckdb"}).database_url
        'park.duckdb'
        """
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for name in cls.model_fields:
            value = env.get(env_name(name), "").strip()
            if value:
                values[name] = value
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(validation_message(exc, "", name=env_name)) from exc
