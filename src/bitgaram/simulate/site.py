"""Site data of a CityLearn dataset (:class:`SiteData` itself is in :mod:`bitgaram.site.data`)."""

from __future__ import annotations

import numpy as np

from bitgaram.assets.battery import BatteryParams
from bitgaram.datasets.citylearn import CityLearnDataset
from bitgaram.site.data import SiteData

__all__ = ["SiteData", "site_from_citylearn"]


def site_from_citylearn(ds: CityLearnDataset) -> SiteData:
    """Site data of a CityLearn 2022 dataset (CityLearn 2022 battery physics)."""
    step_hours = ds.seconds_per_time_step / 3600.0
    return SiteData(
        names=tuple(ds.building_names),
        index=ds.index,
        load_kwh=ds.load_matrix(),
        pv_kwh=ds.pv_matrix(),
        price=np.asarray(ds.price, dtype=float),
        carbon=np.asarray(ds.carbon_intensity, dtype=float),
        batteries=tuple(
            BatteryParams.from_spec(b.battery, step_hours) if b.battery else None
            for b in ds.buildings
        ),
        pv_kwp=np.array([b.pv_kwp for b in ds.buildings], dtype=float),
        weather=ds.weather,
        price_frame=ds.price_frame,
        step_hours=step_hours,
    )
