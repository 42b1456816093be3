"""A sparse linear program and its HiGHS solve.

Variables and constraint rows are added in blocks (numpy arrays of bounds,
costs and COO triplets), never one by one, so a model of 10^5 variables is
assembled in milliseconds. :class:`HighsSession` keeps a model alive so that a
receding-horizon controller only changes costs and bounds between solves and
HiGHS warm-starts from the previous basis.
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

from bitgaram.errors import SolveError

log = logging.getLogger(__name__)

#: One term of a block of rows: (local row numbers, columns, coefficients), broadcastable.
Term = tuple[Any, Any, Any]

#: HiGHS' infinity; bounds beyond it are free.
INF = highspy.kHighsInf


class Status(StrEnum):
    """Outcome of a solve."""

    OPTIMAL = "optimal"
    #: A MILP stopped by a limit (time, nodes, solutions) holding a feasible plan that is
    #: not proven optimal: a controller step acts on it rather than on nothing.
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    FAILED = "failed"


@dataclass(frozen=True)
class LPSolution:
    """Solution of a linear program.

    Attributes
    ----------
    status : Status
        :attr:`Status.OPTIMAL`, or :attr:`Status.FEASIBLE` for a MILP stopped by a limit
        with a feasible incumbent (other outcomes raise :class:`SolveError`).
    objective : float
        Objective value [objective units].
    x : numpy.ndarray
        Primal values of the variables, in the order they were added.
    """

    status: Status
    objective: float
    x: np.ndarray


@dataclass
class LinearProgram:
    """Minimise ``cost @ x`` s.t. ``row_lb <= A x <= row_ub``, ``col_lb <= x <= col_ub``.

    Built by :meth:`add_variables` and :meth:`add_rows`; every method works on
    whole arrays.
    """

    cost: list[np.ndarray] = field(default_factory=list)
    col_lb: list[np.ndarray] = field(default_factory=list)
    col_ub: list[np.ndarray] = field(default_factory=list)
    row_lb: list[np.ndarray] = field(default_factory=list)
    row_ub: list[np.ndarray] = field(default_factory=list)
    _rows: list[np.ndarray] = field(default_factory=list)
    _cols: list[np.ndarray] = field(default_factory=list)
    _vals: list[np.ndarray] = field(default_factory=list)
    n_cols: int = 0
    n_rows: int = 0
    #: Column indices of integer (MILP) variables; empty for a pure LP.
    integer_cols: list[np.ndarray] = field(default_factory=list)

    def add_variables(
        self,
        shape: tuple[int, ...],
        lb: float | np.ndarray = 0.0,
        ub: float | np.ndarray = INF,
        cost: float | np.ndarray = 0.0,
        integer: bool = False,
    ) -> np.ndarray:
        """Add a block of variables; returns their column indices, shaped ``shape``.

        ``integer=True`` makes the block integer (with bounds 0..1: binary), which turns
        the model into a MILP; the default is continuous.
        """
        n = int(np.prod(shape))
        idx = np.arange(self.n_cols, self.n_cols + n).reshape(shape)
        if integer:
            self.integer_cols.append(idx.ravel().copy())
        self.n_cols += n
        self.col_lb.append(np.broadcast_to(np.asarray(lb, dtype=float), shape).ravel().copy())
        self.col_ub.append(np.broadcast_to(np.asarray(ub, dtype=float), shape).ravel().copy())
        self.cost.append(np.broadcast_to(np.asarray(cost, dtype=float), shape).ravel().copy())
        return idx

    def add_rows(
        self,
        n: int,
        terms: Sequence[Term],
        lb: float | np.ndarray = -INF,
        ub: float | np.ndarray = INF,
    ) -> np.ndarray:
        """Add ``n`` rows ``lb <= sum of terms <= ub``.

        Parameters
        ----------
        n : int
            Number of rows.
        terms : list of (row, col, coefficient)
            Each entry adds ``coefficient * x[col]`` to row ``row`` (local row
            numbers ``0 .. n-1``); arrays broadcast together.
        lb, ub : float or numpy.ndarray
            Row bounds, shape ``(n,)`` or scalar.

        Returns
        -------
        numpy.ndarray
            Global row indices, shape ``(n,)``.
        """
        base = self.n_rows
        for r, c, v in terms:
            r_b, c_b, v_b = np.broadcast_arrays(
                np.asarray(r), np.asarray(c), np.asarray(v, dtype=float)
            )
            self._rows.append(r_b.ravel() + base)
            self._cols.append(c_b.ravel())
            self._vals.append(v_b.ravel().astype(float))
        self.row_lb.append(np.broadcast_to(np.asarray(lb, dtype=float), (n,)).copy())
        self.row_ub.append(np.broadcast_to(np.asarray(ub, dtype=float), (n,)).copy())
        self.n_rows += n
        return np.arange(base, base + n)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Current ``cost, col_lb, col_ub, row_lb, row_ub`` as flat arrays (copies)."""

        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0)

        return (
            cat(self.cost),
            cat(self.col_lb),
            cat(self.col_ub),
            cat(self.row_lb),
            cat(self.row_ub),
        )

    def matrix(self) -> sp.csc_matrix:
        """Constraint matrix in CSC form, shape (n_rows, n_cols)."""
        if not self._rows:
            return sp.csc_matrix((self.n_rows, self.n_cols))
        rows = np.concatenate(self._rows)
        cols = np.concatenate(self._cols)
        vals = np.concatenate(self._vals)
        return sp.csc_matrix((vals, (rows, cols)), shape=(self.n_rows, self.n_cols))


