"""dbt's signals (source freshness, last run's tests), the CLI, the baseline and the metrics."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pitstop.build.run import BuildReport
from pitstop.cli import main
from pitstop.monitoring import compute_status, load_baseline
from pitstop.monitoring.freshness import dbt_signals, run_source_freshness
from pitstop.monitoring.metrics import MonitoringCollector
from pitstop.online.registry import open_registry
from pitstop.settings import Settings
from tests.conftest import write_trap_log
from tests.monitoring.conftest import Monitored, copy_of


def test_last_dbt_run_tests_are_read(trap_build: tuple[Settings, BuildReport]) -> None:
    settings, _ = trap_build
    signals = dbt_signals(settings)
    assert signals.tests_status == "ok"
    assert signals.tests_passed > 20 and signals.tests_failed == []


def test_failed_dbt_test_is_an_error(monitored: Monitored, tmp_path: Path) -> None:
    settings = copy_of(monitored, tmp_path / "data")
    settings.dbt_target_dir.mkdir(parents=True)
    results = [
        {"unique_id": "test.pitstop.unique_user_activity", "status": "pass"},
        {"unique_id": "test.pitstop.not_null_user_activity_user_id", "status": "fail"},
        {"unique_id": "model.pitstop.user_activity", "status": "success"},
    ]
    (settings.dbt_target_dir / "run_results.json").write_text(json.dumps({"results": results}))
    status = compute_status(settings, now=monitored.now, with_skew=False)
    assert status.dbt.tests_failed == ["test.pitstop.not_null_user_activity_user_id"]
    assert status.status == "error"


def test_dbt_source_freshness(tmp_path: Path) -> None:
    settings = Settings.from_env(tmp_path)
    write_trap_log(tmp_path, days=["2026-03-01"])
    run_source_freshness(settings)
    fresh = dbt_signals(settings)
    assert fresh.source_status == "ok", fresh.source_detail
    # The files stop arriving: the newest is four days old (the source says error after 72 h).
    old = time.time() - 4 * 86400
    for path in settings.raw_events_dir.rglob("*.jsonl"):
        os.utime(path, (old, old))
    run_source_freshness(settings)
    stale = dbt_signals(settings)
    assert stale.source_status == "error", stale.source_detail


def test_without_a_baseline_the_monitor_reports_what_it_knows(
    monitored: Monitored, tmp_path: Path
) -> None:
    """It stopped with "no drift baseline" and exit 1, the code for warn, showing nothing of
    freshness or null rates. Now drift is insufficient_data, the rest is measured, and the
    exit code is the status's (warn: drift is not known)."""
    settings = copy_of(monitored, tmp_path / "data")
    settings.baseline_path.unlink()
    status = compute_status(settings, now=monitored.now, with_skew=False)
    assert status.baseline_note is not None and "pitstop monitor baseline" in status.baseline_note
    drifts = {
        item.drift.status for view in status.views.values() for item in view.features.values()
    }
    assert drifts == {"insufficient_data"}
    assert {view.freshness.status for view in status.views.values()} == {"ok"}
    assert status.status == "warn"
    command = [sys.executable, "-m", "pitstop.cli", "monitor", "--data-dir", str(settings.data_dir)]
    command += ["--no-dbt", "--no-skew", "--at", monitored.now.isoformat()]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 1 and result.stderr == ""
    assert "pitstop monitor: WARN" in result.stdout and "no drift baseline yet" in result.stdout


