"""``GET /health`` (the process is up), ``GET /ready`` (lookups can be answered) and
``GET /metrics`` (Prometheus). The probes are open to anyone; ``/metrics`` asks for the API key
when reads do (a Prometheus job sends it with ``authorization: {credentials: KEY}``)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from pitstop.api.deps import ServingDep
from pitstop.api.errors import public_detail
from pitstop.api.metrics import exposition
from pitstop.api.schemas import Health, Readiness
from pitstop.api.security import require_key_for_reads
from pitstop.online.codec import rfc3339

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> Health:
    """Liveness: answers 200 whenever the process runs, also before anything is applied."""
    return Health()


@router.get("/ready", response_model=Readiness, responses={503: {"description": "not ready"}})
async def ready(serving: ServingDep, request: Request) -> JSONResponse:
    """Readiness: the plans are compiled and the online store answers; 503 with the reason.

    Stale views (past their coverage plus the grace) do not make it 503: lookups still answer,
    with ``OUTSIDE_MAX_AGE``; ``stale_views`` says which and since when."""
    problem = serving.problem
    if problem is not None:
        detail = public_detail(request.app, str(problem))
        return JSONResponse({"status": "not ready", "detail": detail}, status_code=503)
    assert serving.compiled is not None
    return JSONResponse(
        {
            "status": "ready",
            "registry_version": serving.compiled.version,
            "online_store": serving.store.kind,
            "stale_views": {
                view: rfc3339(since)
                for view, since in sorted(serving.stale_views(time.time()).items())
            },
        }
    )


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(require_key_for_reads)])
async def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, media_type=content_type)
