"""The demo's battery plan reaches the store's journal, where the API and the dashboard read it."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bitgaram.api import Settings, create_app
from bitgaram.api.app import token_store_for
from bitgaram.cli.citylearn import journal_plan
from bitgaram.collect.citylearn import import_citylearn, sample_overrides_file, sample_park_dir
from bitgaram.datasets.citylearn import read_citylearn
from bitgaram.errors import BitgaramError
from bitgaram.simulate import simulate, site_from_citylearn
from bitgaram.simulate.controllers import RuleController
from bitgaram.store import open_store


def test_the_replayed_plan_is_served_as_the_battery_schedule() -> None:
    store = open_store(":memory:")
    site, _ = import_citylearn(store, sample_park_dir(), sample_overrides_file())
    data = site_from_citylearn(read_citylearn(sample_park_dir()))
    days = data.slice(data.n_steps - 48, data.n_steps)
    result = simulate(days, RuleController())
    assert np.abs(result.battery_kwh).sum() > 0
    n = journal_plan(store, site, days.names, result.battery_kwh, days.step_hours)
    assert n == 48 * len(days.names)
    tokens = token_store_for(store, Settings())
    tokens.add_user("ops", "operator")
    client = TestClient(create_app(Settings(), store, tokens))
    client.headers["Authorization"] = f"Bearer {tokens.issue_token('ops')}"
    schedule = client.get("/api/v1/assets/building_2-battery/schedule?limit=1000").json()
    assert schedule["total"] == 48
    column = list(days.names).index("Building_2")
    powers = [row["power_kw"] for row in schedule["items"]]
    assert powers == pytest.approx(list(result.battery_kwh[:, column] / days.step_hours))
    # the plan ends with the stored data (the replay covered its last two days)
    last = store.read_readings(["fontana-building_2-load"])["ts"].max()
    assert schedule["items"][-1]["valid_from"].startswith(
        last.tz_convert("UTC").strftime("%Y-%m-%dT%H")
    )
    with pytest.raises(BitgaramError, match="longer than the stored data"):
        journal_plan(store, site, days.names, np.zeros((10**5, 5)), days.step_hours)
    store.close()
