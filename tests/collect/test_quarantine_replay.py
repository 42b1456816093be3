"""Issue 19: quarantine rows keep their record, re-imports add nothing, replay fixes the cause.

On DuckDB and PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bitgaram.cli import app as cli
from bitgaram.cli import importing as _importing  # registers `import` and `quarantine`
from bitgaram.collect.files import import_file
from bitgaram.collect.http import create_app
from bitgaram.collect.replay import replay_quarantine
from bitgaram.site import Site, parse_site
from bitgaram.store import Store

assert _importing.quarantine_app is not None


def _with_meter(site: Site, meter_id: str) -> Site:
    """The site with one more kWh meter (the fix of an ``unknown_meter`` cause)."""
    data = site.model_dump(mode="json", exclude_none=True)
    data["meters"].append({"id": meter_id, "kind": "load", "unit": "kWh"})
    return parse_site(data)


def test_pushed_readings_of_an_unknown_meter_replay_once_it_is_added(
    backend_store: Store,
) -> None:
    store = backend_store
    site = store.load_site()
    items = [
        {"meter": "new-load", "timestamp": f"2025-06-01T00:0{i}:00Z", "value": i, "unit": "kWh"}
        for i in range(5)
    ]
    with TestClient(create_app(site, store, max_delay=0.01)) as client:
        assert client.post("/api/v1/readings", json=items).json()["quarantined"] == 5
        # the same body again (a client retry) is not quarantined twice
        assert client.post("/api/v1/readings", json=items).json()["quarantined"] == 5
    assert store.count_quarantine() == 5
    record = json.loads(store.quarantined_records()["record"].iloc[0])  # type: ignore[attr-defined]
    assert record["meter_id"] == "new-load" and record["unit"] == "kWh"

    before = replay_quarantine(store, site)
    assert (before.replayed, before.still_failing) == (0, 5)
    assert store.count_quarantine() == 5  # still failing: left as they were, not doubled

    fixed = _with_meter(site, "new-load")
    store.save_site(fixed)
    report = replay_quarantine(store, fixed)
    assert (report.examined, report.replayed, report.still_failing) == (5, 5, 0)
    assert store.count_readings("new-load") == 5
    assert store.count_quarantine() == 0
    assert replay_quarantine(store, fixed).examined == 0


def test_file_reimport_adds_nothing_and_the_cli_replays(
    backend_store: Store, tmp_path: Path
) -> None:
    store = backend_store
    site = store.load_site()
    first = tmp_path / "first.csv"
    first.write_text(
        "meter_id,ts,value\n"
        "acme-load,2025-06-01 09:00,1.0\n"
        "acme-load,2025-06-01 10:00,1.0\n"
        "new-load,2025-06-01 09:00,2.0\n"
        "acme-load,2025-06-01 11:00,oops\n"
        "acme-\x00load,2025-06-01 11:00,3\n"
    )
    second = tmp_path / "second.csv"  # the same keys with other values: conflicts
    second.write_text(
        "meter_id,ts,value\nacme-load,2025-06-01 09:00,5.0\nacme-load,2025-06-01 10:00,6.0\n"
    )
    import_file(store, site, first)
    after_first = store.count_quarantine()
    assert after_first == 3
    for _ in range(2):
        import_file(store, site, first)
        import_file(store, site, second)
    # conflicts are quarantined once, the file's bad rows once: re-imports add nothing
    assert store.count_quarantine() == after_first + 2
    stored = store.list_quarantine(limit=100)
    assert stored["line"].notna().sum() >= 3  # file rows keep their line

    fixed = _with_meter(site, "new-load")
    path = tmp_path / "site.toml"
    path.write_text(_toml(fixed))
    url = store.url
    store.close()  # the CLI opens the store itself
    runner = CliRunner()
    dry = runner.invoke(
        cli, ["quarantine", "replay", "--dry-run", "--site", str(path), "--store", url]
    )
    assert dry.exit_code == 0, dry.output
    assert "1 would pass" in dry.output
    done = runner.invoke(cli, ["quarantine", "replay", "--site", str(path), "--store", url])
    assert done.exit_code == 0, done.output
    assert "1 replayed" in done.output
    from bitgaram.store import open_store

    with open_store(url) as reopened:
        assert reopened.count_readings("new-load") == 1
        assert reopened.count_quarantine() == after_first + 1
        back = reopened.read_readings(["new-load"])
        assert back["ts"].iloc[0] == pd.Timestamp("2025-06-01T00:00Z")  # 09:00 in Seoul


def _toml(site: Site) -> str:
    lines = [
        "[site]",
        f'id = "{site.site.id}"',
        f'name = "{site.site.name}"',
        f'timezone = "{site.site.timezone}"',
    ]
    for t in site.tenants:
        lines += ["", "[[tenants]]", f'id = "{t.id}"', f'name = "{t.name}"']
    for m in site.meters:
        lines += ["", "[[meters]]", f'id = "{m.id}"', f'kind = "{m.kind}"', f'unit = "{m.unit}"']
        if m.tenant is not None:
            lines.append(f'tenant = "{m.tenant}"')
    return "\n".join(lines) + "\n"


def test_far_future_readings_are_quarantined_once_however_often_they_come_again(
    backend_store: Store, tmp_path: Path
) -> None:
    # The out_of_window reason names the end of the accepted window, which moves
    # with the clock: a redelivered message, a client's retry or a re-import must
    # still find the first quarantine row (the soak's kill -9 found this).
    store = backend_store
    site = store.load_site()
    items = [
        {"meter": "acme-load", "timestamp": 253_402_297_200, "value": 1.0, "unit": "kWh"},
        {"meter": "acme-load", "timestamp": "2025-06-01T00:00:00Z", "value": 1.0, "unit": "kWh"},
    ]
    with TestClient(create_app(site, store, max_delay=0.01)) as client:
        for _ in range(3):
            answer = client.post("/api/v1/readings", json=items).json()
            assert (answer["accepted"], answer["quarantined"]) == (1, 1)
    far = tmp_path / "far.csv"
    far.write_text(
        "meter_id,ts,value\nacme-load,9999-12-31 15:00,1.0\nacme-load,2025-06-01 01:00,2\n"
    )
    for _ in range(3):
        import_file(store, site, far)
    reasons = store.list_quarantine(limit=100)["reason"]
    assert len(reasons) == store.count_quarantine() == 2  # one pushed, one imported
    assert reasons.str.startswith("out_of_window").all()
    assert store.count_readings() == 2
