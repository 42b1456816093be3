"""Perfect-foresight benchmark: one LP over the whole period.

The oracle knows every future load, PV, price and carbon value and solves a
single LP with the score-derived weights of the actual baseline. It is a
labelled *bound* for the causal controllers, never a product controller.
"""

from __future__ import annotations

import numpy as np

from bitgaram.optimize.site import HorizonInput, SiteProblem
from bitgaram.optimize.weights import baseline_rates, peak_weight, score_weights
from bitgaram.site.controller import Observation
from bitgaram.site.data import SiteData

#: Throughput weight per kWh (rules out simultaneous charge and discharge).
WEAR_WEIGHT = 1e-4


class OracleController:
    """Full-period perfect-foresight LP (an upper bound, not causal).

    Parameters
    ----------
    block : int
        Load-factor block length [steps].
    """

    def __init__(self, block: int = 730) -> None:
        self.name = "oracle"
        self.block = block
        self.plan = np.zeros((0, 0))

    def prepare(self, site: SiteData) -> None:
        """Solve the full-period LP."""
        fleet = site.fleet()
        cols = site.battery_buildings
        n = site.n_steps
        if fleet is None:
            self.plan = np.zeros((0, n))
            return
        net = site.net_load_kwh
        district = net.sum(axis=1)
        rates = baseline_rates(net, site.price, site.carbon, self.block)
        slots = np.arange(n) // self.block
        n_slots = int(slots.max()) + 1
        weights = np.zeros(n_slots)
        for j in range(n_slots):
            part = district[slots == j]
            weights[j] = peak_weight(
                float(part.mean()), float(part.max()), rates.load_factor, self.block
            )
        problem = SiteProblem(fleet, n, 1, slots[:, None])
        schedule = problem.solve(
            HorizonInput(
                building_net=net[:, cols].T,
                district_net=district,
                price=site.price,
                carbon=site.carbon,
                soc_kwh=np.asarray(fleet.initial_soc_kwh, dtype=float) * np.ones(cols.size),
                capacity_kwh=np.asarray(fleet.capacity_kwh, dtype=float),
                weights=score_weights(rates, WEAR_WEIGHT),
                peak_slot=slots,
                peak_floor=np.full(n_slots, -np.inf),
                peak_weight=weights,
            )
        )
        self.plan = schedule.battery_kwh

    def act(self, obs: Observation) -> np.ndarray:
        """The planned energy of step ``obs.t`` [kWh]."""
        return self.plan[:, obs.t]
