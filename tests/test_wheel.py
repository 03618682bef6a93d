"""The built wheel works without the checkout: installed into a fresh venv, run from another
folder, it generates a log, runs the daily job and answers a lookup.

Only an editable install worked: pitstop found the dbt project and the feature repo beside
``service/``, and a wheel held only the package. The fresh venv takes pitstop from the wheel and
its dependencies from this environment (a path line, so this environment's editable pitstop,
which a ``.pth`` file of its own puts on the path, is not read): installing feast, dbt and
DuckDB again would take minutes and test the registry, not the wheel.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import urllib.request
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from pitstop.api.background import api_in_background
from pitstop.settings import PROJECT_ROOT, Settings
from tests.project_copy import copy_project

USER_FEATURES = ["user_activity:events_30d", "user_activity:revenue_30d"]
# The README's commands, which this test runs with its own folders: the wheel into a temporary
# folder, installed into the fresh venv without its dependencies (see above), the data folder
# and the server temporary too.
README_COMMANDS = """\
python -m pip wheel . --no-deps -w dist && python -m pip install dist/pitstop-*.whl
pitstop generate --data-dir ~/pitstop-data && pitstop run --data-dir ~/pitstop-data
pitstop serve --data-dir ~/pitstop-data
"""


def test_the_readme_spells_the_commands_this_test_runs() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert f"```\n{README_COMMANDS}```" in readme


def _run(*command: str | Path, cwd: Path) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _files(folder: Path) -> set[str]:
    return {
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if "__pycache__" not in str(path)
    }


def test_the_wheel_runs_the_daily_job_and_a_lookup_from_a_fresh_venv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"  # not the checkout: nothing found relative to it
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # Built from a copy: setuptools writes build/ and *.egg-info into the folder it builds.
    source = copy_project(tmp_path / "source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", wheels, cwd=source)
    [wheel] = wheels.glob("pitstop-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "pitstop/project/transformations/dbt_project.yml",
        "pitstop/project/transformations/profiles.yml",
        "pitstop/project/feature_repo/feature_views.py",
        "pitstop/py.typed",
    } <= names
    assert not [name for name in names if "wheel_build" in name or "/target/" in name]

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=elsewhere)
    python = venv / "bin" / "python"
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "-q",
        wheel,
        cwd=elsewhere,
    )
    site = Path(
        _run(
            python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=elsewhere
        ).strip()
    )
    (site / "pitstop-test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    installed = site / "pitstop"
    where = _run(python, "-c", "import pitstop.settings as s; print(s.PROJECT_ROOT)", cwd=elsewhere)
    assert Path(where.strip()) == installed / "project"
    shipped = _files(installed / "project")

    data = tmp_path / "data"
    pitstop = venv / "bin" / "pitstop"
    _run(
        pitstop,
        "generate",
        "--data-dir",
        data,
        "--users",
        "40",
        "--days",
        "9",
        "--seed",
        "5",
        "-q",
        cwd=elsewhere,
    )
    _run(pitstop, "run", "--data-dir", data, "-q", cwd=elsewhere)
    assert _files(installed / "project") == shipped  # the job wrote into the data folder only

    activity = pd.read_parquet(data / "features" / "user_activity")
    latest = activity.sort_values("event_timestamp").groupby("user_id").tail(1).set_index("user_id")
    users = [int(user) for user in latest.index[:5]]
    settings = Settings.from_env(data)
    with api_in_background(settings, log_path=tmp_path / "api.log", python=str(python)) as api:
        api.wait_until_healthy()
        body = {"features": USER_FEATURES, "entities": {"user_id": users}}
        request = urllib.request.Request(
            f"{api.base_url}/get-online-features",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            response = json.load(answer)
    names = response["metadata"]["feature_names"]
    for feature in ("events_30d", "revenue_30d"):
        column = response["results"][names.index(feature)]
        assert column["statuses"] == ["PRESENT"] * len(users), column
        assert column["values"] == pytest.approx([latest.at[u, feature] for u in users])