def _status(model_status: highspy.HighsModelStatus) -> Status:
    if model_status == highspy.HighsModelStatus.kOptimal:
        return Status.OPTIMAL
    if model_status == highspy.HighsModelStatus.kInfeasible:
        return Status.INFEASIBLE
    if model_status in (
        highspy.HighsModelStatus.kUnbounded,
        highspy.HighsModelStatus.kUnboundedOrInfeasible,
    ):
        return Status.UNBOUNDED
    return Status.FAILED


#: HiGHS statuses of a solve stopped by one of its limits (time, iterations or nodes, solutions).
_LIMITS = (
    highspy.HighsModelStatus.kTimeLimit,
    highspy.HighsModelStatus.kIterationLimit,
    highspy.HighsModelStatus.kSolutionLimit,
)


class HighsSession:
    """A HiGHS model kept alive across solves (costs and bounds change, structure not).

    Parameters
    ----------
    lp : LinearProgram
        The model; its structure (matrix) is fixed from now on.
    threads : int
        HiGHS threads (1 suits many small solves).
    """

    def __init__(
        self,
        lp: LinearProgram,
        threads: int = 1,
        options: dict[str, float | int | bool | str] | None = None,
    ) -> None:
        self._highs = highspy.Highs()
        self._highs.setOptionValue("output_flag", False)
        self._highs.setOptionValue("threads", threads)
        for key, value in (options or {}).items():
            self._highs.setOptionValue(key, value)
        cost, col_lb, col_ub, row_lb, row_ub = lp.arrays()
        a = lp.matrix()
        model = highspy.HighsLp()
        model.num_col_ = lp.n_cols
        model.num_row_ = lp.n_rows
        model.col_cost_ = cost
        model.col_lower_ = col_lb
        model.col_upper_ = col_ub
        model.row_lower_ = row_lb
        model.row_upper_ = row_ub
        model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        model.a_matrix_.start_ = a.indptr.astype(np.int32)
        model.a_matrix_.index_ = a.indices.astype(np.int32)
        model.a_matrix_.value_ = a.data.astype(float)
        self._highs.passModel(model)
        if lp.integer_cols:
            ints = np.concatenate(lp.integer_cols).astype(np.int32)
            kinds = np.full(ints.size, highspy.HighsVarType.kInteger)
            self._highs.changeColsIntegrality(ints.size, ints, kinds)
        self._is_mip = bool(lp.integer_cols)
        self.n_cols = lp.n_cols
        self.n_rows = lp.n_rows
        self._col_idx = np.arange(lp.n_cols, dtype=np.int32)
        self._row_idx = np.arange(lp.n_rows, dtype=np.int32)
        #: Time spent in the last ``Highs.run`` call [s] (wall clock).
        self.last_run_seconds = 0.0
        #: CPU time of the calling thread in the last ``Highs.run`` call [s].
        self.last_run_cpu_seconds = 0.0

    def update(
        self,
        cost: np.ndarray,
        col_lb: np.ndarray,
        col_ub: np.ndarray,
        row_lb: np.ndarray,
        row_ub: np.ndarray,
    ) -> None:
        """Replace every cost and bound (full arrays, same sizes as the model)."""
        h = self._highs
        h.changeColsCost(self.n_cols, self._col_idx, np.asarray(cost, dtype=float))
        h.changeColsBounds(
            self.n_cols,
            self._col_idx,
            np.asarray(col_lb, dtype=float),
            np.asarray(col_ub, dtype=float),
        )
        h.changeRowsBounds(  # type: ignore[attr-defined]
            self.n_rows,
            self._row_idx,
            np.asarray(row_lb, dtype=float),
            np.asarray(row_ub, dtype=float),
        )

    def _feasible_at_limit(self) -> bool:
        """A MILP stopped by a time, node or solution limit with a feasible incumbent."""
        h = self._highs
        # primal_solution_status 2 = kSolutionStatusFeasible (HiGHS's SolutionStatus).
        return (
            self._is_mip
            and h.getModelStatus() in _LIMITS
            and h.getInfo().primal_solution_status == 2
        )

    def iterations(self) -> int:
        """Simplex iterations of the last solve."""
        return int(self._highs.getInfo().simplex_iteration_count)

    def solve(self) -> LPSolution:
        """Solve the current model.

        Raises
        ------
        SolveError
            If the model is infeasible, unbounded or HiGHS fails.
        """
        h = self._highs
        c0, t0 = time.thread_time(), time.perf_counter()
        h.run()
        self.last_run_seconds = time.perf_counter() - t0
        self.last_run_cpu_seconds = time.thread_time() - c0
        status = _status(h.getModelStatus())
        if status is Status.FAILED and self._feasible_at_limit():
            status = Status.FEASIBLE
            info = h.getInfo()
            log.warning(
                "MILP (%d variables, %d rows) stopped by a limit (%s) after %.1f s: acting on "
                "its best feasible plan, gap %.3g (objective %.6g, bound %.6g)",
                self.n_cols,
                self.n_rows,
                h.modelStatusToString(h.getModelStatus()),
                self.last_run_seconds,
                info.mip_gap,
                info.objective_function_value,
                info.mip_dual_bound,
            )
        if status is Status.FAILED and h.getModelStatus() in _LIMITS:
            raise SolveError(
                f"MILP ({self.n_cols} variables, {self.n_rows} rows) stopped by a limit "
                f"(HiGHS: {h.modelStatusToString(h.getModelStatus())}) before it found a "
                "feasible plan; raise the solver's time_limit or shorten the horizon"
            )
        if status not in (Status.OPTIMAL, Status.FEASIBLE):
            raise SolveError(
                f"LP ({self.n_cols} variables, {self.n_rows} rows) is {status.value} "
                f"(HiGHS: {h.modelStatusToString(h.getModelStatus())}); check that the "
                "site limits can be met with the batteries' power and energy"
            )
        x = np.asarray(h.getSolution().col_value, dtype=float)
        return LPSolution(status=status, objective=float(h.getInfo().objective_function_value), x=x)


