"""Data-centre inputs of a park problem: firm facility load plus deferrable GPU jobs.

The physics (PUE, the deferrable share cut into interruptible jobs) lives in
:mod:`bitgaram.assets.datacentre`; the jobs enter the park problem through the
job block (:mod:`bitgaram.optimize.jobs`) like any other deferrable job, and the
firm part as part of the firm load.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitgaram.assets.datacentre import DataCentre, split_it_load
from bitgaram.assets.jobs import Job


@dataclass(frozen=True)
class DataCentreLoad:
    """A data centre's load as the park problem sees it.

    Attributes
    ----------
    firm_kw : numpy.ndarray
        Firm facility power per step [kW].
    jobs : tuple of Job
        Deferrable GPU jobs (facility power, interruptible).
    """

    firm_kw: np.ndarray
    jobs: tuple[Job, ...]

    def total_kwh(self, step_hours: float) -> float:
        """Facility energy, firm plus jobs [kWh]."""
        return float(self.firm_kw.sum() * step_hours) + sum(
            j.energy_kwh(step_hours) for j in self.jobs
        )


def datacentre_load(dc: DataCentre, it_kw: np.ndarray, steps_per_day: int) -> DataCentreLoad:
    """Split a data centre's IT load into firm facility load and deferrable jobs.

    Examples
    --------
    >>> dc = DataCentre("dc", pue=1.5, deferrable_share=0.5, job_it_kw=10.0)
    >>> load = datacentre_load(dc, np.full(96, 40.0), 96)
    >>> round(load.total_kwh(0.25), 6) == round(40.0 * 1.5 * 96 * 0.25, 6)
    True
    """
    firm, jobs = split_it_load(dc, it_kw, steps_per_day)
    return DataCentreLoad(firm_kw=firm, jobs=tuple(jobs))
