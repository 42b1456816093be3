"""Files written for a simulation run: CSVs, KPI JSON and a one-week plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bitgaram.simulate.engine import SimulationResult
from bitgaram.site.data import SiteData


def kpi_document(result: SimulationResult, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``kpis.json`` content: CityLearn ratios, absolute KPIs and run time."""
    doc: dict[str, Any] = {
        "controller": result.controller,
        **result.score.as_dict(),
        "run_time_s": round(result.seconds, 3),
        "absolute": {k: float(v) for k, v in vars(result.kpis).items()},
        "baseline": {k: float(v) for k, v in vars(result.baseline).items()},
    }
    if extra:
        doc.update(extra)
    return doc


def write_outputs(
    result: SimulationResult,
    site: SiteData,
    out_dir: Path,
    extra: dict[str, Any] | None = None,
    plot_start: int | None = None,
) -> list[Path]:
    """Write ``net_electricity_consumption.csv``, ``battery_energy.csv``, ``kpis.json`` and a PNG.

    Parameters
    ----------
    result : SimulationResult
        The run.
    site : SiteData
        The site it ran on (building names, PV, load).
    out_dir : pathlib.Path
        Output folder (created if needed).
    extra : dict, optional
        Additional entries for ``kpis.json``.
    plot_start : int, optional
        First step of the plotted week (default: the week with the largest
        baseline peak).

    Returns
    -------
    list of pathlib.Path
        Files written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(site.names)
    net_path = out_dir / "net_electricity_consumption.csv"
    bat_path = out_dir / "battery_energy.csv"
    kpi_path = out_dir / "kpis.json"
    png_path = out_dir / "schedule_week.png"
    pd.DataFrame(result.net_kwh, columns=names).to_csv(net_path, index=False, float_format="%.6f")
    pd.DataFrame(result.battery_kwh, columns=names).to_csv(
        bat_path, index=False, float_format="%.6f"
    )
    kpi_path.write_text(json.dumps(kpi_document(result, extra), indent=2) + "\n")
    plot_week(result, site, png_path, plot_start)
    return [net_path, bat_path, kpi_path, png_path]


def plot_week(
    result: SimulationResult, site: SiteData, path: Path, start: int | None = None
) -> None:
    """Plot one week: district net load before/after, battery energy and SoC."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    week = round(7 * 24 / site.step_hours)
    base = site.net_load_kwh.sum(axis=1)
    n = len(base)
    if start is None:
        starts = np.arange(0, max(n - week, 0) + 1, week // 7 or 1)
        start = int(max(starts, key=lambda s: base[s : s + week].max())) if starts.size else 0
    sl = slice(start, min(start + week, n))
    x = site.index[sl]
    fig, axes = plt.subplots(3, 1, figsize=(11, 8), sharex=True)
    axes[0].plot(x, base[sl], label="without battery", color="0.5")
    axes[0].plot(x, result.net_kwh[sl].sum(axis=1), label=f"with {result.controller}", color="C0")
    axes[0].set_ylabel("district net [kWh]")
    axes[0].legend(loc="upper right")
    axes[1].plot(x, result.battery_kwh[sl])
    axes[1].set_ylabel("battery [kWh]\n(+ charge)")
    axes[2].plot(x, result.soc_kwh[sl])
    axes[2].set_ylabel("stored [kWh]")
    axes[2].legend(
        list(site.names), loc="upper right", fontsize="small", ncol=min(5, len(site.names))
    )
    s = result.score
    fig.suptitle(
        f"{result.controller}: score {s.score:.3f} (C {s.price_cost:.3f}, G {s.emission_cost:.3f}, "
        f"R {s.ramping:.3f}, L {s.load_factor:.3f})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
