"""The documented safe setpoints, used when the data is stale or the planner fails.

- **ESS idle** (0 kW): without fresh meter data the loop cannot know whether a discharge would
  export or a charge would set a peak; idling is never worse than doing nothing.
- **EVs at their minimum-to-meet-departure rate** (:meth:`EVSession.min_rate_kw`): every
  vehicle still leaves with its energy, and the fleet draws the least it can meanwhile.
- **Jobs**: a job runs only when it must (already started and not interruptible, or no laxity
  left before its deadline); others wait for a plan.
"""

from __future__ import annotations

import math

import pandas as pd

from bitgaram.control.setpoints import Mode, Setpoint, validity
from bitgaram.control.state import JobItem, ParkSnapshot


def job_must_run(job: JobItem, now: pd.Timestamp, interval_s: float) -> bool:
    """Whether a job has to run in the interval starting ``now`` (committed or no laxity)."""
    if job.remaining_steps <= 0 or now < job.earliest:
        return False
    if job.started and not job.interruptible:
        return True
    left = math.floor((job.deadline - now).total_seconds() / interval_s + 1e-9)
    return left <= job.remaining_steps


def safe_setpoints(
    snapshot: ParkSnapshot, battery_ids: tuple[str, ...], interval_s: float, reason: str
) -> list[Setpoint]:
    """Safe setpoints for every asset of the snapshot.

    Parameters
    ----------
    snapshot : ParkSnapshot
        The state (only vehicles and jobs are used: meter data may be stale).
    battery_ids : tuple of str
        The site's batteries.
    interval_s : float
        Control interval [s].
    reason : str
        The fault, copied into each setpoint.
    """
    start, until = validity(snapshot.at, interval_s)
    out = [Setpoint(b, "battery", 0.0, start, until, Mode.SAFE, reason) for b in battery_ids]
    for ev in snapshot.evs:
        kw = ev.min_rate_kw(snapshot.at)
        out.append(Setpoint(ev.id, "ev", kw, start, until, Mode.SAFE, reason))
    for job in snapshot.jobs:
        kw = job.power_kw if job_must_run(job, snapshot.at, interval_s) else 0.0
        out.append(Setpoint(job.id, "job", kw, start, until, Mode.SAFE, reason))
    return out
