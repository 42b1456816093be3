"""Seasonal-naive forecast by day type (working day, Saturday, Sunday/holiday).

A plant's Monday is not its Sunday, nor last week's holiday: copying the same
time of the latest earlier day *of the same day type* beats the plain daily or
weekly seasonal naive of :mod:`bitgaram.forecast.baselines` on calendar-driven
industrial loads. Used by the industrial park MPC (:mod:`bitgaram.simulate.park`).
"""

from __future__ import annotations

import numpy as np

from bitgaram.errors import ConfigError


def daytype_forecast(
    values: np.ndarray,
    day_type: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    steps_per_day: int,
    fit_end: int,
) -> np.ndarray:
    """Seasonal-naive forecast by day type, with an AR(1) correction of the last error.

    Step ``k`` from origin ``o`` (target ``tau = o + k``) copies the value at the same time
    of the latest earlier day of the same day type (working day, Saturday, Sunday or
    holiday; at most two weeks back, else the day before): the seasonal naive of
    :mod:`bitgaram.forecast.baselines` made calendar-aware, because a plant's Monday is not
    its Sunday nor last week's holiday. The copy's error at ``o - 1`` is
    carried forward decaying as ``phi ** (k + 1)``, ``phi`` the lag-1 autocorrelation of the
    copy errors before ``fit_end`` (per series, clipped to [0, 1]). Causal: every value used
    lies before the origin (requires ``horizon <= steps_per_day``).

    Parameters
    ----------
    values : numpy.ndarray
        Observations (n_steps, n_series).
    day_type : numpy.ndarray
        Day type per step (n_steps,) (:func:`bitgaram.tariff.daytype.day_types`).
    origins : numpy.ndarray
        Origin steps.
    horizon : int
        Steps ahead (<= ``steps_per_day``).
    steps_per_day : int
        Steps per day.
    fit_end : int
        End of the data used to estimate ``phi``.

    Returns
    -------
    numpy.ndarray
        (n_origins, horizon, n_series).
    """
    if horizon > steps_per_day:
        raise ConfigError("daytype_forecast: horizon must not exceed one day")
    if np.any(np.asarray(origins) < fit_end):
        # phi is estimated on data before fit_end: an earlier origin would see its future.
        raise ConfigError("daytype_forecast: every origin must be >= fit_end (causality)")
    n = len(values)
    lag_days = np.ones(n, dtype=np.int64)
    found = np.zeros(n, dtype=bool)
    tau = np.arange(n)
    for d in range(1, 15):
        src = tau - d * steps_per_day
        ok = (src >= 0) & ~found
        ok[ok] = day_type[src[ok]] == day_type[tau[ok]]
        lag_days[ok] = d
        found |= ok
    src = tau - lag_days * steps_per_day
    copy = values[np.maximum(src, 0)].astype(float)
    copy[src < 0] = np.nan  # no earlier day to copy: filled per origin below
    resid = values - copy
    r = resid[steps_per_day:fit_end]
    num = np.nansum(r[1:] * r[:-1], axis=0)
    den = np.nansum(r * r, axis=0)
    phi = np.clip(np.divide(num, den, out=np.zeros_like(num), where=den > 0), 0.0, 1.0)
    o = np.asarray(origins, dtype=np.int64)
    k = np.arange(horizon)
    target = np.minimum(o[:, None] + k[None, :], n - 1)
    point = copy[target]
    # Targets with no earlier day: the last value observed before the origin (0 at origin 0).
    observed = np.where(o[:, None] > 0, values[np.maximum(o - 1, 0)], 0.0)
    point = np.where(np.isnan(point), observed[:, None, :], point)
    last = np.nan_to_num(resid[np.maximum(o - 1, 0)]) * (o[:, None] > 0)
    decay = phi[None, :] ** (k[:, None] + 1)
    return np.asarray(point + last[:, None, :] * decay[None, :, :])
