"""``/api/v1/health``: liveness, no authentication."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from bitgaram import __version__

router = APIRouter(tags=["health"])


class HealthPublic(BaseModel):
    """The service is up."""

    status: str
    version: str


@router.get("/health")
def health() -> HealthPublic:
    """Liveness probe (no authentication, no store access)."""
    return HealthPublic(status="ok", version=__version__)
