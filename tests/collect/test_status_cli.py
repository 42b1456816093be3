"""``bitgaram collect status``: per-source rates, lag and quarantine counts from the status file."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from collect_doubles import SITE_TOML, MemoryStore
from typer.testing import CliRunner

from bitgaram.cli import app
from bitgaram.cli import collect as _collect_commands  # noqa: F401
from bitgaram.collect.service import status_snapshot, write_status
from bitgaram.collect.writer import BatchWriter, RawReading, Reject, Submission
from bitgaram.site import Site

T0 = 1_714_521_600  # 2024-05-01T00:00Z


def _row(minute: int, unit: str = "kWh") -> RawReading:
    return RawReading("acme-load", T0 + 60 * minute, 1.0, unit)


def _feed(site: Site) -> BatchWriter:
    """A writer that stored readings from MQTT and HTTP, some of them quarantined."""
    store = MemoryStore()

    async def scenario() -> BatchWriter:
        writer = BatchWriter(store, site, max_delay=0.01)  # type: ignore[arg-type]
        task = asyncio.create_task(writer.run())
        mqtt = [_row(m) for m in range(10)] + [_row(10, unit="W")]
        await writer.submit(Submission("mqtt:bitgaram/x/acme-load/reading", mqtt))
        await writer.submit(Submission("mqtt:bitgaram/x/acme-load/reading", (), [
            Reject(0, None, "payload", "{]", "bad_json: not JSON")]))  # fmt: skip
        await writer.submit(Submission("http:127.0.0.1", [_row(m) for m in range(20, 24)]))
        await writer.close()
        await task
        return writer

    return asyncio.run(scenario())


def test_snapshot_rates_lag_and_quarantine_per_source(site: Site) -> None:
    writer = _feed(site)
    now = T0 + 3600.0
    first = status_snapshot(writer, None, now=now)
    mqtt, http = first["sources"]["mqtt"], first["sources"]["http"]
    assert (mqtt["received"], mqtt["accepted"], mqtt["quarantined"]) == (12, 10, 2)
    assert (http["received"], http["accepted"], http["quarantined"]) == (4, 4, 0)
    assert mqtt["rate_per_s"] is None  # no previous snapshot to compare with
    # Lag: now minus the newest stored reading of the source [s].
    assert http["lag_s"] == 3600 - 23 * 60
    # Rates are accepted readings per second since the previous snapshot.
    previous = {**first, "updated_at": now - 2.0}
    previous["sources"] = {"mqtt": {"accepted": 4}, "http": {"accepted": 4}}
    second = status_snapshot(writer, previous, now=now)
    assert second["sources"]["mqtt"]["rate_per_s"] == 3.0
    assert second["sources"]["http"]["rate_per_s"] == 0.0
    assert second["reasons"]["mqtt: bad_json: not JSON"] == 1


def test_status_command_prints_each_source(tmp_path: Path, site: Site, run_id: str) -> None:
    site_file = tmp_path / "site.toml"
    site_file.write_text(
        SITE_TOML.format(site_id=run_id) + '\n[collect]\nstate_file = "state.json"\n',
        encoding="utf-8",
    )
    writer = _feed(site)
    now = time.time()
    previous = {"updated_at": now - 4.0, "sources": {"mqtt": {"accepted": 2}}}
    write_status(tmp_path / "state.json", status_snapshot(writer, previous, now=now,
                 extra={"site": run_id, "store": "memory://", "running": True}))  # fmt: skip
    result = CliRunner().invoke(app, ["collect", "status", "--site", str(site_file)])
    assert result.exit_code == 0, result.output
    # a table on a terminal, CSV when captured (bitgaram.cli.output): read the cells either way
    rows = {
        cells[0]: cells
        for line in result.output.splitlines()
        if (cells := [c for c in re.split(r"[\s,│┃]+", line) if c]) and cells[0] in ("mqtt", "http")
    }
    # columns: source, received, accepted, quarantined, rate [1/s], lag [s]
    assert rows["mqtt"][1:5] == ["12", "10", "2", "2.0"]
    assert rows["http"][1:5] == ["4", "4", "0", "1.0"]
    assert "running" in result.output
    assert "bad_json" in result.output and "bad_unit" in result.output
