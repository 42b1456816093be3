"""Data centre physics: IT load times PUE, a share of the IT energy deferrable as jobs.

The facility draws ``PUE x IT power`` [kW] (cooling and losses scale with the IT
load). A share ``deferrable_share`` of each day's IT energy is GPU batch work
that may run any time within its day: it is cut into interruptible jobs of
``job_it_kw`` IT power (facility power ``PUE x job_it_kw``), each known at the
start of its day and due by the end of it. The rest is firm load.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitgaram.assets.jobs import Job
from bitgaram.errors import DataError


@dataclass(frozen=True)
class DataCentre:
    """A data centre's parameters.

    Attributes
    ----------
    id : str
        Name (prefix of its job names).
    pue : float
        Power usage effectiveness [-] (>= 1).
    deferrable_share : float
        Share of the IT energy that is deferrable [-].
    job_it_kw : float
        IT power of one deferrable job [kW].
    tenant : str
        Owner.
    """

    id: str
    pue: float
    deferrable_share: float
    job_it_kw: float
    tenant: str = ""

    def __post_init__(self) -> None:
        if self.pue < 1:
            raise DataError(f"data centre {self.id!r}: PUE must be >= 1")
        if not 0 <= self.deferrable_share <= 1:
            raise DataError(f"data centre {self.id!r}: deferrable_share must be in [0, 1]")
        if self.job_it_kw <= 0:
            raise DataError(f"data centre {self.id!r}: job_it_kw must be > 0")


def facility_kw(it_kw: np.ndarray, pue: float) -> np.ndarray:
    """Facility power of an IT load [kW]."""
    return np.asarray(it_kw, dtype=float) * pue


def split_it_load(
    dc: DataCentre, it_kw: np.ndarray, steps_per_day: int
) -> tuple[np.ndarray, list[Job]]:
    """Firm facility load and the day's deferrable jobs.

    Parameters
    ----------
    dc : DataCentre
        Parameters.
    it_kw : numpy.ndarray
        IT power per step [kW], starting at a day boundary.
    steps_per_day : int
        Steps per day (96 at 15 min).

    Returns
    -------
    tuple
        ``(firm facility power per step [kW], jobs)``; the firm load plus the jobs'
        facility energy equals ``PUE x`` the IT energy (up to the rounding of the
        last job of each day to whole steps, which is kept in the firm load).
    """
    it = np.asarray(it_kw, dtype=float)
    firm = it * (1.0 - dc.deferrable_share)
    jobs: list[Job] = []
    n_days = len(it) // steps_per_day
    for d in range(n_days):
        day = slice(d * steps_per_day, (d + 1) * steps_per_day)
        deferrable_steps_kw = float(it[day].sum() * dc.deferrable_share)  # kW x steps
        n_steps = int(deferrable_steps_kw // dc.job_it_kw)
        leftover = deferrable_steps_kw - n_steps * dc.job_it_kw
        firm[day] += leftover / steps_per_day
        # Jobs of at most 4 h each; the remainder goes to the last one.
        per_job = max(1, min(16, n_steps))
        k = 0
        while n_steps > 0:
            dur = min(per_job, n_steps)
            start = d * steps_per_day
            jobs.append(
                Job(
                    id=f"{dc.id}-d{d}-j{k}",
                    power_kw=(dc.job_it_kw * dc.pue,) * dur,
                    earliest=start,
                    deadline=start + steps_per_day,
                    interruptible=True,
                    tenant=dc.tenant,
                )
            )
            n_steps -= dur
            k += 1
    firm[n_days * steps_per_day :] = it[n_days * steps_per_day :]  # a partial day stays firm
    return firm * dc.pue, jobs
