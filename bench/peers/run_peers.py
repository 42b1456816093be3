"""Run the skforecast and mlforecast peers on a handoff file written by bench/forecast_peers.py.

This script runs in the peers' own virtual environment (``.venv-peers``, pandas < 3,
``bench/peers/requirements.txt``) and imports nothing from bitgaram: the main
environment writes the series, the origins and every exogenous input to an
``.npz`` file, this script fits and forecasts, and writes the point forecasts back
to another ``.npz`` file, which the main environment scores with the same metric
code as its own forecaster.

The peers are recursive LightGBM forecasters with library defaults
(``LGBMRegressor()``, only ``n_jobs=1``, ``verbose=-1`` and ``random_state=0`` set), the
lags ``LAGS`` (1-24 h, 48 h and one week) and the exogenous columns of the handoff
file (weather forecasts for the target hour, hour of day, day of week, off-day):

- skforecast: ``ForecasterRecursive``, one model per series (the library's basic
  single-series forecaster, as EMHASS uses it), and ``ForecasterRecursiveMultiSeries``,
  one global model over all series (defaults: ordinal series encoding, no scaling);
- mlforecast: ``MLForecast``, one global model over all series (the library's
  design), no lag transforms, no target transforms.

skforecast's ``predict()`` serves one origin per call (about 35 ms); for the
backtest's thousands of origins its recursive loop is applied to all origins of
a block at once with the fitted estimator (:func:`recursive_batch`), and the
result is checked against ``predict()`` at the first and last origin of every
block for every series (identical to 1e-9, else the run stops).

Causality: all peers refit at the first origin of every block (the handoff's
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


#: Largest accepted gap between a batched skforecast forecast and the library's own
#: ``predict()`` [kWh], checked for every series at the first and last origin of every block.
TOLERANCE = 1e-9


def recursive_batch(
    estimator: lgb.LGBMRegressor,
    features: list[str],
    exog_names: list[str],
    history: np.ndarray,
    exog_future: np.ndarray,
    level_code: float | None = None,
) -> np.ndarray:
    """skforecast's recursive prediction for many origins at once.

    The fitted estimator is applied step by step, each step's prediction
    becoming the next steps' lags, with the features in the order skforecast
    trained them (``X_train_features_names_out_``: ``lag_<n>``,
    ``_level_skforecast`` for the multi-series encoding, then the exogenous
    columns). Same result as ``forecaster.predict`` called once per origin
    (checked by the callers), thousands of times faster.

    Parameters
    ----------
    history : (n_origins, window) values before each origin, oldest first.
    exog_future : (n_origins, horizon, n_exog) exogenous values of the targets.

    Returns
    -------
    (n_origins, horizon) forecasts.
    """
    n_o, window = history.shape
    horizon = exog_future.shape[1]
    buf = np.concatenate([history, np.zeros((n_o, horizon))], axis=1)
    where = {name: i for i, name in enumerate(exog_names)}
    for k in range(horizon):
        cols = []
        for name in features:
            if name.startswith("lag_"):
                cols.append(buf[:, window + k - int(name[4:])])
            elif name == "_level_skforecast":
                cols.append(np.full(n_o, np.nan if level_code is None else level_code))
            else:
                cols.append(exog_future[:, k, where[name]])
        buf[:, window + k] = estimator.predict(np.column_stack(cols))
    return buf[:, window:]


def _histories(values: np.ndarray, block: np.ndarray, window: int) -> np.ndarray:
    """(n_origins, window) rows ``o - window .. o - 1`` of ``values`` (one series)."""
    pos = block[:, None] - window + np.arange(window)[None, :]
    return values[pos]


def _check(name: str, o: int, batched: np.ndarray, library: np.ndarray) -> None:
    gap = float(np.max(np.abs(batched - library)))
    if not gap <= TOLERANCE:
        raise SystemExit(f"{name}: batched forecast of origin {o} differs from predict() by {gap}")


def run_skforecast(h: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
    """skforecast ForecasterRecursive, one per series: forecasts (n_origins, horizon, n_series)."""
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
        rows = slice(i, i + block.size)
        for j in range(values.shape[1]):
            y = pd.Series(values[:start, j], index=index[:start], name="y")
            f = ForecasterRecursive(estimator=regressor(), lags=LAGS)
            f.fit(y=y, exog=x_train.iloc[:start])
            out[rows, :, j] = recursive_batch(
                f.estimator,
                list(f.X_train_features_names_out_),
                exog_names,
                _histories(values[:, j], block, window),
                x_future[rows],
            )
            for n in (0, block.size - 1):
                o = int(block[n])
                last = pd.Series(values[o - window : o, j], index=index[o - window : o], name="y")
                future_index = pd.date_range(index[o - 1], periods=horizon + 1, freq="h")[1:]
                ex = pd.DataFrame(x_future[i + n], index=future_index, columns=exog_names)
                pred = f.predict(steps=horizon, last_window=last, exog=ex, suppress_warnings=True)
                if pred.index[0] != index[o] or len(pred) != horizon:
                    raise SystemExit(f"skforecast: forecast of origin {o} is misaligned")
                _check("skforecast", o, out[i + n, :, j], pred.to_numpy())
        i += block.size
        print(f"  skforecast: {i}/{origins.size} origins", flush=True)
    return out, time.process_time() - c0


def run_skforecast_global(h: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
    """skforecast's global model over all series (ForecasterRecursiveMultiSeries, defaults)."""
    from skforecast.recursive import ForecasterRecursiveMultiSeries

    index = pd.DatetimeIndex(h["index"], freq="h")
    values, origins, horizon = h["values"], h["origins"], int(h["horizon"])
    series = [str(s) for s in h["series"]]
    exog_names = [str(c) for c in h["exog_names"]]
    x_train = pd.DataFrame(h["exog_train"], index=index, columns=exog_names)
    x_future = h["exog_future"]
    window = max(LAGS)
    out = np.full((origins.size, horizon, values.shape[1]), np.nan)
    c0 = time.process_time()
    i = 0
    for block in blocks(origins, int(h["refit_every"])):
        start = int(block[0])
        rows = slice(i, i + block.size)
        y = pd.DataFrame(values[:start], index=index[:start], columns=series)
        f = ForecasterRecursiveMultiSeries(estimator=regressor(), lags=LAGS)
        f.fit(series=y, exog=x_train.iloc[:start], suppress_warnings=True)
        if any(f.transformer_series_.get(s) is not None for s in series):
            raise SystemExit("skforecast_global: a series transformer is set; not batched")
        for j, s in enumerate(series):
            out[rows, :, j] = recursive_batch(
                f.estimator,
                list(f.X_train_features_names_out_),
                exog_names,
                _histories(values[:, j], block, window),
                x_future[rows],
                float(f.encoding_mapping_[s]),
            )
        for n in (0, block.size - 1):
            o = int(block[n])
            last = pd.DataFrame(values[o - window : o], index=index[o - window : o], columns=series)
            future_index = pd.date_range(index[o - 1], periods=horizon + 1, freq="h")[1:]
            ex = pd.DataFrame(x_future[i + n], index=future_index, columns=exog_names)
            pred = f.predict(steps=horizon, last_window=last, exog=ex, suppress_warnings=True)
            for j, s in enumerate(series):
                sel = pred[pred["level"] == s]
                if len(sel) != horizon or sel.index[0] != index[o]:
                    raise SystemExit(f"skforecast_global: forecast of origin {o} is misaligned")
                _check("skforecast_global", o, out[i + n, :, j], sel["pred"].to_numpy())
        i += block.size
        print(f"  skforecast_global: {i}/{origins.size} origins", flush=True)
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
    names = ["skforecast", "skforecast_global", "mlforecast"]
    parser.add_argument("--only", choices=names, default=None, help="run one peer only")
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
        "origins": h["origins"],
    }
    runners = {
        "skforecast": run_skforecast,
        "skforecast_global": run_skforecast_global,
        "mlforecast": run_mlforecast,
    }
    for name, run in runners.items():
        if args.only not in (None, name):
            continue
        t0 = time.perf_counter()
        point, cpu = run(h)
        wall = time.perf_counter() - t0
        result[name] = point
        result[f"{name}_cpu_s"] = np.array(cpu)
        result[f"{name}_wall_s"] = np.array(wall)
        print(f"{name}: wall {wall:.0f} s, CPU {cpu:.0f} s", flush=True)
    np.savez_compressed(args.out, **result)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
