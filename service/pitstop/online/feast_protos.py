"""Feast's generated protobuf modules, without ``import feast``.

``import feast`` takes 5-9 s on this machine kind (docs/architecture.md §6), most of it in
modules the lookup API never uses; the protobuf modules that describe the registry and the
online store's values load in well under a second. They live inside the ``feast`` package,
whose ``__init__`` imports everything, so while they load, ``feast`` is stood in for by an empty
package object with the real package's path; the stand-in is removed again afterwards, so a
later real ``import feast`` (tests, the CLI) works as usual and reuses these very modules.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

_lock = threading.Lock()
_loaded: dict[str, Any] = {}


def proto_module(name: str) -> Any:
    """``feast.protos.feast.<name>`` (e.g. ``"core.Registry_pb2"``), loaded once."""
    with _lock:
        if name not in _loaded:
            _loaded[name] = _import(f"feast.protos.feast.{name}")
        return _loaded[name]


def _import(module: str) -> Any:
    if "feast" in sys.modules:
        return importlib.import_module(module)
    spec = importlib.util.find_spec("feast")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("feast is not installed")
    stand_in = types.ModuleType("feast")
    stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules["feast"] = stand_in
    try:
        return importlib.import_module(module)
    finally:
        # Only the stand-in goes; the proto modules stay loaded for the real package to reuse.
        if sys.modules.get("feast") is stand_in:
            del sys.modules["feast"]
