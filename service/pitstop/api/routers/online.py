"""POST /get-online-features: Feast's online lookup, request and response as Feast's server."""

from fastapi import APIRouter

from pitstop.api.deps import LookupDep
from pitstop.api.schemas import OnlineFeaturesRequest, OnlineFeaturesResponse

router = APIRouter(tags=["online"])


@router.post("/get-online-features", response_model_exclude_none=True)
def get_online_features(body: OnlineFeaturesRequest, lookup: LookupDep) -> OnlineFeaturesResponse:
    """Latest feature values for each entity row.

    ``{"entities": {"user_id": [1, 2]}, "feature_service": "churn_v1"}`` or
    ``"features": ["user_activity:events_7d", ...]``; ``request_time`` defaults to now (UTC).
    A plain ``def``: Feast's read blocks, so FastAPI runs it in its thread pool.
    """
    return lookup.get(body)
