"""GET /feature-views and /feature-services: what can be looked up, from the registry snapshot."""

from fastapi import APIRouter, Depends

from pitstop.api.deps import CatalogDep
from pitstop.api.schemas import FeatureServiceInfo, FeatureViewInfo, error_responses
from pitstop.api.security import require_key_for_reads

router = APIRouter(
    tags=["registry"],
    dependencies=[Depends(require_key_for_reads)],
    responses=error_responses(401, 503),
)


@router.get("/feature-views")
async def list_feature_views(catalog: CatalogDep) -> list[FeatureViewInfo]:
    """Batch and on-demand views: entities and join keys, ttl, features with types."""
    return [catalog.views[name] for name in sorted(catalog.views)]


@router.get("/feature-services")
async def list_feature_services(catalog: CatalogDep) -> list[FeatureServiceInfo]:
    """Feature services: the views and features in each, the join keys a lookup must send."""
    return [catalog.services[name] for name in sorted(catalog.services)]
