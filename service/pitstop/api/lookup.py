"""Online lookups: a Feast request checked against the catalog, read, answered in Feast's format.

Three steps, kept apart so the reader can be replaced by a faster one without touching the
rest:

1. :func:`plan_lookup` resolves ``features`` or ``feature_service`` against the registry
   snapshot (:class:`~pitstop.api.catalog.Catalog`): an unknown service, view or feature is a
   404 naming it, a malformed ref or two features answering to the same name a 422. Names are
   only ever compared with the registry's, never put into a query.
2. :func:`entity_columns` checks the entity rows: every list the same length, every join key
   the requested views need present, join-key values of their entity's type (422 naming the
   key otherwise). Keys that are neither a join key nor request data are dropped, as Feast
   drops them.

   **request_time.** The on-demand view ``user_recency`` (in ``churn_v1``) reads the request
   data field ``request_time`` (a UnixTimestamp). When ``entities`` has no ``request_time``,
   the server's current UTC time is used for every row. When it is given, each value is an ISO
   8601 string (an offset converts to UTC, no offset means UTC) or epoch seconds as a JSON
   number; both are handed to Feast as UTC datetimes. A UnixTimestamp holds whole seconds:
   Feast drops any fraction.
3. :class:`FeastOnlineReader` reads through Feast's own ``FeatureStore.get_online_features``
   and answers in Feast's feature-server JSON (``feast.feature_server_utils``): join keys
   first in ``metadata.feature_names``, one ``results`` entry per column with ``values``,
   ``statuses`` ("PRESENT", "NOT_FOUND", ...) and ``event_timestamps`` (RFC 3339, ``Z``).
   UnixTimestamp values are epoch seconds, as Feast sends them. Two deliberate differences
   from Feast's server: a null UnixTimestamp is ``null`` (Feast leaks its int64 NaT sentinel,
   -9223372036854775808), and the features come in the order asked for (a service: the order
   of its definition), where Feast's order changes from one process to the next.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pitstop.api.catalog import Catalog, quote_name
from pitstop.api.schemas import (
    EntityValue,
    FeatureInfo,
    OnlineFeaturesRequest,
    OnlineFeaturesResponse,
)
from pitstop.errors import InvalidInputError, UnknownFeatureError
from pitstop.feast_repo import REQUEST_TIME

if TYPE_CHECKING:
    from feast import FeatureService, FeatureStore
    from feast.protos.feast.serving.ServingService_pb2 import GetOnlineFeaturesResponse

_UNIX_TIMESTAMP = "UnixTimestamp"
_INTEGER_BITS = {"INT32": 32, "INT64": 64}
_STRING_TYPES = frozenset({"STRING"})

# What a lookup hands to Feast: column name -> one value per entity row.
EntityColumns = dict[str, list[object]]


@dataclass(frozen=True)
class OnlineLookupPlan:
    """A validated lookup: which features, which join keys and request data they need."""

    feature_refs: tuple[str, ...]
    feature_service: str | None
    join_keys: tuple[str, ...]
    request_fields: tuple[FeatureInfo, ...]
    full_feature_names: bool = False
    include_feature_view_version_metadata: bool = False

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The features' names in the response, in the order asked for."""
        return tuple(_output_name(ref, self.full_feature_names) for ref in self.feature_refs)


class OnlineReader(Protocol):
    def read(self, plan: OnlineLookupPlan, entities: EntityColumns) -> OnlineFeaturesResponse: ...


@dataclass(frozen=True)
class OnlineLookup:
    """Plan, check, read: what ``POST /get-online-features`` does."""

    catalog: Catalog
    reader: OnlineReader

    def get(
        self, request: OnlineFeaturesRequest, now: dt.datetime | None = None
    ) -> OnlineFeaturesResponse:
        plan = plan_lookup(self.catalog, request)
        # UnixTimestamp holds whole seconds: Feast drops the fraction of a request time anyway.
        now = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
        return self.reader.read(plan, entity_columns(plan, self.catalog, request.entities, now))


