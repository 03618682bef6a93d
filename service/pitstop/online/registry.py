"""The Feast registry as plain, immutable dataclasses, read without ``import feast``.

Two sources, as Feast keeps them: the file registry (one serialized ``Registry`` proto, the
default ``<data>/registry.db``) and the SQL registry (``PITSTOP_REGISTRY_URL``, one proto per
object in Feast's tables). Both give a :class:`RegistrySnapshot` and a cheap ``version()`` that
changes whenever ``feast apply`` changes something, so a server can poll it and recompile.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

from pitstop.errors import MissingInputError, one_line
from pitstop.online import codec
from pitstop.online.feast_protos import proto_module
from pitstop.online.value_types import FEAST_TYPE_NAMES, name_of
from pitstop.settings import Settings


@dataclass(frozen=True)
class FieldDef:
    name: str
    value_type: str  # a ValueType name: "INT64", "DOUBLE", "UNIX_TIMESTAMP", ...
    description: str = ""

    @property
    def dtype(self) -> str:
        """The Feast type name ("Int64", "Float64", ...)."""
        return FEAST_TYPE_NAMES.get(self.value_type, self.value_type.title())


@dataclass(frozen=True, kw_only=True)
class Described:
    """What Feast records of every view and service for the people reading the registry."""

    description: str = ""
    owner: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EntityDef:
    name: str
    join_key: str
    value_type: str


@dataclass(frozen=True)
class SourceDef:
    """A view's batch source: the table the materializer reads, as the registry records it."""

    path: str  # a file or folder (FileSource's uri, SparkSource's path); "" for other kinds
    timestamp_field: str
    created_timestamp_column: str | None


@dataclass(frozen=True)
class ViewDef(Described):
    """A batch feature view: what the online store holds for it, and where it comes from."""

    name: str
    entities: tuple[str, ...]
    join_keys: tuple[str, ...]
    features: tuple[FieldDef, ...]
    ttl_seconds: int | None
    online: bool
    push_source: str | None = None
    # The join keys with their value types (Feast's entity columns), in the view's order.
    entity_columns: tuple[FieldDef, ...] = ()
    source: SourceDef | None = None
    # The view's name in the online store (codec.versioned_name): the name its SQLite table
    # and Redis hash fields are made from; the view's name unless Feast's versioning is on.
    online_name: str = ""

    def __post_init__(self) -> None:
        if not self.online_name:
            object.__setattr__(self, "online_name", self.name)


@dataclass(frozen=True)
class OnDemandDef(Described):
    """An on-demand view: the views and request fields it reads and its stored function."""

    name: str
    sources: tuple[str, ...]
    request_fields: tuple[FieldDef, ...]
    features: tuple[FieldDef, ...]
    udf: bytes  # dill-serialized, as Feast stores it
    mode: str


@dataclass(frozen=True)
class ServiceDef(Described):
    """A feature service: (view, features) in its definition order."""

    name: str
    projections: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class RegistrySnapshot:
    project: str
    entities: dict[str, EntityDef]
    views: dict[str, ViewDef]
    on_demand: dict[str, OnDemandDef]
    services: dict[str, ServiceDef]
    version: str

    @classmethod
    def from_protos(
        cls,
        project: str,
        version: str,
        *,
        versioning: bool = False,
        entities: Iterable[Any],
        feature_views: Iterable[Any],
        on_demand_views: Iterable[Any],
        feature_services: Iterable[Any],
    ) -> RegistrySnapshot:
        entity_defs = {
            proto.spec.name: EntityDef(
                name=proto.spec.name,
                join_key=proto.spec.join_key,
                value_type=name_of(proto.spec.value_type),
            )
            for proto in entities
            if _in_project(proto, project)
        }
        views = {}
        for proto in feature_views:
            if not _in_project(proto, project):
                continue
            spec = proto.spec
            ttl = spec.ttl.seconds if spec.HasField("ttl") else 0
            push = spec.stream_source.name if spec.HasField("stream_source") else ""
            views[spec.name] = ViewDef(
                name=spec.name,
                entities=tuple(spec.entities),
                join_keys=tuple(column.name for column in spec.entity_columns),
                features=_fields(spec.features),
                ttl_seconds=ttl or None,  # Feast stores "no ttl" as zero
                online=spec.online,
                description=spec.description,
                owner=spec.owner,
                tags=dict(spec.tags),
                push_source=push if push and spec.stream_source.type == _PUSH_SOURCE else None,
                entity_columns=_fields(spec.entity_columns),
                source=_source(spec.batch_source) if spec.HasField("batch_source") else None,
                online_name=codec.versioned_name(
                    spec.name, proto.meta.current_version_number if versioning else None
                ),
            )
        on_demand = {}
        for proto in on_demand_views:
            if not _in_project(proto, project):
                continue
            spec = proto.spec
            sources: list[str] = []
            request_fields: list[FieldDef] = []
            for source in spec.sources.values():
                kind = source.WhichOneof("source")
                if kind == "feature_view":
                    sources.append(source.feature_view.spec.name)
                elif kind == "feature_view_projection":
                    sources.append(source.feature_view_projection.feature_view_name)
                elif kind == "request_data_source":
                    request_fields += _fields(
                        source.request_data_source.request_data_options.schema
                    )
            on_demand[spec.name] = OnDemandDef(
                name=spec.name,
                sources=tuple(sources),
                request_fields=tuple(request_fields),
                features=_fields(spec.features),
                udf=spec.feature_transformation.user_defined_function.body,
                mode=spec.mode or "pandas",
                description=spec.description,
                owner=spec.owner,
                tags=dict(spec.tags),
            )
        services = {
            proto.spec.name: ServiceDef(
                name=proto.spec.name,
                projections=tuple(
                    (
                        projection.feature_view_name,
                        tuple(column.name for column in projection.feature_columns),
                    )
                    for projection in proto.spec.features
                ),
                description=proto.spec.description,
                owner=proto.spec.owner,
                tags=dict(proto.spec.tags),
            )
            for proto in feature_services
            if _in_project(proto, project)
        }
        return cls(project, entity_defs, views, on_demand, services, version)


