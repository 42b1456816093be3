"""One settings object for the web API, read from ``BITGARAM_*`` environment variables.

The settings are built explicitly (:meth:`Settings.from_env`) and passed to
:func:`bitgaram.api.create_app`; nothing reads the environment at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bitgaram.errors import ConfigError

#: Largest page any list endpoint returns [rows]. A month of 15-minute data is 2,976 rows.
MAX_PAGE_SIZE = 10_000

#: Page size when the client does not ask for one [rows].
DEFAULT_PAGE_SIZE = 100


class Settings(BaseModel):
    """Settings of the web API.

    Attributes
    ----------
    site_id : str or None
        Which stored site the API serves (None: the only stored site).
    session_cookie : str
        Name of the HttpOnly cookie holding the browser's session token.
    session_hours : float
        Lifetime of a browser session token [h].
    cookie_secure : bool
        Always mark the session cookie ``Secure``. Without it the cookie is
        ``Secure`` whenever the request came over HTTPS, directly or through
        one of ``trusted_proxies``.
    trusted_proxies : str
        Comma-separated addresses of reverse proxies whose
        ``X-Forwarded-Proto`` header is believed (empty: none).
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
        Failed logins or token checks allowed per credential (user name or
        token id) and per client address within ``login_window_seconds``;
        further failing attempts answer 429 with ``Retry-After`` (0 disables
        the limit). A valid token is never refused.
    login_window_seconds : float
        The sliding window of ``login_max_failures`` [s].
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    site_id: str | None = None
    session_cookie: str = "bitgaram_session"
    session_hours: float = Field(default=12.0, gt=0)
    cookie_secure: bool = False
    trusted_proxies: str = ""
    benchmark_min_group: int = Field(default=5, ge=2)
    auth_cache_seconds: float = Field(default=60.0, ge=0)
    view_cache_seconds: float = Field(default=10.0, ge=0)
    login_max_failures: int = Field(default=10, ge=0)
    login_window_seconds: float = Field(default=60.0, gt=0)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``BITGARAM_<FIELD>`` variables (e.g. ``BITGARAM_SITE_ID``).

        Parameters
        ----------
        environ : mapping, optional
            The environment to read (default: :data:`os.environ`).

        Raises
        ------
        ConfigError
            If a variable holds a value of the wrong type.
        """
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for name in cls.model_fields:
            key = f"BITGARAM_{name.upper()}"
            if key in env:
                values[name] = env[key]
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            lines = [
                f"BITGARAM_{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                for e in exc.errors()
            ]
            raise ConfigError("\n".join(lines)) from exc
