"""A DR event 14:00-16:00 issued by an openleadr VTN lowers the park's import to the target
through the VEN's caps in the planner, and the event's CBL report comes out by both methods."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket

import numpy as np
import pandas as pd
import pytest
from openleadr import OpenADRServer

from bitgaram.control.journal import MemoryJournal
from bitgaram.control.loop import ControlLoop
from bitgaram.control.planner import ParkPlanner, Planner
from bitgaram.control.replay import ReplayResult, replay
from bitgaram.devices.openadr_ven import CappedPlanner, Ven
from bitgaram.peak import PeakWatch
from bitgaram.site import Site, parse_site
from bitgaram.tariff import TouTariff, load_tariff
from bitgaram.verify.cbl import MAX_4_5, MID_6_10, cbl_report

TZ = "Asia/Seoul"
DAY = "2026-12-08"  # a Tuesday
TARGET_KW = 480.0


def _site() -> Site:
    return parse_site(
        {
            "site": {
                "id": "drpark",
                "name": "DR park",
                "timezone": TZ,
                "tariff": {
                    "name": "kepco-industrial-eul-high-a",
                    "option": "II",
                    "contract_kw": 1000,
                },
            },
            "tenants": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}],
            "meters": [
                {
                    "id": "a-load",
                    "tenant": "a",
                    "kind": "load",
                    "unit": "kWh",
                    "resolution": "15min",
                },
                {
                    "id": "b-load",
                    "tenant": "b",
                    "kind": "load",
                    "unit": "kWh",
                    "resolution": "15min",
                },
                {"id": "grid", "kind": "grid_import", "unit": "kWh", "resolution": "15min"},
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
    )


def _tenants(day: str, seed: int) -> pd.DataFrame:
    """Tenant loads [kW] of one local day at 15 min: flat, b with a 13-17 h bump."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range(pd.Timestamp(day, tz=TZ), periods=96, freq="15min")
    hour = idx.hour
    a = 300.0 + rng.normal(0, 2, 96)
    b = 200.0 + np.where((hour >= 13) & (hour < 17), 100.0, 0.0) + rng.normal(0, 2, 96)
    return pd.DataFrame({"a": a, "b": b}, index=idx.tz_convert("UTC"))


def _run(site: Site, planner: Planner, firm: pd.Series) -> ReplayResult:
    loop = ControlLoop(
        PeakWatch(site, targets={"park": 900.0}),
        planner,
        lambda t, p: None,
        MemoryJournal(),
        ("ess",),
        200.0,
    )
    return replay(site, firm, loop=loop)


def _vtn_event_caps() -> Ven:
    async def scenario() -> Ven:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        server = OpenADRServer(
            vtn_id="kpx-test",
            http_port=port,
            http_host="127.0.0.1",
            requested_poll_freq=dt.timedelta(seconds=0.2),
        )

        async def register(info: object) -> tuple[str, str]:
            return "ven-dr", "reg-dr"

        server.add_handler("on_create_party_registration", register)
        await server.run_async()
        ven = Ven(f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b", "drpark")
        await ven.start()
        await ven.wait_registered()
        opts: list[str] = []

        async def opted(ven_id: str, event_id: str, opt_type: str) -> None:
            opts.append(opt_type)

        start = pd.Timestamp(f"{DAY} 14:00", tz=TZ).to_pydatetime()
        server.add_event(
            ven_id="ven-dr",
            signal_name="LOAD_CONTROL",
            signal_type="x-loadControlCapacity",
            intervals=[
                {"dtstart": start, "duration": dt.timedelta(hours=2), "signal_payload": TARGET_KW}
            ],
            callback=opted,
            event_id="kpx-1",
        )
        for _ in range(100):
            if opts:
                break
            await asyncio.sleep(0.05)
        assert opts == ["optIn"]
        await ven.stop()
        await server.stop()
        return ven

    return asyncio.run(scenario())


def test_dr_event_lowers_import_to_target_and_cbl_report() -> None:
    site = _site()
    tariff = load_tariff("kepco-industrial-eul-high-a", option="II")
    assert isinstance(tariff, TouTariff)
    loads = _tenants(DAY, 0)
    # The day before first, so the planner's day-type forecast has seen the afternoon bump.
    firm = pd.concat([_tenants("2026-12-07", 99), loads]).sum(axis=1)
    ven = _vtn_event_caps()
    base = _run(site, ParkPlanner(site, tariff, horizon=16), firm)
    dr = _run(site, CappedPlanner(site, tariff, horizon=16, caps=ven.caps), firm)
    start = pd.Timestamp(f"{DAY} 14:00", tz=TZ).tz_convert("UTC")
    end = start + pd.Timedelta(hours=2)
    in_event = (dr.windows_kw.index >= start) & (dr.windows_kw.index < end)
    assert base.windows_kw[in_event].max() > TARGET_KW + 50  # without the event: above target
    assert dr.windows_kw[in_event].max() <= TARGET_KW * 1.01  # every 15-min window at target
    # CBL from ten weekdays of history (tenants unchanged; the ESS idle on those days).
    days = pd.bdate_range("2026-11-20", "2026-12-07")
    hist = pd.concat(
        [_tenants(str(d.date()), i + 1) for i, d in enumerate(days[:-1])]
        + [_tenants("2026-12-07", 99), loads]
    )
    energy = hist * 0.25
    day0 = loads.index[0]
    park = pd.concat(
        [
            energy.sum(axis=1)[energy.index < day0],
            dr.import_kw[dr.import_kw.index >= day0].resample("15min").mean() * 0.25,
        ]
    )
    rep = cbl_report(energy, start, end, [MID_6_10, MAX_4_5], TZ, park_energy=park)
    row = rep.set_index(["member", "method"])
    for method in ("Mid(6/10)", "Max(4/5)"):
        p = row.loc[("park", method)]
        assert p.baseline_kw == pytest.approx(600.0, abs=5.0)
        assert p.metered_kw <= TARGET_KW * 1.01
        assert p.reduction_kwh == pytest.approx((p.baseline_kw - p.metered_kw) * 2.0)
        assert row.loc[("a", method)].reduction_kwh == pytest.approx(0.0, abs=10.0)
        assert row.loc[("park", method)].days == (10 if method == "Mid(6/10)" else 5)
