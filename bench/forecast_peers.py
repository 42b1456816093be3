"""Peer-library forecasters on the backtest's exact origins (issue 21).

Two parts:

- :class:`StatsForecastETS`, the statsforecast AutoETS peer that
  ``bench/forecast_backtest.py`` runs in its own harness. Cost control: per
  series, an ETS model (season 24, error/season type chosen by AutoETS, no
  trend) is estimated once per refit block on the last ``window`` steps before
  the block; for each origin in the block the fitted parameters are re-applied
  to the ``window`` steps before that origin (``forward``), so every forecast
  uses only data before its origin. Forecasts of series that were never
  negative are clipped at zero.
- ``main()``: the shipped load and PV forecasters against skforecast and
  mlforecast (recursive LightGBM, library defaults, lags 1-24 h, 48 h and 168 h,
  calendar and the same weather inputs). Those two libraries need pandas < 3, which the
  project's lock excludes, so they run in their own virtual environment
  (``bench/peers/requirements.txt``) through a file handoff: this script (main
  environment) writes the series, the backtest's origins, and for every origin
  the exogenous values available then to an ``.npz`` file;
  ``bench/peers/run_peers.py`` (peers environment) fits and forecasts and writes
  the point forecasts back; this script scores them with the same metric code
  (:func:`bitgaram.forecast.backtest.score_result`) and the same actuals as the
  shipped forecaster.

Usage (one-time peers environment, then the run)::

    python3 -m venv .venv-peers
    .venv-peers/bin/pip install -r bench/peers/requirements.txt
    nice .venv/bin/python bench/forecast_peers.py --write
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
from statsforecast.models import AutoETS

from bitgaram.datasets.citylearn import read_citylearn
from bitgaram.forecast.backtest import POOLED, BacktestReport, run_backtest, score_result
from bitgaram.forecast.base import (
    DEFAULT_QUANTILES,
    Forecaster,
    ForecastResult,
    check_origins,
    latest_weather_forecast,
    steps_per_day,
)
from bitgaram.forecast.baselines import BestBaseline, SeasonalNaive
from bitgaram.forecast.citylearn import DEFAULT_WARMUP_DAYS, CityLearnFrames, citylearn_frames
from bitgaram.forecast.features import build_calendar
from bitgaram.forecast.feedback import error_feedback
from bitgaram.forecast.load import DEFAULT_NEAR_STEPS, LightGBMLoadForecaster
from bitgaram.forecast.pv import DEFAULT_NEAR_STEPS as PV_NEAR_STEPS
from bitgaram.forecast.pv import PVForecaster
from bitgaram.optimize.forecasts import NEAR_STEPS as MPC_NEAR_STEPS
from bitgaram.optimize.forecasts import PV_SHIPPED_WEIGHT, pv_blend
from bitgaram.optimize.forecasts import REFIT_EVERY as MPC_REFIT_EVERY


class StatsForecastETS:
    """statsforecast AutoETS(season_length, model="ZNZ") in the bitgaram Forecaster protocol."""

    def __init__(self, season_length: int = 24, window: int = 24 * 28, model: str = "ZNZ") -> None:
        self.season_length = season_length
        self.window = window
        self.model = model
        self.name = f"statsforecast_autoets_{model}"
        self.models: list[Any] = []

    def fit(
        self, y: pd.DataFrame, exog: pd.DataFrame | None = None, end: int | None = None
    ) -> Self:
        end = len(y) if end is None else end
        values = y.to_numpy(dtype=float)[max(0, end - self.window) : end]
        self.models = []
        for j in range(values.shape[1]):
            m = AutoETS(season_length=self.season_length, model=self.model)
            self.models.append(m.fit(np.nan_to_num(values[:, j])))
        return self

    def predict(
        self,
        y: pd.DataFrame,
        origins: np.ndarray,
        horizon: int,
        exog: pd.DataFrame | None = None,
        quantiles: Sequence[float] = (),
    ) -> ForecastResult:
        o_arr = check_origins(origins, len(y))
        values = y.to_numpy(dtype=float)
        point = np.zeros((len(o_arr), horizon, values.shape[1]))
        for i, o in enumerate(o_arr):
            lo = max(0, int(o) - self.window)
            for j, m in enumerate(self.models):
                window = np.nan_to_num(values[lo:o, j])
                if len(window) < 2 * self.season_length:
                    point[i, :, j] = window[-1] if len(window) else 0.0
                    continue
                fc = m.forward(window, h=horizon)["mean"]
                # Non-negative series (PV) get non-negative forecasts, as any user would clip.
                point[i, :, j] = np.clip(fc, 0.0, None) if (window >= 0).all() else fc
        return ForecastResult(o_arr, horizon, tuple(map(str, y.columns)), point, {}, self.name)


# --- skforecast and mlforecast against the shipped load and PV forecasters --------------------

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "nice .venv/bin/python bench/forecast_peers.py --write"
HORIZONS = (1, 6, 24)
SHIPPED = "bitgaram_lightgbm"
MPC = "bitgaram_lightgbm_mpc"
SHIPPED_PV = "bitgaram_pvlib_lightgbm"
MPC_PV = "bitgaram_pvlib_lightgbm_mpc"
#: skforecast in its two standard forms (one model per series, one global model) and mlforecast.
PEERS = ("skforecast", "skforecast_global", "mlforecast")
SECTION = "### Peer libraries: skforecast and mlforecast (issue 21)"


def backtest_origins(n_steps: int, horizon: int, period: int) -> np.ndarray:
    """The origins of ``backtest_citylearn``: after the warm-up days, to the last full horizon."""
    return np.arange(DEFAULT_WARMUP_DAYS * period, n_steps - horizon + 1)


def handoff_inputs(
    y: pd.DataFrame,
    exog: pd.DataFrame,
    origins: np.ndarray,
    horizon: int,
    weather_vars: Sequence[str],
    country: str | None,
) -> dict[str, np.ndarray]:
    """Series, origins and exogenous inputs for the peers, as arrays.

    ``exog_train`` (n_steps, n_exog) describes each row ``t`` as a training
    target: the latest weather forecast of ``t`` issued before ``t`` (the
    measurement where none was issued yet, at the start of the data), and the
    calendar of ``t``. ``exog_future`` (n_origins, horizon, n_exog) is what is
    known at each origin ``o`` about targets ``o .. o + horizon - 1``: the
    latest weather forecast issued at or before ``o - 1``
    (:func:`latest_weather_forecast`, as the shipped model reads it) and the
    calendar (hour, day of week, weekend / public holiday / CityLearn holiday,
    :func:`build_calendar`, as the shipped model reads it).
    """
    n = len(y)
    index = pd.DatetimeIndex(y.index)
    day_type = exog["day_type"].to_numpy() if "day_type" in exog.columns else None
    cal = build_calendar(index, n + horizon, country, None, day_type)
    names: list[str] = []
    train_cols: list[np.ndarray] = []
    future_cols: list[np.ndarray] = []
    for var in weather_vars:
        issued = latest_weather_forecast(exog, var, np.arange(n), 1)[:, 0]
        measured = exog[var].to_numpy(dtype=float)
        names.append(f"{var}_forecast")
        train_cols.append(np.where(np.isfinite(issued), issued, measured))
        future_cols.append(latest_weather_forecast(exog, var, origins, horizon))
    targets = origins[:, None] + np.arange(horizon)[None, :]
    for name, values in (("hour", cal.hour), ("dayofweek", cal.dayofweek), ("offday", cal.offday)):
        names.append(name)
        train_cols.append(values[:n])
        future_cols.append(values[targets])
    if index.tz is not None:
        index = index.tz_localize(None)
    return {
        "values": y.to_numpy(dtype=float),
        "series": np.array([str(c) for c in y.columns]),
        "index": index.to_numpy(dtype="datetime64[ns]"),
        "origins": origins.astype(np.int64),
        "exog_names": np.array(names),
        "exog_train": np.column_stack(train_cols),
        "exog_future": np.stack(future_cols, axis=-1),
    }


def run_peer_process(
    python: Path,
    inputs: dict[str, np.ndarray],
    horizon: int,
    refit_every: int,
    work: Path,
    target: str,
) -> dict[str, np.ndarray]:
    """Write the handoff file, run ``bench/peers/run_peers.py`` in the peers venv, read back."""
    if not python.exists():
        raise SystemExit(
            f"peers interpreter {python} not found; create it with\n"
            "  python3 -m venv .venv-peers && "
            ".venv-peers/bin/pip install -r bench/peers/requirements.txt"
        )
    handoff, out = work / f"peers_{target}_in.npz", work / f"peers_{target}_out.npz"
    np.savez(handoff, horizon=np.array(horizon), refit_every=np.array(refit_every), **inputs)  # type: ignore[arg-type]
    script = ROOT / "bench" / "peers" / "run_peers.py"
    cmd = ["nice", str(python), str(script), str(handoff), str(out)]
    subprocess.run(cmd, check=True)
    with np.load(out, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def peer_scores(
    report: BacktestReport,
    extra: Sequence[pd.DataFrame],
    peers: dict[str, np.ndarray],
    horizon: int,
    nonneg: np.ndarray,
) -> pd.DataFrame:
    """The backtest's scores, ``extra`` scores and the peers', with skill vs the reference."""
    first = next(iter(report.runs.values())).result
    frames = [report.scores.drop(columns="skill"), *(e.drop(columns="skill") for e in extra)]
    if not np.array_equal(peers["origins"], first.origins):
        raise SystemExit("the peers' forecasts are not for the backtest's origins")
    for name in PEERS:
        point = peers[name]
        if not np.isfinite(point).all():
            raise SystemExit(f"{name}: {int((~np.isfinite(point)).sum())} forecasts are not finite")
        # Series never negative before the first origin get non-negative forecasts (as the
        # AutoETS peer above, and as any user would clip).
        point = np.where(nonneg[None, None, :], np.clip(point, 0.0, None), point)
        res = ForecastResult(first.origins, horizon, first.series, point, {}, name)
        frames.append(score_result(res, report.actual, HORIZONS))
    scores = pd.concat(frames, ignore_index=True)
    ref = scores[scores["model"] == report.reference].set_index(["series", "horizon"])["mae"]
    keys = pd.MultiIndex.from_frame(scores[["series", "horizon"]])
    scores["skill"] = 1.0 - scores["mae"].to_numpy() / ref.reindex(keys).to_numpy()
    return scores


def verdict(scores: pd.DataFrame, model: str) -> tuple[dict[int, bool], dict[int, int], int]:
    """Per horizon: beats both peers pooled; buildings where it beats both; number of buildings."""
    mae = scores.set_index(["model", "series", "horizon"])["mae"]
    buildings = [s for s in scores["series"].unique() if s != POOLED]
    pooled, wins = {}, {}
    for h in HORIZONS:
        pooled[h] = all(mae[(model, POOLED, h)] < mae[(p, POOLED, h)] for p in PEERS)
        wins[h] = sum(all(mae[(model, b, h)] < mae[(p, b, h)] for p in PEERS) for b in buildings)
    return pooled, wins, len(buildings)


def half_year_lines(
    results: Sequence[ForecastResult], actual: np.ndarray, models: Sequence[str], middle: int
) -> list[str]:
    """Pooled MAE and the verdict of each model in ``models`` on each half of the data.

    Origins before step ``middle`` and from it on, scored with the same code.
    """
    origins = results[0].origins
    lines = [
        "| half | model | MAE 1h | MAE 6h | MAE 24h | beats every peer (pooled; buildings) |",
        "|---|---|---|---|---|---|",
    ]
    for label, mask in (("first", origins < middle), ("second", origins >= middle)):
        frames = [
            score_result(
                ForecastResult(r.origins[mask], r.horizon, r.series, r.point[mask], {}, r.name),
                actual[mask],
                HORIZONS,
            )
            for r in results
        ]
        scores = pd.concat(frames, ignore_index=True)
        mae = scores.set_index(["model", "series", "horizon"])["mae"]
        for model in models:
            pooled, wins, n_b = verdict(scores, model)
            cells = " | ".join(f"{mae[(model, POOLED, h)]:.4f}" for h in HORIZONS)
            detail = ", ".join(
                f"{h} h: {'yes' if pooled[h] else 'no'}; {wins[h]}/{n_b}" for h in HORIZONS
            )
            lines.append(f"| {label} | {model} | {cells} | {detail} |")
    return lines


def tables(scores: pd.DataFrame, models: Sequence[str]) -> list[str]:
    """Markdown: pooled MAE/skill by model, then MAE per building by horizon."""
    table = scores.set_index(["model", "series", "horizon"])
    mae = {k: float(v) for k, v in table["mae"].items()}
    skill = {k: float(v) for k, v in table["skill"].items()}
    head = " | ".join(f"MAE {h}h | skill {h}h" for h in HORIZONS)
    lines = [f"| model (pooled) | {head} |", "|---" * (1 + 2 * len(HORIZONS)) + "|"]
    for m in models:
        cells = " | ".join(
            f"{mae[(m, POOLED, h)]:.4f} | {skill[(m, POOLED, h)]:+.3f}" for h in HORIZONS
        )
        lines.append(f"| {m} | {cells} |")
    buildings = [s for s in scores["series"].unique() if s != POOLED]
    lines += ["", f"| building | h | {' | '.join(models)} |", "|---" * (2 + len(models)) + "|"]
    for b in [*buildings, POOLED]:
        for h in HORIZONS:
            values = [mae[(m, b, h)] for m in models]
            best = int(np.argmin(values))
            cells = " | ".join(
                f"**{v:.4f}**" if i == best else f"{v:.4f}" for i, v in enumerate(values)
            )
            lines.append(f"| {b} | {h} | {cells} |")
    return lines


#: A bitgaram configuration: name, model, quantile levels, and an optional causal
#: post-processing of the point forecasts ``(point, origins) -> point``.
Post = Callable[[np.ndarray, np.ndarray], np.ndarray]
Run = tuple[str, Forecaster, tuple[float, ...], Post | None]


@dataclass
class Target:
    """One forecast target: series, bitgaram runs, reference and the peers' weather inputs."""

    name: str
    y: pd.DataFrame
    runs: list[Run]
    reference: tuple[str, Forecaster]
    weather_vars: tuple[str, ...]
    about: str


