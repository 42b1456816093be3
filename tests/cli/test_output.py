"""How commands print: tables never cut a figure, long steps report progress, passwords checked."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from bitgaram.cli import app
from bitgaram.cli import serve as _serve
from bitgaram.cli.output import print_table, stage_progress, table_csv
from bitgaram.errors import ConfigError
from bitgaram.store import open_store


def _table() -> Table:
    table = Table(title="bills [bold]June[/]")
    for name in ("tenant", "energy [kWh]", "total [KRW]", "demand [kW]", "note"):
        table.add_column(name, justify="right")
    table.add_row("Tenant 0001 with a long name", "105,432", "12,345,678", "1,234.5", "[bold]ok[/]")
    table.add_row("t2", "7", "8", "9", "a, b")
    return table


def test_a_piped_table_is_csv_with_every_figure() -> None:
    out = Console(file=io.StringIO(), force_terminal=False, width=40)
    print_table(_table(), out)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert text.startswith("# bills June\n")
    rows = list(csv.reader(io.StringIO(text.split("\n", 1)[1])))
    assert rows[0] == ["tenant", "energy [kWh]", "total [KRW]", "demand [kW]", "note"]
    assert rows[1] == ["Tenant 0001 with a long name", "105,432", "12,345,678", "1,234.5", "ok"]
    assert rows[2][-1] == "a, b"


@pytest.mark.parametrize("width", [30, 50, 80, 120])
def test_a_narrow_terminal_wraps_or_switches_to_csv(width: int) -> None:
    out = Console(file=io.StringIO(), force_terminal=True, width=width, color_system=None)
    print_table(_table(), out)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in text
    if text.startswith("# "):
        assert width < 80  # only when the figures cannot fit
        assert "105,432,12,345,678" not in text and '"105,432","12,345,678"' in text
    else:
        assert max(len(line) for line in text.splitlines()) <= width
        for figure in ("105,432", "12,345,678", "1,234.5"):
            assert figure in text


def test_table_csv_of_an_empty_table() -> None:
    table = Table("a", "b")
    assert table_csv(table) == "a,b\n"


def test_stage_progress_reports_each_finished_step() -> None:
    out = Console(file=io.StringIO(), force_terminal=False)
    with stage_progress(out, "backtest") as started:
        started("load/naive")
        started("load/lightgbm")
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "backtest: load/naive done in" in text
    assert "backtest: load/lightgbm done in" in text


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("x", "too short: 1 characters, at least 12"),
        ("aaaaaaaaaaaaaaaa", "too simple"),
        ("my-ops-password-2026", "user name"),
    ],
)
def test_weak_passwords_are_refused(password: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _serve.check_password(password, "ops")
    _serve.check_password("correct horse battery staple", "ops")


def test_users_add_refuses_a_short_password(tmp_path: Path) -> None:
    from bitgaram.api.testing import synthetic_park

    path = str(tmp_path / "park.duckdb")
    with open_store(path) as store:
        store.save_site(synthetic_park(n_tenants=1, days=1).site)
    runner = CliRunner()
    short = runner.invoke(
        app, ["users", "add", "ops", "--password", "--store", path], input="x\nx\n"
    )
    assert short.exit_code != 0
    assert isinstance(short.exception, ConfigError)
    assert "password too short" in str(short.exception)
    good = "correct horse battery staple"
    ok = runner.invoke(
        app, ["users", "add", "ops", "--password", "--store", path], input=f"{good}\n{good}\n"
    )
    assert ok.exit_code == 0, ok.output
