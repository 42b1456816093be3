"""Step-by-step replay of a site with a controller in the loop.

At step ``t`` the controller sees an :class:`Observation`: measurements of
steps ``< t`` only (load, PV, net energy incl. battery) and the batteries'
current state; it returns the energy each battery should take (+) or give
(-) during step ``t``. The request is applied with the exact battery physics
of :mod:`bitgaram.assets.battery`; the realised energies make up the building
net loads ``load - PV + battery`` [kWh, + = import].
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bitgaram.assets.battery import BatteryState, initial_state, step
from bitgaram.errors import DataError
from bitgaram.simulate.kpis import CityLearnScore, SiteKpis, citylearn_score, site_kpis
from bitgaram.site.controller import Controller, Observation
from bitgaram.site.data import SiteData


@dataclass(frozen=True)
class SimulationResult:
    """Outcome of a replay.

    Attributes
    ----------
    controller : str
        Controller name.
    net_kwh : numpy.ndarray
        Building net energy, (N, B) [kWh, + = import].
    battery_kwh : numpy.ndarray
        Battery grid energy per building, (N, B) [kWh, + = charge]; 0 without battery.
    soc_kwh : numpy.ndarray
        Stored energy at the end of each step, (N, B) [kWh]; 0 without battery.
    kpis, baseline : SiteKpis
        Absolute KPIs of the run and of the no-battery baseline.
    score : CityLearnScore
        CityLearn 2022 ratios to the baseline.
    seconds : float
        Wall time of prepare + replay [s].
    """

    controller: str
    net_kwh: np.ndarray
    battery_kwh: np.ndarray
    soc_kwh: np.ndarray
    kpis: SiteKpis
    baseline: SiteKpis
    score: CityLearnScore
    seconds: float


def simulate(
    site: SiteData,
    controller: Controller,
    on_step: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Replay ``site`` with ``controller`` deciding every step.

    Parameters
    ----------
    site : SiteData
        The site and its history.
    controller : Controller
        The decision maker; :meth:`Controller.prepare` is called first.
    on_step : callable, optional
        ``on_step(done, total)`` after each step (progress bars).

    Returns
    -------
    SimulationResult

    Raises
    ------
    DataError
        If the controller returns the wrong number of actions or non-finite values.
    """
    start = time.perf_counter()
    controller.prepare(site)
    n, n_b = site.load_kwh.shape
    fleet = site.fleet()
    cols = site.battery_buildings
    base_net = site.net_load_kwh
    net = base_net.copy()
    battery = np.zeros((n, n_b))
    soc = np.zeros((n, n_b))
    state: BatteryState | None = initial_state(fleet) if fleet is not None else None
    for t in range(n):
        if fleet is not None and state is not None:
            obs = Observation(
                t=t,
                load_kwh=site.load_kwh[:t],
                pv_kwh=site.pv_kwh[:t],
                net_kwh=net[:t],
                soc_kwh=state.soc_kwh.copy(),
                capacity_kwh=state.capacity_kwh.copy(),
            )
            request = np.asarray(controller.act(obs), dtype=float)
            if request.shape != (cols.size,) or not np.all(np.isfinite(request)):
                raise DataError(
                    f"controller '{controller.name}' returned {request.shape} actions at step {t}; "
                    f"expected {cols.size} finite values"
                )
            res = step(fleet, state, request)
            state = res.state
            battery[t, cols] = res.grid_energy_kwh
            soc[t, cols] = state.soc_kwh
            net[t, cols] = base_net[t, cols] + res.grid_energy_kwh
        if on_step is not None:
            on_step(t + 1, n)
    kpis = site_kpis(net, site.price, site.carbon, site.pv_kwh)
    baseline = site_kpis(base_net, site.price, site.carbon, site.pv_kwh)
    return SimulationResult(
        controller=controller.name,
        net_kwh=net,
        battery_kwh=battery,
        soc_kwh=soc,
        kpis=kpis,
        baseline=baseline,
        score=citylearn_score(kpis, baseline),
        seconds=time.perf_counter() - start,
    )
