"""POST /get-online-features: Feast's online lookup, request and response as Feast's server."""

import datetime as dt
import time

from fastapi import APIRouter

from pitstop.api.deps import LookupDep
from pitstop.api.routers.monitoring import ServingLogDep
from pitstop.api.schemas import OnlineFeaturesRequest, OnlineFeaturesResponse

router = APIRouter(tags=["online"])


@router.post("/get-online-features", response_model_exclude_none=True)
def get_online_features(
    body: OnlineFeaturesRequest, lookup: LookupDep, serving_log: ServingLogDep
) -> OnlineFeaturesResponse:
    """Latest feature values for each entity row.

    ``{"entities": {"user_id": [1, 2]}, "feature_service": "churn_v1"}`` or
    ``"features": ["user_activity:events_7d", ...]``; ``request_time`` defaults to now (UTC).
    A plain ``def``: Feast's read blocks, so FastAPI runs it in its thread pool.
    """
    started, request_time = time.perf_counter(), dt.datetime.now(dt.timezone.utc)
    response = lookup.get(body, now=request_time)
    # Monitoring's serving log: samples by entity key, queues, returns at once (issue 7).
    serving_log.record(
        feature_service=body.feature_service,
        feature_refs=body.features,
        entities=body.entities,
        request_time=request_time,
        feature_names=response.metadata.feature_names,
        values=[column.values for column in response.results],
        statuses=[column.statuses for column in response.results],
        event_timestamps=[column.event_timestamps for column in response.results],
        latency_seconds=time.perf_counter() - started,
    )
    return response