#: HiGHS C API model status codes (``kHighsModelStatus*``) mapped to :class:`Status`.
_C_STATUS = {7: Status.OPTIMAL, 8: Status.INFEASIBLE, 9: Status.UNBOUNDED, 10: Status.UNBOUNDED}


@dataclass(frozen=True)
class _CApi:
    """The HiGHS C API functions used by :class:`HighsCSession` (ctypes)."""

    lib: ctypes.CDLL
    int_type: type[np.signedinteger[Any]]


def _declare(lib: ctypes.CDLL) -> _CApi | None:
    """Declare the C signatures; None if the library lacks a function we need."""
    vp, dbl, txt = ctypes.c_void_p, ctypes.c_double, ctypes.c_char_p
    try:
        size = lib.Highs_getSizeofHighsInt
        size.restype, size.argtypes = ctypes.c_int, [vp]
        create = lib.Highs_create
        create.restype, create.argtypes = vp, []
        handle = create()
        n_bytes = int(size(handle))
        lib.Highs_destroy.restype, lib.Highs_destroy.argtypes = None, [vp]
        lib.Highs_destroy(handle)
        hint: Any = {4: ctypes.c_int32, 8: ctypes.c_int64}[n_bytes]
        signatures: dict[str, tuple[Any, list[Any]]] = {
            "Highs_setBoolOptionValue": (hint, [vp, txt, hint]),
            "Highs_setIntOptionValue": (hint, [vp, txt, hint]),
            "Highs_setDoubleOptionValue": (hint, [vp, txt, dbl]),
            "Highs_setStringOptionValue": (hint, [vp, txt, txt]),
            "Highs_passLp": (hint, [vp, hint, hint, hint, hint, hint, dbl] + [vp] * 8),
            "Highs_changeColsCostBySet": (hint, [vp, hint, vp, vp]),
            "Highs_changeColsBoundsBySet": (hint, [vp, hint, vp, vp, vp]),
            "Highs_changeRowsBoundsBySet": (hint, [vp, hint, vp, vp, vp]),
            "Highs_run": (hint, [vp]),
            "Highs_getModelStatus": (hint, [vp]),
            "Highs_getObjectiveValue": (dbl, [vp]),
            "Highs_getSolution": (hint, [vp, vp, vp, vp, vp]),
            "Highs_getBasis": (hint, [vp, vp, vp]),
            "Highs_setBasis": (hint, [vp, vp, vp]),
            "Highs_getIntInfoValue": (hint, [vp, txt, vp]),
            "Highs_clearSolver": (hint, [vp]),
        }
        for name, (restype, argtypes) in signatures.items():
            func = getattr(lib, name)
            func.restype, func.argtypes = restype, argtypes
    except (AttributeError, KeyError, OSError):
        return None
    return _CApi(lib=lib, int_type=np.int32 if n_bytes == 4 else np.int64)


