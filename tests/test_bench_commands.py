"""The README's benchmark commands name benchmarks that exist and take the options given.

The benchmarks are too long for the test run (bench/ is not part of it); each command of the
README's Figures table is parsed by its own argument parser instead, so a renamed option or a
removed bench fails here.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from pitstop.settings import PROJECT_ROOT

COMMANDS = sorted(
    set(re.findall(r"`python (bench/\w+\.py[^`]*)`", (PROJECT_ROOT / "README.md").read_text()))
)


def test_the_readme_names_benchmarks() -> None:
    assert len(COMMANDS) >= 5


@pytest.mark.parametrize("command", COMMANDS)
def test_a_readme_benchmark_command_parses(command: str) -> None:
    script, *options = shlex.split(command)
    check = (
        "import argparse, runpy, sys\n"
        "parse = argparse.ArgumentParser.parse_args\n"
        "def parse_only(self, args=None, namespace=None):\n"
        "    parse(self, args, namespace)\n"
        "    raise SystemExit(0)\n"
        "argparse.ArgumentParser.parse_args = parse_only\n"
        f"sys.argv = [{script!r}, *sys.argv[1:]]\n"
        f"runpy.run_path({script!r}, run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check, *options],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
