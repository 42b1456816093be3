"""Run the skforecast and mlforecast peers on a handoff file written by bench/forecast_peers.py.

This script runs in the peers' own virtual environment (``.venv-peers``, pandas < 3,
``bench/peers/requirements.txt``) and imports nothing from bitgaram: the main
environment writes the series, the origins and every exogenous input to an
``.npz`` file, this script fits and forecasts, and writes the point forecasts back
to another ``.npz`` file, which the main environment scores with the same metric
code as its own forecaster.

Both peers are recursive LightGBM forecasters with library defaults
(``LGBMRegressor()``, only ``n_jobs=1``, ``verbose=-1`` and ``random_state=0`` set), the
lags ``LAGS`` (1-24 h, 48 h and one week) and the exogenous columns of the handoff
file (weather forecasts for the target hour, hour of day, day of week, off-day):

- skforecast: ``ForecasterRecursive``, one model per series (the library's basic
  single-series forecaster, as EMHASS uses it);
- mlforecast: ``MLForecast``, one global model over all series (the library's
  design), no lag transforms, no target transforms.

Causality: both refit at the first origin of every block (the handoff's
``refit_every``, the same cadence as bitgaram's model in the backtest) on all
rows before that origin; each origin's forecast is computed from the rows
before it (``last_window`` / ``new_df``) and the exogenous values the handoff
says were available at that origin.

Usage (normally called by ``bench/forecast_peers.py``)::

    .venv-peers/bin/python bench/peers/run_peers.py HANDOFF.npz OUT.npz
"""

from __future__ import annotations

import argparse
import time
import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd

#: Lags [steps] given to both peers: the last day hour by hour, two days and one week back.
LAGS: list[int] = [*range(1, 25), 48, 168]


def regressor() -> lgb.LGBMRegressor:
    """LightGBM with library defaults, one thread, quiet, seeded."""
    return lgb.LGBMRegressor(n_jobs=1, verbose=-1, random_state=0)


def blocks(origins: np.ndarray, refit_every: int) -> list[np.ndarray]:
    """Origins split into refit blocks (same rule as bitgaram.forecast.base.refit_blocks)."""
    out = []
    i = 0
    while i < origins.size:
        j = int(np.searchsorted(origins, origins[i] + refit_every, side="left"))
        out.append(origins[i:j])
        i = j
    return out