@cache
def highs_c_api() -> _CApi | None:
    """The C API of the HiGHS library bundled with highspy, or None if not loadable.

    highspy ships the HiGHS shared library next to its extension module; its C
    API takes numpy buffers directly, which saves the per-element conversions
    of the Python bindings (basis statuses in particular).
    """
    folder = Path(highspy.__file__).parent
    for pattern in ("libhighs.so*", "libhighs*.dylib", "*highs*.dll"):
        for path in sorted(folder.glob(pattern)):
            try:
                lib = ctypes.CDLL(str(path))
            except OSError:
                continue
            api = _declare(lib)
            if api is not None:
                return api
    return None


def _ptr(a: np.ndarray) -> int:
    return int(a.ctypes.data)


class HighsCSession:
    """A HiGHS model kept alive across solves, driven through the HiGHS C API.

    Same role as :class:`HighsSession` (continuous LPs only), plus cheap
    partial updates by index set and access to the simplex basis as integer
    arrays (``kHighsBasisStatus`` codes: 0 lower, 1 basic, 2 upper, 3 zero,
    4 nonbasic), so that a caller can move the basis between solves.

    Parameters
    ----------
    lp : LinearProgram
        The model (no integer columns); its structure is fixed from now on.
    api : _CApi
        From :func:`highs_c_api`.
    threads : int
        HiGHS threads.
    options : dict, optional
        HiGHS options (name to value).

    Raises
    ------
    SolveError
        If HiGHS rejects the model or an option.
    """

    def __init__(
        self,
        lp: LinearProgram,
        api: _CApi,
        threads: int = 1,
        options: dict[str, float | int | bool | str] | None = None,
    ) -> None:
        if lp.integer_cols:
            raise SolveError("HighsCSession solves LPs only; use HighsSession for a MILP")
        self._lib = api.lib
        self._int = api.int_type
        self._h = ctypes.c_void_p(self._lib.Highs_create())
        settings: dict[str, float | int | bool | str] = {"output_flag": False, "threads": threads}
        settings.update(options or {})
        for key, value in settings.items():
            if not self._set_option(key.encode(), value):
                raise SolveError(
                    f"HiGHS rejected option {key}={value!r}; see the HiGHS options list"
                )
        cost, col_lb, col_ub, row_lb, row_ub = lp.arrays()
        a = lp.matrix()
        start = a.indptr.astype(self._int)
        index = a.indices.astype(self._int)
        value = a.data.astype(float)
        status = self._lib.Highs_passLp(
            self._h, lp.n_cols, lp.n_rows, value.size, 1, 1, 0.0,
            _ptr(cost), _ptr(col_lb), _ptr(col_ub), _ptr(row_lb), _ptr(row_ub),
            _ptr(start), _ptr(index), _ptr(value),
        )  # fmt: skip
        if status < 0:
            raise SolveError(f"HiGHS rejected the LP ({lp.n_cols} variables, {lp.n_rows} rows)")
        self.n_cols = lp.n_cols
        self.n_rows = lp.n_rows
        self._col_idx = np.arange(lp.n_cols, dtype=self._int)
        self._row_idx = np.arange(lp.n_rows, dtype=self._int)
        self._x = np.empty(lp.n_cols)
        self._col_status = np.empty(lp.n_cols, dtype=self._int)
        self._row_status = np.empty(lp.n_rows, dtype=self._int)
        self._count = np.zeros(1, dtype=self._int)
        #: Time spent in the last ``Highs_run`` call [s] (wall clock).
        self.last_run_seconds = 0.0
        #: CPU time of the calling thread in the last ``Highs_run`` call [s].
        self.last_run_cpu_seconds = 0.0

    def _set_option(self, key: bytes, value: float | int | bool | str) -> bool:
        lib, h = self._lib, self._h
        if isinstance(value, bool):
            return bool(lib.Highs_setBoolOptionValue(h, key, int(value)) >= 0)
        if isinstance(value, int) and lib.Highs_setIntOptionValue(h, key, value) >= 0:
            return True
        if isinstance(value, (int, float)):
            return bool(lib.Highs_setDoubleOptionValue(h, key, float(value)) >= 0)
        return bool(lib.Highs_setStringOptionValue(h, key, str(value).encode()) >= 0)

    def __del__(self) -> None:
        handle = getattr(self, "_h", None)
        if handle is not None and handle.value:
            self._lib.Highs_destroy(handle)
            self._h = ctypes.c_void_p(None)

    def index(self, idx: np.ndarray) -> np.ndarray:
        """Indices as the contiguous integer array the C API expects."""
        return np.ascontiguousarray(idx, dtype=self._int).ravel()

    def change_costs(self, idx: np.ndarray, cost: np.ndarray) -> None:
        """Set the costs of columns ``idx`` (from :meth:`index`)."""
        c = np.ascontiguousarray(cost, dtype=float)
        self._lib.Highs_changeColsCostBySet(self._h, idx.size, _ptr(idx), _ptr(c))

    def change_col_bounds(self, idx: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> None:
        """Set the bounds of columns ``idx`` (from :meth:`index`)."""
        lo, hi = np.ascontiguousarray(lb, dtype=float), np.ascontiguousarray(ub, dtype=float)
        self._lib.Highs_changeColsBoundsBySet(self._h, idx.size, _ptr(idx), _ptr(lo), _ptr(hi))

    def change_row_bounds(self, idx: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> None:
        """Set the bounds of rows ``idx`` (from :meth:`index`)."""
        lo, hi = np.ascontiguousarray(lb, dtype=float), np.ascontiguousarray(ub, dtype=float)
        self._lib.Highs_changeRowsBoundsBySet(self._h, idx.size, _ptr(idx), _ptr(lo), _ptr(hi))

    def update(
        self,
        cost: np.ndarray,
        col_lb: np.ndarray,
        col_ub: np.ndarray,
        row_lb: np.ndarray,
        row_ub: np.ndarray,
    ) -> None:
        """Replace every cost and bound (full arrays, same sizes as the model)."""
        self.change_costs(self._col_idx, cost)
        self.change_col_bounds(self._col_idx, col_lb, col_ub)
        self.change_row_bounds(self._row_idx, row_lb, row_ub)

    def basis(self) -> tuple[np.ndarray, np.ndarray]:
        """Current basis statuses of the columns and rows (copies)."""
        self._lib.Highs_getBasis(self._h, _ptr(self._col_status), _ptr(self._row_status))
        return self._col_status.copy(), self._row_status.copy()

    def set_basis(self, col_status: np.ndarray, row_status: np.ndarray) -> bool:
        """Start the next solve from this basis; False if HiGHS rejected it.

        The basis may be incomplete or singular: HiGHS completes it with slacks.
        """
        cs = np.ascontiguousarray(col_status, dtype=self._int)
        rs = np.ascontiguousarray(row_status, dtype=self._int)
        return bool(self._lib.Highs_setBasis(self._h, _ptr(cs), _ptr(rs)) >= 0)

    def clear_solver(self) -> None:
        """Forget the basis and solver state: the next solve starts cold (same model)."""
        self._lib.Highs_clearSolver(self._h)

    def iterations(self) -> int:
        """Simplex iterations of the last solve."""
        self._lib.Highs_getIntInfoValue(self._h, b"simplex_iteration_count", _ptr(self._count))
        return int(self._count[0])

    def solve(self) -> LPSolution:
        """Solve the current model.

        Raises
        ------
        SolveError
            If the model is infeasible, unbounded or HiGHS fails.
        """
        lib = self._lib
        c0, t0 = time.thread_time(), time.perf_counter()
        lib.Highs_run(self._h)
        self.last_run_seconds = time.perf_counter() - t0
        self.last_run_cpu_seconds = time.thread_time() - c0
        code = int(lib.Highs_getModelStatus(self._h))
        status = _C_STATUS.get(code, Status.FAILED)
        if status is not Status.OPTIMAL:
            raise SolveError(
                f"LP ({self.n_cols} variables, {self.n_rows} rows) is {status.value} "
                f"(HiGHS model status {code}); check that the "
                "site limits can be met with the batteries' power and energy"
            )
        lib.Highs_getSolution(self._h, _ptr(self._x), None, None, None)
        return LPSolution(
            status=status, objective=float(lib.Highs_getObjectiveValue(self._h)), x=self._x.copy()
        )


def open_session(
    lp: LinearProgram,
    threads: int = 1,
    options: dict[str, float | int | bool | str] | None = None,
) -> HighsSession | HighsCSession:
    """A session for repeated LP solves.

    :class:`HighsCSession` if the HiGHS C API loads and the model is an LP,
    else :class:`HighsSession`.
    """
    api = highs_c_api()
    if api is None or lp.integer_cols:
        return HighsSession(lp, threads=threads, options=options)
    return HighsCSession(lp, api, threads=threads, options=options)


def solve_lp(lp: LinearProgram, threads: int = 1) -> LPSolution:
    """Solve a linear program once with HiGHS.

    Raises
    ------
    SolveError
        If the model is infeasible, unbounded or HiGHS fails.

    Examples
    --------
    >>> lp = LinearProgram()
    >>> x = lp.add_variables((2,), lb=0.0, ub=1.0, cost=np.array([-1.0, -2.0]))
    >>> _ = lp.add_rows(1, [(0, x, 1.0)], ub=1.5)
    >>> round(solve_lp(lp).objective, 6)
    -2.5
    """
    return HighsSession(lp, threads=threads).solve()
