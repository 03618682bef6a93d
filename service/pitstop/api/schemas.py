"""Request and response bodies of the lookup API.

The online lookup bodies are Feast's feature-server wire format (Feast 0.67,
``feast/feature_server.py`` and the remote online store client in
``feast/infra/online_stores/remote.py``), so a stock Feast client with
``online_store: {type: remote}`` talks to pitstop unchanged. The registry listings are
pitstop's own.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainValidator,
    StrictBool,
    model_validator,
)

JsonScalar = bool | int | float | str | None


def _scalar(value: object) -> JsonScalar:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError("entity values must be numbers, strings, booleans or null")


# One entity value as JSON carries it (no coercion); lookup.py checks it against the join
# key's entity type.
EntityValue = Annotated[JsonScalar, PlainValidator(_scalar, json_schema_input_type=JsonScalar)]

FieldStatusName = Literal["INVALID", "PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"]


# ---- POST /get-online-features ---------------------------------------------------------------
class OnlineFeaturesRequest(BaseModel):
    """Feast's request: column-oriented entity rows and either feature refs or a service.

    Unknown top-level fields are a 422 naming them (Feast's own server ignores them, so a
    misspelt field went unnoticed; the stock remote client sends none), and the flags are JSON
    booleans (``"yes"`` is not true).
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _request_time_inside_entities(cls, data: object) -> object:
        if isinstance(data, dict) and "request_time" in data:
            raise ValueError(
                "request_time goes inside entities, one value per row: "
                '{"entities": {"user_id": [1], "request_time": ["2026-04-01T00:00:00Z"]}}'
            )
        return data

    entities: dict[str, list[EntityValue]] = Field(
        description="Join keys (and request data) to lists of values, one per row: "
        '{"user_id": [1, 2]}.',
    )
    feature_service: str | None = Field(default=None, description="A feature service name.")
    features: list[str] = Field(
        default_factory=list, description='Feature refs "feature_view:feature".'
    )
    full_feature_names: StrictBool = Field(
        default=False, description='Name features "feature_view__feature" in the response.'
    )
    include_feature_view_version_metadata: StrictBool = False


class FeatureVector(BaseModel):
    """One column of the response: a join key or a feature, one entry per entity row."""

    values: list[JsonValue]
    statuses: list[FieldStatusName]
    event_timestamps: list[str] = Field(default_factory=list)


class FeatureViewVersion(BaseModel):
    # Feast leaves out an empty name and a version of 0.
    name: str | None = None
    version: int | None = None


class OnlineFeaturesMetadata(BaseModel):
    feature_names: list[str]
    feature_view_metadata: list[FeatureViewVersion] | None = None


class OnlineFeaturesResponse(BaseModel):
    """Feast's response: ``metadata.feature_names`` (join keys first) and one column each."""

    metadata: OnlineFeaturesMetadata
    results: list[FeatureVector]


# ---- GET /features/{feature_service} -------------------------------------------------------
class RowResponse(BaseModel):
    """One entity row, keyed by name."""

    entities: dict[str, JsonValue]
    features: dict[str, JsonValue]
    statuses: dict[str, FieldStatusName]
    event_timestamps: dict[str, str]


# ---- POST /push ------------------------------------------------------------------------------
class PushRequest(BaseModel):
    """Feast's push request: rows for the feature views behind one push source."""

    push_source_name: str
    df: dict[str, list[JsonValue]] = Field(
        description="Columns: the views' join keys, event_timestamp (ISO 8601 or epoch "
        "seconds) and features; one value per row."
    )
    to: Literal["online", "offline", "online_and_offline"] = "online"
    allow_registry_cache: bool = True
    transform_on_write: bool = True


class PushResponse(BaseModel):
    push_source_name: str
    feature_views: list[str]
    rows: int
    written: int = Field(description="Entity rows written (older than what is stored: skipped).")


# ---- GET /feature-views, /feature-services ---------------------------------------------------
class _Listing(BaseModel):
    model_config = ConfigDict(frozen=True)


class FeatureInfo(_Listing):
    name: str
    dtype: str = Field(description='Feast type name: "Int64", "Float64", "UnixTimestamp", ...')
    description: str = ""


class FeatureViewInfo(_Listing):
    name: str
    kind: Literal["batch", "on_demand"]
    description: str
    owner: str
    entities: list[str] = Field(description="Entity names; empty for on-demand views.")
    join_keys: list[str] = Field(description="Entity columns a lookup must send.")
    request_fields: list[FeatureInfo] = Field(
        description="Request data the view reads (request_time defaults to the server's now)."
    )
    ttl_seconds: int | None = Field(description="Oldest value served, in seconds; null: none.")
    online: bool
    features: list[FeatureInfo]
    tags: dict[str, str]


class ServiceViewInfo(_Listing):
    name: str
    features: list[FeatureInfo]


class FeatureServiceInfo(_Listing):
    name: str
    description: str
    owner: str
    join_keys: list[str]
    request_fields: list[FeatureInfo]
    feature_views: list[ServiceViewInfo]
    tags: dict[str, str]


# ---- GET /health -----------------------------------------------------------------------------
class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    registry_version: str
    online_store: Literal["sqlite", "redis", "redis_cluster"]
    stale_views: dict[str, str] = Field(
        default_factory=dict,
        description="Views past their data's coverage plus the grace (values OUTSIDE_MAX_AGE),"
        " each with the time it went stale (RFC 3339).",
    )


# ---- errors ----------------------------------------------------------------------------------
class ErrorResponse(BaseModel):
    """Every error's body (api/errors.py): one line naming the problem; a 413 adds ``limit``,
    a 422 of a malformed request adds ``errors``."""

    detail: str
    limit: int | None = None
    errors: list[dict[str, JsonValue]] | None = None


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route's error statuses, each with :class:`ErrorResponse`."""
    meaning = {
        401: "missing or wrong API key",
        404: "unknown feature service, view or feature",
        413: "too many entity rows, or a body past PITSTOP_MAX_BODY_BYTES",
        422: "malformed request (the detail names the field)",
        503: "not ready: no registry or online store yet, or the store is unreachable",
    }
    return {status: {"model": ErrorResponse, "description": meaning[status]} for status in statuses}
