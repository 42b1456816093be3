"""Small helpers of the dashboard tests."""

from __future__ import annotations

import os


def in_ci_env() -> bool:
    """True when running under CI (``CI=true``)."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
