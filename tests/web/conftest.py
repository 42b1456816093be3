"""Fixtures of the dashboard tests: the same synthetic park as the API tests."""

from __future__ import annotations

import sys
from pathlib import Path

# The synthetic park app of the API tests is shared with the dashboard tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from api_park import ApiPark, api_park

__all__ = ["ApiPark", "api_park"]
