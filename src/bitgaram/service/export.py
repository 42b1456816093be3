"""A tenant's data, exported in open formats: their right to leave with it.

:func:`export_tenant` writes one folder:

- ``tenant.json``: the site id, the tenant, its meters and assets (the site file's fields);
- ``readings.csv``: every stored reading of its meters (``meter_id, ts, value``; ``ts`` the
  interval start in ISO 8601 UTC; values in the meter's unit);
- ``forecasts.csv``: every forecast issued for its meters (all issues, not only the latest);
- ``setpoints.csv``: the control journal's setpoints of its assets;
- ``users.csv``: the API users limited to the tenant (name and role; never a secret);
- ``manifest.json``: each file with its row count and SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bitgaram.errors import ConfigError
from bitgaram.site import choose_site_id
from bitgaram.store.base import Store


@dataclass(frozen=True)
class TenantExport:
    """What :func:`export_tenant` wrote: ``files`` maps a file name to its row count."""

    folder: Path
    files: dict[str, int]


def _iso(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_convert("UTC").map(lambda t: t.isoformat())
    return out


def export_tenant(
    store: Store, tenant_id: str, folder: str | Path, site_id: str | None = None
) -> TenantExport:
    """Write one tenant's data to ``folder`` (created; must be empty or absent).

    Parameters
    ----------
    store : Store
    tenant_id : str
    folder : str or pathlib.Path
    site_id : str, optional
        The site (the only stored one when omitted).

    Returns
    -------
    TenantExport

    Raises
    ------
    ConfigError
        If the tenant is unknown or the folder is not empty.
    bitgaram.site.SiteChoiceError
        If ``site_id`` is not stored, or it is None and several sites are.
    """
    site = store.load_site(
        choose_site_id(store.list_sites(), site_id, how="--site-id ID", where=store.url)
    )
    tenant = site.tenant(tenant_id)
    out = Path(folder)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: not empty; export into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    meters = [m for m in site.meters if m.tenant == tenant_id]
    assets = [a for a in site.assets if a.tenant == tenant_id]
    ids = [m.id for m in meters]
    frames: dict[str, pd.DataFrame] = {
        "readings.csv": store.read_readings(ids) if ids else pd.DataFrame(),
        "forecasts.csv": store.read_forecasts(ids, latest=False) if ids else pd.DataFrame(),
        "setpoints.csv": _setpoints(store, site.site.id, {a.id for a in assets}),
        "users.csv": _users(store, tenant_id),
    }
    files: dict[str, int] = {}
    doc = {
        "site": site.site.id,
        "tenant": tenant.model_dump(mode="json"),
        "meters": [m.model_dump(mode="json") for m in meters],
        "assets": [a.model_dump(mode="json") for a in assets],
    }
    (out / "tenant.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    files["tenant.json"] = 1
    for name, frame in frames.items():
        _iso(frame).to_csv(out / name, index=False)
        files[name] = len(frame)
    manifest = {
        name: {
            "rows": rows,
            "sha256": hashlib.sha256((out / name).read_bytes()).hexdigest(),
        }
        for name, rows in files.items()
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return TenantExport(out, files)


def _setpoints(store: Store, site_id: str, assets: set[str]) -> pd.DataFrame:
    from bitgaram.control.journal import StoreJournal
    from bitgaram.errors import StoreError

    try:
        rows = StoreJournal(store).read_setpoints(site_id)
    except StoreError:  # not a SQL store: no journal
        return pd.DataFrame()
    return rows[rows["asset"].isin(sorted(assets))].reset_index(drop=True)


def _users(store: Store, tenant_id: str) -> pd.DataFrame:
    from bitgaram.api import Settings
    from bitgaram.api.app import token_store_for

    try:
        tokens = token_store_for(store, Settings())
    except ConfigError:
        return pd.DataFrame(columns=["name", "role"])
    users = [u for u in tokens.list_users() if u.tenant_id == tenant_id]
    return pd.DataFrame(
        {"name": [u.name for u in users], "role": [u.role.value for u in users]},
        columns=["name", "role"],
    )
