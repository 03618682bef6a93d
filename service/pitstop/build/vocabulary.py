"""The event vocabulary, as the dbt project declares it (``vars.event_types`` in
``transformations/dbt_project.yml``): the event types and, per type, whether ``item_id`` and
``price`` (or a field of the user's own, ``vars.event_fields``) are required or optional. dbt's
staging validation reads the same entry; this module is how Python code (the generator, the
build's record of what it validated with) reads it, so the list is spelled once.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

import yaml  # type: ignore[import-untyped,unused-ignore]

from pitstop.errors import ConfigurationError
from pitstop.settings import DBT_PROJECT_DIR

Field = Literal["item_id", "price"]
Level = Literal["required", "optional"]
LEVELS: tuple[Level, ...] = ("required", "optional")


@cache
def project_vars() -> dict[str, object]:
    """The dbt project's ``vars`` (also read by :mod:`pitstop.build.raw_files`)."""
    path = DBT_PROJECT_DIR / "dbt_project.yml"
    return (yaml.safe_load(path.read_text()) or {}).get("vars") or {}


@cache
def event_types() -> dict[str, dict[str, str]]:
    """``{event_type: {field: level}}`` in the order the project declares them."""
    path = DBT_PROJECT_DIR / "dbt_project.yml"
    declared = project_vars().get("event_types")
    if not isinstance(declared, dict) or not declared:
        raise ConfigurationError(f"{path}: vars.event_types must map event types to their fields")
    vocabulary: dict[str, dict[str, str]] = {}
    for name, fields in declared.items():
        entry = fields or {}
        if not isinstance(entry, dict) or any(level not in LEVELS for level in entry.values()):
            raise ConfigurationError(
                f"{path}: event type {name!r}: give each field as required or optional, "
                f"got {entry!r}"
            )
        vocabulary[str(name)] = {str(key): str(level) for key, level in entry.items()}
    return vocabulary


def types_with(field: Field, levels: tuple[Level, ...] = LEVELS) -> frozenset[str]:
    """The event types whose entry gives ``field`` one of ``levels``."""
    return frozenset(name for name, fields in event_types().items() if fields.get(field) in levels)


def event_fields() -> dict[str, str]:
    """The fields of the user's own (``vars.event_fields``): ``{name: "string" | "number"}``;
    dbt checks the names and kinds when it compiles staging."""
    declared = project_vars().get("event_fields") or {}
    if not isinstance(declared, dict):
        raise ConfigurationError(
            f"{DBT_PROJECT_DIR / 'dbt_project.yml'}: vars.event_fields must map field names to "
            f"string or number, got {declared!r}"
        )
    return {str(name): str(kind) for name, kind in declared.items()}
