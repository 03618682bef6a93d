"""What can be asked for: the registry's views and services as the listing endpoints show them.

Built from the same :class:`~pitstop.online.registry.RegistrySnapshot` the lookup plans are
compiled from, and rebuilt with them when the registry changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pitstop.api.schemas import FeatureInfo, FeatureServiceInfo, FeatureViewInfo, ServiceViewInfo
from pitstop.errors import UnknownFeatureServiceError, UnknownFeatureViewError
from pitstop.online.registry import FieldDef, OnDemandDef, RegistrySnapshot, ServiceDef, ViewDef


@dataclass(frozen=True)
class Catalog:
    """Feature views and feature services of one Feast project."""

    views: Mapping[str, FeatureViewInfo]
    services: Mapping[str, FeatureServiceInfo]

    @classmethod
    def from_registry(cls, registry: RegistrySnapshot) -> Catalog:
        batch = {name: _batch_view(view) for name, view in registry.views.items()}
        on_demand = {
            name: _on_demand_view(view, batch) for name, view in registry.on_demand.items()
        }
        views = {**batch, **on_demand}
        return cls(
            views=views,
            services={
                name: _service(service, views) for name, service in registry.services.items()
            },
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


def _fields(fields: Iterable[FieldDef]) -> list[FeatureInfo]:
    return [
        FeatureInfo(name=field.name, dtype=field.dtype, description=field.description)
        for field in fields
    ]


def _batch_view(view: ViewDef) -> FeatureViewInfo:
    return FeatureViewInfo(
        name=view.name,
        kind="batch",
        description=view.description,
        owner=view.owner,
        entities=list(view.entities),
        join_keys=list(view.join_keys),
        request_fields=[],
        ttl_seconds=view.ttl_seconds,
        online=view.online,
        features=_fields(view.features),
        tags=dict(view.tags),
    )


def _on_demand_view(view: OnDemandDef, batch: Mapping[str, FeatureViewInfo]) -> FeatureViewInfo:
    # An on-demand view has no entities of its own; the keys it needs are those of its sources.
    join_keys: list[str] = []
    for source in view.sources:
        source_view = batch.get(source)
        for key in source_view.join_keys if source_view else ():
            if key not in join_keys:
                join_keys.append(key)
    return FeatureViewInfo(
        name=view.name,
        kind="on_demand",
        description=view.description,
        owner=view.owner,
        entities=[],
        join_keys=join_keys,
        request_fields=_fields(view.request_fields),
        ttl_seconds=None,
        online=True,
        features=_fields(view.features),
        tags=dict(view.tags),
    )


def _service(service: ServiceDef, views: Mapping[str, FeatureViewInfo]) -> FeatureServiceInfo:
    join_keys: list[str] = []
    request_fields: dict[str, FeatureInfo] = {}
    service_views: list[ServiceViewInfo] = []
    for view_name, features in service.projections:
        view = views.get(view_name)
        if view is not None:
            join_keys += [key for key in view.join_keys if key not in join_keys]
            request_fields.update((field.name, field) for field in view.request_fields)
            by_name = {field.name: field for field in view.features}
            listed = [by_name[name] for name in features if name in by_name]
        else:
            listed = []
        service_views.append(ServiceViewInfo(name=view_name, features=listed))
    return FeatureServiceInfo(
        name=service.name,
        description=service.description,
        owner=service.owner,
        join_keys=join_keys,
        request_fields=list(request_fields.values()),
        feature_views=service_views,
        tags=dict(service.tags),
    )
