"""Lookup plans compiled from the registry, and their execution against an online store.

A plan says, for one feature service or one list of feature refs: which views to read and
with which join keys, which on-demand functions to run on what, and how each output column
is named, decoded and aged. Every feature service is compiled when the registry is loaded;
a list of refs is compiled on first use and cached. A request then does no registry work:
build the entity keys, one store round trip, decode, age, run on-demand views.

Ageing online, the rules the offline point-in-time join applies at the same instant (Feast
0.67 applies neither online, feast-dev/feast#6821): a batch feature comes back null with status
``OUTSIDE_MAX_AGE`` when its stored row is older than its view's ttl (``event_timestamp >= t -
ttl``; pitstop's shipped views have none), or when its view is stale: past its recorded
coverage plus the grace (:mod:`pitstop.coverage`), every row not written within the grace (a
push) is. ``PITSTOP_ONLINE_TTL=off`` turns both off.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pitstop.errors import InvalidInputError, UnknownFeatureError, UnknownFeatureViewError
from pitstop.online import codec
from pitstop.online.on_demand import OnDemandFunction
from pitstop.online.registry import FieldDef, RegistrySnapshot
from pitstop.online.stores import OnlineStore, ViewRead, ViewRows

PRESENT, NOT_FOUND, OUTSIDE_MAX_AGE = "PRESENT", "NOT_FOUND", "OUTSIDE_MAX_AGE"
EPOCH = codec.rfc3339(0)  # the timestamp Feast sends where there is none


@dataclass(frozen=True)
class PlannedRead:
    """One batch view a plan reads."""

    read: ViewRead
    join_keys: tuple[str, ...]
    key_types: tuple[str, ...]
    ttl_seconds: int | None


@dataclass(frozen=True)
class PlannedOnDemand:
    """One on-demand view a plan runs: its function and where its inputs come from."""

    function: OnDemandFunction
    # (input column name, read index, feature) for view features; request fields by name.
    view_inputs: tuple[tuple[str, int, str, str], ...]
    request_fields: tuple[FieldDef, ...]


@dataclass(frozen=True)
class Column:
    """One output feature: from a read (``read`` set) or from an on-demand view."""

    name: str
    feature: str
    value_type: str
    read: int | None = None
    on_demand: int | None = None


@dataclass(frozen=True)
class LookupPlan:
    feature_refs: tuple[str, ...]
    feature_service: str | None
    full_feature_names: bool
    join_keys: tuple[str, ...]
    request_fields: tuple[FieldDef, ...]
    reads: tuple[PlannedRead, ...]
    on_demand: tuple[PlannedOnDemand, ...]
    columns: tuple[Column, ...]

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def views(self) -> tuple[str, ...]:
        """The views the features come from, in order of first use (for version metadata)."""
        return tuple(dict.fromkeys(ref.partition(":")[0] for ref in self.feature_refs))


@dataclass(frozen=True)
class ColumnResult:
    values: list[Any]
    statuses: list[str]
    event_timestamps: list[str]


class PlanCompiler:
    """All plans of one registry snapshot: services up front, ref lists on first use."""

    _CACHE_SIZE = 256

    def __init__(self, registry: RegistrySnapshot) -> None:
        self.registry = registry
        self._functions = {
            name: OnDemandFunction.load(definition)
            for name, definition in registry.on_demand.items()
        }
        self._key_types = {
            entity.join_key: entity.value_type for entity in registry.entities.values()
        }
        self.services: dict[tuple[str, bool], LookupPlan] = {}
        for name, service in registry.services.items():
            refs = tuple(
                f"{view}:{feature}"
                for view, features in service.projections
                for feature in features
            )
            for full in (False, True):
                self.services[(name, full)] = self._compile(refs, name, full)
        self._refs: OrderedDict[tuple[tuple[str, ...], bool], LookupPlan] = OrderedDict()
        # What a lookup's `entities` may name: a join key, or the request data of an on-demand
        # view (Feast's clients send both there).
        self.entity_columns = frozenset(self._key_types) | {
            field.name
            for definition in registry.on_demand.values()
            for field in definition.request_fields
        }

    @property
    def join_key_types(self) -> Mapping[str, str]:
        return self._key_types

    def for_refs(self, refs: Sequence[str], full_feature_names: bool) -> LookupPlan:
        key = (tuple(refs), full_feature_names)
        plan = self._refs.get(key)
        if plan is None:
            plan = self._compile(key[0], None, full_feature_names)
            self._refs[key] = plan
            if len(self._refs) > self._CACHE_SIZE:
                self._refs.popitem(last=False)
        return plan

    # ---- compile ---------------------------------------------------------------------------
    def _compile(
        self, refs: tuple[str, ...], service: str | None, full_feature_names: bool
    ) -> LookupPlan:
        registry = self.registry
        reads: dict[str, int] = {}
        read_features: dict[str, list[str]] = {}
        on_demand: dict[str, int] = {}
        columns: list[Column] = []
        join_keys: list[str] = []
        request_fields: dict[str, FieldDef] = {}

        def use_view(view_name: str) -> int:
            if view_name not in reads:
                view = registry.views[view_name]
                if not view.online:
                    raise InvalidInputError(f"feature view {view_name!r} is not served online")
                reads[view_name] = len(reads)
                read_features[view_name] = []
                join_keys.extend(key for key in view.join_keys if key not in join_keys)
            return reads[view_name]

        def want(view_name: str, feature: str) -> None:
            if feature not in read_features[view_name]:
                read_features[view_name].append(feature)

        on_demand_steps: list[tuple[str, list[tuple[str, str, str]]]] = []
        seen_names: dict[str, str] = {}
        for ref in refs:
            view_name, feature = _split_ref(ref)
            name = f"{view_name}__{feature}" if full_feature_names else feature
            if name in seen_names:
                hint = "" if full_feature_names else "; set full_feature_names to tell them apart"
                raise InvalidInputError(
                    f"feature name {name!r} is asked for twice "
                    f"({seen_names[name]!r}, {ref!r}){hint}"
                )
            seen_names[name] = ref
            if view_name in registry.views:
                field = _field(registry.views[view_name].features, view_name, feature)
                index = use_view(view_name)
                want(view_name, feature)
                columns.append(Column(name, feature, field.value_type, read=index))
            elif view_name in registry.on_demand:
                definition = registry.on_demand[view_name]
                field = _field(definition.features, view_name, feature)
                if view_name not in on_demand:
                    inputs: list[tuple[str, str, str]] = []
                    for source in definition.sources:
                        use_view(source)
                        for source_field in registry.views[source].features:
                            want(source, source_field.name)
                            inputs.append((source, source_field.name, source_field.value_type))
                    request_fields.update((f.name, f) for f in definition.request_fields)
                    on_demand[view_name] = len(on_demand_steps)
                    on_demand_steps.append((view_name, inputs))
                columns.append(
                    Column(name, feature, field.value_type, on_demand=on_demand[view_name])
                )
            else:
                known = sorted([*registry.views, *registry.on_demand])
                raise UnknownFeatureViewError(
                    f"feature view {_quoted(view_name)} not found; known: {', '.join(known)}"
                )
        planned_reads = tuple(
            PlannedRead(
                read=ViewRead(
                    registry.views[view_name].online_name, tuple(read_features[view_name])
                ),
                join_keys=registry.views[view_name].join_keys,
                key_types=tuple(
                    self._key_types.get(key, "INT64") for key in registry.views[view_name].join_keys
                ),
                ttl_seconds=registry.views[view_name].ttl_seconds,
            )
            for view_name in reads
        )
        planned_on_demand = tuple(
            PlannedOnDemand(
                function=self._functions[view_name],
                view_inputs=tuple(
                    (feature, reads[source], feature, value_type)
                    for source, feature, value_type in inputs
                ),
                request_fields=registry.on_demand[view_name].request_fields,
            )
            for view_name, inputs in on_demand_steps
        )
        return LookupPlan(
            feature_refs=refs,
            feature_service=service,
            full_feature_names=full_feature_names,
            join_keys=tuple(join_keys),
            request_fields=tuple(request_fields.values()),
            reads=planned_reads,
            on_demand=planned_on_demand,
            columns=tuple(columns),
        )


def _split_ref(ref: str) -> tuple[str, str]:
    view_name, colon, feature = ref.partition(":")
    if not colon or not view_name or not feature:
        raise InvalidInputError(f"feature reference {_quoted(ref)} must be 'feature_view:feature'")
    return view_name, feature


def _field(fields: Sequence[FieldDef], view_name: str, feature: str) -> FieldDef:
    for field in fields:
        if field.name == feature:
            return field
    raise UnknownFeatureError(
        f"feature {_quoted(feature)} not found in feature view {view_name!r}; "
        f"known: {', '.join(field.name for field in fields)}"
    )


def _quoted(name: str, limit: int = 80) -> str:
    return repr(name if len(name) <= limit else name[:limit] + "...")


# ---- execute ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReadOutcome:
    """What one lookup found: per output column, and counts for metrics."""

    columns: list[ColumnResult]
    not_found: int
    outside_max_age: int


async def execute(
    plan: LookupPlan,
    store: OnlineStore,
    entities: Mapping[str, Sequence[Any]],
    request_data: Mapping[str, Sequence[Any]],
    rows: int,
    now_seconds: float,
    enforce_ttl: bool,
    stale_before: Mapping[str, float] | None = None,
) -> ReadOutcome:
    """Read, decode, age and compute every column of ``plan`` for ``rows`` entity rows; the
    store is read with :meth:`~pitstop.online.stores.OnlineStore.read_async` (a Redis read
    then waits without holding the API's event loop)."""
    keys = store_keys(plan, entities, rows)
    reads = [read.read for read in plan.reads]
    found = await store.read_async(reads, keys) if plan.reads else []
    return answer(plan, found, request_data, rows, now_seconds, enforce_ttl, stale_before)


def store_keys(
    plan: LookupPlan, entities: Mapping[str, Sequence[Any]], rows: int
) -> list[list[bytes]]:
    """Each read's serialized entity keys, row by row."""
    return [
        [
            codec.entity_key(
                read.join_keys, [entities[key][row] for key in read.join_keys], read.key_types
            )
            for row in range(rows)
        ]
        if len(read.join_keys) > 1
        else codec.entity_keys_of(read.join_keys[0], entities[read.join_keys[0]], read.key_types[0])
        for read in plan.reads
    ]


def answer(
    plan: LookupPlan,
    found: Sequence[ViewRows],
    request_data: Mapping[str, Sequence[Any]],
    rows: int,
    now_seconds: float,
    enforce_ttl: bool,
    stale_before: Mapping[str, float] | None = None,
) -> ReadOutcome:
    """Decode, age and compute every column of ``plan`` from the rows the store ``found``.

    ``stale_before``: for each stale view (online name), the epoch second before which its
    rows are too old (now minus the grace, :mod:`pitstop.coverage`)."""
    # Rows outside their view's ttl, or too old in a stale view, read as missing, with their
    # own status.
    expired: list[list[bool]] = []
    for read, view_rows in zip(plan.reads, found, strict=True):
        cutoffs = []
        if enforce_ttl and read.ttl_seconds:
            cutoffs.append(now_seconds - read.ttl_seconds)
        if enforce_ttl and stale_before and read.read.view in stale_before:
            cutoffs.append(stale_before[read.read.view])
        if cutoffs:
            cutoff = max(cutoffs)
            expired.append(
                [seconds is not None and seconds < cutoff for seconds in view_rows.event_seconds]
            )
        else:
            expired.append([False] * rows)

    decoded: dict[tuple[int, str], list[Any]] = {}
    decode, known = codec.decode_value, codec.DECODED  # a dictionary hit without a call

    def values_of(read_index: int, feature: str) -> list[Any]:
        key = (read_index, feature)
        if key not in decoded:
            stored = found[read_index].values[plan.reads[read_index].read.features.index(feature)]
            decoded[key] = [
                None
                if gone or payload is None
                else known[payload]
                if payload in known
                else decode(payload)
                for payload, gone in zip(stored, expired[read_index], strict=True)
            ]
        return decoded[key]

    on_demand_outputs: list[dict[str, list[Any]]] = []
    for step in plan.on_demand:
        inputs: dict[str, Sequence[Any]] = {}
        types: dict[str, str] = {}
        for name, read_index, feature, value_type in step.view_inputs:
            inputs[name] = values_of(read_index, feature)
            types[name] = value_type
        for field in step.request_fields:
            inputs[field.name] = request_data[field.name]
            types[field.name] = field.value_type
        on_demand_outputs.append(step.function.run(inputs, types, rows))

    # Per read, once: each row's timestamp text and status; a column copies them and only
    # looks again for a feature missing from a row it found.
    read_stamps: list[list[str]] = []
    read_statuses: list[list[str]] = []
    for view_rows, view_expired in zip(found, expired, strict=True):
        seconds = view_rows.event_seconds
        read_stamps.append(
            [EPOCH if second is None else codec.rfc3339(second) for second in seconds]
        )
        read_statuses.append(
            [
                NOT_FOUND if second is None else OUTSIDE_MAX_AGE if gone else PRESENT
                for second, gone in zip(seconds, view_expired, strict=True)
            ]
        )

    results: list[ColumnResult] = []
    not_found = outside = 0
    for column in plan.columns:
        if column.on_demand is not None:
            # Computed from a value too old to serve: as old as its input; from an entity the
            # store has no row of: not found either (Feast says PRESENT, with a null value).
            aged = {
                read_index for _, read_index, _, _ in plan.on_demand[column.on_demand].view_inputs
            }
            on_demand_statuses = [
                OUTSIDE_MAX_AGE
                if any(expired[index][row] for index in aged)
                else NOT_FOUND
                if any(read_statuses[index][row] == NOT_FOUND for index in aged)
                else PRESENT
                for row in range(rows)
            ]
            not_found += on_demand_statuses.count(NOT_FOUND)
            outside += on_demand_statuses.count(OUTSIDE_MAX_AGE)
            results.append(
                ColumnResult(
                    on_demand_outputs[column.on_demand][column.feature],
                    on_demand_statuses,
                    [EPOCH] * rows,
                )
            )
            continue
        assert column.read is not None
        statuses = list(read_statuses[column.read])
        stored = found[column.read].values[
            plan.reads[column.read].read.features.index(column.feature)
        ]
        if None in stored:  # a row found without this feature: NOT_FOUND for it alone
            for row_index, payload in enumerate(stored):
                if payload is None and statuses[row_index] == PRESENT:
                    statuses[row_index] = NOT_FOUND
        not_found += statuses.count(NOT_FOUND)
        outside += statuses.count(OUTSIDE_MAX_AGE)
        results.append(
            ColumnResult(
                values_of(column.read, column.feature), statuses, list(read_stamps[column.read])
            )
        )
    return ReadOutcome(results, not_found, outside)


__all__ = [
    "Column",
    "ColumnResult",
    "LookupPlan",
    "PlanCompiler",
    "ReadOutcome",
    "ViewRows",
    "answer",
    "execute",
    "store_keys",
]