# ---- 1. names --------------------------------------------------------------------------------
def plan_lookup(catalog: Catalog, request: OnlineFeaturesRequest) -> OnlineLookupPlan:
    if request.feature_service and request.features:
        raise InvalidInputError("give either `features` or `feature_service`, not both")
    if request.feature_service:
        service = catalog.service(request.feature_service)
        refs = [
            f"{view.name}:{feature.name}"
            for view in service.feature_views
            for feature in view.features
        ]
        view_names = [view.name for view in service.feature_views]
    elif request.features:
        refs = list(request.features)
        view_names = [_check_ref(catalog, ref) for ref in refs]
    else:
        raise InvalidInputError(
            'give `features` (["feature_view:feature", ...]) or `feature_service`'
        )
    _check_unique_names(refs, request.full_feature_names)
    join_keys: list[str] = []
    request_fields: dict[str, FeatureInfo] = {}
    for name in dict.fromkeys(view_names):
        view = catalog.view(name)
        join_keys += [key for key in view.join_keys if key not in join_keys]
        request_fields.update((field.name, field) for field in view.request_fields)
    return OnlineLookupPlan(
        feature_refs=tuple(refs),
        feature_service=request.feature_service or None,
        join_keys=tuple(join_keys),
        request_fields=tuple(request_fields.values()),
        full_feature_names=request.full_feature_names,
        include_feature_view_version_metadata=request.include_feature_view_version_metadata,
    )


def _check_ref(catalog: Catalog, ref: str) -> str:
    """The view name of a "view:feature" ref, once both names are known to the registry."""
    view_name, colon, feature = ref.partition(":")
    if not colon or not view_name or not feature:
        raise InvalidInputError(
            f"feature reference {quote_name(ref)} must be 'feature_view:feature'"
        )
    view = catalog.view(view_name)
    if feature not in {field.name for field in view.features}:
        raise UnknownFeatureError(
            f"feature {quote_name(feature)} not found in feature view {view.name!r}; "
            f"known: {', '.join(field.name for field in view.features)}"
        )
    if not view.online:
        raise InvalidInputError(f"feature view {view.name!r} is not served online")
    return view.name


def _check_unique_names(refs: Sequence[str], full_feature_names: bool) -> None:
    seen: dict[str, str] = {}
    for ref in refs:
        name = _output_name(ref, full_feature_names)
        if name in seen:
            hint = "" if full_feature_names else "; set full_feature_names to tell them apart"
            raise InvalidInputError(
                f"feature name {name!r} is asked for twice ({seen[name]!r}, {ref!r}){hint}"
            )
        seen[name] = ref


def _output_name(ref: str, full_feature_names: bool) -> str:
    view, _, feature = ref.partition(":")
    return f"{view}__{feature}" if full_feature_names else feature


# ---- 2. entity rows --------------------------------------------------------------------------
def entity_columns(
    plan: OnlineLookupPlan,
    catalog: Catalog,
    entities: Mapping[str, Sequence[EntityValue]],
    now: dt.datetime,
) -> EntityColumns:
    rows = _row_count(entities)
    missing = [key for key in plan.join_keys if key not in entities]
    if missing:
        raise InvalidInputError(
            f"entities: missing join key {missing[0]!r}; this lookup needs "
            f"{', '.join(plan.join_keys)}"
        )
    columns: EntityColumns = {}
    for key, values in entities.items():
        if key in catalog.join_key_types:
            _check_join_key(key, values, catalog.join_key_types[key])
            columns[key] = list(values)
    for field in plan.request_fields:
        if field.name in entities:
            given = entities[field.name]
            columns[field.name] = (
                [_timestamp(field.name, row, value) for row, value in enumerate(given)]
                if field.dtype == _UNIX_TIMESTAMP
                else list(given)
            )
        elif field.name == REQUEST_TIME:
            columns[field.name] = [now] * rows
        else:
            raise InvalidInputError(f"entities: missing request data {field.name!r}")
    return columns


