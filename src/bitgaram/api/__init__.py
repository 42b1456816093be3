"""The web API and dashboard: a FastAPI application built by :func:`create_app`.

Nothing is built at import time: the settings object and the store are passed
to :func:`create_app`, so tests build as many apps as they like.
"""

from __future__ import annotations

from bitgaram.api.app import create_app
from bitgaram.api.core.config import Settings

__all__ = ["Settings", "create_app"]
