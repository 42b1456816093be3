"""Fixtures of the API tests (defined in :mod:`api_park`)."""

from __future__ import annotations

from api_park import acme, api_park, operator

__all__ = ["acme", "api_park", "operator"]
