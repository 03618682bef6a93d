"""The Feast repo in feature_repo/, read back from a real registry."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pitstop.feast_adapter import repo
from pitstop.settings import FEATURE_REPO_DIR, Settings

MARTS_YAML = FEATURE_REPO_DIR.parent / "transformations" / "models" / "marts" / "_marts__models.yml"
# What each Arrow type of a built feature table is in Feast's words.
ARROW_TO_FEAST = {
    pa.int64(): "Int64",
    pa.float64(): "Float64",
    pa.bool_(): "Bool",
    pa.string(): "String",
    pa.timestamp("us", tz="UTC"): "UnixTimestamp",
}
DBT_TO_FEAST = {
    "bigint": "Int64",
    "double": "Float64",
    "boolean": "Bool",
    "varchar": "String",
    "timestamp with time zone": "UnixTimestamp",
}


def test_views_and_services_are_described_and_have_no_ttl(trap_store: Settings) -> None:
    store = repo.open_store(trap_store)
    views = {view.name: view for view in store.list_feature_views()}
    assert set(views) == {"user_activity", "user_profile", "item_popularity"}
    for view in views.values():
        assert not view.ttl  # staleness is the table's coverage (docs/architecture.md §3)
        assert view.description and view.owner
    services = {service.name for service in store.list_feature_services()}
    assert services == {"churn_v1", "ranking_v1"}


@pytest.mark.parametrize("as_epoch_seconds", [False, True])
def test_request_time_as_datetime_or_epoch_seconds(
    trap_store: Settings, as_epoch_seconds: bool
) -> None:
    # user 6's latest event before the data's end is the refund at 2026-03-21 09:00 UTC
    request_time = dt.datetime(2026, 3, 22, 9, 0, tzinfo=dt.timezone.utc)
    value: object = int(request_time.timestamp()) if as_epoch_seconds else request_time
    store = repo.open_store(trap_store)
    result = store.get_online_features(
        features=["user_recency:hours_since_last_event"],
        entity_rows=[{"user_id": 6, "request_time": value}],
    ).to_dict()
    assert result["hours_since_last_event"] == [pytest.approx(24.0)]


def test_registered_schemas_are_the_dbt_contracts_and_the_built_tables(
    trap_store: Settings,
) -> None:
    """The registry, the marts' enforced contracts and the Parquet files Feast reads agree on
    every feature's name, order (registry = contract) and type."""
    contracts = {model["name"]: model for model in yaml.safe_load(MARTS_YAML.read_text())["models"]}
    store = repo.open_store(trap_store)
    for view in store.list_feature_views():
        keys = {column.name for column in view.entity_columns}
        skipped = keys | {"event_timestamp", "created_timestamp"}
        registered = [(field.name, str(field.dtype)) for field in view.features]
        contract = [
            (column["name"], DBT_TO_FEAST[column["data_type"]])
            for column in contracts[view.name]["columns"]
            if column["name"] not in skipped
        ]
        assert registered == contract, view.name
        schema = pq.read_schema(trap_store.features_dir / view.name / "_schema.parquet")
        built = {
            field.name: ARROW_TO_FEAST[field.type] for field in schema if field.name not in skipped
        }
        assert built == dict(registered), view.name
        descriptions = {
            column["name"]: column["description"] for column in contracts[view.name]["columns"]
        }
        for field in view.features:
            assert field.description == " ".join(descriptions[field.name].split())


def test_plain_feast_without_the_data_folder_says_so(tmp_path: Path) -> None:
    """`feast -c feature_repo feature-views list` without PITSTOP_DATA_DIR listed nothing and
    made a folder named `${PITSTOP_DATA_DIR}` (with a registry) inside the repo."""
    import os
    import subprocess
    import sys

    env = {name: value for name, value in os.environ.items() if name != "PITSTOP_DATA_DIR"}
    before = sorted(path.name for path in FEATURE_REPO_DIR.iterdir())
    command = "import sys; from feast.cli.cli import cli; sys.exit(cli())"
    result = subprocess.run(
        [sys.executable, "-c", command, "-c", str(FEATURE_REPO_DIR), "feature-views", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode != 0
    assert "PITSTOP_DATA_DIR is not set" in result.stdout + result.stderr
    assert sorted(path.name for path in FEATURE_REPO_DIR.iterdir()) == before
    assert not list(tmp_path.iterdir())


def test_feast_ui_starts_and_lists_the_feature_views(trap_store: Settings, tmp_path: Path) -> None:
    """`feast -c feature_repo ui` from the project's own install failed: `No module named
    'grpc'`, then `grpc_health` (pyproject.toml now names them, at versions protobuf < 7
    allows). Its page and its registry API answer, with the repo's views."""
    import os
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    from pitstop.api.background import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PITSTOP_DATA_DIR": str(trap_store.data_dir)}
    command = "import sys; from feast.cli.cli import cli; sys.exit(cli())"
    arguments = ["-c", str(FEATURE_REPO_DIR), "ui", "-h", "127.0.0.1", "-p", str(port)]
    log_path = tmp_path / "feast-ui.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", command, *arguments], env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 180  # `import feast` alone takes 5-9 s
        views = None
        while views is None:
            assert process.poll() is None, log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, log_path.read_text()[-2000:]
            try:
                url = f"{base}/api/v1/feature_views?project=pitstop"
                with urllib.request.urlopen(url, timeout=5) as answer:
                    views = answer.read().decode()
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        for name in ("user_activity", "user_profile", "item_popularity"):
            assert f'"{name}"' in views, views[:2000]
        with urllib.request.urlopen(f"{base}/", timeout=10) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_feast_registry_dump_still_has_feast_0_67s_python_view_bug(trap_store: Settings) -> None:
    """`feast registry-dump` fails on the python-mode on-demand view (docs/architecture.md §6,
    reported upstream-style there, with the commands that work instead). This pins the failure:
    when a Feast upgrade fixes it, this test fails, and the docs and this test change with it.
    The workaround's commands answer."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PITSTOP_DATA_DIR": str(trap_store.data_dir)}
    command = "import sys; from feast.cli.cli import cli; sys.exit(cli())"

    def feast(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", command, "-c", str(FEATURE_REPO_DIR), *arguments],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    dump = feast("registry-dump")
    assert dump.returncode != 0 and "KeyError: 'substraitPlan'" in dump.stderr, dump.stderr
    described = feast("on-demand-feature-views", "describe", "user_recency")
    assert described.returncode == 0 and "hours_since_last_event" in described.stdout
