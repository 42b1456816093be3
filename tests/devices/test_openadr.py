"""The VEN against an openleadr VTN started by the test: events, opt in/out, caps, telemetry,
a VTN that goes away, malformed events; and the DR cap reaching the park planner."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
from typing import Any

import numpy as np
import pandas as pd
import pytest
from openleadr import OpenADRServer

from bitgaram.devices.openadr_ven import OptPolicy, Ven

logging.getLogger("openleadr").setLevel(logging.ERROR)
logging.getLogger("apscheduler").setLevel(logging.ERROR)
logging.getLogger("aiohttp.access").setLevel(logging.ERROR)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Vtn:
    """An openleadr VTN on 127.0.0.1 recording opt answers and telemetry."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.opts: dict[str, str] = {}
        self.telemetry: list[float] = []
        self.server = OpenADRServer(
            vtn_id="test-vtn",
            http_port=port,
            http_host="127.0.0.1",
            requested_poll_freq=dt.timedelta(seconds=0.2),
        )
        self.server.add_handler("on_create_party_registration", self._register)
        self.server.add_handler("on_register_report", self._report)

    async def _register(self, info: dict[str, Any]) -> tuple[str, str]:
        return "ven-park", "reg-1"

    async def _report(
        self,
        ven_id: str,
        resource_id: str,
        measurement: str,
        unit: str,
        scale: str,
        min_sampling_interval: Any,
        max_sampling_interval: Any,
    ) -> Any:
        def got(data: list[tuple[Any, float]]) -> None:
            self.telemetry += [v for _, v in data]

        return got, min_sampling_interval

    async def _opt(self, ven_id: str, event_id: str, opt_type: str) -> None:
        self.opts[event_id] = opt_type

    def event(
        self,
        event_id: str,
        start: dt.datetime,
        minutes: float,
        signal: str,
        stype: str,
        payload: float,
    ) -> None:
        self.server.add_event(
            ven_id="ven-park",
            signal_name=signal,
            signal_type=stype,
            intervals=[
                {
                    "dtstart": start,
                    "duration": dt.timedelta(minutes=minutes),
                    "signal_payload": payload,
                }
            ],
            callback=self._opt,
            event_id=event_id,
        )


async def _until(cond: Any, timeout: float = 8.0) -> None:
    t = 0.0
    while not cond():
        await asyncio.sleep(0.05)
        t += 0.05
        if t > timeout:
            raise TimeoutError("condition not met")


def test_events_opt_in_out_caps_and_telemetry() -> None:
    async def scenario() -> None:
        port = _port()
        vtn = Vtn(port)
        await vtn.server.run_async()
        ven = Ven(
            f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b",
            "park",
            OptPolicy(min_target_kw=200.0, level_caps_kw={2: 900.0}),
            telemetry=lambda: 1234.0,
            report_s=1.0,
        )
        await ven.start()
        await ven.wait_registered()
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        start = now + dt.timedelta(hours=1)
        vtn.event("dr-1", start, 120, "LOAD_CONTROL", "x-loadControlCapacity", 800.0)
        vtn.event("dr-low", start, 60, "LOAD_CONTROL", "x-loadControlCapacity", 50.0)
        vtn.event("dr-simple", start, 30, "SIMPLE", "level", 2.0)
        vtn.event("dr-nolevel", start, 30, "SIMPLE", "level", 3.0)
        await _until(lambda: len(vtn.opts) == 4)
        assert vtn.opts == {
            "dr-1": "optIn",
            "dr-low": "optOut",
            "dr-simple": "optIn",
            "dr-nolevel": "optOut",
        }
        steps = pd.date_range(pd.Timestamp(start) - pd.Timedelta("30min"), periods=12, freq="15min")
        caps = ven.caps(steps, 900)
        assert np.isinf(caps[:2]).all()
        assert caps[2:4].tolist() == [800.0, 800.0]  # the SIMPLE event's 900 kW is looser
        assert caps[4:10].tolist() == [800.0] * 6 and np.isinf(caps[10:]).all()
        await _until(lambda: len(vtn.telemetry) > 0)
        assert vtn.telemetry[0] == pytest.approx(1234.0)
        await ven.stop()
        await vtn.server.stop()

    asyncio.run(scenario())


