"""A small synthetic park for tests, benchmarks and trying the dashboard.

:func:`synthetic_park` builds a site with ``n_tenants`` tenants (one load
meter each, PV on every other tenant, a site-level battery with a
state-of-charge meter, a site-level price series, batteries of the first two
tenants) and 15-minute readings with a daily shape and noise, plus a day of
battery setpoints and two demand-response events; :func:`populate` writes it
into a store (setpoints into the control journal, events as the device service
keeps them) and creates one user per role.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from bitgaram.api.auth import Role, TokenStore
from bitgaram.control.journal import StoreJournal
from bitgaram.control.setpoints import Mode, Setpoint
from bitgaram.site import Site, parse_site
from bitgaram.site.model import BatteryAsset
from bitgaram.store.base import DrEventRecord, Store

#: Ids of the synthetic DR events: 14:00-16:00 local of the last working day before the end
#: of the data (opted in, 70 % of the park's mean load as target), and 10:00-11:00 of the
#: last day off (opted out: no target).
DR_EVENT_IDS = ("dr-weekday", "dr-dayoff")

#: Tenant ids of the synthetic park, in order.
TENANT_IDS = ("acme", "borealis", "cygnus", "deltafoods", "ember", "fjord")
_SECTORS = ("automotive", "automotive", "automotive", "food", "automotive", "automotive")


@dataclass(frozen=True)
class SyntheticPark:
    """A synthetic park: the site, its readings, forecasts and journaled setpoints."""

    site: Site
    readings: pd.DataFrame
    forecasts: pd.DataFrame
    setpoints: list[tuple[pd.Timestamp, list[Setpoint]]] = field(default_factory=list)
    dr_events: list[DrEventRecord] = field(default_factory=list)


def synthetic_park(
    n_tenants: int = 6,
    days: float = 10.0,
    end: str = "2025-06-01",
    seed: int = 0,
) -> SyntheticPark:
    """A park of ``n_tenants`` tenants with ``days`` of 15-minute data ending at ``end`` (UTC).

    Parameters
    ----------
    n_tenants : int
        Number of tenants (1 to 6).
    days : float
        Length of the data [days].
    end : str
        End of the data (exclusive), UTC.
    seed : int
        Seed of the noise.

    Returns
    -------
    SyntheticPark
        Loads [kWh per 15 min], PV [kWh per 15 min], state of charge [%],
        price [KRW/kWh], and a day-ahead load forecast of the first tenant.
    """
    if not 1 <= n_tenants <= len(TENANT_IDS):
        raise ValueError(f"n_tenants must be 1 to {len(TENANT_IDS)}")
    rng = np.random.default_rng(seed)
    tenants = []
    meters: list[dict[str, object]] = []
    for i, tid in enumerate(TENANT_IDS[:n_tenants]):
        tenants.append(
            {
                "id": tid,
                "name": f"{tid.title()} Co.",
                "sector": _SECTORS[i],
                "floor_area_m2": 2000.0 + 1500.0 * i,
                "re100_target_year": 2030 + 5 * (i % 2),
            }
        )
        meters.append(
            {
                "id": f"{tid}-load",
                "tenant": tid,
                "kind": "load",
                "unit": "kWh",
                "resolution": "15min",
            }
        )
        if i % 2 == 0:
            meters.append(
                {
                    "id": f"{tid}-pv",
                    "tenant": tid,
                    "kind": "pv",
                    "unit": "kWh",
                    "resolution": "15min",
                }
            )
    meters += [
        {"id": "park-ess-soc", "kind": "battery", "unit": "%", "resolution": "15min"},
        {"id": "park-price", "kind": "price", "unit": "KRW/kWh", "resolution": "1h"},
    ]
    site = parse_site(
        {
            "site": {
                "id": "testpark",
                "name": "Test Park",
                "timezone": "Asia/Seoul",
                "latitude": 35.2,
                "longitude": 126.8,
                "tariff": {
                    "name": "kepco-industrial-eul-high-a",
                    "option": "II",
                    "contract_kw": 900,
                },
            },
            "tenants": tenants,
            "meters": meters,
            "assets": [
                {
                    "type": "battery",
                    "id": "park-ess",
                    "capacity_kwh": 800,
                    "power_kw": 400,
                    "meter": "park-ess-soc",
                },
                # tenant-owned storage of the first two tenants (their own setpoints)
                *(
                    {
                        "type": "battery",
                        "id": f"{tid}-ess",
                        "tenant": tid,
                        "capacity_kwh": 200,
                        "power_kw": 100,
                    }
                    for tid in TENANT_IDS[: min(2, n_tenants)]
                ),
            ],
        }
    )
    stop = pd.Timestamp(end, tz="UTC")
    index = pd.date_range(stop - pd.Timedelta(days=days), stop, freq="15min", inclusive="left")
    local_hour = index.tz_convert("Asia/Seoul").hour + index.tz_convert("Asia/Seoul").minute / 60
    day_shape = 0.6 + 0.4 * np.clip(np.sin((local_hour - 6) / 12 * np.pi), 0, None)
    sun = np.clip(np.sin((local_hour - 6) / 12 * np.pi), 0, None)
    frames = []
    for i, tid in enumerate(TENANT_IDS[:n_tenants]):
        base_kw = 80.0 + 40.0 * i
        kw = base_kw * day_shape * (1 + 0.05 * rng.standard_normal(len(index)))
        frames.append(pd.DataFrame({"meter_id": f"{tid}-load", "ts": index, "value": kw / 4}))
        if i % 2 == 0:
            pv_kw = 0.4 * base_kw * sun * (0.8 + 0.2 * rng.random(len(index)))
            frames.append(pd.DataFrame({"meter_id": f"{tid}-pv", "ts": index, "value": pv_kw / 4}))
    soc = 50 + 40 * np.sin(np.arange(len(index)) / 96 * 2 * np.pi)
    frames.append(pd.DataFrame({"meter_id": "park-ess-soc", "ts": index, "value": soc}))
    hourly = index[index.minute == 0]
    price = 100 + 60 * (hourly.tz_convert("Asia/Seoul").hour >= 9)
    frames.append(pd.DataFrame({"meter_id": "park-price", "ts": hourly, "value": price}))
    readings = pd.concat(frames, ignore_index=True)
    readings["quality"] = 0

    first = frames[0]
    last_day = first[first["ts"] >= stop - pd.Timedelta(days=1)]
    forecasts = pd.DataFrame(
        {
            "meter_id": last_day["meter_id"].to_numpy(),
            "issued_at": stop - pd.Timedelta(days=1, hours=12),
            "ts": last_day["ts"].to_numpy(),
            "horizon": np.arange(len(last_day)) + 48,
            "quantile": 0.5,
            "value": last_day["value"].to_numpy() * 1.05,
            "model": "synthetic",
        }
    )
    park_kw = float(sum(80.0 + 40.0 * i for i in range(n_tenants))) * 0.8
    return SyntheticPark(
        site, readings, forecasts, _setpoints(site, stop), _dr_events(site, stop, 0.7 * park_kw)
    )


def _dr_events(site: Site, stop: pd.Timestamp, target_kw: float) -> list[DrEventRecord]:
    """The two DR events of :data:`DR_EVENT_IDS` before ``stop``."""
    tz = site.site.timezone
    day = (stop.tz_convert(tz) - pd.Timedelta(days=1)).normalize()
    weekday = next(
        day - pd.Timedelta(days=k) for k in range(7) if (day - pd.Timedelta(days=k)).weekday() < 5
    )
    dayoff = next(
        day - pd.Timedelta(days=k) for k in range(7) if (day - pd.Timedelta(days=k)).weekday() >= 5
    )
    out = []
    for event_id, start, hours, target in (
        (DR_EVENT_IDS[0], weekday + pd.Timedelta(hours=14), 2, target_kw),
        (DR_EVENT_IDS[1], dayoff + pd.Timedelta(hours=10), 1, None),
    ):
        out.append(
            DrEventRecord(
                site_id=site.site.id,
                event_id=event_id,
                start_at=start.tz_convert("UTC").to_pydatetime(),
                end_at=(start + pd.Timedelta(hours=hours)).tz_convert("UTC").to_pydatetime(),
                target_kw=target,
                signal="LOAD_CONTROL/x-loadControlCapacity",
                opted_in=target is not None,
                reason="" if target is not None else "no usable target",
                received_at=(start - pd.Timedelta(days=1)).tz_convert("UTC").to_pydatetime(),
            )
        )
    return out


def _setpoints(site: Site, stop: pd.Timestamp) -> list[tuple[pd.Timestamp, list[Setpoint]]]:
    """A day of 15-minute battery setpoints before ``stop``, as the control loop issues them.

    Every battery gets an MPC plan value per interval (charge around noon,
    discharge in the evening); every eighth interval a peak action issued a
    minute later overrides it, so the schedule differs from the raw journal.
    """
    batteries = [a for a in site.assets if a.type == "battery"]
    ticks = pd.date_range(stop - pd.Timedelta(days=1), stop, freq="15min", inclusive="left")
    out: list[tuple[pd.Timestamp, list[Setpoint]]] = []
    for i, tick in enumerate(ticks):
        hour = tick.tz_convert("Asia/Seoul").hour + tick.minute / 60
        until = tick + pd.Timedelta(minutes=20)
        plan = [
            Setpoint(
                asset=a.id,
                kind="battery",
                power_kw=round(0.5 * a.power_kw * float(np.sin((hour - 6) / 12 * np.pi)), 3),
                valid_from=tick,
                valid_until=until,
                mode=Mode.MPC,
                reason="plan",
            )
            for a in batteries
            if isinstance(a, BatteryAsset)
        ]
        out.append((tick, plan))
        if i % 8 == 7:
            peak = [
                Setpoint(s.asset, s.kind, -abs(s.power_kw), tick, until, Mode.PEAK, "peak")
                for s in plan
            ]
            out.append((tick + pd.Timedelta(minutes=1), peak))
    return out


def relabel(park: SyntheticPark, site_id: str, prefix: str, scale: float = 1.0) -> SyntheticPark:
    """The same park as another site: same tenant ids, other site, meter and asset ids.

    Tenant ids repeat across sites on purpose (that is what site binding must
    keep apart); meter and asset ids get ``prefix`` (they are unique in a
    store), tenant names get `` (<site_id>)``, and every reading is multiplied
    by ``scale`` so a figure summed over both sites is visibly wrong.
    """
    doc = park.site.model_dump(mode="json")
    doc["site"]["id"] = site_id
    doc["site"]["name"] = f"{doc['site']['name']} ({site_id})"
    for tenant in doc["tenants"]:
        tenant["name"] = f"{tenant['name']} ({site_id})"
    for meter in doc["meters"]:
        meter["id"] = prefix + meter["id"]
    for asset in doc["assets"]:
        asset["id"] = prefix + asset["id"]
        if asset.get("meter"):
            asset["meter"] = prefix + asset["meter"]
    readings = park.readings.assign(
        meter_id=prefix + park.readings["meter_id"], value=park.readings["value"] * scale
    )
    forecasts = park.forecasts.assign(meter_id=prefix + park.forecasts["meter_id"])
    setpoints = [
        (at, [replace(sp, asset=prefix + sp.asset) for sp in plan]) for at, plan in park.setpoints
    ]
    events = [replace(e, site_id=site_id) for e in park.dr_events]
    return SyntheticPark(parse_site(doc), readings, forecasts, setpoints, events)


def populate(
    store: Store,
    tokens: TokenStore,
    park: SyntheticPark,
    *,
    user_prefix: str = "",
    bind_site: bool = False,
) -> dict[str, str]:
    """Write ``park`` into ``store`` and create one user and token per role.

    With ``bind_site`` every user is bound to the park's site (as
    ``bitgaram users add --site`` does); ``user_prefix`` keeps the user names
    of several parks in one store apart.

    Returns
    -------
    dict
        Token per user: ``operator``, ``viewer`` (park-wide, read-only) and,
        for every tenant, ``<tenant>`` (manager) and ``<tenant>-viewer``.
        The operator and the first tenant's manager have the password
        ``"pw-" + name`` (for browser logins); the others have none.
    """
    store.save_site(park.site)
    store.write_readings(park.readings, source="synthetic")
    if not park.forecasts.empty:
        store.write_forecasts(park.forecasts)
    if park.dr_events:
        store.write_dr_events(park.dr_events)
    if park.setpoints:
        journal = StoreJournal(store)
        for issued_at, setpoints in park.setpoints:
            journal.record_setpoints(park.site.site.id, issued_at, setpoints)
    out: dict[str, str] = {}
    users: list[tuple[str, Role, str | None]] = [
        ("operator", Role.OPERATOR, None),
        ("viewer", Role.VIEWER, None),
    ]
    for tenant in park.site.tenants:
        users.append((tenant.id, Role.TENANT_MANAGER, tenant.id))
        users.append((f"{tenant.id}-viewer", Role.VIEWER, tenant.id))
    # Passwords cost ~0.1 s each to hash: give them only to the users that log in.
    with_password = {"operator", park.site.tenants[0].id}
    site_id = park.site.site.id if bind_site else None
    for name, role, tenant_id in users:
        password = f"pw-{name}" if name in with_password else None
        tokens.add_user(user_prefix + name, role, tenant_id, password=password, site_id=site_id)
        out[name] = tokens.issue_token(user_prefix + name)
    return out
