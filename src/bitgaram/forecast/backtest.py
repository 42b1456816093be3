"""Rolling-origin backtests: every forecaster on the same origins, scored by horizon.

Each forecaster is run through :func:`~bitgaram.forecast.base.rolling_forecast`
(refit once per block of ``refit_every`` steps, never more than the caller
asks), then scored per series and pooled over series ("all") at chosen steps
ahead (1 h, 6 h, 24 h by default), with skill against a reference forecaster
(the best naive baseline by default).
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bitgaram.errors import ForecastError
from bitgaram.forecast import metrics
from bitgaram.forecast.base import Forecaster, ForecastResult, actual_matrix, rolling_forecast

#: Steps ahead reported by default (1 h, 6 h and 24 h on hourly data).
DEFAULT_REPORT_HORIZONS: tuple[int, ...] = (1, 6, 24)

#: Label of the scores pooled over all series.
POOLED = "all"


@dataclass(frozen=True)
class ModelRun:
    """One forecaster's backtest forecasts and cost.

    Attributes
    ----------
    result : ForecastResult
        Forecasts at every origin.
    seconds : float
        Wall-clock time of the rolling fit/predict [s].
    peak_mib : float
        Peak Python-traced memory during the run [MiB] (0 if not traced).
    """

    result: ForecastResult
    seconds: float
    peak_mib: float


@dataclass(frozen=True)
class BacktestReport:
    """Forecasts of several models on the same origins, with their scores.

    Attributes
    ----------
    runs : dict of str to ModelRun
        Per model name.
    actual : numpy.ndarray
        Observations aligned with the forecasts, (n_origins, horizon, n_series).
    scores : pandas.DataFrame
        One row per (model, series, horizon): ``mae``, ``rmse``, ``nmae``,
        ``pinball`` (mean over the quantile levels, NaN without quantiles),
        ``coverage`` (share inside the outermost quantiles), ``skill`` (vs the
        reference model's MAE on the same series and horizon).
    reference : str
        Name of the reference model for skill.
    """

    runs: dict[str, ModelRun]
    actual: np.ndarray
    scores: pd.DataFrame
    reference: str

    def skill_table(self, series: str = POOLED) -> pd.DataFrame:
        """MAE and skill by model (rows) and horizon (columns) for one series."""
        sub = self.scores[self.scores["series"] == series]
        return sub.pivot_table(index="model", columns="horizon", values=["mae", "skill"])


def score_result(
    result: ForecastResult,
    actual: np.ndarray,
    horizons: Sequence[int] = DEFAULT_REPORT_HORIZONS,
) -> pd.DataFrame:
    """Score one forecast per series and pooled, at steps ahead ``horizons`` (1-based).

    Returns
    -------
    pandas.DataFrame
        Columns model, series, horizon, mae, rmse, nmae, pinball, coverage.
    """
    if actual.shape != result.point.shape:
        raise ForecastError(f"actual shape {actual.shape} differs from {result.point.shape}")
    rows = []
    levels = sorted(result.quantiles)
    for h in horizons:
        if not 1 <= h <= result.horizon:
            raise ForecastError(f"report horizon {h} outside 1..{result.horizon}")
        f = result.point[:, h - 1, :]
        a = actual[:, h - 1, :]
        per_series: list[tuple[str, slice | int]] = [
            (name, j) for j, name in enumerate(result.series)
        ]
        per_series.append((POOLED, slice(None)))
        for name, sel in per_series:
            fs, as_ = f[:, sel], a[:, sel]
            row: dict[str, object] = {
                "model": result.name,
                "series": name,
                "horizon": h,
                "mae": float(metrics.mae(fs, as_)),
                "rmse": float(metrics.rmse(fs, as_)),
                "nmae": float(metrics.nmae(fs, as_)),
                "pinball": np.nan,
                "coverage": np.nan,
            }
            if levels:
                qs = [result.quantiles[q][:, h - 1, :][:, sel] for q in levels]
                row["pinball"] = float(
                    np.mean([metrics.pinball(qv, as_, q) for q, qv in zip(levels, qs, strict=True)])
                )
                if len(levels) >= 2:
                    row["coverage"] = float(metrics.coverage(qs[0], qs[-1], as_))
            rows.append(row)
    return pd.DataFrame(rows)


def run_backtest(
    forecasters: Mapping[str, Forecaster],
    y: pd.DataFrame,
    origins: np.ndarray,
    horizon: int,
    exog: pd.DataFrame | None = None,
    refit_every: int | None = 24 * 7,
    quantiles: Sequence[float] = (),
    report_horizons: Sequence[int] = DEFAULT_REPORT_HORIZONS,
    reference: str | None = None,
    trace_memory: bool = False,
    on_model: Callable[[str], None] | None = None,
) -> BacktestReport:
    """Run every forecaster on the same origins and score them.

    Parameters
    ----------
    forecasters : mapping of str to Forecaster
        Display name -> model.
    y : pandas.DataFrame
        Series [kWh per step or kW].
    origins : numpy.ndarray
        Origin positions, increasing.
    horizon : int
        Steps per forecast (at least the largest report horizon).
    exog : pandas.DataFrame, optional
        Exogenous data (weather with forecast columns, calendar).
    refit_every : int or None
        Steps between refits.
    quantiles : sequence of float
        Quantile levels asked of every model.
    report_horizons : sequence of int
        Steps ahead to score (1 = first step).
    reference : str, optional
        Name of the skill reference (default: the first model).
    trace_memory : bool
        Measure peak Python memory per model with :mod:`tracemalloc` (slower).
    on_model : callable, optional
        Called with each model's name before it runs (progress display).

    Returns
    -------
    BacktestReport
    """
    if not forecasters:
        raise ForecastError("run_backtest needs at least one forecaster")
    ref = reference if reference is not None else next(iter(forecasters))
    if ref not in forecasters:
        raise ForecastError(f"reference {ref!r} is not among the models {list(forecasters)}")
    actual = actual_matrix(y.to_numpy(dtype=float), origins, horizon)
    runs: dict[str, ModelRun] = {}
    frames = []
    for name, model in forecasters.items():
        if on_model is not None:
            on_model(name)
        if trace_memory:
            tracemalloc.start()
        start = time.perf_counter()
        result = rolling_forecast(model, y, origins, horizon, exog, refit_every, quantiles)
        seconds = time.perf_counter() - start
        peak = 0.0
        if trace_memory:
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        result = ForecastResult(
            result.origins, result.horizon, result.series, result.point, result.quantiles, name
        )
        runs[name] = ModelRun(result, seconds, peak)
        frames.append(score_result(result, actual, report_horizons))
    scores = pd.concat(frames, ignore_index=True)
    ref_mae = scores[scores["model"] == ref].set_index(["series", "horizon"])["mae"]
    keys = pd.MultiIndex.from_frame(scores[["series", "horizon"]])
    scores["skill"] = metrics.skill(scores["mae"].to_numpy(), ref_mae.reindex(keys).to_numpy())
    return BacktestReport(runs=runs, actual=actual, scores=scores, reference=ref)


def plot_week(
    report: BacktestReport,
    index: pd.DatetimeIndex,
    series: str,
    models: Sequence[str],
    step_ahead: int,
    path: str,
    start_origin: int | None = None,
    title: str = "",
) -> None:
    """Save a PNG of forecasts ``step_ahead`` steps ahead vs actual over one week.

    Parameters
    ----------
    report : BacktestReport
        Backtest to draw from.
    index : pandas.DatetimeIndex
        Series index (origins are positions into it).
    series : str
        Series to draw.
    models : sequence of str
        Models to draw; the first one's P10-P90 band is shaded if present.
    step_ahead : int
        1-based step ahead shown at each target time.
    path : str
        Output PNG file.
    start_origin : int, optional
        First origin shown (default: the median origin).
    title : str
        Figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = next(iter(report.runs.values())).result
    j = first.series.index(series)
    o = first.origins
    week = 7 * max(1, round(pd.Timedelta(days=1) / (index[1] - index[0])))
    i0 = int(np.searchsorted(o, start_origin)) if start_origin is not None else len(o) // 2
    sel = slice(i0, min(i0 + week, len(o)))
    target = o[sel] + step_ahead - 1
    inside = target < len(index)
    times = index[target[inside]]
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.plot(
        times, report.actual[sel, step_ahead - 1, j][inside], color="black", lw=1.6, label="actual"
    )
    for n, name in enumerate(models):
        res = report.runs[name].result
        ax.plot(times, res.point[sel, step_ahead - 1, j][inside], lw=1.1, label=name)
        if n == 0 and len(res.quantiles) >= 2:
            lo, hi = min(res.quantiles), max(res.quantiles)
            ax.fill_between(
                times,
                res.quantiles[lo][sel, step_ahead - 1, j][inside],
                res.quantiles[hi][sel, step_ahead - 1, j][inside],
                alpha=0.2,
                label=f"{name} P{lo * 100:g}-P{hi * 100:g}",
            )
    ax.set_title(title or f"{series}: {step_ahead} step(s) ahead")
    ax.set_ylabel("kWh per step")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown_table(scores: pd.DataFrame, series: str = POOLED) -> str:
    """Markdown table of MAE, skill and pinball per model (rows) and horizon (columns)."""
    sub = scores[scores["series"] == series]
    horizons = sorted({int(h) for h in sub["horizon"]})
    head = ["model"]
    for h in horizons:
        head += [f"MAE {h}h", f"skill {h}h"]
    head += [f"pinball {horizons[-1]}h"] if horizons else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model in dict.fromkeys(sub["model"]):
        m = sub[sub["model"] == model].set_index("horizon")
        cells = [str(model)]
        for h in horizons:
            cells += [f"{m.loc[h, 'mae']:.4f}", f"{m.loc[h, 'skill']:+.3f}"]
        if horizons:
            pin = m.loc[horizons[-1], "pinball"]
            cells.append("" if pd.isna(pin) else f"{pin:.4f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
