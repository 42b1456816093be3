"""A sparse linear program and its HiGHS solve.

Variables and constraint rows are added in blocks (numpy arrays of bounds,
costs and COO triplets), never one by one, so a model of 10^5 variables is
assembled in milliseconds. :class:`HighsSession` keeps a model alive so that a
receding-horizon controller only changes costs and bounds between solves and
HiGHS warm-starts from the previous basis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

from bitgaram.errors import SolveError

#: One term of a block of rows: (local row numbers, columns, coefficients), broadcastable.
Term = tuple[Any, Any, Any]

#: HiGHS' infinity; bounds beyond it are free.
INF = highspy.kHighsInf


class Status(StrEnum):
    """Outcome of a solve."""

    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    FAILED = "failed"


@dataclass(frozen=True)
class LPSolution:
    """Solution of a linear program.

    Attributes
    ----------
    status : Status
        Always :attr:`Status.OPTIMAL` (other outcomes raise :class:`SolveError`).
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
        self.n_cols = lp.n_cols
        self.n_rows = lp.n_rows
        self._col_idx = np.arange(lp.n_cols, dtype=np.int32)
        self._row_idx = np.arange(lp.n_rows, dtype=np.int32)

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

    def solve(self) -> LPSolution:
        """Solve the current model.

        Raises
        ------
        SolveError
            If the model is infeasible, unbounded or HiGHS fails.
        """
        h = self._highs
        h.run()
        status = _status(h.getModelStatus())
        if status is not Status.OPTIMAL:
            raise SolveError(
                f"LP ({self.n_cols} variables, {self.n_rows} rows) is {status.value} "
                f"(HiGHS: {h.modelStatusToString(h.getModelStatus())}); check that the "
                "site limits can be met with the batteries' power and energy"
            )
        x = np.asarray(h.getSolution().col_value, dtype=float)
        return LPSolution(status=status, objective=float(h.getInfo().objective_function_value), x=x)


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