def run_skforecast(h: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
    """Point forecasts (n_origins, horizon, n_series) and CPU seconds."""
    from skforecast.recursive import ForecasterRecursive

    index = pd.DatetimeIndex(h["index"], freq="h")
    values, origins, horizon = h["values"], h["origins"], int(h["horizon"])
    exog_names = [str(c) for c in h["exog_names"]]
    x_train = pd.DataFrame(h["exog_train"], index=index, columns=exog_names)
    x_future = h["exog_future"]
    window = max(LAGS)
    out = np.full((origins.size, horizon, values.shape[1]), np.nan)
    c0 = time.process_time()
    i = 0
    for block in blocks(origins, int(h["refit_every"])):
        start = int(block[0])
        for j in range(values.shape[1]):
            y = pd.Series(values[:start, j], index=index[:start], name="y")
            f = ForecasterRecursive(estimator=regressor(), lags=LAGS)
            f.fit(y=y, exog=x_train.iloc[:start])
            for n, o in enumerate(block):
                o = int(o)
                last = pd.Series(values[o - window : o, j], index=index[o - window : o], name="y")
                future_index = pd.date_range(index[o - 1], periods=horizon + 1, freq="h")[1:]
                ex = pd.DataFrame(x_future[i + n], index=future_index, columns=exog_names)
                pred = f.predict(steps=horizon, last_window=last, exog=ex, suppress_warnings=True)
                if pred.index[0] != index[o] or len(pred) != horizon:
                    raise SystemExit(f"skforecast: forecast of origin {o} is misaligned")
                out[i + n, :, j] = pred.to_numpy()
        i += block.size
        print(f"  skforecast: {i}/{origins.size} origins", flush=True)
    return out, time.process_time() - c0


def run_mlforecast(h: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
    """Point forecasts (n_origins, horizon, n_series) and CPU seconds."""
    from mlforecast import MLForecast

    index = pd.DatetimeIndex(h["index"])
    values, origins, horizon = h["values"], h["origins"], int(h["horizon"])
    series = [str(s) for s in h["series"]]
    exog_names = [str(c) for c in h["exog_names"]]
    x_train, x_future = h["exog_train"], h["exog_future"]
    window = max(LAGS)
    n_s = values.shape[1]
    out = np.full((origins.size, horizon, n_s), np.nan)
    c0 = time.process_time()
    i = 0
    for block in blocks(origins, int(h["refit_every"])):
        start = int(block[0])
        train = pd.concat(
            [
                pd.DataFrame({"unique_id": s, "ds": index[:start], "y": values[:start, j]}).join(
                    pd.DataFrame(x_train[:start], columns=exog_names)
                )
                for j, s in enumerate(series)
            ],
            ignore_index=True,
        )
        mlf = MLForecast(models={"lgbm": regressor()}, freq="h", lags=LAGS)
        mlf.fit(train, static_features=[])
        # One series per (origin, meter): its history before the origin, its exogenous future.
        hist, fut = [], []
        for n, o in enumerate(block):
            o = int(o)
            rows = np.arange(o - window - 1, o)
            future = pd.date_range(index[o - 1], periods=horizon + 1, freq="h")[1:]
            for j in range(n_s):
                uid = f"{j}|{o}"
                hist.append(
                    pd.DataFrame({"unique_id": uid, "ds": index[rows], "y": values[rows, j]}).join(
                        pd.DataFrame(x_train[rows], columns=exog_names)
                    )
                )
                fut.append(
                    pd.DataFrame({"unique_id": uid, "ds": future}).join(
                        pd.DataFrame(x_future[i + n], columns=exog_names)
                    )
                )
        new_df = pd.concat(hist, ignore_index=True)
        x_df = pd.concat(fut, ignore_index=True)
        pred = mlf.predict(horizon, new_df=new_df, X_df=x_df)
        order = {f"{j}|{int(o)}": n * n_s + j for n, o in enumerate(block) for j in range(n_s)}
        pred["pos"] = pred["unique_id"].map(order)
        pred = pred.sort_values(["pos", "ds"])
        first = pred["ds"].to_numpy().reshape(block.size, n_s, horizon)[:, :, 0]
        if (first != index.to_numpy()[block][:, None]).any():
            raise SystemExit("mlforecast: forecasts are misaligned with their origins")
        point = pred["lgbm"].to_numpy().reshape(block.size, n_s, horizon)
        out[i : i + block.size] = point.transpose(0, 2, 1)
        i += block.size
        print(f"  mlforecast: {i}/{origins.size} origins", flush=True)
    return out, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("handoff")
    parser.add_argument("out")
    parser.add_argument("--only", choices=["skforecast", "mlforecast"], default=None)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    with np.load(args.handoff, allow_pickle=False) as f:
        h = {k: f[k] for k in f.files}
    import mlforecast
    import skforecast

    result: dict[str, np.ndarray] = {
        "versions": np.array(
            [
                f"skforecast {skforecast.__version__}",
                f"mlforecast {mlforecast.__version__}",
                f"lightgbm {lgb.__version__}",
                f"pandas {pd.__version__}",
            ]
        ),
        "lags": np.array(LAGS),
    }
    runners = {"skforecast": run_skforecast, "mlforecast": run_mlforecast}
    for name, run in runners.items():
        if args.only not in (None, name):
            continue
        point, cpu = run(h)
        result[name] = point
        result[f"{name}_cpu_s"] = np.array(cpu)
        print(f"{name}: CPU {cpu:.0f} s", flush=True)
    np.savez_compressed(args.out, **result)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
