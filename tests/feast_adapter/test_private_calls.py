"""The two places pitstop calls Feast where Feast has no public way, pinned to the shape they
rely on: a Feast release that renames or reshapes them fails here, by name, instead of deep in
a materialization or a saved dataset (docs/architecture.md Layout, the Feast adapter)."""

from __future__ import annotations

import inspect


def _parameters(function: object) -> list[str]:
    return [name for name in inspect.signature(function).parameters if name != "self"]  # type: ignore[arg-type]


def test_update_infra_for_ensure_online_tables() -> None:
    """pitstop.repo.ensure_online_tables: FeatureStore._get_provider().update_infra(...)
    creates the online tables of an unchanged registry (feast apply does not)."""
    from feast import FeatureStore
    from feast.infra.provider import Provider

    assert callable(FeatureStore._get_provider)
    assert _parameters(Provider.update_infra) == [
        "project",
        "tables_to_delete",
        "tables_to_keep",
        "entities_to_delete",
        "entities_to_keep",
        "partial",
    ]


def test_write_data_source_for_saved_datasets() -> None:
    """pitstop.offline.store: a saved dataset is written the way Feast's DuckDB store writes
    it (feast.infra.offline_stores.duckdb._write_data_source, positional arguments)."""
    from feast.infra.offline_stores.duckdb import _write_data_source

    assert _parameters(_write_data_source) == [
        "table",
        "data_source",
        "repo_path",
        "mode",
        "allow_overwrite",
    ]
