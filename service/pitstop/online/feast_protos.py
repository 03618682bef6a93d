"""Feast's protobuf messages, without ``import feast`` and without touching ``sys.modules``.

``import feast`` takes 5-9 s on this machine kind (docs/architecture.md §6), most of it in
modules the lookup API never uses, and Feast's generated ``*_pb2`` modules live inside the
``feast`` package, whose ``__init__`` imports everything. So the message types are built here
from the same descriptors: each generated module holds its ``.proto`` file serialized (the
argument of its ``AddSerializedFile`` call), which is read from the source text (never run),
added with its dependencies to a descriptor pool of pitstop's own, and turned into classes by
protobuf's public ``message_factory``. The classes are pitstop's, not Feast's, and serialize to
the same bytes; a test compares them with Feast's own (tests/online/test_feast_protos.py) and
fails loudly when a Feast release changes the layout of its generated modules.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

__all__ = ["proto_module"]

_lock = threading.Lock()
_loaded: dict[str, Any] = {}
_pool: Any = None
_added: set[str] = set()


def proto_module(name: str) -> Any:
    """The messages of ``feast.protos.feast.<name>`` (e.g. ``"core.Registry_pb2"``) as a
    namespace of classes, built once."""
    with _lock:
        if name not in _loaded:
            _loaded[name] = _build(name)
        return _loaded[name]


def _build(name: str) -> SimpleNamespace:
    from google.protobuf import message_factory

    proto = "feast/" + name.removesuffix("_pb2").replace(".", "/") + ".proto"
    _add(proto)
    descriptor = _pool.FindFileByName(proto)
    return SimpleNamespace(
        **{
            message: message_factory.GetMessageClass(message_descriptor)
            for message, message_descriptor in descriptor.message_types_by_name.items()
        }
    )


def _add(proto: str) -> None:
    """Add ``proto`` (a path like ``feast/core/Registry.proto``) and what it imports."""
    global _pool
    from google.protobuf import descriptor_pb2, descriptor_pool

    if _pool is None:
        _pool = descriptor_pool.DescriptorPool()
    if proto in _added:
        return
    if proto.startswith("google/protobuf/"):
        # protobuf's own well-known types (timestamp, duration, struct ...)
        module = importlib.import_module("google.protobuf." + Path(proto).stem + "_pb2")
        serialized: bytes = module.DESCRIPTOR.serialized_pb
    else:
        serialized = _serialized_file(proto)
    file = descriptor_pb2.FileDescriptorProto.FromString(serialized)
    for dependency in file.dependency:
        _add(dependency)
    _pool.Add(file)
    _added.add(proto)


def _serialized_file(proto: str) -> bytes:
    """The serialized ``proto`` in Feast's generated module for it, read without running it."""
    spec = importlib.util.find_spec("feast")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("feast is not installed")
    package = Path(next(iter(spec.submodule_search_locations)))
    source = package / "protos" / proto.replace(".proto", "_pb2.py")
    tree = ast.parse(source.read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "AddSerializedFile"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, bytes)
        ):
            return node.args[0].value
    raise ImportError(f"{source}: no serialized descriptor (AddSerializedFile) in Feast's module")