def test_monitor_cli_exit_codes_and_json(monitored: Monitored, tmp_path: Path) -> None:
    settings = copy_of(monitored, tmp_path / "data")
    command = [sys.executable, "-m", "pitstop.cli", "monitor", "--data-dir", str(settings.data_dir)]
    command += ["--no-dbt", "--no-skew"]
    at = ["--at", monitored.now.isoformat()]
    ok = subprocess.run([*command, *at, "--json"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "ok"
    later = (monitored.last + dt.timedelta(hours=40)).isoformat()  # 40 h old: warn
    html = tmp_path / "report.html"
    warn = subprocess.run(
        [*command, "--at", later, "--html", str(html)], capture_output=True, text=True, check=False
    )
    assert warn.returncode == 1, warn.stderr
    assert "pitstop monitor: WARN" in warn.stdout
    assert html.stat().st_size < 150_000 and "<svg" in html.read_text()
    much_later = (monitored.last + dt.timedelta(days=3)).isoformat()
    error = subprocess.run([*command, "--at", much_later], capture_output=True, check=False)
    assert error.returncode == 2


def test_baseline_from_the_cli_and_training_set_option(
    monitored: Monitored, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = copy_of(monitored, tmp_path / "data")
    settings.baseline_path.unlink()
    train = settings.data_dir / "train.parquet"
    assert main(["monitor", "baseline", str(train), "--data-dir", str(settings.data_dir)]) == 0
    # every numeric feature of the three views ranking_v1 joins, as the registry has them
    _, source = open_registry(settings)
    views = source.read().views
    numeric = sum(
        field.value_type != "UNIX_TIMESTAMP"
        for name in ("user_activity", "user_profile", "item_popularity")
        for field in views[name].features
    )
    assert numeric >= 20
    assert f"{numeric} features of 3 views" in capsys.readouterr().out
    assert load_baseline(settings).feature("item_popularity", "item_views_7d") is not None

    settings.baseline_path.unlink()
    start = (monitored.last - dt.timedelta(days=20)).date().isoformat()
    end = (monitored.last - dt.timedelta(days=6)).date().isoformat()
    out = tmp_path / "churn.parquet"
    code = main(
        ["training-set", "--data-dir", str(settings.data_dir), "--feature-service", "churn_v1"]
        + ["--start", start, "--end", end, "--out", str(out), "--baseline"]
    )
    assert code == 0
    baseline = load_baseline(settings)
    assert set(baseline.features) == {"user_activity", "user_profile"}  # churn_v1's views
    status = compute_status(settings, now=monitored.now, with_skew=False)
    assert status.views["user_activity"].features["events_7d"].drift.status == "ok"
    # No item features in this baseline: not ok, not an error either.
    assert status.views["item_popularity"].features["item_views_7d"].drift.status == (
        "insufficient_data"
    )


def test_prometheus_metrics(monitored: Monitored) -> None:
    status = compute_status(monitored.settings, now=monitored.now, with_skew=False)
    registry = CollectorRegistry()
    registry.register(MonitoringCollector(lambda: status))  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    newest = registry.get_sample_value(
        "pitstop_feature_view_newest_timestamp_seconds",
        {"view": "user_activity", "store": "online"},
    )
    assert newest == monitored.last.timestamp()
    assert 'pitstop_feature_psi{feature="events_7d",view="user_activity"}' in text
    assert 'pitstop_feature_null_rate{feature="avg_order_value_30d",view="user_activity"}' in text
    assert registry.get_sample_value("pitstop_monitoring_status", {"scope": "overall"}) == 0.0


def test_alert_rules_use_only_the_metrics_pitstop_exports(monitored: Monitored) -> None:
    import re

    import yaml

    rules_path = Path(__file__).resolve().parents[2] / "service/pitstop/monitoring/alerts.yml"
    groups = yaml.safe_load(rules_path.read_text())["groups"]
    used = {
        name
        for group in groups
        for rule in group["rules"]
        for name in re.findall(r"pitstop_[a-z_]+", rule["expr"])
    }
    status = compute_status(monitored.settings, now=monitored.now, with_skew=False)
    exported = {family.name for family in MonitoringCollector(lambda: status).collect()}
    assert used and used <= exported


def test_the_api_process_exports_on_the_default_registry(monitored: Monitored) -> None:
    from prometheus_client import REGISTRY

    from pitstop.api.routers import monitoring

    status = compute_status(monitored.settings, now=monitored.now, with_skew=False)
    monitoring._latest.store(status, monitored.settings)
    text = generate_latest(REGISTRY).decode()
    assert 'pitstop_feature_psi{feature="events_7d",view="user_activity"}' in text
    assert 'pitstop_monitoring_status{scope="overall"} 0.0' in text
