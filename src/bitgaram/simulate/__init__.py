"""Replay of a site's history with a controller in the loop, and its KPIs.

- :mod:`~bitgaram.simulate.site`: :func:`site_from_citylearn` (the arrays of a
  site, :class:`SiteData`, and the controller protocol live below, in
  :mod:`bitgaram.site.data` and :mod:`bitgaram.site.controller`);
- :mod:`~bitgaram.simulate.engine`: :func:`simulate`;
- :mod:`~bitgaram.simulate.kpis`: KPIs and the CityLearn 2022 score;
- :mod:`~bitgaram.simulate.controllers`: ``none`` and ``rule`` controllers.
"""

from bitgaram.simulate.engine import Controller, Observation, SimulationResult, simulate
from bitgaram.simulate.kpis import CityLearnScore, SiteKpis, citylearn_score, site_kpis
from bitgaram.simulate.site import SiteData, site_from_citylearn

__all__ = [
    "CityLearnScore",
    "Controller",
    "Observation",
    "SimulationResult",
    "SiteData",
    "SiteKpis",
    "citylearn_score",
    "simulate",
    "site_from_citylearn",
    "site_kpis",
]
