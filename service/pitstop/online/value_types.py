"""Feast's value types, by name: the one vocabulary of the registry, the codecs and the stores.

The registry stores a ValueType as a number (``protos/feast/types/Value.proto``); pitstop reads
it once into its name (``"INT64"``, ``"DOUBLE"``, ...) and speaks names everywhere after that.
The number is needed only where bytes carry it (entity keys) and where Feast's own functions
take it (the codecs' fallbacks, the materializer's state fingerprint).
"""

from __future__ import annotations

from pitstop.online.feast_protos import proto_module

# Feast's ValueType numbers of the scalar types (feast/value_type.py), by name.
NUMBERS = {
    "UNKNOWN": 0,
    "BYTES": 1,
    "STRING": 2,
    "INT32": 3,
    "INT64": 4,
    "DOUBLE": 5,
    "FLOAT": 6,
    "BOOL": 7,
    "UNIX_TIMESTAMP": 8,
}
_NAMES = {number: name for name, number in NUMBERS.items()}

# The Feast type names the registry listing shows (feast.types), by ValueType name.
FEAST_TYPE_NAMES = {
    "BYTES": "Bytes",
    "STRING": "String",
    "INT32": "Int32",
    "INT64": "Int64",
    "DOUBLE": "Float64",
    "FLOAT": "Float32",
    "BOOL": "Bool",
    "UNIX_TIMESTAMP": "UnixTimestamp",
}


def name_of(number: int) -> str:
    """The ValueType name of a registry's number; list, set and other kinds by Feast's enum."""
    name = _NAMES.get(number)
    if name is not None:
        return name
    enum = proto_module("types.Value_pb2").ValueType.Enum
    try:
        found: str = enum.Name(number)
    except ValueError:
        return "UNKNOWN"
    return "UNKNOWN" if found == "INVALID" else found


def number_of(name: str) -> int:
    """The ValueType number of a name (the inverse of :func:`name_of`)."""
    number = NUMBERS.get(name)
    if number is not None:
        return number
    found: int = proto_module("types.Value_pb2").ValueType.Enum.Value(name)
    return found
