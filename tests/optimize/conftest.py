"""Shared fixtures: a short slice of the shipped CityLearn 2022 data."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitgaram.datasets.citylearn import read_citylearn
from bitgaram.simulate.site import SiteData, site_from_citylearn

DATA = Path(__file__).resolve().parents[2] / "data" / "citylearn_2022_phase_1"


@pytest.fixture(scope="session")
def citylearn_site() -> SiteData:
    """All five buildings, full year (slice it in tests)."""
    return site_from_citylearn(read_citylearn(DATA))
