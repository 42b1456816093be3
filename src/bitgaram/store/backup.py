"""Backup and restore of a store, and a digest to prove a restore complete.

Embedded (DuckDB): :func:`backup_duckdb` copies every table of the live database into a new
DuckDB file inside **one read transaction** (``ATTACH`` + ``COPY FROM DATABASE``), so the copy
is the state of one instant even while the collector keeps writing; writers are not blocked.
While ``bitgaram run`` owns the file, ``bitgaram store backup`` asks the service to do it (see
:func:`running_service`). :func:`restore_duckdb` puts a backup in place as a new store file.

PostgreSQL: the standard tools. :func:`backup_postgres` runs ``pg_dump --format=custom`` on
the store's schema, :func:`restore_postgres` runs ``pg_restore`` into an empty database;
``docs/deploy.md`` gives the same procedure by hand.

:func:`store_digest` gives every table's row count and an order-independent checksum of its
rows; a backup and its restore have equal digests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bitgaram.errors import ConfigError, StoreError
from bitgaram.store.base import Store
from bitgaram.store.duckdb_store import DuckDBStore

#: Suffix of the file a running service leaves beside the DuckDB file it owns.
SERVICE_SUFFIX = ".service.json"


def duckdb_path(store_url: str) -> Path | None:
    """The file of an embedded store URL (``None`` for PostgreSQL or ``:memory:``)."""
    if store_url.startswith(("postgresql://", "postgres://")):
        return None
    path = store_url.removeprefix("duckdb:///") if store_url.startswith("duckdb:") else store_url
    return None if path == ":memory:" else Path(path)


def service_file(db: Path) -> Path:
    """Where a service owning DuckDB file ``db`` describes itself (pid, admin URL)."""
    return db.with_name(db.name + SERVICE_SUFFIX)


def write_service_file(db: Path, info: dict[str, Any]) -> Path:
    """Announce the service owning ``db`` (atomic write)."""
    path = service_file(db)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(info, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path


def running_service(db: Path) -> dict[str, Any] | None:
    """The service owning DuckDB file ``db``, if one runs (its pid is alive), else None."""
    path = service_file(db)
    try:
        info = dict(json.loads(path.read_text(encoding="utf-8")))
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


def _duck(store: Store) -> DuckDBStore:
    if not isinstance(store, DuckDBStore):
        raise StoreError(f"{store.url}: not an embedded (DuckDB) store")
    return store


def _tables(store: DuckDBStore) -> list[str]:
    rows = store._fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database()"
        " AND table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY table_name"
    )
    return [str(r[0]) for r in rows]


def backup_duckdb(store: Store, target: str | Path) -> Path:
    """Copy a live embedded store into a new DuckDB file, consistently.

    Parameters
    ----------
    store : Store
        An open DuckDB store (writers may keep writing meanwhile).
    target : str or pathlib.Path
        The backup file; must not exist.

    Returns
    -------
    pathlib.Path
        The backup file.

    Raises
    ------
    StoreError
        If the target exists or the copy fails (nothing is left at ``target`` then).
    """
    duck = _duck(store)
    out = Path(target).resolve()
    if out.exists():
        raise StoreError(f"{out}: already exists; choose a new backup file")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.partial")
    alias = f"bg_backup_{uuid.uuid4().hex[:8]}"
    cur = duck._check_open().cursor()
    try:
        db = cur.execute("SELECT current_database()").fetchall()[0][0]
        cur.execute(f"ATTACH '{tmp.as_posix()}' AS {alias}")
        try:
            # One transaction: every table is read from the same snapshot.
            cur.execute("BEGIN TRANSACTION")
            cur.execute(f'COPY FROM DATABASE "{db}" TO {alias}')
            cur.execute("COMMIT")
        finally:
            cur.execute(f"DETACH {alias}")
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"{duck.url}: backup to {out} failed: {exc}") from exc
    finally:
        cur.close()
    os.replace(tmp, out)
    tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
    return out


def restore_duckdb(backup: str | Path, target: str | Path) -> Path:
    """Put a DuckDB backup in place as a new store file (never over an existing one).

    Raises
    ------
    StoreError
        If the backup is missing or not a bitgaram store, or the target exists.
    """
    src, out = Path(backup), Path(target)
    if not src.is_file():
        raise StoreError(f"{src}: no such backup file")
    if out.exists():
        raise StoreError(f"{out}: already exists; restore into a new file (or remove it first)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    shutil.copyfile(src, tmp)
    try:
        with DuckDBStore(tmp) as restored:
            if restored.schema_version() < 1:
                raise StoreError(f"{src}: not a bitgaram store (no schema version)")
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out)
    return out


def store_digest(store: Store) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent checksum of every table.

    Returns
    -------
    dict
        ``{table: (rows, checksum)}``; the checksum sums a hash of each whole row (DuckDB
        ``hash``, PostgreSQL ``md5`` of the row's text), so equal tables give equal digests
        within a backend.
    """
    from bitgaram.store.postgres_store import PostgresStore

    out: dict[str, tuple[int, str]] = {}
    if isinstance(store, DuckDBStore):
        for name in _tables(store):
            n, s = store._fetch(
                f'SELECT count(*), CAST(coalesce(sum(hash(t)), 0) AS VARCHAR) FROM "{name}" t'
            )[0]
            out[name] = (int(n), str(s))
        return out
    if isinstance(store, PostgresStore):
        rows = store._fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
            " AND table_type = 'BASE TABLE' ORDER BY table_name",
            (store.schema,),
        )
        for (name,) in rows:
            n, s = store._fetch(
                "SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)"
                f'::bigint), 0)::text FROM "{store.schema}"."{name}" t'
            )[0]
            out[str(name)] = (int(n), str(s))
        return out
    raise StoreError(f"{store.url}: no digest for this backend")


def _libpq(url: str) -> str:
    """A libpq connection URL (without bitgaram's ``schema`` parameter)."""
    return urlunsplit(urlsplit(url)._replace(query=""))


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigError(f"{name} not found; install the PostgreSQL client tools")
    return path


def backup_postgres(store: Store, target: str | Path) -> Path:
    """``pg_dump --format=custom`` of the store's schema into ``target``.

    Raises
    ------
    ConfigError
        If ``pg_dump`` is not installed.
    StoreError
        If the store is not PostgreSQL, the target exists, or pg_dump fails.
    """
    from bitgaram.store.postgres_store import PostgresStore

    if not isinstance(store, PostgresStore):
        raise StoreError(f"{store.url}: not a PostgreSQL store")
    out = Path(target)
    if out.exists():
        raise StoreError(f"{out}: already exists; choose a new backup file")
    cmd = [_tool("pg_dump"), "--format=custom", f"--schema={store.schema}", f"--file={out}"]
    done = subprocess.run([*cmd, _libpq(store.url)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        out.unlink(missing_ok=True)
        raise StoreError(f"pg_dump failed: {done.stderr.strip()}")
    return out


def restore_postgres(backup: str | Path, database_url: str) -> None:
    """``pg_restore`` a :func:`backup_postgres` dump into a database without that schema.

    Raises
    ------
    StoreError
        If pg_restore fails (e.g. the schema already exists there).
    """
    cmd = [_tool("pg_restore"), "--no-owner", "--exit-on-error", f"--dbname={_libpq(database_url)}"]
    done = subprocess.run([*cmd, str(backup)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StoreError(f"pg_restore failed: {done.stderr.strip()}")
