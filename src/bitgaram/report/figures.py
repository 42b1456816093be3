"""Figures of the park report (matplotlib, rendered off-screen to PNG)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bitgaram.report.summary import ParkSummary


def plot_park(summary: ParkSummary, path: str | Path) -> Path:
    """Write a two-panel PNG: monthly energy and the average daily profile.

    Parameters
    ----------
    summary : ParkSummary
        The park's hourly load and PV.
    path : str or pathlib.Path
        Output PNG.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(path)
    hourly = summary.hourly.copy()
    local = pd.DatetimeIndex(hourly.index).tz_convert(summary.timezone)
    hourly.index = local
    hourly["grid import"] = (hourly["load"] - hourly["pv"]).clip(lower=0)
    monthly = hourly.groupby(local.strftime("%Y-%m")).sum()
    profile = hourly.groupby(local.hour)[["load", "pv"]].mean()

    fig, (ax_month, ax_day) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    width = 0.28
    x = range(len(monthly))
    ax_month.bar([i - width for i in x], monthly["load"], width, label="load", color="#4c72b0")
    ax_month.bar(list(x), monthly["pv"], width, label="PV", color="#dd8452")
    ax_month.bar([i + width for i in x], monthly["grid import"], width, label="grid import",
                 color="#8c8c8c")  # fmt: skip
    ax_month.set_xticks(list(x), list(monthly.index), rotation=45, ha="right")
    ax_month.set_ylabel("energy [kWh]")
    ax_month.set_title("Monthly energy")
    ax_month.legend()
    ax_day.plot(profile.index, profile["load"], label="load", color="#4c72b0")
    ax_day.fill_between(profile.index, profile["pv"], alpha=0.4, label="PV", color="#dd8452")
    ax_day.set_xlabel(f"hour of day ({summary.timezone})")
    ax_day.set_ylabel("average power [kW]")
    ax_day.set_title("Average day")
    ax_day.set_xticks(range(0, 24, 3))
    ax_day.legend()
    fig.suptitle(f"{summary.name}: {len(summary.tenants)} tenants")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
