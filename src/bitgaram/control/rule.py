"""The time-of-use rule as a loop planner: the reference every shipped controller must beat.

:class:`TouRulePlanner` plans like :class:`bitgaram.simulate.park.RuleControl`, from a live
snapshot instead of a simulation state, so the same replay and peak watch run it and the MPC:

- the ESS charges evenly over the light-load intervals left today (to full) and discharges
  evenly over the peak-rate intervals left today (to empty), and idles otherwise;
- a vehicle charges at full power when the rate now is among the ``n`` cheapest of the
  intervals left before it leaves (``n``: the intervals it needs at full power);
- an interruptible job runs in its cheapest remaining intervals, a non-interruptible one starts
  when starting now has the lowest mean rate of every start still possible;
- threshold peak shaving: in metered intervals :attr:`TouRulePlanner.peak_cap_kw` is the month's
  peak so far, which the loop's peak actions defend (no forecast, no optimisation).

No forecast and no solver: it never raises for want of data.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bitgaram.control.planner import site_battery
from bitgaram.control.setpoints import Mode, Setpoint, validity
from bitgaram.control.state import ParkSnapshot
from bitgaram.site.model import Site
from bitgaram.tariff import TouTariff

#: Reason carried by the rule's setpoints.
REASON = "tou rule"


class TouRulePlanner:
    """Time-of-use rules (see the module docstring).

    Parameters
    ----------
    site : Site
        The park (its first battery is the ESS).
    tariff : TouTariff
        Energy rates and periods; the demand rules say which intervals are metered.
    interval_s : float
        Control interval [s].
    """

    def __init__(self, site: Site, tariff: TouTariff, interval_s: float = 900.0) -> None:
        self.site = site
        self.tariff = tariff
        self.interval_s = interval_s
        self.dt = interval_s / 3600.0
        self.battery = site_battery(site, self.dt)
        self.tz = site.site.timezone
        #: Import level the loop holds the interval to [kW] (None: not metered, or no peak yet).
        self.peak_cap_kw: float | None = None

    def _local(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
        """Local interval starts from ``start`` up to ``end`` (at least one)."""
        n = max(math.ceil((end - start).total_seconds() / self.interval_s - 1e-9), 1)
        idx = pd.date_range(start, periods=n, freq=f"{int(self.interval_s)}s")
        return idx.tz_convert(self.tz).tz_localize(None)

    def _battery_kw(self, snap: ParkSnapshot) -> float:
        assert self.battery is not None
        params = self.battery[1]
        local = pd.Timestamp(snap.at).tz_convert(self.tz)
        midnight = local.normalize() + pd.Timedelta(days=1)
        today = self._local(pd.Timestamp(snap.at), midnight.tz_convert("UTC"))
        periods = self.tariff.period(today)
        left = max(int(np.count_nonzero(periods == periods[0])), 1)
        soc = float(snap.battery_soc_kwh or 0.0)
        cap = float(np.sum(np.asarray(params.capacity_kwh, dtype=float)))
        power = float(np.sum(np.asarray(params.nominal_power_kw, dtype=float)))
        if periods[0] == "light":
            return min((cap - soc) / left / self.dt, power)
        if periods[0] == "peak":
            return -min(soc / left / self.dt, power)
        return 0.0

    def plan(
        self, snapshot: ParkSnapshot, month_peak_kw: float, target_kw: float
    ) -> list[Setpoint]:
        """Setpoints of the interval starting at ``snapshot.at``."""
        at = pd.Timestamp(snapshot.at)
        start, until = validity(at, self.interval_s)
        now = self._local(at, at + pd.Timedelta(seconds=self.interval_s))
        excluded = list(self.tariff.demand_rules.excluded_periods)
        metered = not bool(np.isin(self.tariff.period(now), excluded)[0])
        self.peak_cap_kw = month_peak_kw if metered and month_peak_kw > 0 else None
        out: list[Setpoint] = []
        if self.battery is not None:
            kw = self._battery_kw(snapshot)
            out.append(Setpoint(self.battery[0], "battery", kw, start, until, Mode.MPC, REASON))
        for ev in snapshot.evs:
            rates = self.tariff.energy_rate(self._local(at, ev.departure))
            need = max(ev.required_kwh - ev.stored_kwh, 0.0) / ev.efficiency
            n = math.ceil(need / (ev.charger_kw * self.dt) - 1e-9)
            cheap = n > 0 and rates[0] <= np.sort(rates)[min(n, rates.size) - 1]
            kw = ev.charger_kw if cheap else 0.0
            out.append(Setpoint(ev.id, "ev", kw, start, until, Mode.MPC, REASON))
        for j in snapshot.jobs:
            if j.remaining_steps <= 0:
                continue
            rates = self.tariff.energy_rate(self._local(at, j.deadline))
            if j.started and not j.interruptible:
                run = True
            elif j.interruptible:
                run = bool(rates[0] <= np.sort(rates)[min(j.remaining_steps, rates.size) - 1])
            else:
                d = j.remaining_steps
                starts = np.convolve(rates, np.ones(d) / d, mode="valid")
                run = bool(starts.size == 0 or starts[0] <= starts.min() + 1e-9)
            run = run and at >= pd.Timestamp(j.earliest)
            kw = j.power_kw if run else 0.0
            out.append(Setpoint(j.id, "job", kw, start, until, Mode.MPC, REASON))
        return out
