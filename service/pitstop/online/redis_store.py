"""Feast's Redis online store, read and written (one hash per entity, Feast 0.67's layout,
``feast/infra/online_stores/redis.py``): key = serialized entity key + project; one field per
feature (murmur3 of ``view:feature``) and ``_ts:<view>`` (a protobuf Timestamp). A lookup runs
one Lua script doing an ``HMGET`` per (entity, view) on the server; an entity is written by one
script call (:data:`WRITE_SCRIPT`), which Redis runs atomically, newest wins.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pitstop.errors import OnlineStoreUnavailableError
from pitstop.online import codec
from pitstop.online.stores import ViewRead, ViewRows, WriteRow

if TYPE_CHECKING:
    import pyarrow as pa

    from pitstop.online.registry import ViewDef

# Entities per Redis pipeline of a bulk write: one is encoded while Redis runs the one before.
PIPELINE_ENTITIES = 10_000
# Entities per call of the bulk write script (:data:`WRITE_MANY_SCRIPT`): the script's call
# and the field names are paid once per group, not once per entity.
SCRIPT_ENTITIES = 100
# Set in Redis when a view's bulk write completed; a flush removes it (the store lost data).
MARKER = "pitstop:materialized:{project}:{view}"


class RedisStore:
    """Feast's Redis online store. redis-py reconnects by itself after the server returns.

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
        self._fields: dict[ViewRead, list[bytes]] = {}
        self._read_script = self._client.register_script(_READ_SCRIPT)
        self._write_script = self._client.register_script(WRITE_SCRIPT)
        self._write_many_script = self._client.register_script(WRITE_MANY_SCRIPT)
        self._write_many_sha: str = self._write_many_script.sha
        # Entities per bulk-write script call (a cluster's store: 1, a call's keys must share
        # a hash slot).
        self._script_entities = SCRIPT_ENTITIES
        self._write_script_loaded = False

    def _hash_fields(self, read: ViewRead) -> list[bytes]:
        fields = self._fields.get(read)
        if fields is None:
            fields = [codec.redis_field(read.view, feature) for feature in read.features]
            fields.append(codec.redis_timestamp_field(read.view))
            self._fields[read] = fields
        return fields

    def read(self, reads: Sequence[ViewRead], keys: Sequence[Sequence[bytes]]) -> list[ViewRows]:
        project = self.project.encode("utf8")
        hashes = [key + project for view_keys in keys for key in view_keys]
        arguments: list[int | bytes] = [len(reads)]
        for read, view_keys in zip(reads, keys, strict=True):
            fields = self._hash_fields(read)
            arguments += [len(view_keys), len(fields), *fields]
        try:
            replies = self._read_script(keys=hashes, args=arguments)
        except self._errors as error:
            raise OnlineStoreUnavailableError(
                f"cannot read the Redis online store at {_redacted(self.url)}: {error}"
            ) from error
        return self._view_rows(reads, keys, replies)

    def _view_rows(
        self, reads: Sequence[ViewRead], keys: Sequence[Sequence[bytes]], replies: Sequence[Any]
    ) -> list[ViewRows]:
        """The read script's replies (one HMGET answer per hash, read after read) as rows."""
        results: list[ViewRows] = []
        position = 0
        for read, view_keys in zip(reads, keys, strict=True):
            # HMGET answers in field order: the features, then the view's timestamp field.
            answers = replies[position : position + len(view_keys)]
            position += len(view_keys)
            if not answers:
                results.append(ViewRows([], [[] for _ in read.features]))
                continue
            *columns, stamps = (list(column) for column in zip(*answers, strict=True))
            seconds: list[float | None] = [
                None
                if stamp is None and not any(answer[:-1])
                else codec.decode_redis_timestamp(stamp) or 0.0
                for stamp, answer in zip(stamps, answers, strict=True)
            ]
            results.append(ViewRows(seconds, columns))
        return results

    def write(self, view: str, rows: Sequence[WriteRow]) -> None:
        """One :data:`WRITE_SCRIPT` call per row, in one pipeline (redis-py loads the script
        when the server does not have it)."""
        project = self.project.encode("utf8")
        stamp_field = codec.redis_timestamp_field(view)
        pipe = self._client.pipeline(transaction=False)
        for row in rows:
            arguments = [stamp_field, codec.encode_redis_timestamp(row.event_seconds)]
            for feature, value in row.values.items():
                arguments += (codec.redis_field(view, feature), value)
            self._write_script(keys=[row.entity_key + project], args=arguments, client=pipe)
        try:
            pipe.execute()
        except self._errors as error:
            raise OnlineStoreUnavailableError(
                f"cannot write the Redis online store at {_redacted(self.url)}: {error}"
            ) from error

    # ---- bulk writes (the materializer) ----------------------------------------------------
    def create_tables(self, views: Sequence[ViewDef]) -> None:
        """Nothing to create: a view's values are fields of each entity's hash."""

    def present(self, view: ViewDef, keys: pa.Table) -> int:
        """How many of the entities ``keys`` have this view's fields, 0 without the marker."""
        if keys.num_rows == 0 or not self._client.exists(self._marker(view)):
            return 0
        redis_keys = self._hash_keys(view, keys).to_pylist()
        stamp_field = codec.redis_timestamp_field(view.online_name)
        with self._client.pipeline(transaction=False) as pipe:
            for key in redis_keys:
                pipe.hexists(key, stamp_field)
            return sum(bool(found) for found in pipe.execute())

    def write_batch(self, view: ViewDef, batch: pa.RecordBatch) -> None:
        """Send the batch in pipelines of :data:`PIPELINE_ENTITIES` entities, their RESP bytes
        made for the whole pipeline with numpy; one is encoded while Redis runs the one before."""
        if not self._write_script_loaded:
            self._client.script_load(WRITE_MANY_SCRIPT)
            self._write_script_loaded = True
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
        """The RESP bytes of one ``EVALSHA`` of :data:`WRITE_MANY_SCRIPT` per
        :data:`SCRIPT_ENTITIES` entities of ``batch``: ``EVALSHA <sha> <m> <hash>... <n>
        _ts:<view> <field>... then per entity <timestamp> <value>...``. Each entity's key and
        its values are encoded for the whole batch at once (:func:`~pitstop.online.
        column_codec.resp_bulks`); a group's command is then slices of those two buffers."""
        from pitstop.online import column_codec

        assert view.source is not None, view.name
        rows = batch.num_rows
        key_bytes, key_ends = column_codec.resp_bulks([self._hash_keys(view, batch)])
        values = [column_codec.timestamp_protos(batch.column(view.source.timestamp_field))]
        values += [
            column_codec.value_bytes(batch.column(feature.name), feature.value_type)
            for feature in view.features
        ]
        value_bytes, value_ends = column_codec.resp_bulks(values)
        fields = [codec.redis_timestamp_field(view.online_name)]
        fields += [codec.redis_field(view.online_name, feature.name) for feature in view.features]
        names = _resp(str(len(view.features)).encode()) + b"".join(_resp(f) for f in fields)
        sha, group = self._write_many_sha.encode(), self._script_entities
        parts: list[bytes] = []
        for start in range(0, rows, group):
            end = min(start + group, rows)
            count = end - start
            arguments = 4 + count + len(fields) + count * len(fields)  # EVALSHA sha m, n
            parts += (
                b"*%d\r\n$7\r\nEVALSHA\r\n%s%s" % (arguments, _resp(sha), _resp(b"%d" % count)),
                key_bytes[key_ends[start] : key_ends[end]],
                names,
                value_bytes[value_ends[start] : value_ends[end]],
            )
        return b"".join(parts)

    def _hash_keys(self, view: ViewDef, table: pa.RecordBatch | pa.Table) -> pa.BinaryArray:
        from pitstop.online import column_codec, packing

        keys = column_codec.view_entity_keys(view.entity_columns, table)
        project = self.project.encode("utf8")
        return packing.concat([packing.from_binary(keys), packing.constant(project, len(keys))])

    def mark_complete(self, view: ViewDef) -> None:
        """Record that the view's keys are in this database (a flush removes the marker)."""
        self._client.set(self._marker(view), b"1")

    def forget_features(self, views: Sequence[ViewDef]) -> int:
        """One pass over the project's hashes (``SCAN``): a field that is no feature or event
        time of a current view is removed. Every entity is read once, so this runs only after
        a view's features changed (pitstop.materialize.run)."""
        return forget_stale_fields(self._client, self.project, views)

    def _marker(self, view: ViewDef) -> str:
        return MARKER.format(project=self.project, view=view.online_name)

    def ping(self) -> None:
        try:
            self._client.ping()
        except self._errors as error:
            raise OnlineStoreUnavailableError(
                f"cannot reach the Redis online store at {_redacted(self.url)}: {error}"
            ) from error

    def close(self) -> None:
        self._client.close()


