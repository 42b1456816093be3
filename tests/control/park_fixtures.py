"""A small synthetic park with a synthetic afternoon peak, for the control tests and benches."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bitgaram.control.replay import ReplayJob, ReplayVehicle
from bitgaram.site import Site, parse_site

#: Park-connection target of the synthetic park [kW].
TARGET_KW = 600.0


def park_site(site_id: str = "synpark") -> Site:
    """Two tenants on 5-min meters, a site grid meter, a 400 kWh / 200 kW ESS."""
    data: dict[str, Any] = {
        "site": {
            "id": site_id,
            "name": "Synthetic park",
            "timezone": "Asia/Seoul",
            "tariff": {"name": "kepco-industrial-eul-high-a", "option": "II", "contract_kw": 1000},
        },
        "tenants": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}],
        "meters": [
            {"id": "a-load", "tenant": "a", "kind": "load", "unit": "kWh", "resolution": "5min"},
            {"id": "b-load", "tenant": "b", "kind": "load", "unit": "kWh", "resolution": "5min"},
            {"id": "park-grid", "kind": "grid_import", "unit": "kWh", "resolution": "5min"},
        ],
        "assets": [
            {
                "type": "battery",
                "id": "ess",
                "capacity_kwh": 400,
                "power_kw": 200,
                "soc_min": 0.1,
                "soc_max": 0.9,
                "initial_soc": 0.8,
            }
        ],
    }
    return parse_site(data)


def park_readings(day: str = "2026-08-04", seed: int = 0) -> pd.DataFrame:
    """One day of 5-min tenant readings [kWh]: flat bases and a 14:00-15:00 (local) bump.

    The bump (+180 kW on tenant b) starts at 14:05 local, inside a window, so only
    the readings as they come can tell it.
    """
    rng = np.random.default_rng(seed)
    idx = pd.date_range(pd.Timestamp(day, tz="Asia/Seoul"), periods=288, freq="5min")
    hour = idx.hour + idx.minute / 60
    a = 300.0 + 20.0 * np.sin(2 * np.pi * hour / 24) + rng.normal(0, 3, idx.size)
    b = 180.0 + rng.normal(0, 3, idx.size)
    b = b + np.where((hour >= 14 + 5 / 60) & (hour < 15), 180.0, 0.0)
    utc = idx.tz_convert("UTC")
    frames = [
        pd.DataFrame({"meter_id": m, "ts": utc, "value": v * 5 / 60, "quality": 0})
        for m, v in (("a-load", a), ("b-load", b))
    ]
    return pd.concat(frames, ignore_index=True)


def park_flex(day: str = "2026-08-04") -> tuple[tuple[ReplayVehicle, ...], tuple[ReplayJob, ...]]:
    """Two vans plugged in over the afternoon and one interruptible 100 kW job."""

    def at(hhmm: str) -> pd.Timestamp:
        return pd.Timestamp(f"{day} {hhmm}", tz="Asia/Seoul").tz_convert("UTC")

    vans = (
        ReplayVehicle("van1", at("13:00"), at("19:00"), 10.0, 50.0, 60.0, 11.0),
        ReplayVehicle("van2", at("13:30"), at("20:00"), 20.0, 55.0, 60.0, 11.0),
    )
    jobs = (ReplayJob("kiln", 100.0, 4, at("13:45"), at("20:00"), True, 0),)
    return vans, jobs
