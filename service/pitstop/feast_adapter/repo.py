"""Feast on pitstop's data folder: open the store, apply the repo, materialize, and what a
training set asks of Feast (a feature service's inputs, its historical retrieval).

Feast is imported inside the functions (it takes seconds to import). Feast reads the
feature_store.yaml that :mod:`pitstop.feast_adapter.config` generates for the settings (online
store, registry, engine); :func:`open_store` and :func:`apply` point Feast at it.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pitstop import feature_tables
from pitstop.engine import engine_for
from pitstop.errors import (
    FeastError,
    InvalidInputError,
    MissingInputError,
    PitstopError,
    UnknownFeatureServiceError,
    one_line,
)
from pitstop.feast_adapter.config import feast_environment, write_feature_store_yaml
from pitstop.settings import FEATURE_REPO_DIR, Settings

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from feast import FeatureService, FeatureStore
    from feast.infra.offline_stores.offline_store import RetrievalJob

_FEAST_ENTRY = "import sys; from feast.cli.cli import cli; sys.exit(cli())"
FEATURE_TABLES = ("user_activity", "user_profile", "item_popularity")
# The request-data field of feature_repo/'s on-demand views: when the prediction is made.
# Serving fills it with the request's clock, training sets with each entity row's timestamp.
REQUEST_TIME = "request_time"


def require_feature_tables(settings: Settings) -> None:
    """Fail in one line when dbt has not produced the feature tables yet."""
    missing = [
        name
        for name in FEATURE_TABLES
        if not feature_tables.is_table(feature_tables.table_path(settings.features_dir, name))
    ]
    if missing:
        raise MissingInputError(
            f"no feature tables under {settings.features_dir} ({', '.join(missing)}); "
            "run `pitstop build` first"
        )


def require_registry(settings: Settings) -> None:
    """Fail in one line when the Feast registry has not been applied yet (or, a SQL registry,
    its database cannot be reached)."""
    require_feature_tables(settings)
    if settings.registry_url is not None:
        from pitstop.feast_adapter.sql_registry import require_reachable

        require_reachable(settings.registry_url, applied=True)
    elif not settings.registry_path.exists():
        raise MissingInputError(
            f"no Feast registry at {settings.registry_path}; run `pitstop apply` first"
        )


def open_store(settings: Settings) -> FeatureStore:
    """A FeatureStore on the repo in feature_repo/, configured for ``settings`` (the
    feature_store.yaml generated for them, passed to Feast: the process environment is left
    alone)."""
    engine_for(settings).prepare_feast(settings)
    from feast import FeatureStore

    return FeatureStore(
        repo_path=str(FEATURE_REPO_DIR), fs_yaml_file=write_feature_store_yaml(settings)
    )


def apply(settings: Settings, echo: Callable[[str], None] | None = print) -> None:
    """``feast apply`` for this data folder, in a child process.

    Feast's apply changes the working directory and imports the repo's modules, which read the
    data folder when they are imported; a child process keeps both out of the caller.
    """
    require_feature_tables(settings)
    if settings.registry_url is not None:
        from pitstop.feast_adapter.sql_registry import require_reachable

        require_reachable(settings.registry_url, applied=False)
    else:
        claim_online_tables(settings)
    env = {**os.environ, **feast_environment(settings)}
    command = [
        sys.executable,
        "-c",
        _FEAST_ENTRY,
        "-c",
        str(FEATURE_REPO_DIR),
        "apply",
        *engine_for(settings).feast_apply_flags,
    ]
    result = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise FeastError(f"feast apply failed: {_last_error_line(result.stderr or result.stdout)}")
    if echo is not None:
        for line in result.stdout.splitlines():
            if line.startswith(("Created", "Updated", "Deleted", "No changes")):
                echo(line)


def claim_online_tables(settings: Settings) -> bool:
    """Point the file registry's SQLite online tables at this data folder's store.

    Feast's registry records each SQLite table with the absolute path of its file, and
    ``feast apply`` tears down (drops) a recorded table whose path differs from the new one:
    in a copied or moved data folder, that is the *original's* store. The registry in a data
    folder describes that folder's store and nothing else, so before Feast reads it, every
    table it records is re-pointed at this folder's ``online_store.db`` (written atomically,
    only when something changed). Returns whether it changed anything.
    """
    from pitstop.online.feast_protos import proto_module

    path = settings.registry_path
    if not path.exists():
        return False
    registry = proto_module("core.Registry_pb2").Registry()
    registry.ParseFromString(path.read_bytes())
    ours = str(settings.online_store_path)
    changed = False
    for infra_object in registry.infra.infra_objects:
        if infra_object.HasField("sqlite_table") and infra_object.sqlite_table.path != ours:
            infra_object.sqlite_table.path = ours
            changed = True
    if changed:
        temporary = path.with_name(f"{path.name}.tmp{os.getpid()}")
        temporary.write_bytes(registry.SerializeToString())
        temporary.replace(path)
    return changed


@dataclass(frozen=True)
class MaterializeReport:
    """What a materialization wrote, by pitstop's materializer or by Feast's.

    ``entities`` (entities written per view), ``peak_memory_bytes`` (the process's peak
    resident memory) and ``full`` are filled by pitstop's materializer; Feast's path leaves
    ``entities`` empty (Feast does not say).
    """

    views: list[str]
    end: dt.datetime
    seconds: float
    method: str = "feast"
    entities: dict[str, int] = field(default_factory=dict)
    peak_memory_bytes: int = 0
    full: bool = True
    # Seconds spent selecting, encoding and writing rows (``seconds`` less start-up: importing
    # Feast, reading the registry); 0 when not measured.
    write_seconds: float = 0.0

    @property
    def entities_written(self) -> int:
        return sum(self.entities.values())

    @property
    def rows_per_second(self) -> float:
        """Entities written per second of writing (all views), 0 when none were written."""
        spent = self.write_seconds or self.seconds
        return self.entities_written / spent if spent > 0 else 0.0


def materialize(settings: Settings, end: dt.datetime | None = None) -> MaterializeReport:
    """Write each entity's latest feature row into the online store.

    Every view is materialized from the beginning of time up to ``end`` (default now): the
    online store holds the newest row of every entity, however old; whether it is still fresh
    enough to serve is the ttl's business at lookup time.
    """
    import time

    require_registry(settings)
    started = time.perf_counter()
    store = open_store(settings)
    end = end or dt.datetime.now(dt.timezone.utc)
    views = [view for view in store.list_feature_views() if view.online]
    try:
        ensure_online_tables(store)
        with warnings.catch_warnings():
            # ibis (under Feast's DuckDB store) calls a method DuckDB 2.0 deprecates; the
            # filter goes here, after Feast's import has installed its own filters.
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ibis(\.|$)")
            store.materialize(
                start_date=dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc),
                end_date=end,
                feature_views=[view.name for view in views],
            )
    except Exception as error:  # Feast raises many unrelated types; keep its message
        raise FeastError(f"materialize failed: {one_line(error)}") from error
    return MaterializeReport(
        views=[view.name for view in views],
        end=end,
        seconds=time.perf_counter() - started,
        peak_memory_bytes=peak_memory_bytes(),
    )


def peak_memory_bytes() -> int:
    """This process's peak resident memory so far (Linux reports kilobytes, macOS bytes)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def ensure_online_tables(store: FeatureStore) -> None:
    """Create missing online tables: `feast apply` does not when the registry is unchanged
    but the online store file was deleted (docs/architecture.md §6)."""
    # Feast has no public call for this; tests/feast_adapter/test_private_calls.py pins its shape.
    store._get_provider().update_infra(  # noqa: SLF001
        project=store.project,
        tables_to_delete=[],
        tables_to_keep=[view for view in store.list_feature_views() if view.online],
        entities_to_delete=[],
        entities_to_keep=store.list_entities(),
        partial=True,
    )


