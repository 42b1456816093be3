"""A deadline on shutdown: once stopped, the process ends in bounded time, whatever still runs.

The components drain within ``[service] drain_s``; what still runs then is cancelled. A thread
cannot be cancelled, though: a plan being solved, a library's worker thread, a blocked socket.
:class:`ShutdownDeadline` is armed when the stop comes; if the process has not exited by its
deadline it logs every thread's stack (what held the exit up) and ends the process. Nothing
accepted is lost by that: the collector acknowledges a reading only once it is committed, so
the broker redelivers anything held, and the store recovers its write-ahead log on the next
open. The exit code says whether the store had been closed: 0 if so (only a stray thread was
left), 1 if the drain itself overran.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback

log = logging.getLogger(__name__)

#: Exit code when the deadline fires before the store was closed.
OVERRUN_EXIT = 1


def thread_stacks() -> dict[str, str]:
    """The current stack of every other live thread, by thread name."""
    frames = sys._current_frames()
    out = {}
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        if frame is None or thread is threading.current_thread():
            continue
        out[thread.name] = "".join(traceback.format_stack(frame))
    return out


class ShutdownDeadline:
    """End the process ``seconds`` after :meth:`arm` unless it has exited by then.

    Parameters
    ----------
    seconds : float
        Time from the stop to the forced exit [s]: the drain time plus a grace for closing.
    exit : callable, optional
        What ends the process (default :func:`os._exit`); tests pass their own.
    """

    def __init__(self, seconds: float, exit: object = None) -> None:
        self.seconds = seconds
        self._exit = exit if callable(exit) else os._exit
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired = False

    def arm(self) -> None:
        """Start counting (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._watch, name="bitgaram-shutdown-deadline", daemon=True
            )
            self._thread.start()

    def closed(self) -> None:
        """The store is closed: a later forced exit is clean (exit code 0)."""
        self._closed.set()

    def _watch(self) -> None:
        threading.Event().wait(self.seconds)
        self.fired = True
        clean = self._closed.is_set()
        log.error(
            "shutdown overran its deadline; exiting",
            extra={
                "deadline_s": self.seconds,
                "store_closed": clean,
                "threads": thread_stacks(),
            },
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        self._exit(0 if clean else OVERRUN_EXIT)
