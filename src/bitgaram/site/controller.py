"""What a controller sees and what it must do: the protocol between a replay and a decision.

At step ``t`` a controller sees an :class:`Observation` (measurements of steps
``< t`` only, and the batteries' current state) and returns the energy each
battery should take (+) or give (-) during step ``t``. The replay
(:func:`bitgaram.simulate.simulate`) drives it; the controllers themselves
(rule-based, MPC, the labelled oracle bound) live in ``simulate`` and
``optimize``, above this module, so neither needs the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bitgaram.site.data import SiteData

__all__ = ["Controller", "Observation"]


@dataclass(frozen=True)
class Observation:
    """What a controller may see when deciding step ``t``.

    Attributes
    ----------
    t : int
        The step to decide.
    load_kwh, pv_kwh, net_kwh : numpy.ndarray
        Measured load, PV and net energy of steps ``0 .. t-1``, (t, B) [kWh].
    soc_kwh, capacity_kwh : numpy.ndarray
        State of each battery at the start of step ``t``, (n_batteries,) [kWh].
    """

    t: int
    load_kwh: np.ndarray
    pv_kwh: np.ndarray
    net_kwh: np.ndarray
    soc_kwh: np.ndarray
    capacity_kwh: np.ndarray


class Controller(Protocol):
    """Decides battery energies step by step."""

    name: str

    def prepare(self, site: SiteData) -> None:
        """Precompute what does not depend on the run (e.g. causal rolling forecasts)."""
        ...

    def act(self, obs: Observation) -> np.ndarray:
        """Requested energy of each battery for step ``obs.t``, (n_batteries,) [kWh]."""
        ...
