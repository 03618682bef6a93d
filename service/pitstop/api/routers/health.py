"""GET /health: the process is up (lookups may still answer 503 until `pitstop apply`)."""

from fastapi import APIRouter

from pitstop.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> Health:
    return Health()