def targets(frames: CityLearnFrames, horizon: int, country: str) -> dict[str, Target]:
    """Load and PV, each with the configurations bitgaram ships."""
    load = LightGBMLoadForecaster(max_horizon=horizon, country=country)
    pv = PVForecaster(kwp=frames.kwp, max_horizon=horizon)
    mpc_pv = _MPCPV(frames.kwp)
    return {
        "load": Target(
            "load",
            frames.load,
            [
                # As `forecast run` and the backtest run it, with P10/P50/P90.
                (SHIPPED, load, DEFAULT_QUANTILES, None),
                # The MPC's own configuration (bitgaram.optimize.forecasts: point only).
                (
                    MPC,
                    LightGBMLoadForecaster(
                        max_horizon=horizon, quantiles=(), near_steps=MPC_NEAR_STEPS
                    ),
                    (),
                    None,
                ),
            ],
            ("best_baseline", BestBaseline()),
            load.weather_vars,
            f"`{SHIPPED}`: the load model as `forecast run` and the backtest ship it "
            f"(`LightGBMLoadForecaster` defaults, `near_steps={DEFAULT_NEAR_STEPS}`, "
            f"P10/P50/P90, holidays {country}); `{MPC}`: the MPC's configuration "
            f"(`near_steps={MPC_NEAR_STEPS}`, no quantiles, holiday calendar left at the "
            f"constructor's default, {_default_country()}, as `bitgaram.optimize.forecasts` "
            "builds it). Peers' weather: temperature and humidity forecasts.",
        ),
        "pv": Target(
            "pv",
            frames.pv,
            [
                (SHIPPED_PV, pv, DEFAULT_QUANTILES, None),
                # The MPC's PV: the shipped point forecast blended with the same fitted
                # model's all-horizon forecast corrected by its error feedback.
                (
                    MPC_PV,
                    mpc_pv,
                    (),
                    partial(_mpc_pv_blend, mpc_pv, frames.pv.to_numpy(dtype=float)),
                ),
            ],
            ("seasonal_naive_day", SeasonalNaive(steps_per_day(pd.DatetimeIndex(frames.pv.index)))),
            (pv.direct, pv.diffuse, pv.temperature),
            f"`{SHIPPED_PV}`: the PV model as `forecast run` and the backtest ship it "
            f"(`PVForecaster` defaults with the buildings' kWp, P10/P50/P90: near-horizon models "
            f"for steps 1-{PV_NEAR_STEPS} reading the clear-sky index of the last hours); "
            f"`{MPC_PV}`: the MPC's configuration, as `bitgaram.optimize.forecasts` builds it: "
            f"{PV_SHIPPED_WEIGHT:g} x the shipped point forecast (default `max_horizon`) + "
            f"{1 - PV_SHIPPED_WEIGHT:g} x the same fitted model's all-horizon forecast corrected "
            "by `bitgaram.forecast.feedback.error_feedback`, the correction by the last "
            "one-step error). Peers' weather: direct and "
            "diffuse irradiance and temperature forecasts (the PV model's inputs).",
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="skforecast and mlforecast vs bitgaram")
    parser.add_argument("--dataset", default=str(ROOT / "data" / "citylearn_2022_phase_1"))
    parser.add_argument("--refit-every", type=int, default=24 * 14)
    parser.add_argument("--country", default="US", help="holidays of the data's site")
    parser.add_argument("--targets", default="load,pv", help="comma-separated: load, pv")
    parser.add_argument("--peers-python", default=str(ROOT / ".venv-peers" / "bin" / "python"))
    parser.add_argument("--work", default=None, help="folder for the handoff files (temp dir)")
    parser.add_argument(
        "--peers-out",
        default=None,
        help="folder of earlier peers_<target>_out.npz files to score instead of running",
    )
    parser.add_argument(
        "--blocks", type=int, default=None, help="only the first N refit blocks (smoke run)"
    )
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    if args.write and args.blocks is not None:
        parser.error("--write reports the full backtest only; drop --blocks")

    horizon = 24
    ds = read_citylearn(args.dataset)
    frames = citylearn_frames(ds)
    period = steps_per_day(pd.DatetimeIndex(frames.load.index))
    origins = backtest_origins(ds.n_steps, horizon, period)
    if args.blocks is not None:
        origins = origins[origins < origins[0] + args.blocks * args.refit_every]
    print(f"{len(origins)} origins, refit every {args.refit_every} h", flush=True)
    all_targets = targets(frames, horizon, args.country)
    chosen = [all_targets[t.strip()] for t in args.targets.split(",")]
    body: list[str] = []
    abouts: list[str] = []
    costs: list[str] = []
    versions = ""
    lags = ""
    for target in chosen:
        ref_name, ref_model = target.reference
        t0 = time.perf_counter()
        reports = [
            run_backtest(
                {name: model, ref_name: ref_model},
                target.y,
                origins,
                horizon,
                frames.exog,
                args.refit_every,
                quantiles,
                HORIZONS,
                reference=ref_name,
                on_model=partial(_announce, target.name),
            )
            for name, model, quantiles, _ in target.runs
        ]
        own_wall = time.perf_counter() - t0
        report = reports[0]
        extra = []
        results = [report.runs[target.runs[0][0]].result]
        for r, (name, _, _, post) in zip(reports[1:], target.runs[1:], strict=True):
            res = r.runs[name].result
            if post is not None:
                fixed = post(res.point, res.origins)
                res = ForecastResult(res.origins, res.horizon, res.series, fixed, {}, name)
            results.append(res)
            extra.append(score_result(res, r.actual, HORIZONS).assign(skill=np.nan))
        inputs = handoff_inputs(
            target.y, frames.exog, origins, horizon, target.weather_vars, args.country
        )
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(args.work) if args.work else Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            if args.peers_out:
                out = Path(args.peers_out) / f"peers_{target.name}_out.npz"
                with np.load(out, allow_pickle=False) as f:
                    peers = {k: f[k] for k in f.files}
            else:
                peers = run_peer_process(
                    Path(args.peers_python), inputs, horizon, args.refit_every, work, target.name
                )
        nonneg = np.asarray((target.y.to_numpy(dtype=float)[: origins[0]] >= 0).all(axis=0))
        scores = peer_scores(report, extra, peers, horizon, nonneg)
        shipped = [name for name, _, _, _ in target.runs]
        versions = ", ".join(str(v) for v in peers["versions"])
        lags = _lags(peers["lags"])
        abouts.append(target.about)
        costs.append(
            f"{target.name}: bitgaram {' + '.join(shipped)} + reference {own_wall:.0f} s; "
            + ", ".join(
                f"{p} {float(peers[f'{p}_wall_s']):.0f} s (CPU {float(peers[f'{p}_cpu_s']):.0f} s)"
                for p in PEERS
            )
        )
        body += [
            f"**{'PV' if target.name == 'pv' else 'Load'}** (skill vs {ref_name}; per "
            "building: MAE, best in bold)",
            "",
            *tables(scores, [*shipped, *PEERS, ref_name]),
            "",
        ]
        first = results[0]
        for p in PEERS:
            point = np.where(nonneg[None, None, :], np.clip(peers[p], 0.0, None), peers[p])
            results.append(ForecastResult(first.origins, horizon, first.series, point, {}, p))
        halves = half_year_lines(results, report.actual, shipped, ds.n_steps // 2)
        for model in shipped:
            pooled, wins, n_b = verdict(scores, model)
            holds = all(pooled.values()) and all(w >= n_b - 1 for w in wins.values())
            detail = "; ".join(
                f"{h} h: pooled {'yes' if pooled[h] else 'no'}, {wins[h]}/{n_b} buildings"
                for h in HORIZONS
            )
            body += [
                f"`{model}` beats every peer at 1, 6 and 24 h, pooled and on at least "
                f"{n_b - 1} of {n_b} buildings: **{'holds' if holds else 'does not hold'}** "
                f"({detail}).",
                "",
            ]
        body += [
            f"Each half of the year alone (same runs; origins before step {ds.n_steps // 2} "
            "and from it on):",
            "",
            *halves,
            "",
        ]
    lines = [
        SECTION,
        "",
        f"Measured {dt.date.today().isoformat()} with `{COMMAND}` (peers environment: "
        "`python3 -m venv .venv-peers && .venv-peers/bin/pip install -r "
        f"bench/peers/requirements.txt`; {versions}). The 5 buildings, the backtest's "
        f"{len(origins)} origins (every hour from day {DEFAULT_WARMUP_DAYS}), 24 h ahead, every "
        f"model refitted every {args.refit_every} h on all data before the block, the same "
        "actuals and metric code (`score_result`).",
        "",
        *(f"- {a}" for a in abouts),
        "- Peers: skforecast `ForecasterRecursive`, one model per building (`skforecast`), and "
        "`ForecasterRecursiveMultiSeries`, one global model over the buildings "
        "(`skforecast_global`, default ordinal series encoding); mlforecast `MLForecast`, one "
        "global model (no lag or target transforms). All recursive, `LGBMRegressor()` with "
        "library defaults (only `n_jobs=1`, `verbose=-1`, `random_state=0`), lags "
        f"{lags} h; exogenous inputs for each target hour: the latest weather forecasts issued "
        "before the origin (the shipped model's weather variables, as it reads them for the "
        "target hour), hour of day, day of week, off-day (weekend, US holiday, CityLearn "
        "holiday; the shipped load model's calendar). Refit at the first origin of each block "
        "on all rows before it; each forecast reads only rows before its origin; forecasts of "
        "series never negative before the first origin are clipped at 0. Untuned.",
        "- Handoff: the main environment writes series, origins and per-origin inputs to an "
        "`.npz`, `bench/peers/run_peers.py` runs in `.venv-peers` (pandas < 3) and writes the "
        "forecasts back with the origins they are for (checked); the project's environment is "
        "untouched. skforecast's recursive loop runs batched over each block's origins with "
        "the fitted estimator and is checked against its own `predict()` at the first and last "
        "origin of every block for every building (equal to 1e-9).",
        "- Cost on the shared 2-core machine (wall, includes contention): "
        + "; ".join(costs)
        + ".",
        "",
        *body,
    ]
    section = "\n".join(lines)
    print(section)
    if args.write:
        path = ROOT / "BENCHMARKS.md"
        text = path.read_text()
        pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^##+ |\Z)", re.S | re.M)
        if pattern.search(text):
            text = pattern.sub(lambda _: section + "\n", text)
        else:
            anchor = re.compile(r"^## Forecasting\n.*?(?=^## |\Z)", re.S | re.M)
            found = anchor.search(text)
            if found is None:
                raise SystemExit("BENCHMARKS.md has no '## Forecasting' section")
            text = text[: found.end()].rstrip("\n") + "\n\n" + section + "\n" + text[found.end() :]
        path.write_text(text)
        print(f"updated {path}")


class _MPCPV:
    """The MPC's PV model: scored on its all-horizon forecasts, recording the shipped ones.

    ``predict`` returns the all-horizon forecasts (the input of the error feedback) and
    keeps the shipped forecasts of the same fit and origins for :func:`_mpc_pv_blend`.
    """

    def __init__(self, kwp: dict[str, float]) -> None:
        self.model = PVForecaster(kwp=kwp, quantiles=())
        self.name = self.model.name
        self.shipped: dict[int, np.ndarray] = {}

    def fit(
        self, y: pd.DataFrame, exog: pd.DataFrame | None = None, end: int | None = None
    ) -> Self:
        self.model.fit(y, exog, end)
        return self

    def predict(
        self,
        y: pd.DataFrame,
        origins: np.ndarray,
        horizon: int,
        exog: pd.DataFrame | None = None,
        quantiles: Sequence[float] = (),
    ) -> ForecastResult:
        near, far = self.model.predict_pair(y, origins, horizon, exog)
        for i, o in enumerate(near.origins):
            self.shipped[int(o)] = near.point[i]
        return far


def _mpc_pv_blend(
    model: _MPCPV, actual: np.ndarray, point: np.ndarray, origins: np.ndarray
) -> np.ndarray:
    """The MPC's PV forecast (causal): shipped and corrected all-horizon forecasts blended."""
    fixed = error_feedback(np.nan_to_num(point), actual, origins, MPC_REFIT_EVERY)
    shipped = np.nan_to_num(np.stack([model.shipped[int(o)] for o in origins]))
    return pv_blend(shipped, fixed)


def _announce(target: str, model: str) -> None:
    print(f"  {target}: running {model}", flush=True)


def _default_country() -> str:
    """The holiday country ``LightGBMLoadForecaster`` uses when none is given."""
    return str(inspect.signature(LightGBMLoadForecaster).parameters["country"].default)


def _lags(lags: np.ndarray) -> str:
    values = [int(v) for v in lags]
    run = [v for v in values if v <= 24]
    rest = [str(v) for v in values if v > 24]
    return ", ".join([f"{run[0]}-{run[-1]}", *rest])


if __name__ == "__main__":
    main()
