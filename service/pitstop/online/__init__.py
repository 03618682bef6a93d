"""Feast's online store, read and written directly: no Feast import on the request path.

The one home of Feast's online layout: the lookup API reads through it, a push writes rows
through it and the materializer (:mod:`pitstop.materialize`) writes whole batches through it.

| module | job |
| --- | --- |
| ``feast_protos`` | Feast's generated protobuf modules, loaded without ``import feast`` |
| ``value_types`` | Feast's value types by name: the one type vocabulary |
| ``registry`` | the Feast registry (file or SQL) as plain dataclasses: the one snapshot type |
| ``codec`` | table names, entity keys (version 3), Redis keys and fields, values: one at a time |
| ``column_codec`` | the same bytes for a whole Arrow column at once (with ``packing``) |
| ``stores`` | the SQLite and Redis stores: one round trip per lookup; row and bulk writes |
| ``plans`` | lookup plans compiled from the registry: what to read, how to decode it |
| ``push`` | rows pushed through a push source, checked, encoded and written |
| ``on_demand`` | on-demand views run with the function stored in the registry |
"""
