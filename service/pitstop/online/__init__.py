"""Feast's online store, read and written directly: no Feast import on the request path.

| module | job |
| --- | --- |
| ``feast_protos`` | Feast's generated protobuf modules, loaded without ``import feast`` |
| ``registry`` | the Feast registry (file or SQL) as plain dataclasses |
| ``codec`` | entity keys (Feast's serialization, version 3), Redis keys, value protos |
| ``stores`` | the SQLite and Redis online stores: one round trip per lookup, and writes |
| ``plans`` | lookup plans compiled from the registry: what to read, how to decode it |
| ``on_demand`` | on-demand views run with the function stored in the registry |
"""
