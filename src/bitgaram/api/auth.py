"""API users, roles and tokens, hashed at rest with a salted scrypt hash.

Two small tables live next to the store's own tables, on the store's
connection (or any DB-API connection that takes ``?`` placeholders, such as
DuckDB or :mod:`sqlite3`):

- ``api_users(name, role, tenant_id, password_salt, password_hash, created_at, site_id, uid)``
- ``api_tokens(token_id, user_name, salt, hash, label, created_at, expires_at, revoked,
  user_id)``
- ``api_auth_version(id, version)``: one counter, raised by every revocation

A token belongs to the user's ``uid`` (random, never reused), not its name: a
user deleted and created again under the same name does not get the old
tokens back. Deleting a user or changing its role or tenant revokes its
tokens at once, in this process and, through ``api_auth_version`` (read at
most every :data:`REVOCATION_CHECK_SECONDS`), in every other process sharing
the database (the CLI revokes, the server stops accepting).

A token reads ``bg_<token_id>_<secret>``. Only ``token_id`` is stored in
clear (to find the row); the secret is stored as ``scrypt(secret, salt)``, so
a copy of the database does not let anyone call the API. Browser sessions are
ordinary tokens with a short lifetime, issued by :meth:`TokenStore.login`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from bitgaram.api.errors import NotAuthenticatedError
from bitgaram.errors import ConfigError

# scrypt cost for passwords: 16 MiB of memory and ~0.1 s per hash (RFC 7914
# interactive parameters), because people choose guessable passwords.
_SCRYPT_N = 2**14
# Token secrets are 256 random bits: no cost factor makes guessing them any
# harder, so tokens use a cheap (still salted, one-way) scrypt and the API
# stays fast when a token is first seen. Verified tokens are also cached.
_TOKEN_SCRYPT_N = 2**8
_SCRYPT_R = 8
_SCRYPT_P = 1
_HASH_BYTES = 32
_SALT_BYTES = 16
_TOKEN_PREFIX = "bg"

#: Longest time a token revoked by another process (the CLI) may still be
#: answered from this process's cache [s].
REVOCATION_CHECK_SECONDS = 1.0

_DDL = (
    """
    CREATE TABLE IF NOT EXISTS api_users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        tenant_id TEXT,
        password_salt TEXT,
        password_hash TEXT,
        created_at TEXT NOT NULL,
        site_id TEXT
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS api_tokens (
        token_id TEXT PRIMARY KEY,
        user_name TEXT NOT NULL,
        salt TEXT NOT NULL,
        hash TEXT NOT NULL,
        label TEXT,
        created_at TEXT NOT NULL,
        expires_at TEXT,
        revoked INTEGER NOT NULL DEFAULT 0
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS api_auth_version (
        id INTEGER PRIMARY KEY,
        version INTEGER NOT NULL
    )
    """,
)

#: Columns added after the first release: (table, column); filled by :meth:`TokenStore.migrate`.
_ADDED_COLUMNS = (("api_users", "site_id"), ("api_users", "uid"), ("api_tokens", "user_id"))


class Role(StrEnum):
    """What a user may see and do."""

    #: The park operator: every tenant, read and write.
    OPERATOR = "operator"
    #: A tenant company's manager: its own tenant only, read and write.
    TENANT_MANAGER = "tenant_manager"
    #: Read-only; limited to one tenant when ``tenant_id`` is set, else the whole park.
    VIEWER = "viewer"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request.

    Attributes
    ----------
    user : str
        User name.
    role : Role
        The user's role.
    tenant_id : str or None
        The one tenant the caller is limited to (None: all tenants).
    token_id : str
        Id of the token used (to log out / revoke it).
    site_id : str or None
        The one site the caller is bound to (None: every site served). A
        tenant's id means something only within its site.
    """

    user: str
    role: Role
    tenant_id: str | None
    token_id: str
    site_id: str | None = None

    @property
    def can_write(self) -> bool:
        """Whether the caller may change data (viewers may not)."""
        return self.role is not Role.VIEWER

    @property
    def sees_all_tenants(self) -> bool:
        """Whether the caller sees the whole park."""
        return self.tenant_id is None


@dataclass(frozen=True)
class User:
    """A stored API user (without secrets)."""

    name: str
    role: Role
    tenant_id: str | None
    site_id: str | None = None


@dataclass(frozen=True)
class TokenInfo:
    """A stored token, without its secret (``bitgaram tokens list``).

    Attributes
    ----------
    token_id : str
        The id in ``bg_<token_id>_<secret>``.
    user : str
        Name of the user it belongs to.
    label : str
        What it is for (``api``, ``session``).
    created_at, expires_at : str
        ISO 8601 times (``expires_at`` None: until revoked).
    revoked : bool
    """

    token_id: str
    user: str
    label: str
    created_at: str
    expires_at: str | None
    revoked: bool


class _Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """The part of a DB-API connection the token store uses (DuckDB, sqlite3)."""

    def execute(self, query: str, parameters: Sequence[Any] = ..., /) -> Any: ...


def hash_secret(secret: str, salt: bytes, cost: int = _SCRYPT_N) -> bytes:
    """Salted scrypt hash of a token secret or password.

    Parameters
    ----------
    secret : str
        The secret in clear.
    salt : bytes
        A random per-secret salt.
    cost : int
        scrypt's CPU/memory cost ``n`` (a power of two).

    Returns
    -------
    bytes
        The 32-byte hash.
    """
    return hashlib.scrypt(
        secret.encode("utf-8"),
        salt=salt,
        n=cost,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        maxmem=64 * 1024 * 1024,
        dklen=_HASH_BYTES,
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _check_role(role: Role, tenant_id: str | None) -> None:
    if role is Role.OPERATOR and tenant_id is not None:
        raise ConfigError("an operator sees all tenants: give no tenant for role 'operator'")
    if role is Role.TENANT_MANAGER and tenant_id is None:
        raise ConfigError("role 'tenant_manager' needs the tenant it manages (--tenant)")


class TokenStore:
    """Users and hashed tokens kept in two tables on a database connection.

    Parameters
    ----------
    connection : Connection
        A DB-API connection taking ``?`` placeholders (the DuckDB store's own
        connection, or :func:`sqlite3.connect`). Calls are serialised with a
        lock, because such connections are not safe to share between threads.
    cache_seconds : float
        How long a verified token is remembered in memory [s].
    placeholder : str
        The driver's bound-parameter marker (``"?"``; ``"%s"`` for psycopg).
    """

    def __init__(
        self, connection: Connection, cache_seconds: float = 60.0, placeholder: str = "?"
    ) -> None:
        self._con = connection
        self._placeholder = placeholder
        self._lock = threading.Lock()
        self._cache_seconds = cache_seconds
        # sha256(token) -> (principal, monotonic expiry of the cache entry)
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._version: int | None = None
        self._version_checked = float("-inf")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        sql = sql.replace("?", self._placeholder)
        with self._lock:
            cursor = self._con.execute(sql, list(params))
            rows = cursor.fetchall() if cursor is not None else []
            return list(rows)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        sql = sql.replace("?", self._placeholder)
        with self._lock:
            self._con.execute(sql, list(params))
            commit = getattr(self._con, "commit", None)
            if callable(commit):
                commit()

    def migrate(self) -> None:
        """Create the tables if they do not exist, add later columns (idempotent)."""
        for ddl in _DDL:
            self._execute(ddl)
        for table, column in _ADDED_COLUMNS:
            try:
                self._query(f"SELECT {column} FROM {table} WHERE 1 = 0")
            except Exception:
                self._rollback()
                self._execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
        for (name,) in self._query("SELECT name FROM api_users WHERE uid IS NULL"):
            self._execute("UPDATE api_users SET uid = ? WHERE name = ?", [_new_uid(), name])
        self._execute(
            "UPDATE api_tokens SET user_id = (SELECT uid FROM api_users u"
            " WHERE u.name = api_tokens.user_name) WHERE user_id IS NULL"
        )
        if not self._query("SELECT 1 FROM api_auth_version WHERE id = 1"):
            self._execute("INSERT INTO api_auth_version VALUES (1, 0)")

    def _rollback(self) -> None:
        rollback = getattr(self._con, "rollback", None)
        if callable(rollback):
            with self._lock, contextlib.suppress(Exception):  # nothing to roll back
                rollback()

    def _bump_version(self) -> None:
        """Tell every process sharing the database that tokens were revoked."""
        self._execute("UPDATE api_auth_version SET version = version + 1 WHERE id = 1")
        self._cache = {}

    def _sync_revocations(self) -> None:
        """Forget cached tokens if another process revoked any (checked at most every second)."""
        now = time.monotonic()
        if now - self._version_checked < REVOCATION_CHECK_SECONDS:
            return
        rows = self._query("SELECT version FROM api_auth_version WHERE id = 1")
        version = int(rows[0][0]) if rows else 0
        if self._version is not None and version != self._version:
            self._cache = {}
        self._version, self._version_checked = version, now

    # -- users -------------------------------------------------------------------
    def add_user(
        self,
        name: str,
        role: Role | str,
        tenant_id: str | None = None,
        password: str | None = None,
        site_id: str | None = None,
    ) -> User:
        """Create a user, bound to one site (``site_id``) or to every site served (None).

        A user limited to a tenant should be bound to that tenant's site: once
        the store holds several sites, the API refuses a tenant-limited user
        bound to none.

        Raises
        ------
        ConfigError
            If the name is taken or the role and tenant do not fit together.
        """
        role = Role(role)
        _check_role(role, tenant_id)
        if not name or len(name) > 100 or _has_control(name):
            raise ConfigError("a user name is 1 to 100 printable characters")
        if self._query("SELECT 1 FROM api_users WHERE name = ?", [name]):
            raise ConfigError(f"user {name!r} already exists")
        salt_hex: str | None = None
        hash_hex: str | None = None
        if password is not None:
            salt = secrets.token_bytes(_SALT_BYTES)
            salt_hex, hash_hex = salt.hex(), hash_secret(password, salt).hex()
        self._execute(
            "INSERT INTO api_users (name, role, tenant_id, password_salt, password_hash,"
            " created_at, site_id, uid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                name,
                role.value,
                tenant_id,
                salt_hex,
                hash_hex,
                _now().isoformat(),
                site_id,
                _new_uid(),
            ],
        )
        return User(name, role, tenant_id, site_id)

    def delete_user(self, name: str) -> int:
        """Delete a user and revoke every token it holds, at once.

        Returns
        -------
        int
            Tokens revoked.

        Raises
        ------
        ConfigError
            If there is no such user.
        """
        uid = self._uid(name)
        revoked = self._revoke_user_tokens(uid)
        self._execute("DELETE FROM api_users WHERE uid = ?", [uid])
        self._bump_version()
        return revoked

    def change_user(
        self, name: str, role: Role | str | None = None, tenant_id: str | None = None
    ) -> User:
        """Change a user's role and tenant; its tokens are revoked at once (issue new ones).

        Raises
        ------
        ConfigError
            If there is no such user or the role and tenant do not fit together.
        """
        current = self.get_user(name)
        new_role = current.role if role is None else Role(role)
        _check_role(new_role, tenant_id)
        uid = self._uid(name)
        self._execute(
            "UPDATE api_users SET role = ?, tenant_id = ? WHERE uid = ?",
            [new_role.value, tenant_id, uid],
        )
        self._revoke_user_tokens(uid)
        self._bump_version()
        return User(name, new_role, tenant_id, current.site_id)

    def _uid(self, name: str) -> str:
        rows = self._query("SELECT uid FROM api_users WHERE name = ?", [name])
        if not rows:
            raise ConfigError(f"no user {name!r}")
        return str(rows[0][0])

    def _revoke_user_tokens(self, uid: str) -> int:
        live = self._query(
            "SELECT count(*) FROM api_tokens WHERE user_id = ? AND revoked = 0", [uid]
        )
        self._execute("UPDATE api_tokens SET revoked = 1 WHERE user_id = ?", [uid])
        return int(live[0][0])

    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        """Stored tokens (never their secrets), oldest first; of one user when given."""
        sql = (
            "SELECT t.token_id, u.name, t.label, t.created_at, t.expires_at, t.revoked"
            " FROM api_tokens t JOIN api_users u ON u.uid = t.user_id"
        )
        params: list[Any] = []
        if user is not None:
            sql += " WHERE u.name = ?"
            params.append(user)
        rows = self._query(sql + " ORDER BY t.created_at, t.token_id", params)
        return [TokenInfo(r[0], r[1], r[2] or "", r[3], r[4], bool(r[5])) for r in rows]

    def get_user(self, name: str) -> User:
        """The user with this name; ConfigError if unknown."""
        rows = self._query(
            "SELECT name, role, tenant_id, site_id FROM api_users WHERE name = ?", [name]
        )
        if not rows:
            raise ConfigError(f"no user {name!r}")
        return User(rows[0][0], Role(rows[0][1]), rows[0][2], rows[0][3])

    def list_users(self) -> list[User]:
        """All users, by name."""
        rows = self._query("SELECT name, role, tenant_id, site_id FROM api_users ORDER BY name")
        return [User(r[0], Role(r[1]), r[2], r[3]) for r in rows]

    # -- tokens ------------------------------------------------------------------
    def issue_token(self, user: str, label: str = "api", ttl: timedelta | None = None) -> str:
        """Create a token for ``user`` and return it in clear (the only time it is seen).

        Parameters
        ----------
        user : str
            An existing user name.
        label : str
            What the token is for ("api", "session", ...).
        ttl : datetime.timedelta, optional
            Lifetime; None for a token that lasts until revoked.
        """
        uid = self._uid(user)
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(_SALT_BYTES)
        now = _now()
        expires = (now + ttl).isoformat() if ttl is not None else None
        self._execute(
            "INSERT INTO api_tokens (token_id, user_name, salt, hash, label, created_at,"
            " expires_at, revoked, user_id) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
            [
                token_id,
                user,
                salt.hex(),
                hash_secret(secret, salt, _TOKEN_SCRYPT_N).hex(),
                label,
                now.isoformat(),
                expires,
                uid,
            ],
        )
        return f"{_TOKEN_PREFIX}_{token_id}_{secret}"

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified within ``cache_seconds``, else None.

        A memory look-up only (no database, no hash): lets an event loop
        answer known tokens without handing the request to a thread.
        """
        if time.monotonic() - self._version_checked >= REVOCATION_CHECK_SECONDS:
            return None  # time to look for revocations by other processes (authenticate)
        hit = self._cache.get(hashlib.sha256(token.encode("utf-8")).hexdigest())
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return None

    def authenticate(self, token: str) -> Principal:
        """The principal a token stands for.

        Raises
        ------
        NotAuthenticatedError
            If the token is malformed, unknown, revoked, expired or wrong.
        """
        self._sync_revocations()
        key = hashlib.sha256(token.encode("utf-8")).hexdigest()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        parts = token.split("_", 2)
        if (
            len(parts) != 3
            or parts[0] != _TOKEN_PREFIX
            or not parts[1]
            or not parts[2]
            or _has_control(token)
        ):
            raise NotAuthenticatedError("malformed token: expected 'bg_<id>_<secret>'")
        token_id, secret = parts[1], parts[2]
        rows = self._query(
            "SELECT t.salt, t.hash, t.expires_at, t.revoked, u.name, u.role, u.tenant_id,"
            " u.site_id "
            "FROM api_tokens t JOIN api_users u ON u.uid = t.user_id WHERE t.token_id = ?",
            [token_id],
        )
        if not rows:
            raise NotAuthenticatedError("unknown or revoked token")
        salt_hex, hash_hex, expires_at, revoked, name, role, tenant_id, site_id = rows[0]
        computed = hash_secret(secret, bytes.fromhex(salt_hex), _TOKEN_SCRYPT_N).hex()
        if not hmac.compare_digest(computed, hash_hex):
            raise NotAuthenticatedError("unknown or revoked token")
        if revoked:
            raise NotAuthenticatedError("unknown or revoked token")
        if expires_at is not None and datetime.fromisoformat(expires_at) <= _now():
            raise NotAuthenticatedError("token expired: log in again")
        principal = Principal(name, Role(role), tenant_id, token_id, site_id)
        if self._cache_seconds > 0:
            expiry = time.monotonic() + self._cache_seconds
            if expires_at is not None:
                left = (datetime.fromisoformat(expires_at) - _now()).total_seconds()
                expiry = min(expiry, time.monotonic() + left)
            self._cache[key] = (principal, expiry)
        return principal

    def revoke(self, token_id: str) -> None:
        """Revoke one token; it stops working at once here, within a second elsewhere.

        Raises
        ------
        ConfigError
            If there is no such token.
        """
        if not self._query("SELECT 1 FROM api_tokens WHERE token_id = ?", [token_id]):
            raise ConfigError(f"no token {token_id!r} (see 'bitgaram tokens list')")
        self._execute("UPDATE api_tokens SET revoked = 1 WHERE token_id = ?", [token_id])
        self._cache = {k: v for k, v in self._cache.items() if v[0].token_id != token_id}
        self._bump_version()

    def login(self, user: str, password: str, ttl: timedelta) -> str:
        """Check a user's password and issue a session token lasting ``ttl``.

        Raises
        ------
        NotAuthenticatedError
            If the user is unknown, has no password, or the password is wrong
            (one message for all three).
        """
        rows = (
            []
            if _has_control(user)  # no user has one; PostgreSQL could not even compare it
            else self._query(
                "SELECT password_salt, password_hash FROM api_users WHERE name = ?", [user]
            )
        )
        if not rows or rows[0][0] is None:
            # Spend the same time as a real check so timing does not reveal user names.
            hash_secret(password, b"\0" * _SALT_BYTES)
            raise NotAuthenticatedError("wrong user name or password")
        salt_hex, hash_hex = rows[0]
        if not hmac.compare_digest(hash_secret(password, bytes.fromhex(salt_hex)).hex(), hash_hex):
            raise NotAuthenticatedError("wrong user name or password")
        return self.issue_token(user, label="session", ttl=ttl)


def _has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (never part of a name or token)."""
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def _new_uid() -> str:
    return secrets.token_hex(12)


def connect_tokens(store_url: str, cache_seconds: float = 60.0) -> TokenStore:
    """A :class:`TokenStore` in the database of the store at ``store_url``.

    ``duckdb:///path`` opens a second DuckDB connection on the same file (DuckDB
    shares one database instance per file within a process); ``duckdb:///:memory:``
    gets its own in-memory database; ``postgresql://...`` connects with psycopg;
    ``sqlite:///path`` uses :mod:`sqlite3`.

    Raises
    ------
    ConfigError
        For any other URL.
    """
    if store_url.startswith("duckdb:///"):
        import duckdb

        return TokenStore(duckdb.connect(store_url.removeprefix("duckdb:///")), cache_seconds)
    if store_url.startswith(("postgresql://", "postgres://")):
        from urllib.parse import parse_qs, urlsplit, urlunsplit

        import psycopg

        parts = urlsplit(store_url)
        schema = parse_qs(parts.query).get("schema", [None])[0]
        con = psycopg.connect(urlunsplit(parts._replace(query="")), autocommit=True)
        if schema:
            con.execute(f'SET search_path TO "{schema.replace(chr(34), "")}"')
        return TokenStore(con, cache_seconds, placeholder="%s")
    if store_url.startswith("sqlite:///"):
        import sqlite3

        path = store_url.removeprefix("sqlite:///")
        return TokenStore(sqlite3.connect(path, check_same_thread=False), cache_seconds)
    raise ConfigError(f"cannot keep API users and tokens next to store {store_url!r}")
