"""Opening stores by URL, settings from the environment, backend-specific layout."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import psycopg
import pytest

from bitgaram.config import Settings
from bitgaram.errors import ConfigError, StoreError
from bitgaram.store import open_store, resolve_url
from bitgaram.store.duckdb_store import DuckDBStore
from bitgaram.store.postgres_store import PostgresStore, split_schema


def test_settings_from_env_reads_bitgaram_variables(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "BITGARAM_DATABASE_URL": "postgresql://root@127.0.0.1/test",
            "BITGARAM_DATABASE_SCHEMA": "park",
            "BITGARAM_SITE": str(tmp_path / "site.toml"),
            "OTHER": "ignored",
        }
    )
    assert settings == Settings(
        database_url="postgresql://root@127.0.0.1/test",
        database_schema="park",
        site_file=tmp_path / "site.toml",
    )
    assert Settings.from_env({"BITGARAM_DATABASE_URL": "  "}) == Settings()


def test_url_resolution_order() -> None:
    env = Settings(database_url="env.duckdb")
    assert resolve_url("cli.duckdb", env) == "cli.duckdb"
    assert resolve_url(None, env) == "env.duckdb"
    assert resolve_url(None, Settings()) == "bitgaram.duckdb"


@pytest.mark.parametrize("form", ["{p}", "duckdb:///{p}"])
def test_duckdb_urls_open_a_file(
    tmp_path: Path, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store(form.format(p="park.duckdb")) as store:
        assert isinstance(store, DuckDBStore)
        assert store.schema_version() >= 1
    assert (tmp_path / "park.duckdb").exists()


def test_default_store_is_bitgaram_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store(None, Settings()) as store:
        assert isinstance(store, DuckDBStore)
    assert (tmp_path / "bitgaram.duckdb").exists()


def test_unknown_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown scheme"):
        open_store("sqlite:///x.db")


def test_two_handles_on_one_file_share_the_database(tmp_path: Path) -> None:
    path = tmp_path / "shared.duckdb"
    ts = pd.date_range("2022-01-01", periods=3, freq="1h", tz="UTC")
    batch = pd.DataFrame({"meter_id": "m", "ts": ts, "value": [1.0, 2.0, 3.0]})
    with open_store(path) as a, open_store(path) as b:
        a.write_readings(batch)
        assert b.count_readings() == 3
        assert b.write_readings(batch).unchanged == 3
    with pytest.raises(StoreError, match="closed"):
        a.count_readings()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.duckdb"
    with open_store(path) as store:
        assert isinstance(store, DuckDBStore)
        store._exec("INSERT INTO schema_version VALUES (99, 'future', now())")
    with pytest.raises(StoreError, match="newer"):
        open_store(path)


def test_split_schema_keeps_other_parameters() -> None:
    assert split_schema("postgres://u@h:5/db?schema=s1&sslmode=disable") == (
        "postgresql://u@h:5/db?sslmode=disable",
        "s1",
    )
    assert split_schema("postgresql://u@h/db") == ("postgresql://u@h/db", None)


def test_bad_schema_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="schema"):
        PostgresStore("postgresql://root@127.0.0.1/test?schema=Robert'); DROP")


@pytest.mark.postgres
def test_postgres_readings_are_partitioned_by_month(pg_url: str) -> None:
    ts = pd.DatetimeIndex(["2022-01-31 23:45", "2022-02-01 00:00", "2022-04-15 12:00"], tz="UTC")
    with open_store(pg_url) as store:
        assert isinstance(store, PostgresStore)
        store.write_readings(pd.DataFrame({"meter_id": "m", "ts": ts, "value": 1.0}))
        rows = store._fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n"
            " ON n.oid = p.relnamespace WHERE p.relname = 'readings' AND n.nspname = %s"
            " ORDER BY 1",
            (store.schema,),
        )
        assert [r[0] for r in rows] == ["readings_p202201", "readings_p202202", "readings_p202204"]
        schema = store.schema
    # A second process-like handle sees the partitions and reuses them.
    with open_store(pg_url) as again:
        later = pd.DatetimeIndex(["2022-01-01 00:00"], tz="UTC")
        again.write_readings(pd.DataFrame({"meter_id": "m", "ts": later, "value": 2.0}))
        assert again.count_readings() == 4
    server = pg_url.split("?")[0]
    with psycopg.connect(server) as conn:
        count = conn.execute(
            "SELECT count(*) FROM pg_tables"
            " WHERE schemaname = %s AND tablename LIKE 'readings_p%%'",
            (schema,),
        ).fetchone()
    assert count is not None and count[0] == 3


@pytest.mark.postgres
def test_postgres_schema_from_settings(pg_url: str) -> None:
    server, schema = split_schema(pg_url)
    with open_store(server, Settings(database_schema=schema)) as store:
        assert isinstance(store, PostgresStore)
        assert store.schema == schema
        assert store.count_readings() == 0


@pytest.mark.postgres
def test_concurrent_first_opens_migrate_once(pg_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def open_and_count(_: int) -> int:
        with open_store(pg_url) as store:
            return store.schema_version()

    with ThreadPoolExecutor(max_workers=4) as pool:
        versions = list(pool.map(open_and_count, range(4)))
    assert len(set(versions)) == 1 and versions[0] >= 1
    with open_store(pg_url) as store:
        assert isinstance(store, PostgresStore)
        assert store._fetch("SELECT count(*) FROM schema_version")[0][0] == versions[0]
