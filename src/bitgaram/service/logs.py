"""Structured logs: one JSON object per line (structlog), secrets never written.

:func:`configure_logging` routes the standard library's ``logging`` (what every bitgaram module
uses) and structlog's own loggers through one JSON renderer, so a line looks like::

    {"event": "component restarted", "component": "collect", "site": "park", "level": "warning",
     "logger": "bitgaram.service.supervisor", "timestamp": "2026-12-05T04:00:00.123Z"}

Every event carries the ``site`` id; events about one tenant, meter or asset carry
``tenant``/``meter``/``asset`` too. :func:`redact` removes secrets: values of keys that name a
secret (password, token, secret, authorization, cookie) and API tokens (``bg_<id>_<secret>``)
or URL passwords inside any text.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

#: Keys whose values are secrets, whatever they hold.
_SECRET_KEYS = re.compile(r"pass(word)?|token|secret|authori[sz]ation|cookie|api_key", re.I)

#: Secrets that may hide inside free text: API tokens and the password of a URL.
_SECRET_TEXT = (
    (re.compile(r"\bbg_[A-Za-z0-9]+_[A-Za-z0-9_\-]+"), "bg_***"),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),
)

REDACTED = "***"


def redact_text(text: str) -> str:
    """Text with API tokens and URL passwords masked.

    Examples
    --------
    >>> redact_text("postgresql://bg:hunter2@db:5432/park token bg_ab12_s3cr3t")
    'postgresql://bg:***@db:5432/park token bg_***'
    """
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-named keys and secrets inside text values."""
    for key, value in list(event.items()):
        if _SECRET_KEYS.search(key) and value is not None:
            event[key] = REDACTED
        elif isinstance(value, str):
            event[key] = redact_text(value)
    return event


def configure_logging(
    *,
    site_id: str | None = None,
    level: str = "INFO",
    json: bool = True,
    stream: TextIO | None = None,
) -> None:
    """Send every log record (stdlib and structlog) to ``stream`` as one JSON line.

    Parameters
    ----------
    site_id : str, optional
        Added to every event as ``site``.
    level : str
        Lowest level written (``DEBUG``, ``INFO``, ``WARNING``...).
    json : bool
        JSON lines (True) or structlog's console rendering for a terminal (False).
    stream : file, optional
        Where lines go (default: standard error).
    """

    def add_site(
        logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        # Not a context variable: paho and the control loop log from their own threads.
        if site_id is not None:
            event.setdefault("site", site_id)
        return event

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_site,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # warnings become log events too, one line each
    # Third-party chatter (uvicorn access lines, paho) stays at warnings.
    for noisy in ("uvicorn.access", "uvicorn.error", "distributed", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            *shared[:1],
            structlog.stdlib.filter_by_level,
            *shared[1:],
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A structlog logger (key-value events) for ``name``."""
    return structlog.get_logger(name)