def forget_stale_fields(client: Any, project: str, views: Sequence[ViewDef]) -> int:
    """Remove, from every hash of ``project`` on the server ``client`` talks to, the fields
    that are no feature or event time of ``views``; returns how many it removed."""
    expected = {codec.redis_timestamp_field(view.online_name) for view in views}
    expected |= {
        codec.redis_field(view.online_name, feature.name)
        for view in views
        for feature in view.features
    }
    pattern = b"*" + re.sub(rb"([\\*?\[\]])", rb"\\\1", project.encode("utf8"))
    deleted = 0
    keys: list[bytes] = []

    def sweep() -> int:
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hkeys(key)
            stored = pipe.execute()
        stale = [
            (key, [field for field in fields if field not in expected])
            for key, fields in zip(keys, stored, strict=True)
        ]
        stale = [(key, fields) for key, fields in stale if fields]
        if stale:
            with client.pipeline(transaction=False) as pipe:
                for key, fields in stale:
                    pipe.hdel(key, *fields)
                pipe.execute()
        keys.clear()
        return sum(len(fields) for _, fields in stale)

    for key in client.scan_iter(match=pattern, count=1000, _type="HASH"):
        keys.append(key)
        if len(keys) >= PIPELINE_ENTITIES:
            deleted += sweep()
    return deleted + (sweep() if keys else 0)


