"""The build step that puts the project inside a built wheel (pyproject.toml's cmdclass).

pitstop builds with the dbt project (``transformations/``) and applies the feature repo
(``feature_repo/``); in a checkout it finds them beside ``service/``. A wheel holds only the
package, so this step copies both into it as ``pitstop/project/``, where an installed pitstop
finds them (``pitstop.settings``; docs/architecture.md §6, "Installed"). An editable install
reads the checkout and copies nothing. Not part of the installed package.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("transformations", "feature_repo")
# What dbt and Python leave in the checkout's folders: not the project.
LEFT_BEHIND = shutil.ignore_patterns("target", "logs", "dbt_packages", "__pycache__", "*.pyc")


class BuildPy(build_py):  # type: ignore[misc]  # setuptools ships no type hints here
    """setuptools' build_py, then the project's two folders into ``pitstop/project/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "pitstop" / "project"
        for folder in FOLDERS:
            source = ROOT / folder
            if not source.is_dir():
                raise FileNotFoundError(
                    f"{source}: a wheel is built from a checkout, which holds the project's "
                    f"{', '.join(FOLDERS)} folders"
                )
            shutil.rmtree(target / folder, ignore_errors=True)
            shutil.copytree(source, target / folder, ignore=LEFT_BEHIND)
