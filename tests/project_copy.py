"""A copy of the project to follow a README recipe in, and the commands a user runs from it.

A recipe edits the dbt project (the vocabulary, a mart's contract); the copy keeps those edits
away from the checkout, and `pitstop` runs from it as a subprocess, as a user would run it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pitstop.online import codec
from pitstop.online.sqlite_store import SqliteStore
from pitstop.online.stores import ViewRead
from pitstop.settings import PROJECT_ROOT


def copy_project(root: Path) -> Path:
    """The project's code, dbt project and feature repo, copied under ``root``."""
    ignore = shutil.ignore_patterns("target", "logs", "__pycache__", "*.egg-info")
    for folder in ("service", "transformations", "feature_repo"):
        shutil.copytree(PROJECT_ROOT / folder, root / folder, ignore=ignore)
    return root


def run_pitstop(project: Path, *args: str, environment: Mapping[str, str] | None = None) -> str:
    """`pitstop ARGS` with the copy's code (and ``environment`` added to this process's);
    its stdout, after asserting it succeeded."""
    env = {**os.environ, **(environment or {}), "PYTHONPATH": str(project / "service")}
    env.pop("PITSTOP_DATA_DIR", None)
    result = subprocess.run(
        [sys.executable, "-m", "pitstop.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def run_dbt(project: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Plain dbt in the copy's dbt project, on ``data`` (the project's own profile)."""
    transformations = project / "transformations"
    env = {
        **os.environ,
        "PITSTOP_DATA_DIR": str(data),
        "DBT_PROFILES_DIR": str(transformations),
        "DBT_TARGET_PATH": str(data / "dbt" / "plain-target"),
        "DBT_LOG_PATH": str(data / "dbt" / "plain-logs"),
    }
    return subprocess.run(
        [sys.executable, "-c", "import sys; from dbt.cli.main import cli; sys.exit(cli())", *args],
        cwd=transformations,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def insert_after_column(marts_yaml: Path, column: str, entry: str) -> None:
    """Put ``entry`` (a column, as the README gives it) after ``column``'s entry."""
    text = marts_yaml.read_text()
    start = text.index(f"      - name: {column}\n")
    following = text.index("\n      - name: ", start + 1) + 1
    marts_yaml.write_text(text[:following] + entry + text[following:])


def remove_column(marts_yaml: Path, column: str) -> None:
    """Take ``column``'s entry out of a mart's contract (removing a feature is deleting it)."""
    text = marts_yaml.read_text()
    start = text.index(f"      - name: {column}\n")
    following = text.index("\n      - name: ", start + 1) + 1
    marts_yaml.write_text(text[:start] + text[following:])


def online_values(
    data: Path, view: str, key: str, entities: Sequence[int], features: Sequence[str]
) -> dict[int, dict[str, object]]:
    """The SQLite online store's values of ``features`` per entity (an int64 ``key``).

    An entity the store has no row for is left out.
    """
    store = SqliteStore(data / "online_store.db", "pitstop")
    try:
        keys = codec.entity_keys_of(key, list(entities), "INT64")
        [rows] = store.read([ViewRead(view, tuple(features))], [keys])
    finally:
        store.close()
    return {
        entity: {
            feature: codec.decode_value(rows.values[f][i]) for f, feature in enumerate(features)
        }
        for i, entity in enumerate(entities)
        if rows.event_seconds[i] is not None
    }
