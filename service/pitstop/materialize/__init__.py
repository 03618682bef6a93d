"""pitstop's materializer: each entity's latest feature row into Feast's online store, fast.

It writes exactly the bytes ``feast materialize`` (Feast 0.67, entity key serialization
version 3) writes into the SQLite or Redis online store (``settings.online_store``), so Feast's
SDK and pitstop's API read either store unchanged. This folder decides *what* to write; the
layout, the bytes and the writes are the online store's own (:mod:`pitstop.online`), the
same code the API reads with and a push writes with:

- :mod:`~pitstop.materialize.changes` picks each entity's latest row with DuckDB from the
  Parquet feature table and keeps only those that differ from the view's state (what was
  last written), streamed as Arrow batches of ``batch_rows`` rows;
- :mod:`~pitstop.materialize.run` reads the online views from the registry snapshot
  (:mod:`pitstop.online.registry`) and hands each batch to the store's ``write_batch``
  (:mod:`pitstop.online.stores`, which encodes whole columns with
  :mod:`pitstop.online.column_codec`): one SQLite transaction (WAL), or pipelined Redis
  scripts; :mod:`~pitstop.progress` shows rows, rows/s and ETA.

Guarantees
----------
*Never half-written.* A lookup during a materialization gets, for each entity, its old values
or its new ones, never a mix and never an error: in SQLite all features of a batch's entities
are written in one transaction, and the database is in WAL mode, so a reader sees the last
committed state without waiting; in Redis an entity is one ``HSET`` of all its fields, which
Redis applies atomically.

*Killed halfway, completed next time.* A run killed at any point (SIGKILL included) leaves
every entity with its previous or its new values, so the previous values keep being served.
The view's state (``<data>/online_state/<view>.parquet``) is replaced by a rename only after
all of the view's writes are committed; the next run compares against the old state and
writes again every entity that differs from it, including any the killed run had already
written (writing the same bytes twice is harmless).

*Changed entities only.* A run writes only entities whose latest row is new or differs (values,
event or created timestamp) from the state; a second run on the same tables writes none.
``full=True`` (``pitstop materialize --full``) rewrites every entity. A state from another
store or view layout is ignored (full rewrite), and a store that lost its data (Redis flushed,
SQLite file or table deleted) is detected by looking up a sample of the state's entities and a
per-view marker (Redis), and rewritten in full rather than silently skipped.

*Newest wins.* An entity whose stored event time is newer than its latest row (a value pushed
since the build) keeps the stored values, in full runs too; the check is part of each write
(SQLite's upsert condition, a Redis script comparing each entity's stored event time), so a
push racing the run is kept.
Not the same as Feast: Feast's Redis writer also skips a row whose stored timestamp is equal;
pitstop writes it (a value corrected at the same timestamp must replace the old one). Entities
whose rows disappear from the feature table stay online, as with Feast.
"""

from __future__ import annotations

from pitstop.materialize.run import materialize

__all__ = ["materialize"]