def test_vtn_gone_events_stay_in_force_and_ven_reregisters() -> None:
    async def scenario() -> None:
        port = _port()
        vtn = Vtn(port)
        await vtn.server.run_async()
        ven = Ven(f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b", "park", retry_s=0.2)
        await ven.start()
        await ven.wait_registered()
        start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        vtn.event("dr-2", start, 60, "LOAD_CONTROL", "x-loadControlCapacity", 500.0)
        await _until(lambda: "dr-2" in vtn.opts)
        await vtn.server.stop()  # the VTN goes away
        await asyncio.sleep(1.0)  # the VEN polls a dead VTN meanwhile
        now = pd.Timestamp.now(tz="UTC")
        assert ven.caps(pd.DatetimeIndex([now.floor("min")]), 60)[0] == 500.0
        back = Vtn(port)  # the VTN returns: the polling VEN gets its new events
        await back.server.run_async()
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
        back.event("dr-3", later, 30, "LOAD_CONTROL", "x-loadControlCapacity", 700.0)
        await _until(lambda: "dr-3" in back.opts)
        assert ven.events["dr-3#0"].target_kw == 700.0 and "dr-2#0" in ven.events
        await back.server.stop()
        await ven.stop()
        # A VEN started while the VTN is down retries until it comes back.
        ven2 = Ven(f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b", "park2", retry_s=0.2)
        await ven2.start()
        await asyncio.sleep(0.8)
        assert ven2.client is None and any("retry" in f for f in ven2.status.faults)
        vtn2 = Vtn(port)
        await vtn2.server.run_async()
        await ven2.wait_registered(10)
        assert ven2.registrations == 1
        await ven2.stop()
        await vtn2.server.stop()

    asyncio.run(scenario())


def test_malformed_event_is_opted_out_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> str:
        ven = Ven("http://127.0.0.1:1/none", "park")
        bad = {
            "event_descriptor": {"event_id": "x"},
            "event_signals": [
                {
                    "signal_name": "LOAD_CONTROL",
                    "signal_type": "x-loadControlCapacity",
                    "intervals": [{"dtstart": "not a time", "duration": 5, "signal_payload": 1.0}],
                }
            ],
        }
        return await ven._on_event(bad)

    with caplog.at_level(logging.WARNING):
        assert asyncio.run(scenario()) == "optOut"
    assert "malformed event" in caplog.text


def test_dr_caps_from_state_messages(caplog: pytest.LogCaptureFixture) -> None:
    from bitgaram.devices.openadr_ven import DrCaps, DrEvent, event_json

    start = pd.Timestamp("2026-03-08 13:00", tz="America/Los_Angeles")  # the DST day
    ev = DrEvent(
        "e1",
        start.tz_convert("UTC"),
        (start + pd.Timedelta("2h")).tz_convert("UTC"),
        300.0,
        "LOAD_CONTROL/x-loadControlCapacity",
        opted_in=True,
    )
    out = DrEvent("e2", ev.start, ev.end, 100.0, "x", opted_in=False, reason="policy")
    caps = DrCaps()
    caps.on_state({"events": [event_json(ev), event_json(out)]})
    steps = pd.date_range(start - pd.Timedelta("15min"), periods=10, freq="15min")
    got = caps.caps(steps, 900)
    assert np.isinf(got[0]) and got[1:9].tolist() == [300.0] * 8 and np.isinf(got[9])
    with caplog.at_level(logging.WARNING):
        caps.on_state({"events": [{"id": "bad"}]})
    assert "ignored" in caplog.text
    assert caps.caps(steps, 900)[1] == 300.0  # the previous events stay
