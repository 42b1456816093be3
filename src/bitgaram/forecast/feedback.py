"""Error feedback: correct a forecast with the error it made on the last measured step.

A weather-driven PV forecast misses a cloud that is already overhead: its
error of the last hour says much about its error of the next hours (on the
shipped CityLearn data the lag-1 correlation of the district PV error is about
0.8). Persisting that error, damped with the step ahead, is the classic
"latest measured state" correction of a nowcast:

``corrected[o, k] = forecast[o, k] + phi_k * r(o - 1)``

where ``r(o - 1) = actual[o - 1] - forecast[o - 1, 0]`` is the error of the
one-step forecast of the last measured step (known at origin ``o``), and the
damping ``phi_k`` in ``[0, 1]`` is the least-squares coefficient of past
step-``k`` errors on that residual, pooled over series and refitted every
``refit_every`` steps on targets before the refit only: causal by construction.
"""

from __future__ import annotations

import numpy as np

from bitgaram.errors import ForecastError


def error_feedback(
    point: np.ndarray,
    actual: np.ndarray,
    origins: np.ndarray,
    refit_every: int = 24 * 7,
    window: int = 24 * 28,
) -> np.ndarray:
    """Forecasts corrected by the persisted error of the last one-step forecast.

    Parameters
    ----------
    point : numpy.ndarray
        Forecasts, (O, H, S): origin, step ahead, series [any unit].
    actual : numpy.ndarray
        Measured values of every step, (N, S) [same unit]; only values before
        each origin are used.
    origins : numpy.ndarray
        Origin of each row of ``point``, (O,), increasing. An origin whose
        previous step is not an origin too gets no correction.
    refit_every : int
        Steps between refits of the damping coefficients.
    window : int
        Steps of past origins used for each refit.

    Returns
    -------
    numpy.ndarray
        Corrected forecasts, (O, H, S).

    Raises
    ------
    ForecastError
        If the shapes do not match or the origins are not increasing.
    """
    point = np.asarray(point, dtype=float)
    actual = np.asarray(actual, dtype=float)
    o = np.asarray(origins, dtype=np.int64)
    if point.ndim != 3 or actual.ndim != 2 or point.shape[2] != actual.shape[1]:
        raise ForecastError(
            f"error_feedback: point must be (origins, horizon, series) and actual "
            f"(steps, series) with the same series; got {point.shape} and {actual.shape}"
        )
    if o.shape != (point.shape[0],) or (o.size > 1 and np.any(np.diff(o) <= 0)):
        raise ForecastError("error_feedback: origins must be increasing, one per forecast row")
    if refit_every < 1 or window < 1:
        raise ForecastError("error_feedback: refit_every and window must be >= 1")
    n, horizon = actual.shape[0], point.shape[1]
    if o.size and (o[0] < 0 or o[-1] >= n):
        raise ForecastError(f"error_feedback: origins must lie in 0..{n - 1}")
    # Residual of the one-step forecast of each origin's own target, and the one known at o.
    resid = actual[o] - point[:, 0, :]
    last = np.full_like(resid, np.nan)
    consecutive = np.zeros(o.size, dtype=bool)
    consecutive[1:] = o[1:] == o[:-1] + 1
    last[1:][consecutive[1:]] = resid[:-1][consecutive[1:]]
    # Errors of every (origin, step): NaN where the target lies outside the data.
    target = o[:, None] + np.arange(horizon)[None, :]
    inside = target < n
    err = np.where(
        inside[..., None], actual[np.minimum(target, n - 1)] - point, np.nan
    )  # (O, H, S)
    out = point.copy()
    phi = np.zeros(horizon)
    for start in range(int(o[0]) if o.size else 0, n, refit_every):
        rows = np.flatnonzero((o >= start) & (o < start + refit_every))
        if rows.size == 0:
            continue
        past = (o >= start - window) & (o < start)
        if past.any():
            # Only pairs whose target was measured before the refit.
            known = target[past] < start  # (P, H)
            x = last[past][:, None, :]  # (P, 1, S)
            e = np.where(known[..., None], err[past], np.nan)
            ok = np.isfinite(e) & np.isfinite(x)
            num = np.where(ok, e * x, 0.0).sum(axis=(0, 2))
            den = np.where(ok, x * x, 0.0).sum(axis=(0, 2))
            phi = np.where(den > 0, np.clip(num / np.where(den > 0, den, 1.0), 0.0, 1.0), 0.0)
        out[rows] += phi[None, :, None] * np.nan_to_num(last[rows])[:, None, :]
    return out