def _last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line:
            return line[:300]
    return lines[-1][:300] if lines else "no output"


# ---- training sets: what a feature service needs, and its historical retrieval -------------


@dataclass(frozen=True)
class ServiceInputs:
    """What a feature service needs in the entity frame, and gives, read from the registry."""

    join_keys: list[str]
    request_fields: list[str]
    features: list[str]
    integer_features: list[str]


def feature_service(store: FeatureStore, name: str) -> FeatureService:
    from feast.errors import FeatureServiceNotFoundException

    try:
        return store.get_feature_service(name)
    except FeatureServiceNotFoundException:
        known = sorted(service.name for service in store.list_feature_services())
        raise UnknownFeatureServiceError(
            f"no feature service {name!r}; known: {', '.join(known) or 'none'}"
        ) from None


def service_inputs(store: FeatureStore, service: FeatureService) -> ServiceInputs:
    """Join keys, request fields and features of a service, from the registry."""
    from feast.types import Int32, Int64

    batch_views = {view.name: view for view in store.list_feature_views()}
    on_demand_views = {view.name: view for view in store.list_on_demand_feature_views()}
    join_keys: list[str] = []
    request_fields: list[str] = []

    def add_join_keys(view_name: str, key_map: dict[str, str]) -> None:
        view = batch_views.get(view_name)
        if view is None:
            return
        for column in view.entity_columns:
            key = key_map.get(column.name, column.name)
            if key not in join_keys:
                join_keys.append(key)

    features: list[str] = []
    integer_features: list[str] = []
    for projection in service.feature_view_projections:
        add_join_keys(projection.name, projection.join_key_map)
        on_demand = on_demand_views.get(projection.name)
        if on_demand is not None:
            for source in on_demand.source_feature_view_projections.values():
                add_join_keys(source.name, source.join_key_map)
            for request_source in on_demand.source_request_sources.values():
                request_fields.extend(f.name for f in request_source.schema)
        for feature in projection.features:
            features.append(feature.name)
            if feature.dtype in (Int32, Int64):
                integer_features.append(feature.name)
    return ServiceInputs(
        join_keys=join_keys,
        request_fields=list(dict.fromkeys(request_fields)),
        features=features,
        integer_features=integer_features,
    )


