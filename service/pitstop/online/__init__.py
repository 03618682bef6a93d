"""The online stores, read and written directly: no Feast import on the request path.

The one home of the online layouts (pitstop's in SQLite, Feast's in Redis: docs/architecture.md
§1, "The online layout"): the lookup API reads through it, a push writes rows through it, the
materializer (:mod:`pitstop.materialize`) writes whole batches through it, and Feast reads and
writes SQLite through its plugin here.

| module | job |
| --- | --- |
| ``feast_protos`` | Feast's generated protobuf modules, loaded without ``import feast`` |
| ``value_types`` | Feast's value types by name: the one type vocabulary |
| ``registry`` | the Feast registry (file or SQL) as plain dataclasses: the one snapshot type |
| ``codec`` | table names, entity keys (version 3), Redis keys, values: one at a time |
| ``column_codec`` | the same bytes for a whole Arrow column at once (with ``packing``) |
| ``stores`` | the store protocol, the rows read and written, ``open_online_store`` |
| ``sqlite_store``, ``packed_row`` | pitstop's SQLite layout: one row per entity and view |
| ``redis_store`` | pitstop's Redis layout: one hash field per entity and view |
| ``feast_store`` | Feast's online-store plugin over both stores (imports Feast) |
| ``plans`` | lookup plans compiled from the registry: what to read, how to decode it |
| ``push`` | rows pushed through a push source, checked, encoded and written |
| ``on_demand`` | on-demand views run with the function stored in the registry |
"""
