"""Full-year forecast backtest on the sample park (CityLearn 2022 phase 1).

Runs, on the same hourly origins and the same refit cadence:
persistence, seasonal naive (day, week), the best baseline per horizon, the
statsforecast AutoETS peer (bench/forecast_peers.py) and bitgaram's LightGBM
load model and pvlib+LightGBM PV model; reports MAE, skill, pinball, time and
peak memory, writes week plots to docs/ and (with ``--write``) the
``## Forecasting`` section of BENCHMARKS.md.

Usage::

    .venv/bin/python bench/forecast_backtest.py --write
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bitgaram.datasets.citylearn import read_citylearn  # noqa: E402
from bitgaram.forecast.backtest import POOLED, markdown_table, plot_week, run_backtest  # noqa: E402
from bitgaram.forecast.base import rolling_forecast  # noqa: E402
from bitgaram.forecast.citylearn import backtest_citylearn, citylearn_frames  # noqa: E402
from bitgaram.forecast.load import LightGBMLoadForecaster  # noqa: E402
from forecast_peers import StatsForecastETS  # noqa: E402

COMMAND = ".venv/bin/python bench/forecast_backtest.py --write"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(ROOT / "data" / "citylearn_2022_phase_1"))
    parser.add_argument("--refit-every", type=int, default=24 * 14)
    parser.add_argument("--country", default="US", help="holidays of the data's site")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()

    ds = read_citylearn(args.dataset)
    lines: list[str] = []

    # 1. The acceptance run: all meters, full year, baselines + bitgaram models.
    wall0, cpu0 = time.perf_counter(), time.process_time()
    reports = backtest_citylearn(
        ds,
        horizon=24,
        refit_every=args.refit_every,
        country=args.country,
        on_model=lambda m: print(f"  running {m}", flush=True),
    )
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    rss = _peak_rss_mib()
    print(f"backtest: wall {wall:.1f} s, cpu {cpu:.1f} s, peak RSS {rss:.0f} MiB", flush=True)

    # 2. Peer library in the same harness: same origins, horizon and refit cadence.
    peer_cost = {}
    if not args.skip_peer:
        frames = citylearn_frames(ds)
        for target, y in (("load", frames.load), ("pv", frames.pv)):
            rep = reports[target]
            origins = next(iter(rep.runs.values())).result.origins
            peer = StatsForecastETS()
            t0, c0 = time.perf_counter(), time.process_time()
            extra = run_backtest(
                {peer.name: peer, rep.reference: _reference(rep.reference)},
                y,
                origins,
                24,
                frames.exog,
                args.refit_every,
                (),
                (1, 6, 24),
                reference=rep.reference,
            )
            peer_cost[target] = (time.perf_counter() - t0, time.process_time() - c0)
            peer_scores = extra.scores[extra.scores["model"] == peer.name]
            merged = pd.concat([rep.scores, peer_scores], ignore_index=True)
            ref = merged[merged["model"] == rep.reference].set_index(["series", "horizon"])["mae"]
            key = list(zip(merged["series"], merged["horizon"], strict=True))
            merged["skill"] = 1 - merged["mae"].to_numpy() / ref.reindex(key).to_numpy()
            object.__setattr__(rep, "scores", merged)
            print(f"peer {target}: {peer_cost[target]} s (wall, cpu)", flush=True)

    # 3. The scheduler's use: a year of hourly origins x 48 h x 5 buildings, load.
    frames = citylearn_frames(ds)
    t0, c0 = time.perf_counter(), time.process_time()
    sched = rolling_forecast(
        LightGBMLoadForecaster(max_horizon=48, country=args.country, quantiles=()),
        frames.load,
        np.arange(1, ds.n_steps + 1),
        48,
        frames.exog,
        24 * 14,
    )
    sched_s, sched_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"scheduler-style rolling forecast {sched.point.shape}: {sched_s:.1f} s", flush=True)

    # 4. Plots and the report.
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    for target, rep in reports.items():
        models = [m for m in rep.runs if m.startswith("bitgaram")] + [rep.reference]
        series = next(iter(rep.runs.values())).result.series[0]
        plot_week(
            rep,
            ds.index,
            series,
            models,
            24,
            str(docs / f"forecasting_{target}_week.png"),
            start_origin=24 * 180,
            title=f"{target}, {series}: 24 h ahead (one week)",
        )

    lines += [
        "## Forecasting",
        "",
        f"Sample park (CityLearn 2022 phase 1, 5 buildings, {ds.n_steps} h). Every hourly origin "
        f"from day 28 to the end ({len(origins_of(reports))} origins), 24 h horizon, every model "
        f"refitted every {args.refit_every} h on data before each block, same origins for all. "
        "Scores pooled over buildings; skill = 1 - MAE / MAE(reference). Holidays: US (the data "
        "are from California). Reproduce: "
        f"`{COMMAND}`.",
        "",
        "- Time, all meters (load + PV: 4 baselines and bitgaram's model each): "
        f"wall {wall:.0f} s, "
        f"CPU {cpu:.0f} s, peak RSS {rss:.0f} MiB, on the shared 2-core machine (wall includes "
        "contention from other jobs; CPU is the single-process cost).",
    ]
    if peer_cost:
        lines.append(
            "- Peer: statsforecast AutoETS (season 24, `ZNZ`), estimated per building on the "
            "last 28 days at each refit, re-applied (`forward`) at every origin, clipped at 0 "
            "for series never negative: wall/CPU load "
            f"{peer_cost['load'][0]:.0f}/{peer_cost['load'][1]:.0f} s, PV "
            f"{peer_cost['pv'][0]:.0f}/{peer_cost['pv'][1]:.0f} s (each incl. its reference)."
        )
    lines.append(
        "- Scheduler use (8,760 hourly origins x 48 h x 5 buildings, point forecast, refit "
        f"every 14 days): wall {sched_s:.0f} s, CPU {sched_cpu:.0f} s. P10/P50/P90 cost ~3x "
        "(one LightGBM model per level)."
    )
    for target, rep in reports.items():
        lines += [
            "",
            f"### {target} (skill vs {rep.reference})",
            "",
            markdown_table(rep.scores, POOLED),
            "",
            f"![{target}](docs/forecasting_{target}_week.png)",
        ]
    corr_irr, corr_lag = _pv_diagnostics(ds)
    load_skill = _pooled(reports["load"], "bitgaram_lightgbm", 24)
    pv_skill = _pooled(reports["pv"], "bitgaram_pvlib_lightgbm", 24)
    lines += [
        "",
        "Targets: load 24 h skill >= 0.15 vs the best naive baseline: "
        f"{load_skill:+.3f}. PV 24 h skill >= 0.5 vs yesterday's output: {pv_skill:+.3f}, "
        "missed. Why: in this data set the PV series and the weather file's irradiance "
        "disagree about clouds: the correlation between the daily PV clear-sky index and "
        f"the daily direct-irradiance clear-sky index is {corr_irr:.2f} (each day's total "
        "over its 15-day rolling maximum), while the PV clear-sky index of consecutive days "
        f"correlates at {corr_lag:.2f}. The irradiance forecast columns (equal to later "
        "measurements) therefore carry almost no information about tomorrow's PV, and "
        "yesterday's output is a strong baseline; the model's gain comes from the learned "
        "cloudiness persistence and the clear-sky shape.",
    ]
    section = "\n".join(lines) + "\n"
    print(section)
    if args.write:
        path = ROOT / "BENCHMARKS.md"
        text = path.read_text() if path.exists() else "# Benchmarks\n"
        pattern = re.compile(r"^## Forecasting\n.*?(?=^## |\Z)", re.S | re.M)
        found = pattern.search(text)
        # Subsections other scripts write (peers, calibration) survive the rewrite.
        own = tuple(f"### {target} " for target in reports)
        kept = [
            sub.rstrip("\n") + "\n"
            for sub in re.findall(
                r"^### .*?(?=^##+ |\Z)", found.group(0) if found else "", re.S | re.M
            )
            if not sub.startswith(own)
        ]
        section = "\n".join([section, *kept])
        text = (
            pattern.sub(lambda _: section + "\n", text)
            if found
            else (text.rstrip("\n") + "\n\n" + section)
        )
        path.write_text(text)
        print(f"updated {path}")


def _pooled(report, model: str, horizon: int) -> float:  # type: ignore[no-untyped-def]
    sc = report.scores
    row = sc[(sc["model"] == model) & (sc["series"] == POOLED) & (sc["horizon"] == horizon)]
    return float(row["skill"].iloc[0])


def _pv_diagnostics(ds) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Daily clear-sky-index correlations: PV vs irradiance, and PV day-to-day."""
    steps = 24
    n = ds.n_steps // steps * steps
    pv = pd.Series(ds.pv_matrix()[:n].sum(axis=1).reshape(-1, steps).sum(axis=1))
    irr = ds.weather["direct_solar_irradiance"].to_numpy()[:n].reshape(-1, steps).sum(axis=1)
    irr_s = pd.Series(irr)
    ci_pv = pv / pv.rolling(15, center=True, min_periods=1).max()
    ci_irr = irr_s / irr_s.rolling(15, center=True, min_periods=1).max()
    return float(ci_pv.corr(ci_irr)), float(ci_pv.corr(ci_pv.shift(1)))


def origins_of(reports: dict) -> np.ndarray:  # type: ignore[type-arg]
    rep = next(iter(reports.values()))
    return next(iter(rep.runs.values())).result.origins


def _reference(name: str):  # type: ignore[no-untyped-def]
    from bitgaram.forecast.citylearn import baseline_models

    return baseline_models()[name]


if __name__ == "__main__":
    main()