def historical_job(
    store: FeatureStore, service: FeatureService, frame: pd.DataFrame | pa.Table
) -> RetrievalJob:
    """``get_historical_features`` for a service's features on an entity frame (an Arrow
    table for pitstop's offline store, which takes one)."""
    return run_feast(  # type: ignore[no-any-return]
        lambda: store.get_historical_features(entity_df=frame, features=service)
    )


def run_feast(step: Callable[[], Any]) -> Any:
    """Run a step of a Feast retrieval with Feast's errors as pitstop's, one line each."""
    from feast.errors import RequestDataNotFoundInEntityDfException

    try:
        with warnings.catch_warnings():
            # ibis (under Feast's DuckDB store) calls a method DuckDB 2.0 deprecates.
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ibis(\.|$)")
            return step()
    except RequestDataNotFoundInEntityDfException as error:
        raise InvalidInputError(one_line(error)) from error
    except PitstopError:
        raise
    except Exception as error:  # Feast and its engines raise many unrelated types
        raise FeastError(f"historical retrieval failed: {one_line(error)}") from error


def source_paths(store: FeatureStore, service: FeatureService, key: str) -> list[str]:
    """The Parquet files of the service's feature views (on-demand sources too) keyed by
    ``key``."""
    batch_views = {view.name: view for view in store.list_feature_views()}
    on_demand_views = {view.name: view for view in store.list_on_demand_feature_views()}
    names: list[str] = []
    for projection in service.feature_view_projections:
        names.append(projection.name)
        on_demand = on_demand_views.get(projection.name)
        if on_demand is not None:
            names.extend(
                source.name for source in on_demand.source_feature_view_projections.values()
            )
    paths: list[str] = []
    for name in dict.fromkeys(names):
        view = batch_views.get(name)
        if view is None or key not in [column.name for column in view.entity_columns]:
            continue
        path = str(getattr(view.batch_source, "path", "")).removeprefix("file://")
        if path and path not in paths:
            paths.append(path)
    if not paths:
        raise InvalidInputError(f"no feature table of {service.name} is keyed by {key}")
    return paths
