"""GET /feature-views and /feature-services: what can be looked up, from the registry snapshot."""

from fastapi import APIRouter, Depends

from pitstop.api.deps import CatalogDep
from pitstop.api.schemas import FeatureServiceInfo, FeatureViewInfo
from pitstop.api.security import require_key_for_reads

router = APIRouter(tags=["registry"], dependencies=[Depends(require_key_for_reads)])


@router.get("/feature-views")
async def list_feature_views(catalog: CatalogDep) -> list[FeatureViewInfo]:
    """Batch and on-demand views: entities and join keys, ttl, features with types."""
    return [catalog.views[name] for name in sorted(catalog.views)]


@router.get("/feature-services")
async def list_feature_services(catalog: CatalogDep) -> list[FeatureServiceInfo]:
    """Feature services: the views and features in each, the join keys a lookup must send."""
    return [catalog.services[name] for name in sorted(catalog.services)]
