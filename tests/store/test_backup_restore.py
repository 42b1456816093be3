"""Backup and restore: DuckDB snapshots and PostgreSQL with pg_dump/pg_restore."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import psycopg
import pytest
from typer.testing import CliRunner

from bitgaram.api import Settings
from bitgaram.api.app import token_store_for
from bitgaram.cli import app
from bitgaram.cli import service as _service_commands  # noqa: F401
from bitgaram.control.journal import StoreJournal
from bitgaram.control.setpoints import Mode, Setpoint
from bitgaram.errors import StoreError
from bitgaram.site import Site
from bitgaram.store import Store, open_store
from bitgaram.store.backup import backup_duckdb, restore_duckdb, store_digest


def _fill(store: Store, site: Site) -> None:
    """Readings, forecasts, a setpoint and a user: everything a restore must bring back."""
    store.save_site(site)
    ts = pd.date_range("2024-03-10", periods=96, freq="15min", tz="UTC")
    store.write_readings(
        pd.DataFrame({"meter_id": "acme-load", "ts": ts, "value": range(96), "quality": 0})
    )
    store.write_forecasts(
        pd.DataFrame(
            {
                "meter_id": "acme-load",
                "issued_at": ts[0],
                "ts": ts[:24],
                "horizon": range(1, 25),
                "quantile": 0.5,
                "value": 1.5,
                "model": "m",
            }
        )
    )
    at = pd.Timestamp("2024-03-10T01:00Z")
    sp = Setpoint("acme-ess", "battery", -50.0, at, at + pd.Timedelta("15min"), Mode.MPC, "plan")
    StoreJournal(store).record_setpoints(site.site.id, at, [sp])
    token_store_for(store, Settings()).add_user("ops", "operator", password="p" * 12)


def test_duckdb_backup_restore_round_trip(tmp_path: Path, site: Site) -> None:
    with open_store(tmp_path / "live.duckdb") as live:
        _fill(live, site)
        digest = store_digest(live)
        backup_duckdb(live, tmp_path / "b.duckdb")
        with pytest.raises(StoreError, match="already exists"):
            backup_duckdb(live, tmp_path / "b.duckdb")
    restore_duckdb(tmp_path / "b.duckdb", tmp_path / "r.duckdb")
    with open_store(tmp_path / "r.duckdb", migrate=False) as restored:
        assert store_digest(restored) == digest
    assert {"readings", "forecasts", "control_setpoints", "api_users"} <= set(digest)
    assert digest["readings"][0] == 96 and digest["api_users"][0] == 1
    with pytest.raises(StoreError, match="already exists"):
        restore_duckdb(tmp_path / "b.duckdb", tmp_path / "r.duckdb")
    (tmp_path / "junk").write_bytes(b"not a database")
    with pytest.raises(StoreError):
        restore_duckdb(tmp_path / "junk", tmp_path / "j.duckdb")
    assert not (tmp_path / "j.duckdb").exists()


@pytest.fixture
def pg_tools() -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("pg_dump/pg_restore not installed; CI=true requires them")
        pytest.skip("pg_dump/pg_restore not installed")


@pytest.fixture
def empty_database(postgres_server: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (dropped afterwards)."""
    name = "bgrestore_" + uuid.uuid4().hex[:10]
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(postgres_server)
    yield urlunsplit(parts._replace(path="/" + name))
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_postgres_backup_and_restore_with_pg_tools(
    pg_tools: None, postgres_server: str, empty_database: str, site: Site, tmp_path: Path
) -> None:
    schema = "bk_" + uuid.uuid4().hex[:10]
    url = f"{postgres_server}?schema={schema}"
    dump = tmp_path / "park.dump"
    try:
        with open_store(url) as live:
            _fill(live, site)
            digest = store_digest(live)
        runner = CliRunner()
        done = runner.invoke(app, ["store", "backup", "--store", url, "--out", str(dump)])
        assert done.exit_code == 0, done.output
        assert dump.stat().st_size > 0
        done = runner.invoke(app, ["store", "restore", str(dump), "--store", empty_database])
        assert done.exit_code == 0, done.output
        with open_store(f"{empty_database}?schema={schema}", migrate=False) as restored:
            assert store_digest(restored) == digest
            assert restored.count_readings() == 96
        # Restoring twice into the same database is refused, not merged.
        again = runner.invoke(app, ["store", "restore", str(dump), "--store", empty_database])
        assert isinstance(again.exception, StoreError)
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as con:
            con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
