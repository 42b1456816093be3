"""A forecaster's own recent errors, by step ahead, time of day and day type.

A receding-horizon controller issues a forecast at every interval and later measures what
happened. :class:`ErrorBook` keeps those errors (measured - forecast) and answers the
question a planner under uncertainty asks: how much more load than forecast should the
plan be ready for at each step of the coming horizon? The answer is an upper quantile of
the errors made at the same step ahead, at the same time of day (+- ``pool_slots``
intervals) and on the same kind of day (working day, Saturday, Sunday/holiday), over the
last ``window_days`` days. Causal by construction: an error enters only once its interval
has been measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bitgaram.errors import ConfigError

#: Fewest errors a quantile is taken over; below it the pool widens (all times of day of the
#: same step ahead and day type, then every day type). 8 errors give a 90 % quantile
#: between the largest and the second largest, no tighter.
MIN_SAMPLES = 8


@dataclass
class ErrorBook:
    """Errors of a forecast issued every interval (see the module docstring).

    Parameters
    ----------
    steps_per_day : int
        Intervals per day (96 for 15 min).
    window_days : int
        Days of errors a quantile uses [d].
    pool_slots : int
        Neighbouring intervals of the time of day pooled on each side.
    """

    steps_per_day: int
    window_days: int = 28
    pool_slots: int = 1
    _forecasts: dict[int, tuple[int, np.ndarray]] = field(default_factory=dict, repr=False)
    _rows: list[tuple[int, int, int, int, float]] = field(default_factory=list, repr=False)
    _cache: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.steps_per_day < 1 or self.window_days < 1 or self.pool_slots < 0:
            raise ConfigError(
                "ErrorBook needs steps_per_day >= 1, window_days >= 1, pool_slots >= 0; got "
                f"{self.steps_per_day}, {self.window_days}, {self.pool_slots}"
            )

    def issue(self, step: int, forecast: np.ndarray) -> None:
        """Remember the forecast issued at interval ``step`` for ``step, step + 1, ...``.

        Parameters
        ----------
        step : int
            Absolute interval number of the first forecast step (e.g. intervals since an
            epoch).
        forecast : numpy.ndarray
            Forecast per step ahead (H,), any unit (the errors are in the same unit).
        """
        self._forecasts[step] = (step, np.asarray(forecast, dtype=float).copy())

    def measure(self, step: int, value: float, day_type: int, slot: int) -> None:
        """File the errors of every remembered forecast of interval ``step``.

        Parameters
        ----------
        step : int
            Absolute interval number measured.
        value : float
            The measured value.
        day_type : int
            Day type of interval ``step`` (:func:`bitgaram.tariff.daytype.day_types`).
        slot : int
            Local time of day of interval ``step`` in intervals (0 .. steps_per_day - 1;
            local, so a DST change keeps the same clock time together).
        """
        if not np.isfinite(value):
            return
        for origin, fc in list(self._forecasts.values()):
            lead = step - origin
            if 0 <= lead < fc.size:
                self._rows.append((step, lead, int(day_type), int(slot), float(value - fc[lead])))
        horizon = max((fc.size for _, fc in self._forecasts.values()), default=0)
        for origin in [o for o in self._forecasts if o + horizon <= step]:
            del self._forecasts[origin]
        keep = step - self.window_days * self.steps_per_day
        if self._rows and self._rows[0][0] < keep - self.steps_per_day:
            self._rows = [r for r in self._rows if r[0] >= keep]
        self._cache = None

    def __len__(self) -> int:
        return len(self._rows)

    def upper(
        self, step: int, day_types: np.ndarray, slots: np.ndarray, level: float = 0.9
    ) -> np.ndarray:
        """Upper ``level`` quantile of the errors for the steps ahead of interval ``step``.

        Parameters
        ----------
        step : int
            Absolute interval number of the first step ahead (the current interval).
        day_types : numpy.ndarray
            Day type of each step ahead (H,).
        slots : numpy.ndarray
            Local time of day of each step ahead in intervals (H,).
        level : float
            Quantile level in (0, 1).

        Returns
        -------
        numpy.ndarray
            Quantile per step ahead (H,), in the forecast's unit; 0 where fewer than
            :data:`MIN_SAMPLES` errors of any pool exist.
        """
        if not 0.0 < level < 1.0:
            raise ConfigError(f"quantile level must lie in (0, 1), got {level}")
        kinds = np.asarray(day_types)
        out = np.zeros(kinds.size)
        if self._cache is None:
            self._cache = np.array(self._rows, dtype=float).reshape(-1, 5)
        rows = self._cache
        rows = rows[rows[:, 0] >= step - self.window_days * self.steps_per_day]
        if rows.shape[0] < MIN_SAMPLES:
            return out
        spd = self.steps_per_day
        lead = rows[:, 1].astype(int)
        kind = rows[:, 2].astype(int)
        slot = rows[:, 3].astype(int)
        err = rows[:, 4]
        # Steps beyond the longest step ahead on record use the errors of that one.
        leads = np.minimum(np.arange(kinds.size), int(lead.max()))
        groups: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for k in range(kinds.size):
            key = (int(leads[k]), int(kinds[k]))
            if key not in groups:
                of_lead = lead == key[0]
                same = of_lead & (kind == key[1])
                groups[key] = (slot[same], err[same], err[of_lead])
            g_slot, g_err, lead_err = groups[key]
            near = np.abs((g_slot - int(slots[k]) + spd // 2) % spd - spd // 2) <= self.pool_slots
            for pool in (g_err[near], g_err, lead_err):
                if pool.size >= MIN_SAMPLES:
                    out[k] = float(np.quantile(pool, level))
                    break
        return out


def empirical_interval(
    point: np.ndarray,
    actual: np.ndarray,
    levels: tuple[float, float] = (0.1, 0.9),
    window_days: int = 28,
    pool_slots: int = 1,
    steps_per_day: int = 24,
) -> tuple[np.ndarray, np.ndarray]:
    """Causal prediction interval of a one-step-ahead forecast from its own past errors.

    The interval for step ``t`` is ``point[t]`` plus the ``levels`` quantiles of the errors
    ``actual - point`` of the steps before ``t`` in the last ``window_days`` days at the same
    time of day (+- ``pool_slots`` steps): the error scenarios of the MPC
    (:mod:`bitgaram.optimize.mpc`) as an interval. Where fewer than :data:`MIN_SAMPLES`
    errors exist, the interval is NaN.

    Parameters
    ----------
    point, actual : numpy.ndarray
        Forecast and outcome per step (N,), the forecast for step ``t`` issued before ``t``.
    levels : tuple of float
        Lower and upper quantile levels.
    window_days, pool_slots, steps_per_day : int
        Error pool (see above).

    Returns
    -------
    tuple of numpy.ndarray
        Lower and upper bounds (N,), in the forecast's unit.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> actual = rng.normal(0.0, 1.0, 24 * 60)
    >>> lo, hi = empirical_interval(np.zeros(actual.size), actual)
    >>> ok = np.isfinite(lo)
    >>> bool(0.75 < np.mean((actual[ok] >= lo[ok]) & (actual[ok] <= hi[ok])) < 0.85)
    True
    """
    p = np.asarray(point, dtype=float)
    err = np.asarray(actual, dtype=float) - p
    n = p.size
    spd = steps_per_day
    lo = np.full(n, np.nan)
    hi = np.full(n, np.nan)
    days = np.arange(1, window_days + 1)[:, None]
    slots = np.arange(-pool_slots, pool_slots + 1)[None, :]
    offsets = (-spd * days + slots).ravel()
    for t in range(n):
        idx = t + offsets
        idx = idx[(idx >= 0) & (idx < t)]
        pool = err[idx]
        pool = pool[np.isfinite(pool)]
        if pool.size >= MIN_SAMPLES:
            q = np.quantile(pool, levels)
            lo[t], hi[t] = p[t] + q[0], p[t] + q[1]
    return lo, hi
