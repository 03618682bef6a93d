"""pitstop's Redis online store: one hash per entity, one field per view holding the entity's
whole row of that view (docs/architecture.md §1, "The online layout").

One class, used by the lookup API (reads), push (row writes), the materializer (bulk writes)
and Feast itself through the online-store plugin :mod:`pitstop.online.feast_store`, as for
SQLite. Layout: the hash's key is Feast's (serialized entity key + project); its field
``row:<view>`` (:func:`row_field`) holds a *headed row* (:mod:`~pitstop.online.packed_row`):
the event time in microseconds, the layout id, then the features' ValueProto bytes packed in
one blob. The layouts (id -> feature names) are the hash :data:`LAYOUTS`. Feast's own layout
(one field per feature, a protobuf timestamp per view) made Redis set 8–14 fields and decode
a protobuf in Lua per entity written: 0.88 s of Redis's time for 210,000 entities, against
0.40 s for one field (issue 18, docs/benchmarks.md).

A lookup runs one Lua script doing an ``HGET`` per (entity, view). Every write keeps the
newest row (:data:`~pitstop.online.stores.NEWEST_WINS`): a bulk write compares event times in
its script (:data:`WRITE_SCRIPT`); a push reads the stored rows, merges the features it carries
into them and writes each back only if it is still the row it read (:data:`SWAP_SCRIPT`,
tried again for the rows another writer changed meanwhile). Each script call runs atomically.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pitstop.errors import OnlineStoreUnavailableError, one_line, redacted
from pitstop.online import codec, packed_row
from pitstop.online.stores import ViewRead, ViewRows, WriteRow, merge_rows, micros

if TYPE_CHECKING:
    import pyarrow as pa

    from pitstop.online.registry import ViewDef

Result = TypeVar("Result")

# Entities per Redis pipeline of a bulk write: one is encoded while Redis runs the one before.
PIPELINE_ENTITIES = 10_000
# Entities per call of the bulk write script: the script's call is paid once per group.
SCRIPT_ENTITIES = 100
# Set in Redis when a view's bulk write completed; a flush removes it (the store lost data).
# ("rows": the headed-row layout; a marker of Feast's layout makes the next run write all.)
MARKER = "pitstop:materialized:{project}:{view}:rows"
# Each view's coverage (pitstop.coverage): a hash, online view name -> epoch microseconds.
COVERAGE = "pitstop:coverage:{project}:views"  # never ends with the project: sweeps skip it
# The layouts of every row in the database: a hash, layout id (decimal) -> feature names.
LAYOUTS = packed_row.LAYOUTS
# How often a push writes again the rows another writer changed between its read and write.
SWAP_TRIES = 8


def row_field(view: str) -> bytes:
    """The hash field of a view's row."""
    return b"row:" + view.encode("utf8")


