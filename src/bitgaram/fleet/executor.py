"""Where fleet tasks run: in this process, or on a Dask cluster.

An :class:`Executor` maps a picklable function over a list of jobs and returns
the results in job order, calling ``on_result`` as each job finishes (for
progress bars). It is injected into the fleet runs (httpx-style), so tests use
the local executor or a Dask ``LocalCluster`` without patching anything.

- :class:`LocalExecutor`: one job after another, in-process (the reference).
- :class:`DaskExecutor`: one Dask task per job, on a ``LocalCluster`` (threads,
  so an embedded DuckDB file is shared) or on a running scheduler
  (``dask://host:port``; workers must reach the same PostgreSQL store).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, runtime_checkable

from bitgaram.errors import BitgaramError, ConfigError

T = TypeVar("T")
R = TypeVar("R")

#: Called with (job position, result) as each job completes.
ResultFn = Callable[[int, Any], None]


@runtime_checkable
class Executor(Protocol):
    """Runs jobs; results come back in job order."""

    name: str

    def map(
        self, fn: Callable[[T], R], jobs: Sequence[T], on_result: ResultFn | None = None
    ) -> list[R]:
        """``[fn(job) for job in jobs]``, wherever the executor runs them."""
        ...

    def close(self) -> None:
        """Release workers and connections."""
        ...


class LocalExecutor:
    """Run jobs one after another in this process.

    Examples
    --------
    >>> LocalExecutor().map(abs, [-1, 2])
    [1, 2]
    """

    name = "local"

    def map(
        self, fn: Callable[[T], R], jobs: Sequence[T], on_result: ResultFn | None = None
    ) -> list[R]:
        """Apply ``fn`` to each job in order."""
        out: list[R] = []
        for i, job in enumerate(jobs):
            result = fn(job)
            out.append(result)
            if on_result is not None:
                on_result(i, result)
        return out

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class DaskExecutor:
    """Run each job as one Dask task.

    Parameters
    ----------
    address : str, optional
        Scheduler address (``tcp://host:8786``). ``None`` starts a
        ``LocalCluster`` in this process.
    n_workers, threads_per_worker : int
        Size of the local cluster (defaults suit a 2-core machine: one worker,
        two threads).
    processes : bool
        Local workers as processes (``False``: threads of this process, which
        share an embedded DuckDB store; jobs must then release the GIL to run
        in parallel, as LightGBM and HiGHS do).

    Raises
    ------
    BitgaramError
        If the scheduler cannot be reached.
    """

    name = "dask"

    def __init__(
        self,
        address: str | None = None,
        n_workers: int = 1,
        threads_per_worker: int = 2,
        processes: bool = False,
    ) -> None:
        from distributed import Client, LocalCluster

        self._cluster: LocalCluster | None = None
        try:
            if address is None:
                self._cluster = LocalCluster(
                    n_workers=n_workers,
                    threads_per_worker=threads_per_worker,
                    processes=processes,
                    dashboard_address=None,
                )
                self.client = Client(self._cluster)
            else:
                self.client = Client(address, timeout="10s")
        except OSError as exc:
            if self._cluster is not None:
                self._cluster.close()
            raise BitgaramError(f"cannot reach the Dask scheduler {address}: {exc}") from exc
        self.name = f"dask({address or 'LocalCluster'})"

    def map(
        self, fn: Callable[[T], R], jobs: Sequence[T], on_result: ResultFn | None = None
    ) -> list[R]:
        """Submit one task per job; gather in job order, reporting completions as they come."""
        from distributed import as_completed

        if not jobs:
            return []
        futures = self.client.map(fn, list(jobs), pure=False)
        position = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        for future in as_completed(futures):
            i = position[future.key]
            results[i] = future.result()  # re-raises the task's exception here
            if on_result is not None:
                on_result(i, results[i])
        return results

    def close(self) -> None:
        """Close the client and the local cluster (if this executor started one)."""
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def executor_for(spec: str) -> LocalExecutor | DaskExecutor:
    """The executor a command-line ``--executor`` names.

    Parameters
    ----------
    spec : str
        ``local`` (in-process), ``dask`` (a LocalCluster) or ``dask://host:port``
        (a running scheduler).

    Raises
    ------
    ConfigError
        For any other value.

    Examples
    --------
    >>> executor_for("local").name
    'local'
    """
    if spec == "local":
        return LocalExecutor()
    if spec == "dask":
        return DaskExecutor()
    if spec.startswith("dask://"):
        target = spec[len("dask://") :]
        if not target:
            raise ConfigError("--executor dask://host:port needs a host")
        return DaskExecutor(f"tcp://{target}")
    raise ConfigError(f"--executor {spec!r}: use local, dask or dask://host:port")
