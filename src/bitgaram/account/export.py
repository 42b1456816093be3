"""CSV exports and a printable HTML report per tenant (the file-writing edge of account)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from bitgaram.account.ledger import Account


def progress_frame(accounts: Sequence[Account]) -> pd.DataFrame:
    """Target progress of several accounts as one table."""
    rows = [
        {
            "name": a.name,
            "target": p.target.name,
            "target_year": p.target.year,
            "year": p.year,
            "consumption_mwh": p.consumption_kwh / 1000,
            "renewable_mwh": p.renewable_kwh / 1000,
            "re_share": p.re_share,
            "gap_mwh": p.gap_kwh / 1000,
            "years_left": p.years_left,
            "required_pp_per_year": p.required_pp_per_year,
            "k_re100_eligible": p.k_re100_eligible,
        }
        for a in accounts
        for p in a.progress
    ]
    return pd.DataFrame(rows)


def _ledger(accounts: Sequence[Account], which: str) -> pd.DataFrame:
    parts = []
    for a in accounts:
        frame = getattr(a, which).copy()
        frame.insert(0, "name", a.name)
        parts.append(frame.reset_index())
    return pd.concat(parts, ignore_index=True)


def write_account_csv(accounts: Sequence[Account], out_dir: str | Path) -> list[Path]:
    """Write ``monthly.csv``, ``annual.csv`` and ``progress.csv`` for all accounts.

    Parameters
    ----------
    accounts : sequence of Account
        Tenants and the park.
    out_dir : str or pathlib.Path
        Folder (created if absent).

    Returns
    -------
    list of pathlib.Path
        Files written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for which in ("monthly", "annual"):
        path = out / f"{which}.csv"
        _ledger(accounts, which).to_csv(path, index=False, float_format="%.10g")
        paths.append(path)
    path = out / "progress.csv"
    progress_frame(accounts).to_csv(path, index=False, float_format="%.10g")
    paths.append(path)
    return paths


def _chart(acc: Account, path: Path) -> Path:
    m = acc.monthly
    labels = [pd.Timestamp(str(i)).strftime("%Y-%m") for i in m.index]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    x = range(len(m))
    ax.bar(x, m["consumption_kwh"] / 1000, color="#bbb", label="consumption")
    ax.bar(x, m["onsite_used_kwh"] / 1000, color="#f5a623", label="on-site renewable used")
    ax.bar(
        x,
        m["instruments_applied_kwh"] / 1000,
        bottom=m["onsite_used_kwh"] / 1000,
        color="#4a90d9",
        label="instruments",
    )
    ax.set_xticks(list(x), labels, rotation=45, fontsize=7)
    ax.set_ylabel("MWh")
    ax.set_title(f"{acc.name}: monthly consumption and renewable supply", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


_CSS = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;font-size:10.5pt}"
    "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #999;padding:2px 5px;"
    "font-size:8.5pt;text-align:right}img{max-width:100%}"
    "@media print{body{margin:0;max-width:none}h2{page-break-before:always}}"
)

_LEDGER_COLUMNS = {
    "hours": "hours",
    "consumption_kwh": "consumption [kWh]",
    "onsite_used_kwh": "on-site RE used [kWh]",
    "grid_import_kwh": "grid [kWh]",
    "ppa_kwh": "PPA [kWh]",
    "rec_kwh": "REC [kWh]",
    "green_premium_kwh": "green premium [kWh]",
    "renewable_kwh": "renewable [kWh]",
    "re_share": "RE share",
    "cfe_score": "24/7 CFE",
    "location_kgco2": "Scope 2 location [kgCO2]",
    "location_hourly_kgco2": "location, hourly intensity [kgCO2]",
    "market_kgco2": "Scope 2 market [kgCO2]",
}


def _table(frame: pd.DataFrame, label: str = "%Y-%m") -> str:
    cols = [c for c in _LEDGER_COLUMNS if c in frame]
    view = frame[cols].rename(columns=_LEDGER_COLUMNS)
    view.index = [pd.Timestamp(str(i)).strftime(label) for i in frame.index]
    fmt = {
        v: (lambda x: f"{x:.1%}") if k in ("re_share", "cfe_score") else (lambda x: f"{x:,.0f}")
        for k, v in _LEDGER_COLUMNS.items()
        if k in frame
    }
    return view.to_html(formatters=fmt)  # type: ignore[arg-type]


def write_tenant_report(acc: Account, out_dir: str | Path) -> Path:
    """Write a printable HTML report (and its PNG chart) for one account.

    Parameters
    ----------
    acc : Account
        Tenant or park account.
    out_dir : str or pathlib.Path
        Folder (created if absent).

    Returns
    -------
    pathlib.Path
        ``<name>.html`` in ``out_dir``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in acc.name)
    chart = _chart(acc, out / f"{stem}_monthly.png")
    factors = "; ".join(
        f"{y}: {f.id} = {f.value_kg_per_kwh:g} kgCO2/kWh"
        for y, f in sorted(acc.grid_factors.items())
    )
    residual = (
        f"{acc.residual_factor_kg_per_kwh:g} kgCO2/kWh (configured)"
        if acc.residual_factor_kg_per_kwh is not None
        else "the location-based grid factor of each year (default; Korea publishes no "
        "residual mix; set <code>residual_factor</code> in the instruments file to change it)"
    )
    prog = progress_frame([acc])
    prog_html = prog.drop(columns=["name"]).to_html(index=False, float_format=lambda v: f"{v:,.3g}")
    body = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(acc.name)}: "
        f"carbon and RE100</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(acc.name)}: carbon and RE100 report</h1>",
        "<p>Scope 2 (GHG Protocol), dual reporting. Location-based: grid electricity &times; "
        f"grid factor ({html.escape(factors)}). Market-based: grid electricity not covered by "
        f"instruments (REC, PPA, green premium) &times; residual factor: {residual}. "
        "RE share = renewable MWh / consumed MWh (annual, volumetric). 24/7 CFE = "
        "&Sigma;<sub>h</sub> min(load, on-site + PPA) / &Sigma;<sub>h</sub> load; RECs and "
        "green premium are not hourly and do not count toward CFE.</p>",
        "<h2>Annual</h2>",
        _table(acc.annual, "%Y"),
        "<h2>Progress toward targets</h2>",
        prog_html,
        "<h2>Monthly</h2>",
        f"<img src='{chart.name}' alt='monthly chart'>",
        _table(acc.monthly),
        "</body></html>",
    ]
    path = out / f"{stem}.html"
    path.write_text("\n".join(body), encoding="utf-8")
    return path