# Every HMGET of a lookup in one script call: ARGV = [reads, then per read: keys, fields,
# field...], KEYS = the hashes, read after read. Building and parsing one command instead of a
# pipeline of hundreds halves a 100-entity read, and the views are read at one instant.
_READ_SCRIPT = """
local out, k, a = {}, 1, 2
for r = 1, tonumber(ARGV[1]) do
  local keys, count = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local fields = {unpack(ARGV, a + 2, a + 1 + count)}
  a = a + 2 + count
  for i = 1, keys do
    out[k] = redis.call('HMGET', KEYS[k], unpack(fields))
    k = k + 1
  end
end
return out
"""


# KEYS[1]: the entity's hash. ARGV: the view's _ts field, the row's Timestamp proto, then the
# feature fields and values. Replies 1 when written, 0 when the stored row is newer. The protos
# are decoded here (field 1 seconds, field 2 nanos, varints; negative seconds take 10 bytes).
# Feast skips a row whose stored timestamp is not older than the new one (read first, then
# written); pitstop writes a row at the same timestamp too: a corrected value (a late event
# rebuilt into a snapshot) must replace the old one.
WRITE_SCRIPT = """
local function stamp(bytes)
  local seconds, nanos, i = 0, 0, 1
  while i <= #bytes do
    local tag, value, scale, byte = string.byte(bytes, i), 0, 1, 0
    repeat
      i = i + 1
      byte = string.byte(bytes, i) or 0
      value = value + (byte % 128) * scale
      scale = scale * 128
    until byte < 128
    i = i + 1
    if value >= 9223372036854775808 then value = value - 18446744073709551616 end
    if tag == 8 then seconds = value elseif tag == 16 then nanos = value end
  end
  return seconds, nanos
end
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored then
  local seconds, nanos = stamp(stored)
  local new_seconds, new_nanos = stamp(ARGV[2])
  if seconds > new_seconds or (seconds == new_seconds and nanos > new_nanos) then
    return 0
  end
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


# The bulk write: KEYS = m hashes; ARGV = n, the view's _ts field, its n feature fields, then
# per hash its Timestamp proto and its n values. Each hash is written as WRITE_SCRIPT writes
# one (newest wins); replies how many were written.
WRITE_MANY_SCRIPT = (
    WRITE_SCRIPT.split("local stored")[0]
    + """
local n = tonumber(ARGV[1])
local written, a, args = 0, 3 + n, {ARGV[2], false}
for i = 1, n do args[2 * i + 1] = ARGV[2 + i] end
for k = 1, #KEYS do
  local new_stamp = ARGV[a]
  local stored, newer = redis.call('HGET', KEYS[k], ARGV[2]), true
  if stored then
    local seconds, nanos = stamp(stored)
    local new_seconds, new_nanos = stamp(new_stamp)
    newer = not (seconds > new_seconds or (seconds == new_seconds and nanos > new_nanos))
  end
  if newer then
    args[2] = new_stamp
    for i = 1, n do args[2 * i + 2] = ARGV[a + i] end
    redis.call('HSET', KEYS[k], unpack(args))
    written = written + 1
  end
  a = a + 1 + n
end
return written
"""
)


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


def _redacted(url: str) -> str:
    """A Redis URL without its password, for messages."""
    scheme, separator, rest = url.partition("://")
    if separator and "@" in rest:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