_PUSH_SOURCE = 9  # DataSource.SourceType.PUSH_SOURCE


def _in_project(proto: Any, project: str) -> bool:
    """Whether an object belongs to the project. Feast's SQL registry keeps the project in a
    column and stores updated objects with an empty ``spec.project``: empty counts as ours."""
    return proto.spec.project in ("", project)


def _source(proto: Any) -> SourceDef:
    kind = proto.WhichOneof("options")
    if kind == "file_options":
        path = proto.file_options.uri
    elif kind == "spark_options":
        path = proto.spark_options.path
    else:
        path = ""
    return SourceDef(
        path=path,
        timestamp_field=proto.timestamp_field,
        created_timestamp_column=proto.created_timestamp_column or None,
    )


def _fields(columns: Sequence[Any]) -> tuple[FieldDef, ...]:
    return tuple(
        FieldDef(
            name=column.name,
            value_type=name_of(column.value_type),
            description=column.description,
        )
        for column in columns
    )


def _snapshot(project: str, version: str, versioning: bool, lists: Any) -> RegistrySnapshot:
    """The snapshot of a registry's object lists, named as in Feast's ``Registry`` proto."""
    return RegistrySnapshot.from_protos(
        project,
        version,
        versioning=versioning,
        entities=lists.entities,
        feature_views=lists.feature_views,
        on_demand_views=lists.on_demand_feature_views,
        feature_services=lists.feature_services,
    )


class RegistrySource(Protocol):
    """Where a registry is read from: a cheap version check and a full read."""

    def version(self) -> str: ...

    def read(self) -> RegistrySnapshot: ...


@dataclass(frozen=True)
class FileRegistry:
    """Feast's file registry: one serialized ``Registry`` proto."""

    path: Path
    project: str
    versioning: bool = False  # Feast's registry.enable_online_feature_view_versioning

    def version(self) -> str:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            raise MissingInputError(
                f"no Feast registry at {self.path}; run `pitstop apply` first"
            ) from None
        return f"{stat.st_mtime_ns}:{stat.st_size}"

    def read(self) -> RegistrySnapshot:
        version = self.version()
        registry = proto_module("core.Registry_pb2").Registry()
        registry.ParseFromString(self.path.read_bytes())
        return _snapshot(self.project, version, self.versioning, registry)


@dataclass
class SqlRegistry:
    """Feast's SQL registry (PostgreSQL): one proto per object, in Feast's own tables."""

    url: str
    project: str
    versioning: bool = False  # Feast's registry.enable_online_feature_view_versioning
    _engine: Any = None

    _TABLES = {
        "entities": ("entity_proto", "core.Entity_pb2", "Entity"),
        "feature_views": ("feature_view_proto", "core.FeatureView_pb2", "FeatureView"),
        "on_demand_feature_views": (
            "feature_view_proto",
            "core.OnDemandFeatureView_pb2",
            "OnDemandFeatureView",
        ),
        "feature_services": ("feature_service_proto", "core.FeatureService_pb2", "FeatureService"),
    }

    def _connect(self) -> Any:
        if self._engine is None:
            from sqlalchemy import create_engine

            self._engine = create_engine(self.url, pool_pre_ping=True)
        return self._engine.connect()

    def version(self) -> str:
        from sqlalchemy import text

        union = " union all ".join(
            f"select max(last_updated_timestamp) as t, count(*) as n from {table} "
            "where project_id = :project"
            for table in self._TABLES
        )
        try:
            with self._connect() as connection:
                rows = connection.execute(text(union), {"project": self.project}).all()
        except Exception as error:  # sqlalchemy and the driver raise many types
            raise MissingInputError(f"cannot read the SQL registry: {one_line(error)}") from error
        if not any(count for _, count in rows):
            raise MissingInputError(
                f"the SQL registry has no project {self.project!r}; run `pitstop apply` first"
            )
        return ";".join(f"{stamp}:{count}" for stamp, count in rows)

    def read(self) -> RegistrySnapshot:
        from sqlalchemy import text

        version = self.version()
        objects: dict[str, list[Any]] = {}
        with self._connect() as connection:
            for table, (column, module, message) in self._TABLES.items():
                cls = getattr(proto_module(module), message)
                rows = connection.execute(
                    text(f"select {column} from {table} where project_id = :project"),
                    {"project": self.project},
                ).all()
                objects[table] = [cls.FromString(bytes(row[0])) for row in rows]
        return _snapshot(self.project, version, self.versioning, SimpleNamespace(**objects))


def open_registry(settings: Settings) -> tuple[str, RegistrySource]:
    """The Feast project and the registry ``settings`` name (file, or SQL with
    ``PITSTOP_REGISTRY_URL``), read without Feast."""
    from pitstop.feast_adapter.config import feast_config, sqlalchemy_url

    config = feast_config(settings)
    project = str(config["project"])
    registry = config.get("registry")
    versioning = isinstance(registry, dict) and bool(
        registry.get("enable_online_feature_view_versioning", False)
    )
    source: RegistrySource = (
        SqlRegistry(sqlalchemy_url(settings.registry_url), project, versioning)
        if settings.registry_url
        else FileRegistry(settings.registry_path, project, versioning)
    )
    return project, source
