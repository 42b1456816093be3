"""Open the store a URL names: an embedded DuckDB file or a PostgreSQL database."""

from __future__ import annotations

from pathlib import Path

from bitgaram.config import DEFAULT_STORE_PATH, Settings
from bitgaram.errors import ConfigError, StoreError
from bitgaram.store.base import Store

_POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


def resolve_url(url: str | Path | None, settings: Settings | None = None) -> str:
    """The store URL to use: ``url``, else the settings', else the default file.

    Examples
    --------
    >>> resolve_url(None)
    'bitgaram.duckdb'
    >>> resolve_url(None, Settings(database_url="postgresql://root@127.0.0.1/test"))
    'postgresql://root@127.0.0.1/test'
    """
    if url:
        return str(url)
    if settings is not None and settings.database_url:
        return settings.database_url
    return str(DEFAULT_STORE_PATH)


def open_store(
    url: str | Path | None = None, settings: Settings | None = None, *, migrate: bool = True
) -> Store:
    """Open (and by default create or upgrade) the store named by ``url``.

    Parameters
    ----------
    url : str or pathlib.Path, optional
        A file path or ``duckdb:///path`` (embedded DuckDB; ``:memory:`` for a
        throw-away store), or ``postgresql://user@host:port/db[?schema=name]``.
        ``None``: ``settings.database_url``, else ``./bitgaram.duckdb``.
    settings : Settings, optional
        Process settings (database URL and PostgreSQL schema).
    migrate : bool
        Bring the schema to the current version before returning.

    Returns
    -------
    Store
        Close it (or use it as a context manager) when done.

    Raises
    ------
    ConfigError
        If the URL's scheme is not one bitgaram knows.
    StoreError
        If the database cannot be opened or migrated.

    Examples
    --------
    >>> with open_store(":memory:") as store:
    ...     store.count_readings()
    0
    """
    target = resolve_url(url, settings)
    store: Store
    if target.startswith(_POSTGRES_SCHEMES):
        from bitgaram.store.postgres_store import PostgresStore

        schema = settings.database_schema if settings is not None else None
        store = PostgresStore(target, schema=schema)
    elif target.startswith("duckdb://"):
        path = target[len("duckdb://") :]
        # duckdb:///rel/x.duckdb and duckdb:////abs/x.duckdb, like SQLAlchemy URLs.
        path = path[1:] if path.startswith("/") else path
        store = _open_duckdb(path or str(DEFAULT_STORE_PATH))
    elif "://" in target:
        raise ConfigError(
            f"store URL {target!r}: unknown scheme; use a file path, duckdb:///path "
            "or postgresql://user@host:port/db"
        )
    else:
        store = _open_duckdb(target)
    if migrate:
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
    return store


def _open_duckdb(path: str) -> Store:
    """Open a DuckDB file; if ``bitgaram run`` owns it, say so and where to go instead."""
    from bitgaram.store.duckdb_store import DuckDBStore

    try:
        return DuckDBStore(path if path == ":memory:" else Path(path))
    except StoreError as exc:
        from bitgaram.store.backup import running_service

        info = running_service(Path(path))
        if info is None:
            raise
        api = info.get("api_url") or "its API"
        raise StoreError(
            f"{path} is owned by `bitgaram run` (pid {info['pid']}, site {info.get('site')}): "
            f"read through {api} (dashboard, /api/v1), back it up with `bitgaram store backup "
            f"--store {path} --out FILE` (the service takes the snapshot), or stop the service"
        ) from exc
