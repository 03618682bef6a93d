"""The feature views' schemas, read from the dbt marts' enforced contracts.

Each feature is declared once, in ``transformations/models/marts/_marts__models.yml``: its name,
its ``data_type`` (which dbt enforces on the Parquet table Feast reads) and its description.
The Feast ``Field`` list of a view is generated from that model's columns, so the registry
cannot drift from the table: the entity keys and the two timestamps are not features, every
other column is one, in the contract's order. Plain ``feast apply`` and ``feast plan`` read it
the same way (it is a file of this project, no dbt run needed).
"""

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from feast import Field
from feast.types import Bool, FeastType, Float64, Int64, String, UnixTimestamp

MARTS_YAML = (
    Path(__file__).resolve().parent.parent
    / "transformations"
    / "models"
    / "marts"
    / "_marts__models.yml"
)
NOT_FEATURES = ("event_timestamp", "created_timestamp")
# dbt data_type (DuckDB's names) -> Feast type.
FEAST_TYPES: dict[str, FeastType] = {
    "bigint": Int64,
    "double": Float64,
    "boolean": Bool,
    "varchar": String,
    "timestamp with time zone": UnixTimestamp,
}


class ContractError(ValueError):
    """The marts' YAML does not describe a feature table Feast can serve."""


@cache
def _models() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(MARTS_YAML.read_text()) or {}
    return {model["name"]: model for model in document.get("models") or []}


def feature_fields(model: str, join_keys: tuple[str, ...]) -> list[Field]:
    """The Feast fields of the mart ``model``: every contract column but keys and timestamps."""
    try:
        columns = _models()[model]["columns"]
    except KeyError as missing:
        raise ContractError(f"{MARTS_YAML}: no columns for model {model!r}") from missing
    fields = []
    for column in columns:
        name = column["name"]
        if name in join_keys or name in NOT_FEATURES:
            continue
        data_type = str(column.get("data_type", "")).lower()
        if data_type not in FEAST_TYPES:
            raise ContractError(
                f"{MARTS_YAML}: {model}.{name} has data_type {data_type or 'none'!r}; "
                f"a feature needs one of {', '.join(FEAST_TYPES)}"
            )
        fields.append(
            Field(
                name=name,
                dtype=FEAST_TYPES[data_type],
                description=" ".join(str(column.get("description", "")).split()),
            )
        )
    return fields
