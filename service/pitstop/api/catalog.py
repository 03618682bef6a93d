"""What can be asked for: a snapshot of the Feast registry taken once at start-up.

The lookup API validates every requested name against this snapshot before Feast sees it, and
lists it on ``GET /feature-views`` and ``GET /feature-services``. A later ``pitstop apply``
is picked up by restarting the API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pitstop.api.schemas import FeatureInfo, FeatureServiceInfo, FeatureViewInfo, ServiceViewInfo
from pitstop.errors import UnknownFeatureServiceError, UnknownFeatureViewError

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore, FeatureView, Field, OnDemandFeatureView


@dataclass(frozen=True)
class Catalog:
    """Feature views, feature services and join-key types of one Feast project."""

    views: Mapping[str, FeatureViewInfo]
    services: Mapping[str, FeatureServiceInfo]
    # Join key -> Feast ValueType name ("INT64", "STRING", ...), to check entity values.
    join_key_types: Mapping[str, str]
    # The Feast objects behind `services`, handed to Feast as they are.
    feast_services: Mapping[str, FeatureService]

    @classmethod
    def from_store(cls, store: FeatureStore) -> Catalog:
        batch = {view.name: _batch_view(view) for view in store.list_feature_views()}
        on_demand = {
            view.name: _on_demand_view(view, batch) for view in store.list_on_demand_feature_views()
        }
        views = {**batch, **on_demand}
        feast_services = {service.name: service for service in store.list_feature_services()}
        return cls(
            views=views,
            services={name: _service(service, views) for name, service in feast_services.items()},
            join_key_types={
                entity.join_key: entity.value_type.name for entity in store.list_entities()
            },
            feast_services=feast_services,
        )

    def view(self, name: str) -> FeatureViewInfo:
        try:
            return self.views[name]
        except KeyError:
            raise UnknownFeatureViewError(
                f"feature view {quote_name(name)} not found; known: {', '.join(sorted(self.views))}"
            ) from None

    def service(self, name: str) -> FeatureServiceInfo:
        try:
            return self.services[name]
        except KeyError:
            raise UnknownFeatureServiceError(
                f"feature service {quote_name(name)} not found; "
                f"known: {', '.join(sorted(self.services))}"
            ) from None


def quote_name(name: str, limit: int = 80) -> str:
    """A name from a request, quoted and cut short, for an error message."""
    return repr(name if len(name) <= limit else name[:limit] + "...")


def _fields(fields: Iterable[Field]) -> list[FeatureInfo]:
    return [
        FeatureInfo(name=field.name, dtype=str(field.dtype), description=field.description or "")
        for field in fields
    ]


def _batch_view(view: FeatureView) -> FeatureViewInfo:
    return FeatureViewInfo(
        name=view.name,
        kind="batch",
        description=view.description or "",
        owner=view.owner or "",
        entities=list(view.entities),
        join_keys=list(view.join_keys),
        request_fields=[],
        # Feast stores "no ttl" as a zero timedelta.
        ttl_seconds=int(view.ttl.total_seconds()) if view.ttl else None,
        online=bool(view.online),
        features=_fields(view.features),
        tags=dict(view.tags),
    )


def _on_demand_view(
    view: OnDemandFeatureView, batch: Mapping[str, FeatureViewInfo]
) -> FeatureViewInfo:
    # An on-demand view's own entity list is Feast's placeholder; the keys it needs are those of
    # the views it reads.
    join_keys: list[str] = []
    for source in view.source_feature_view_projections:
        source_view = batch.get(source)
        for key in source_view.join_keys if source_view else ():
            if key not in join_keys:
                join_keys.append(key)
    request_fields = [
        field for source in view.source_request_sources.values() for field in source.schema
    ]
    return FeatureViewInfo(
        name=view.name,
        kind="on_demand",
        description=view.description or "",
        owner=view.owner or "",
        entities=[],
        join_keys=join_keys,
        request_fields=_fields(request_fields),
        ttl_seconds=None,
        online=True,
        features=_fields(view.features),
        tags=dict(view.tags),
    )


def _service(service: FeatureService, views: Mapping[str, FeatureViewInfo]) -> FeatureServiceInfo:
    join_keys: list[str] = []
    request_fields: dict[str, FeatureInfo] = {}
    service_views: list[ServiceViewInfo] = []
    for projection in service.feature_view_projections:
        view = views.get(projection.name)
        if view is not None:
            join_keys += [key for key in view.join_keys if key not in join_keys]
            request_fields.update((field.name, field) for field in view.request_fields)
        service_views.append(
            ServiceViewInfo(name=projection.name, features=_fields(projection.features))
        )
    return FeatureServiceInfo(
        name=service.name,
        description=service.description or "",
        owner=service.owner or "",
        join_keys=join_keys,
        request_fields=list(request_fields.values()),
        feature_views=service_views,
        tags=dict(service.tags),
    )
