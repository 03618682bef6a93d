"""Writes Feast's Redis online layout with pipelined commands built for a batch at a time.

Feast 0.67 (``RedisOnlineStore.online_write_batch``) keeps one hash per entity, key
``serialize_entity_key(key) + project``, with one field per feature (``mmh3`` of
``"<view>:<feature>"``, value the ``ValueProto`` bytes) and ``_ts:<view>`` (a protobuf
``Timestamp`` of the row's event time). Views of the same entity share the hash.

Each entity is one call of :data:`WRITE_SCRIPT`, which Redis runs atomically: it compares the
stored ``_ts:<view>`` with the row's and, unless the stored one is newer (a value pushed since
the build), sets all the view's fields with one ``HSET``. A reader sees all of an entity's new
values or none, and a push is never overwritten by an older snapshot, even one racing it.
Commands go in non-transactional pipelines of :data:`PIPELINE_ENTITIES` entities, their RESP
bytes made for the whole pipeline with numpy.

Feast skips a row whose stored timestamp is not older than the new one (read first, then
written); pitstop writes a row at the same timestamp too: a corrected value (a late event
rebuilt into a snapshot) must replace the old one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from pitstop.materialize import encoding, packing
from pitstop.materialize.views import ViewSpec

PIPELINE_ENTITIES = 10_000
MARKER = "pitstop:materialized:{project}:{view}"

# KEYS[1]: the entity's hash. ARGV: the view's _ts field, the row's Timestamp proto, then the
# feature fields and values. Replies 1 when written, 0 when the stored row is newer. The protos
# are decoded here (field 1 seconds, field 2 nanos, varints; negative seconds take 10 bytes).
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


class RedisWriter:
    """The Redis database at ``url`` (``redis://host:port/db``)."""

    def __init__(self, url: str) -> None:
        import redis

        self.identity = f"redis:{url}"
        self._client = redis.Redis.from_url(url)
        self._client.ping()
        self._script_sha = str(self._client.script_load(WRITE_SCRIPT))

    def present(self, spec: ViewSpec, keys: pa.Table) -> int:
        """How many of the entities ``keys`` have this view's fields, 0 without the marker."""
        if keys.num_rows == 0 or not self._client.exists(_marker(spec)):
            return 0
        redis_keys = _redis_keys(spec, keys).to_pylist()
        with self._client.pipeline(transaction=False) as pipe:
            for key in redis_keys:
                pipe.hexists(key, f"_ts:{spec.versioned_name}")
            return sum(bool(found) for found in pipe.execute())

    def write(self, spec: ViewSpec, batch: pa.RecordBatch) -> None:
        """Send the batch in pipelines; one is encoded while Redis runs the one before."""
        connection: Any = self._client.connection_pool.get_connection()
        try:
            waiting = 0
            for start in range(0, batch.num_rows, PIPELINE_ENTITIES):
                part = batch.slice(start, PIPELINE_ENTITIES)
                payload = _commands(spec, part, self._script_sha)
                _read_integer_replies(connection, waiting)
                connection.send_packed_command([payload])
                waiting = part.num_rows
            _read_integer_replies(connection, waiting)
        except BaseException:
            connection.disconnect()
            raise
        finally:
            self._client.connection_pool.release(connection)

    def mark_complete(self, spec: ViewSpec) -> None:
        """Record that the view's keys are in this database (a flush removes the marker)."""
        self._client.set(_marker(spec), b"1")

    def close(self) -> None:
        self._client.close()


def _commands(spec: ViewSpec, batch: pa.RecordBatch, script_sha: str) -> bytes:
    """The RESP bytes of one ``EVALSHA`` of :data:`WRITE_SCRIPT` per entity of ``batch``:
    ``EVALSHA <sha> 1 <hash> _ts:<view> <timestamp> <field> <value> ...``."""
    import mmh3

    rows = batch.num_rows
    fields = 1 + len(spec.features)
    head = f"*{4 + 2 * fields}\r\n$7\r\nEVALSHA\r\n$40\r\n{script_sha}\r\n$1\r\n1\r\n"
    segments = [packing.constant(head.encode(), rows)]
    segments += _bulk(_redis_keys(spec, batch), rows)
    segments += _bulk_constant(f"_ts:{spec.versioned_name}".encode(), rows)
    segments += _bulk(encoding.timestamp_protos(batch.column(spec.timestamp_field)), rows)
    for feature in spec.features:
        name = f"{spec.versioned_name}:{feature.name}"
        segments += _bulk_constant(mmh3.hash(name, signed=False).to_bytes(4, "little"), rows)
        values = encoding.value_bytes(batch.column(feature.name), feature.value_type)
        segments += _bulk(values, rows)
    return packing.concat_bytes(segments)


def _read_integer_replies(connection: Any, count: int) -> None:
    """Consume ``count`` script replies (an integer line ``:<n>`` each) straight from the socket.

    Parsing them one by one through redis-py costs more than writing the commands; the reply
    is an integer line, so counting line ends is enough, and an error reply (``-ERR``) is the
    only one with a minus sign.
    """
    import redis

    sock = connection._sock  # noqa: SLF001 - the pipeline's own connection, nothing buffered
    seen = 0
    while seen < count:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise redis.ConnectionError("Redis closed the connection during a write")
        if b"-" in chunk:
            start = chunk.index(b"-")
            raise redis.ResponseError(chunk[start : chunk.find(b"\r\n", start)].decode())
        seen += chunk.count(b"\r\n")


def _marker(spec: ViewSpec) -> str:
    return MARKER.format(project=spec.project, view=spec.versioned_name)


def _redis_keys(spec: ViewSpec, table: pa.RecordBatch | pa.Table) -> pa.BinaryArray:
    columns = []
    for column in spec.join_keys:
        values = table.column(column.name)
        columns.append(values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values)
    keys = encoding.entity_keys(
        [c.name for c in spec.join_keys], columns, [c.value_type for c in spec.join_keys]
    )
    project = spec.project.encode("utf8")
    return packing.concat([packing.from_binary(keys), packing.constant(project, len(keys))])


def _bulk(values: pa.BinaryArray, rows: int) -> list[packing.Segment]:
    """RESP bulk strings ``$<length>\\r\\n<bytes>\\r\\n`` of each row's value."""
    value = packing.from_binary(values)
    sizes = value.mask.sum(axis=1).astype(np.int64)
    return [
        packing.constant(b"$", rows),
        packing.decimal(sizes),
        packing.constant(b"\r\n", rows),
        value,
        packing.constant(b"\r\n", rows),
    ]


def _bulk_constant(value: bytes, rows: int) -> list[packing.Segment]:
    return [packing.constant(b"$%d\r\n%s\r\n" % (len(value), value), rows)]