class RedisStore:
    """pitstop's Redis layout on one server. redis-py reconnects by itself after the server
    returns.

    ``timeouts``: a lookup waits at most a second for a reply; bulk writes wait as long as
    Redis takes.
    """

    kind = "redis"
    writes_in_key_order = False

    def __init__(self, url: str, project: str, *, timeouts: bool = True) -> None:
        import redis

        from pitstop.feast_adapter.config import redis_connection_string

        redis_connection_string(url)  # a URL Feast could not use either: one line, now
        self.url = url
        self.project = project
        self.identity = f"redis:{url}"
        self._client: Any = (
            redis.Redis.from_url(
                url, socket_timeout=1.0, socket_connect_timeout=0.5, health_check_interval=0
            )
            if timeouts
            else redis.Redis.from_url(url)
        )
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._read_script = self._client.register_script(READ_SCRIPT)
        self._swap_script = self._client.register_script(SWAP_SCRIPT)
        self._write_sha: str = self._client.register_script(WRITE_SCRIPT).sha
        # Entities per bulk-write script call (a cluster's store: 1, a call's keys must share
        # a hash slot).
        self._script_entities = SCRIPT_ENTITIES
        self._write_script_loaded = False
        # Layouts never change once stored: id -> names; where a read's features sit in one.
        self._layouts: dict[int, tuple[str, ...]] = {}
        self._slots: dict[tuple[tuple[str, ...], int], tuple[int, list[int]]] = {}
        # The API's asyncio reads: (their event loop, the reader on it).
        self._async: tuple[Any, AsyncReads] | None = None

    # ---- what the cluster's store does its own way -----------------------------------------
    def _guarded(self, action: str, work: Callable[[], Result], *, retry: bool = True) -> Result:
        """``work()``, with redis-py's errors as OnlineStoreUnavailableError."""
        try:
            return work()
        except self._errors as error:
            raise OnlineStoreUnavailableError(
                f"cannot {action} the Redis online store at {redacted(self.url)}: {one_line(error)}"
            ) from error

    def _get(self, hashes: Sequence[bytes], fields: Sequence[bytes]) -> list[bytes | None]:
        """``HGET hashes[i] fields[i]`` for every i, in one script call."""
        return list(self._read_script(keys=hashes, args=fields)) if hashes else []

    def _swap(
        self,
        hashes: Sequence[bytes],
        field: bytes,
        expected: Sequence[bytes],
        rows: Sequence[bytes],
    ) -> list[int]:
        """Set ``field`` of each hash to ``rows[i]`` where it still holds ``expected[i]``
        (``b""``: nothing); the positions where it did not."""
        arguments = [field]
        for old, new in zip(expected, rows, strict=True):
            arguments += (old, new)
        failed = self._swap_script(keys=hashes, args=arguments) if hashes else []
        return [int(position) - 1 for position in failed]

    def _stored_layouts(self) -> dict[bytes, bytes]:
        return dict(self._client.hgetall(LAYOUTS))

    def _add_layouts(self, layouts: dict[int, str]) -> None:
        with self._client.pipeline(transaction=False) as pipe:
            for layout, text in layouts.items():
                pipe.hsetnx(LAYOUTS, str(layout), text)
            pipe.execute()

    def _primaries(self) -> list[Any]:
        """A client per server holding keys (one here)."""
        return [self._client]

    # ---- layouts ---------------------------------------------------------------------------
    def _layout(self, layout: int) -> tuple[str, ...]:
        names = self._layouts.get(layout)
        if names is None:
            for id_, text in self._stored_layouts().items():
                self._layouts[int(id_)] = packed_row.features_of(text.decode())
            names = self._layouts.get(layout)
            if names is None:
                raise OnlineStoreUnavailableError(
                    f"the Redis online store at {redacted(self.url)} has a row of layout "
                    f"{layout}, which {LAYOUTS!r} does not name"
                )
        return names

    def _slots_of(self, features: tuple[str, ...], layout: int) -> tuple[int, list[int]]:
        """How many values a row of ``layout`` packs, and where ``features`` sit among them
        (-1: not in the layout)."""
        slots = self._slots.get((features, layout))
        if slots is None:
            names = self._layout(layout)
            where = {name: slot for slot, name in enumerate(names)}
            slots = (len(names), [where.get(feature, -1) for feature in features])
            self._slots[features, layout] = slots
        return slots

    def _ensure_layouts(self, layouts: set[tuple[str, ...]]) -> dict[tuple[str, ...], int]:
        """Each layout's id, stored before any row names it: on every write, since the
        database may have been flushed since this process last stored it."""
        ids = {names: packed_row.layout_id(names) for names in layouts}
        self._add_layouts({id_: packed_row.layout_text(names) for names, id_ in ids.items()})
        self._layouts.update((id_, names) for names, id_ in ids.items())
        return ids

    def _hashes(self, keys: Sequence[bytes]) -> list[bytes]:
        return [codec.redis_key(key, self.project) for key in keys]

    # ---- reads (lookups, push's newest-wins check, Feast's online_read) --------------------
    def read(self, reads: Sequence[ViewRead], keys: Sequence[Sequence[bytes]]) -> list[ViewRows]:
        hashes, fields = self._read_arguments(reads, keys)
        replies = self._guarded("read", lambda: self._get(hashes, fields))
        return self._view_rows(reads, keys, replies)

    async def read_async(
        self, reads: Sequence[ViewRead], keys: Sequence[Sequence[bytes]]
    ) -> list[ViewRows]:
        """:meth:`read` on asyncio: the API's event loop serves other requests while this one
        waits for Redis (issue 18: a blocking wait held the loop for about a third of a
        32-connection run)."""
        hashes, fields = self._read_arguments(reads, keys)
        try:
            replies = await self._async_reads().run(hashes, fields) if hashes else []
        except self._errors as error:
            raise OnlineStoreUnavailableError(
                f"cannot read the Redis online store at {redacted(self.url)}: {one_line(error)}"
            ) from error
        return self._view_rows(reads, keys, replies)

    def _async_reads(self) -> AsyncReads:
        """The read script on asyncio connections of the running loop (made on first use, and
        again should the loop change: connections belong to one loop)."""
        import asyncio

        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            self._async = (loop, AsyncReads(self.url))
        return self._async[1]

    def _read_arguments(
        self, reads: Sequence[ViewRead], keys: Sequence[Sequence[bytes]]
    ) -> tuple[list[bytes], list[bytes]]:
        """The hashes a read gets, read after read, and the field of each."""
        hashes = self._hashes([key for view_keys in keys for key in view_keys])
        fields = [
            row_field(read.view)
            for read, view_keys in zip(reads, keys, strict=True)
            for _ in view_keys
        ]
        return hashes, fields

    def _view_rows(
        self,
        reads: Sequence[ViewRead],
        keys: Sequence[Sequence[bytes]],
        replies: Sequence[bytes | None],
    ) -> list[ViewRows]:
        """The read script's replies (one headed row or None per hash, read after read) as
        rows."""
        results: list[ViewRows] = []
        head, offset, position = packed_row.HEAD, packed_row.HEAD.size, 0
        for read, view_keys in zip(reads, keys, strict=True):
            answers = replies[position : position + len(view_keys)]
            position += len(view_keys)
            missing = (None,) * len(read.features)
            stamps: list[float | None] = []
            picked: list[Sequence[bytes | None]] = []
            for answer in answers:
                if answer is None:
                    stamps.append(None)
                    picked.append(missing)
                    continue
                event_us, layout = head.unpack_from(answer)
                stamps.append(event_us / 1_000_000)
                count, slots = self._slots_of(read.features, layout)
                picked.append(packed_row.pick(answer, count, slots, offset))
            columns = [list(column) for column in zip(*picked, strict=True)] or [
                [] for _ in read.features
            ]
            results.append(ViewRows(stamps, columns))
        return results

    # ---- row writes (push, Feast's online_write_batch) -------------------------------------
    def write(self, view: str, rows: Sequence[WriteRow]) -> None:
        """Write ``rows``, newest wins: a row older than the stored one is dropped; a newer one
        replaces the values it carries and keeps the stored values of the features it does not
        carry. Each entity's row is read, merged and written back only if unchanged meanwhile;
        the entities another writer changed are merged again (at most :data:`SWAP_TRIES`)."""
        field = row_field(view)
        pending = list(rows)
        failed: set[bytes] = set()
        for _ in range(SWAP_TRIES):
            failed = self._guarded("write", functools.partial(self._write_once, field, pending))
            if not failed:
                return
            pending = [row for row in pending if row.entity_key in failed]
        raise OnlineStoreUnavailableError(
            f"cannot write the Redis online store at {redacted(self.url)}: {len(failed)} "
            f"entities of view {view!r} were changed by other writers {SWAP_TRIES} times in a row"
        )

    def _write_once(self, field: bytes, rows: Sequence[WriteRow]) -> set[bytes]:
        """One read-merge-swap of ``rows``; the entity keys whose row changed meanwhile."""
        keys = list({row.entity_key: None for row in rows})
        hashes = self._hashes(keys)
        blobs = self._get(hashes, [field] * len(hashes))
        stored: dict[bytes, tuple[int, dict[str, bytes]]] = {}
        for key, blob in zip(keys, blobs, strict=True):
            if blob is not None:
                event_us, layout = packed_row.HEAD.unpack_from(blob)
                names = self._layout(layout)
                values = packed_row.unpack(blob, len(names), packed_row.HEAD.size)
                stored[key] = (event_us, dict(zip(names, values, strict=True)))
        merged = merge_rows(stored, rows)
        if not merged:
            return set()
        ids = self._ensure_layouts({tuple(values) for _, values in merged.values()})
        before = dict(zip(keys, blobs, strict=True))
        changed = list(merged)
        failed = self._swap(
            self._hashes(changed),
            field,
            [before[key] or b"" for key in changed],
            [
                packed_row.headed(
                    event_us, ids[tuple(values)], packed_row.pack(list(values.values()))
                )
                for event_us, values in merged.values()
            ],
        )
        return {changed[position] for position in failed}

    # ---- bulk writes (the materializer) ----------------------------------------------------
    def create_tables(self, views: Sequence[ViewDef]) -> None:
        """Nothing to create: a view's rows are fields of each entity's hash."""

    def create_table(self, view: str) -> None:
        """Nothing to create (Feast's ``update`` through the plugin)."""

    def drop_table(self, view: str) -> None:
        """Remove the view's row from every hash, and its marker (its view left the registry)."""
        field = row_field(view)

        def work() -> None:
            for client in self._primaries():
                sweep_hashes(
                    client, self.project, lambda stored: [field] if field in stored else []
                )
                client.delete(MARKER.format(project=self.project, view=view))

        self._guarded("write", work, retry=False)

    def present(self, view: ViewDef, keys: pa.Table) -> int:
        """How many of the entities ``keys`` have this view's row, 0 without the marker."""
        return self._guarded("read", lambda: self._present(view, keys), retry=False)

    def _present(self, view: ViewDef, keys: pa.Table) -> int:
        if keys.num_rows == 0 or not self._client.exists(self._marker(view)):
            return 0
        field = row_field(view.online_name)
        with self._client.pipeline(transaction=False) as pipe:
            for key in self._hash_keys(view, keys).to_pylist():
                pipe.hexists(key, field)
            return sum(bool(found) for found in pipe.execute())

    def write_batch(self, view: ViewDef, batch: pa.RecordBatch) -> None:
        """Send the batch in pipelines of :data:`PIPELINE_ENTITIES` entities, their RESP bytes
        made for the whole pipeline with numpy; one is encoded while Redis runs the one before."""
        return self._guarded("write", lambda: self._write_batch(view, batch), retry=False)

    def _write_batch(self, view: ViewDef, batch: pa.RecordBatch) -> None:
        if not self._write_script_loaded:
            self._client.script_load(WRITE_SCRIPT)
            self._write_script_loaded = True
        self._ensure_layouts({tuple(feature.name for feature in view.features)})
        connection: Any = self._client.connection_pool.get_connection()
        try:
            waiting = 0
            for start in range(0, batch.num_rows, PIPELINE_ENTITIES):
                part = batch.slice(start, PIPELINE_ENTITIES)
                payload = self._commands(view, part)
                read_replies(connection, waiting)
                connection.send_packed_command([payload])
                waiting = -(-part.num_rows // self._script_entities)  # a reply per call
            read_replies(connection, waiting)
        except BaseException:
            connection.disconnect()
            raise
        finally:
            self._client.connection_pool.release(connection)

    def _commands(self, view: ViewDef, batch: pa.RecordBatch) -> bytes:
        """The RESP bytes of one ``EVALSHA`` of :data:`WRITE_SCRIPT` per
        :data:`SCRIPT_ENTITIES` entities of ``batch``: ``EVALSHA <sha> <m> <hash>...
        row:<view> <row>...``. The keys and the headed rows are encoded for the whole batch
        at once (:func:`~pitstop.online.column_codec.resp_bulks`); a group's command is then
        slices of those two buffers."""
        from pitstop.online import column_codec

        assert view.source is not None, view.name
        rows = batch.num_rows
        key_bytes, key_ends = column_codec.resp_bulks([self._hash_keys(view, batch)])
        names = tuple(feature.name for feature in view.features)
        headed = packed_row.pack_column(
            [
                column_codec.value_bytes(batch.column(feature.name), feature.value_type)
                for feature in view.features
            ],
            head=(
                column_codec.epoch_micros_array(batch.column(view.source.timestamp_field)),
                packed_row.layout_id(names),
            ),
        )
        row_bytes, row_ends = column_codec.resp_bulks([headed])
        field = _resp(row_field(view.online_name))
        sha, group = self._write_sha.encode(), self._script_entities
        parts: list[bytes] = []
        for start in range(0, rows, group):
            end = min(start + group, rows)
            count = end - start
            parts += (
                b"*%d\r\n$7\r\nEVALSHA\r\n%s%s" % (4 + 2 * count, _resp(sha), _resp(b"%d" % count)),
                key_bytes[key_ends[start] : key_ends[end]],
                field,
                row_bytes[row_ends[start] : row_ends[end]],
            )
        return b"".join(parts)

    def _hash_keys(self, view: ViewDef, table: pa.RecordBatch | pa.Table) -> pa.BinaryArray:
        from pitstop.online import column_codec, packing

        keys = column_codec.view_entity_keys(view.entity_columns, table)
        project = self.project.encode("utf8")
        return packing.concat([packing.from_binary(keys), packing.constant(project, len(keys))])

    def mark_complete(self, view: ViewDef) -> None:
        """Record that the view's keys are in this database (a flush removes the marker)."""
        return self._guarded("write", lambda: self._mark_complete(view), retry=False)

    def _mark_complete(self, view: ViewDef) -> None:
        self._client.set(self._marker(view), b"1")

    def record_coverage(self, view: str, covered_until_seconds: float | None) -> None:
        """In the hash :data:`COVERAGE` (a flush removes it: unknown, not stale)."""
        key = COVERAGE.format(project=self.project)
        if covered_until_seconds is None:
            command: tuple[Any, ...] = ("HDEL", key, view)
        else:
            command = ("HSET", key, view, str(micros(covered_until_seconds)))
        self._guarded("write", lambda: self._command(key, *command))

    def coverage(self) -> dict[str, float]:
        key = COVERAGE.format(project=self.project)
        reply = self._guarded("reach", lambda: self._command(key, "HGETALL", key))
        if not isinstance(reply, dict):  # a cluster node's reply: a flat list
            reply = dict(zip(reply[::2], reply[1::2], strict=True))
        return {
            (name.decode() if isinstance(name, bytes) else str(name)): int(until) / 1_000_000
            for name, until in reply.items()
        }

    def _command(self, key: str, *arguments: Any) -> Any:
        """One command on the server holding ``key``."""
        return self._client.execute_command(*arguments)

    def forget_features(self, views: Sequence[ViewDef]) -> int:
        """One pass over the project's hashes (``SCAN``): a field that is no current view's row
        is removed (Feast's layout's fields among them), and a row holding features its view
        no longer has is packed again without them (written back only if unchanged). Every
        entity is read once, so this runs only after a view's features changed
        (pitstop.materialize.run). Returns how many values and fields it removed."""
        kept = {row_field(view.online_name): {f.name for f in view.features} for view in views}
        removed = 0

        def decide(stored: dict[bytes, bytes]) -> list[bytes]:
            nonlocal removed
            stale = [field for field in stored if field not in kept]
            removed += len(stale)
            return stale

        def repack(hashes: list[bytes], stored: list[dict[bytes, bytes]]) -> None:
            nonlocal removed
            for field, features in kept.items():
                found = []  # (hash, stored row, its event time, names, the slots kept)
                for key, fields in zip(hashes, stored, strict=True):
                    blob = fields.get(field)
                    if blob is None:
                        continue
                    event_us, layout = packed_row.HEAD.unpack_from(blob)
                    names = self._layout(layout)
                    keep = [slot for slot, name in enumerate(names) if name in features]
                    if len(keep) < len(names):
                        found.append((key, blob, event_us, names, keep))
                if not found:
                    continue
                ids = self._ensure_layouts(
                    {tuple(names[slot] for slot in keep) for *_, names, keep in found}
                )
                new = [
                    packed_row.headed(
                        event_us,
                        ids[tuple(names[slot] for slot in keep)],
                        packed_row.repack(blob[packed_row.HEAD.size :], len(names), keep),
                    )
                    for _, blob, event_us, names, keep in found
                ]
                removed += sum(len(names) - len(keep) for *_, names, keep in found)
                # A row changed meanwhile was written by the current registry: nothing to do.
                self._swap([key for key, *_ in found], field, [row[1] for row in found], new)

        def work() -> None:
            for client in self._primaries():
                sweep_hashes(client, self.project, decide, repack)

        self._guarded("write", work, retry=False)
        return removed

    def _marker(self, view: ViewDef) -> str:
        return MARKER.format(project=self.project, view=view.online_name)

    def ping(self) -> None:
        self._guarded("reach", lambda: self._client.ping())

    def holds_rows(self) -> bool:
        return self._guarded("read", lambda: holds_hashes(self._client, self.project))

    def close(self) -> None:
        self._client.close()


class AsyncReads:
    """The read script on redis-py's asyncio connections, without its client.

    redis-py's ``Redis.execute_command`` (its retry wrapper, connection pool, argument checks)
    cost about 60 % of a lookup's Redis time on one entity (docs/benchmarks.md, the lookup
    profile); a lookup here takes an idle connection, sends ``EVALSHA`` and reads the reply with
    the connection's own calls, which keep its one-second read timeout and drop the connection
    on any error (the next use connects again). ``EVAL`` loads the script where Redis lost it.
    """

    def __init__(self, url: str) -> None:
        from redis import asyncio as redis_asyncio
        from redis.exceptions import NoScriptError

        self._pool: Any = redis_asyncio.ConnectionPool.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=0.5, health_check_interval=0
        )
        self._idle: list[Any] = []
        self._no_script = NoScriptError
        self._sha = hashlib.sha1(READ_SCRIPT.encode()).hexdigest()

    async def run(self, keys: Sequence[bytes], args: Sequence[bytes]) -> Any:
        connection = self._idle.pop() if self._idle else self._pool.make_connection()
        try:
            try:
                return await self._call(connection, "EVALSHA", self._sha, len(keys), keys, args)
            except self._no_script:
                return await self._call(connection, "EVAL", READ_SCRIPT, len(keys), keys, args)
        finally:
            self._idle.append(connection)

    @staticmethod
    async def _call(
        connection: Any,
        command: str,
        script: str,
        count: int,
        keys: Sequence[bytes],
        args: Sequence[bytes],
    ) -> Any:
        await connection.send_packed_command(
            connection.pack_command(command, script, count, *keys, *args), check_health=False
        )
        return await connection.read_response()


