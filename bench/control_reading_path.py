"""CPU cost of the control loop's per-reading path, in process, without a broker.

What `bitgaram run` spends on the loop for every reading the collector also gets: the MQTT
message handler of the loop's client (decode, timestamps), the live glue and the loop core
(peak watch, peak-action check), for the site of `bench/service_overhead.py` (two 5-min kWh
tenant meters, KEPCO tariff, 600 kW target, an ESS) after one tick (so the peak check is armed).
Two bursts of ``--messages`` messages of ``--batch`` readings, alternating meters:

- **backlog**: readings newest first, as `bench/service_overhead.py` publishes them (after the
  first, every reading is late for the watch);
- **live**: one reading a message, both meters in time order, as meters send them live: every
  reading is new for its window (windows close as they go; a flat 240 kW per meter keeps the
  park at 80 % of its target, under the first alert level: the path of almost every reading).

Run it on another checkout's code with ``PYTHONPATH=<checkout>/src`` (the script speaks both
the per-reading and the per-message interface of the link):

    .venv/bin/python bench/control_reading_path.py --messages 400 --batch 100 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import bitgaram
from bitgaram.control.journal import MemoryJournal
from bitgaram.control.live import LiveController
from bitgaram.control.loop import ControlLoop
from bitgaram.control.mqtt_link import MqttLink
from bitgaram.control.setpoints import Setpoint
from bitgaram.control.state import ParkSnapshot
from bitgaram.peak import PeakWatch
from bitgaram.peak.watch import metered_by
from bitgaram.site import load_site
from bitgaram.tariff import load_tariff

sys.path.insert(0, str(Path(__file__).parent))
from service_overhead import SITE


class _Message:
    """What paho hands the link's ``on_message``: a topic and a payload."""

    def __init__(self, topic: str, payload: bytes) -> None:
        self.topic, self.payload = topic, payload


class _NoPlan:
    def plan(
        self, snapshot: ParkSnapshot, month_peak_kw: float, target_kw: float
    ) -> list[Setpoint]:
        return []


def _link(ctl: LiveController) -> MqttLink:
    if hasattr(ctl, "on_readings"):  # the per-message interface
        return MqttLink("127.0.0.1", 1, "bench", on_readings=ctl.on_readings)
    return MqttLink("127.0.0.1", 1, "bench", ctl.on_reading)  # a checkout without it


def _controller() -> tuple[LiveController, MqttLink]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "site.toml"
        path.write_text(SITE.format(site="bench"), encoding="utf-8")
        site = load_site(path)
    tariff = load_tariff("kepco-industrial-eul-high-a", option="II")
    watch = PeakWatch(site, targets={"park": 600.0}, metered=metered_by(tariff, "Asia/Seoul"))  # type: ignore[arg-type]
    loop = ControlLoop(watch, _NoPlan(), lambda t, p: None, MemoryJournal(), ("ess",), 200.0)
    ctl = LiveController(loop)
    ctl.on_state("ess", {"soc_kwh": 300.0})
    return ctl, _link(ctl)


def _burst(messages: int, batch: int, tick: int, live: bool) -> list[_Message]:
    """The backlog ends just before the tick [s since the epoch]; live readings start at it."""
    if live:  # one reading a message, in time order
        messages, batch = messages * batch, 1
    out = []
    for m in range(messages):
        meter = ("a-load", "b-load")[m % 2]
        k = (m // 2) * batch
        stamps = [tick + 300 * k] if live else [tick - 300 * (k + i + 1) for i in range(batch)]
        value = 20.0 if live else 25.0  # live: 240 kW a meter, 80 % of the target together
        body = [{"timestamp": t, "value": value, "unit": "kWh"} for t in stamps]
        out.append(_Message(f"bitgaram/bench/{meter}/reading", json.dumps(body).encode()))
    return out


def run(messages: int, batch: int, live: bool) -> float:
    """Microseconds of CPU per reading for one burst on a fresh controller."""
    ctl, link = _controller()
    now = pd.Timestamp.now(tz="UTC").floor("5min")
    ctl.tick(now)
    burst = _burst(messages, batch, int(now.timestamp()), live)
    handler: Any = link._on_message  # what paho calls for every message
    started = time.process_time()
    for msg in burst:
        handler(None, None, msg)
    spent = time.process_time() - started
    assert link.rejected == 0
    late = ctl.loop.watch.late_readings
    assert (late == 0) if live else (late >= messages * batch - 6), late  # all but the newest
    return spent / (messages * batch) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=400)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"bitgaram from {Path(bitgaram.__file__).parent}")
    for name, live in (("backlog", False), ("live", True)):
        us = [run(args.messages, args.batch, live) for _ in range(args.repeats)]
        print(
            f"{name:>8}: {np.median(us):,.2f} us of CPU per reading (median of {args.repeats}; "
            f"{min(us):,.2f}-{max(us):,.2f}), {1e6 / np.median(us):,.0f} readings/s"
        )


if __name__ == "__main__":
    main()
