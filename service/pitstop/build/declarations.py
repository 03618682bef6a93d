"""Which feature marts must be rebuilt from their inputs because their declaration changed.

A mart's features are declared in ``transformations/models/marts/_marts__models.yml`` (its
contract: names, types, windows) and computed by its SQL file. An incremental build extends a
mart from its own last rows, which is only right while the declaration that made them holds:
after a feature is added, removed or its window changed, the mart is rebuilt from its inputs
(the intermediate day rows, which keep the whole history) and the rest of the project runs
incrementally as usual. :func:`changed_marts` compares each built mart with its declaration:
its columns in the warehouse against the contract, and a fingerprint of the declaration (the
model's YAML entry and SQL file) against the one :func:`record` kept after the last build.
A changed event vocabulary (:func:`vocabulary_changed`) changes how raw lines validate, so
then everything is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import duckdb
import yaml  # type: ignore[import-untyped,unused-ignore]

from pitstop.build import vocabulary
from pitstop.settings import DBT_PROJECT_DIR, Settings

MARTS_DIR = DBT_PROJECT_DIR / "models" / "marts"
# The record's entry for the event vocabulary (vars.event_types, vars.event_fields), beside the
# marts'.
VOCABULARY = "vars.event_types"


def declarations() -> dict[str, dict[str, Any]]:
    """Each mart with an enforced contract: its YAML entry, by name."""
    models: dict[str, dict[str, Any]] = {}
    for path in sorted(MARTS_DIR.glob("*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models") or []:
            if (model.get("config") or {}).get("contract", {}).get("enforced"):
                models[str(model["name"])] = model
    return models


def fingerprint(name: str, model: dict[str, Any]) -> str:
    """A hash of what the mart computes: its columns' names, types and windows, its config and
    its SQL file (descriptions and tests left out: they change no value)."""
    sql = MARTS_DIR / f"{name}.sql"
    declared = {
        "config": model.get("config"),
        "columns": [
            [column.get("name"), column.get("data_type"), column.get("config")]
            for column in model.get("columns") or []
        ],
    }
    text = json.dumps(declared, sort_keys=True, default=str) + (
        sql.read_text() if sql.exists() else ""
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _record_path(settings: Settings) -> Path:
    return settings.data_dir / "dbt" / "declarations.json"


def changed_marts(settings: Settings) -> dict[str, str]:
    """``{mart: why}`` for every built mart whose declaration differs from what built it."""
    if not settings.warehouse_path.exists():
        return {}
    models = declarations()
    try:
        recorded = json.loads(_record_path(settings).read_text())
    except (OSError, ValueError):
        recorded = {}
    try:
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
            rows = connection.execute(
                "select table_name, column_name from information_schema.columns "
                "where table_schema = 'main' order by table_name, ordinal_position"
            ).fetchall()
    except duckdb.Error:  # the file is locked by another process: dbt will say so
        return {}
    built: dict[str, list[str]] = {}
    for table, column in rows:
        built.setdefault(table, []).append(column)
    changed: dict[str, str] = {}
    for name, model in models.items():
        if name not in built:
            continue  # not built yet: this build builds it whole
        declared = [str(column["name"]) for column in model.get("columns") or []]
        added = [column for column in declared if column not in built[name]]
        removed = [column for column in built[name] if column not in declared]
        if added or removed:
            parts = [f"added {', '.join(added)}"] if added else []
            parts += [f"removed {', '.join(removed)}"] if removed else []
            changed[name] = "; ".join(parts)
        elif name in recorded and recorded[name] != fingerprint(name, model):
            changed[name] = "its declaration changed"
    return changed


def vocabulary_changed(settings: Settings) -> bool:
    """Whether the event vocabulary differs from the one the last build validated lines with:
    lines quarantined as unknown, or kept without a field, may read otherwise now, so every
    partition is read again (a full refresh)."""
    try:
        recorded = json.loads(_record_path(settings).read_text())
    except (OSError, ValueError):
        return False
    return VOCABULARY in recorded and recorded[VOCABULARY] != _vocabulary_fingerprint()


def _vocabulary_fingerprint() -> str:
    declared: object = vocabulary.event_types()
    if fields := vocabulary.event_fields():
        # only when there are any, so the record of a project without them stays as it was
        declared = {"event_types": declared, "event_fields": fields}
    text = json.dumps(declared, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def record(settings: Settings) -> None:
    """Keep the fingerprints of the declarations the last successful build used."""
    path = _record_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    marks = {name: fingerprint(name, model) for name, model in declarations().items()}
    marks[VOCABULARY] = _vocabulary_fingerprint()
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(marks, indent=1, sort_keys=True))
    temporary.replace(path)
