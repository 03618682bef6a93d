"""pitstop's Feast message classes (pitstop.online.feast_protos) against Feast's own: same
fields, same bytes, and no ``import feast`` to build them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pitstop.online.feast_protos import proto_module


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ("core.Registry_pb2", "Registry"),
        ("core.FeatureView_pb2", "FeatureView"),
        ("core.OnDemandFeatureView_pb2", "OnDemandFeatureView"),
        ("core.FeatureService_pb2", "FeatureService"),
        ("core.Entity_pb2", "Entity"),
        ("types.Value_pb2", "Value"),
        ("types.EntityKey_pb2", "EntityKey"),
    ],
)
def test_the_messages_are_feasts(module: str, message: str) -> None:
    import importlib

    theirs = getattr(importlib.import_module(f"feast.protos.feast.{module}"), message)
    ours = getattr(proto_module(module), message)
    assert ours.DESCRIPTOR.full_name == theirs.DESCRIPTOR.full_name
    assert ours.DESCRIPTOR.file.serialized_pb == theirs.DESCRIPTOR.file.serialized_pb


def test_a_value_and_a_registry_serialize_to_feasts_bytes() -> None:
    from feast.protos.feast.core.Registry_pb2 import Registry
    from feast.protos.feast.types.Value_pb2 import Value, ValueType

    ours = proto_module("types.Value_pb2")
    assert ours.Value(int64_val=-5).SerializeToString() == Value(int64_val=-5).SerializeToString()
    assert ours.ValueType.Enum.Value("UNIX_TIMESTAMP") == ValueType.Enum.Value("UNIX_TIMESTAMP")
    registry = Registry()
    registry.project_metadata.add(project="p")
    parsed = proto_module("core.Registry_pb2").Registry.FromString(registry.SerializeToString())
    assert parsed.project_metadata[0].project == "p"
    assert parsed.SerializeToString() == registry.SerializeToString()


def test_built_without_importing_feast() -> None:
    code = (
        "import sys; from pitstop.online.feast_protos import proto_module; "
        "proto_module('core.Registry_pb2').Registry(); proto_module('types.Value_pb2').Value(); "
        "assert not any(name == 'feast' or name.startswith('feast.') for name in sys.modules), "
        "sorted(name for name in sys.modules if name.startswith('feast'))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