def _row_count(entities: Mapping[str, Sequence[EntityValue]]) -> int:
    counts = {key: len(values) for key, values in entities.items()}
    if not counts:
        raise InvalidInputError("entities: no join keys given")
    first, rows = next(iter(counts.items()))
    for key, count in counts.items():
        if count != rows:
            raise InvalidInputError(
                f"entities: {quote_name(key)} has {count} values but {quote_name(first)} "
                f"has {rows}; every entity list needs one value per row"
            )
    if rows == 0:
        raise InvalidInputError(
            f"entities: {quote_name(first)} has no values; send at least one row"
        )
    return rows


def _check_join_key(key: str, values: Sequence[EntityValue], value_type: str) -> None:
    for row, value in enumerate(values):
        if value_type in _INTEGER_BITS:
            bound = 2 ** (_INTEGER_BITS[value_type] - 1)
            ok = isinstance(value, int) and not isinstance(value, bool) and -bound <= value < bound
            expected = f"{_INTEGER_BITS[value_type]}-bit integers"
        elif value_type in _STRING_TYPES:
            ok = isinstance(value, str)
            expected = "strings"
        else:
            ok = value is not None
            expected = "values"
        if not ok:
            raise InvalidInputError(
                f"entities: {key!r} must be {expected}; row {row} is {quote_name(str(value))}"
            )


def _timestamp(key: str, row: int, value: EntityValue) -> dt.datetime:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        try:
            return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=dt.timezone.utc)
            return parsed.astimezone(dt.timezone.utc)
    raise InvalidInputError(
        f"entities: {key!r} must be ISO 8601 strings or epoch seconds; "
        f"row {row} is {quote_name(str(value))}"
    )


# ---- 3. read ---------------------------------------------------------------------------------
class FeastOnlineReader:
    """Reads through Feast's ``FeatureStore.get_online_features``."""

    def __init__(self, store: FeatureStore, catalog: Catalog) -> None:
        self._store = store
        self._services: Mapping[str, FeatureService] = catalog.feast_services

    def read(self, plan: OnlineLookupPlan, entities: EntityColumns) -> OnlineFeaturesResponse:
        features: FeatureService | list[str] = (
            self._services[plan.feature_service]
            if plan.feature_service
            else list(plan.feature_refs)
        )
        response = self._store.get_online_features(
            features=features,
            entity_rows=entities,
            full_feature_names=plan.full_feature_names,
            include_feature_view_version_metadata=plan.include_feature_view_version_metadata,
        )
        return wire_response(response.proto, plan.feature_names)


def wire_response(
    proto: GetOnlineFeaturesResponse, feature_order: Sequence[str] = ()
) -> OnlineFeaturesResponse:
    """Feast's feature-server JSON for a response, with null timestamps as null.

    Columns come out as join keys first, then the features in ``feature_order``: Feast orders
    a service's features by set iteration, which changes from one process to the next.
    """
    from feast.feature_server_utils import convert_response_to_dict
    from feast.type_map import NULL_TIMESTAMP_INT_VALUE

    body = convert_response_to_dict(proto)
    for column, vector in zip(body["results"], proto.results, strict=True):
        for row, value in enumerate(vector.values):
            if (
                value.WhichOneof("val") == "unix_timestamp_val"
                and value.unix_timestamp_val == NULL_TIMESTAMP_INT_VALUE
            ):
                column["values"][row] = None
    _reorder(body, feature_order)
    return OnlineFeaturesResponse.model_validate(body)


def _reorder(body: dict[str, Any], feature_order: Sequence[str]) -> None:
    names: list[str] = body["metadata"]["feature_names"]
    wanted = {name: rank for rank, name in enumerate(feature_order)}
    # Join keys (not in feature_order) keep their place in front; sorted() is stable.
    order = sorted(range(len(names)), key=lambda i: wanted.get(names[i], -1))
    body["metadata"]["feature_names"] = [names[i] for i in order]
    body["results"] = [body["results"][i] for i in order]