def _hash_pattern(project: str) -> bytes:
    """The ``SCAN`` pattern of ``project``'s entity hashes (their keys end with the project)."""
    return b"*" + re.sub(rb"([\\*?\[\]])", rb"\\\1", project.encode("utf8"))


def holds_hashes(client: Any, project: str) -> bool:
    """Whether the server ``client`` talks to holds one of ``project``'s entity hashes (a
    ``SCAN`` that stops at the first; an empty database answers at once)."""
    return any(
        True for _ in client.scan_iter(match=_hash_pattern(project), count=1000, _type="HASH")
    )


def sweep_hashes(
    client: Any,
    project: str,
    stale: Callable[[dict[bytes, bytes]], list[bytes]],
    rewrite: Callable[[list[bytes], list[dict[bytes, bytes]]], None] | None = None,
) -> None:
    """Every hash of ``project`` on the server ``client`` talks to, read (``SCAN``,
    ``HGETALL``) :data:`PIPELINE_ENTITIES` at a time: the fields ``stale`` names are removed,
    then ``rewrite`` gets the hashes and what they held."""
    pattern = _hash_pattern(project)
    keys: list[bytes] = []

    def flush() -> None:
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            stored = pipe.execute()
        with client.pipeline(transaction=False) as pipe:
            for key, fields in zip(keys, stored, strict=True):
                doomed = stale(fields)
                if doomed:
                    pipe.hdel(key, *doomed)
            pipe.execute()
        if rewrite is not None:
            rewrite(list(keys), stored)
        keys.clear()

    for key in client.scan_iter(match=pattern, count=1000, _type="HASH"):
        keys.append(key)
        if len(keys) >= PIPELINE_ENTITIES:
            flush()
    if keys:
        flush()


# A lookup's HGETs in one script call: KEYS = the hashes, ARGV = the field of each. Building
# and parsing one command instead of a pipeline of hundreds halves a 100-entity read, and the
# views are read at one instant.
READ_SCRIPT = """
local out = {}
for k = 1, #KEYS do
  out[k] = redis.call('HGET', KEYS[k], ARGV[k])
end
return out
"""

# The bulk write: KEYS = m hashes; ARGV = the view's row field, then each hash's headed row.
# A row is written unless the stored one is newer (its first 8 bytes, the event time in
# microseconds, a Lua number: exact to 2^53 us, the year 2255); an equal time replaces (a
# corrected snapshot). Replies how many were written.
WRITE_SCRIPT = """
local field, written = ARGV[1], 0
for k = 1, #KEYS do
  local row = ARGV[k + 1]
  local stored = redis.call('HGET', KEYS[k], field)
  if not stored or struct.unpack('<i8', stored) <= struct.unpack('<i8', row) then
    redis.call('HSET', KEYS[k], field, row)
    written = written + 1
  end
end
return written
"""

# A push's write: KEYS = m hashes; ARGV = the row field, then per hash the row it read ("" for
# none) and the merged row. A hash whose field still holds what was read gets the merged row;
# replies the (1-based) positions of the others.
SWAP_SCRIPT = """
local field, failed = ARGV[1], {}
for k = 1, #KEYS do
  local stored = redis.call('HGET', KEYS[k], field) or ''
  if stored == ARGV[2 * k] then
    redis.call('HSET', KEYS[k], field, ARGV[2 * k + 1])
  else
    failed[#failed + 1] = k
  end
end
return failed
"""


def _resp(value: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%s\r\n" % (len(value), value)


def read_replies(connection: Any, count: int) -> None:
    """Consume ``count`` script replies through redis-py's public reader; an error reply
    raises redis-py's ``ResponseError``. (Reading redis-py's private socket directly was 7 %
    faster on a 200,000-entity bulk write, 3.52 s against 3.78 s, median of 9, 2026-12-02: not
    worth depending on a library's internals.)"""
    for _ in range(count):
        connection.read_response()
