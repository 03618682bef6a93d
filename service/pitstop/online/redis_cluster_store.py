"""Feast's Redis online store on a Redis Cluster (``PITSTOP_REDIS_TYPE=redis_cluster``, Feast's
``redis_type: redis_cluster``): the same keys, hashes and scripts as
:class:`~pitstop.online.redis_store.RedisStore`, each key on the primary that owns its hash
slot, so Feast's own Redis store (a redis-py ``RedisCluster``) reads what pitstop writes.

A cluster runs a script only on keys of one hash slot. A lookup therefore runs the read script
once per slot among its keys (100 entities: about 100 slots), and sends every node its calls in
one pipeline before reading any reply: one round trip to each node, the nodes working at the
same time. Slots and nodes come from redis-py's view of the cluster and the commands go to the
named node's connection: through redis-py's cluster pipeline a 100-entity read took 6.5 ms,
this way 1.4 ms (docs/architecture.md §6).

Across the primaries:

- ``present``, ``mark_complete``: the completion marker is one key per primary, pinned there by
  a hash tag (``pitstop:materialized:<project>:<view>:{<tag>}``, the tag the first number whose
  slot the primary owns). A primary restarted empty loses its own marker, so the next
  materialization finds the view incomplete and rewrites it in full; after a reshard the tags
  change and it does the same once.
- ``forget_features`` scans each primary's keys; ``ping`` pings every primary.

A lookup or push that meets an error retries once after refreshing the cluster's topology
(a ``MOVED`` after a failover or reshard, a node that lost its scripts, a dropped connection);
after that, or on any error of a bulk write, the store raises
:class:`~pitstop.errors.OnlineStoreUnavailableError` (the API answers 503) and builds a new
client on the next call, so it recovers by itself when the cluster comes back.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from itertools import count
from typing import TYPE_CHECKING, Any, TypeVar

from pitstop.errors import OnlineStoreUnavailableError, one_line
from pitstop.feast_adapter.config import redis_cluster_address
from pitstop.online import codec
from pitstop.online.redis_store import (
    _READ_SCRIPT,
    MARKER,
    PIPELINE_ENTITIES,
    WRITE_MANY_SCRIPT,
    WRITE_SCRIPT,
    RedisStore,
    forget_stale_fields,
    read_replies,
)
from pitstop.online.stores import ViewRead, ViewRows, WriteRow

if TYPE_CHECKING:
    import pyarrow as pa

    from pitstop.online.registry import ViewDef

Result = TypeVar("Result")
# One command of a per-node pipeline: the hash slot of its keys, then the command's arguments.
Command = tuple[int, tuple[Any, ...]]

_READ_SHA = hashlib.sha1(_READ_SCRIPT.encode()).hexdigest()
_WRITE_SHA = hashlib.sha1(WRITE_SCRIPT.encode()).hexdigest()
_WRITE_MANY_SHA = hashlib.sha1(WRITE_MANY_SCRIPT.encode()).hexdigest()


class RedisClusterStore(RedisStore):
    """Feast's Redis online store on a Redis Cluster, seeded by ``url``
    (``redis://host1:port1,host2:port2``; any reachable node names the others).

    ``timeouts``: a lookup waits at most a second for a reply; bulk writes wait as long as
    the cluster takes. No connection is made before the first call.
    """

    kind = "redis_cluster"
    writes_in_key_order = False

    def __init__(self, url: str, project: str, *, timeouts: bool = True) -> None:
        import redis
        from redis.exceptions import RedisClusterException

        self.address = redis_cluster_address(url)
        self.url = url
        self.project = project
        self.identity = f"redis_cluster:{self._where}"
        self._timeouts = timeouts
        self._client: Any = None
        self._errors: tuple[type[BaseException], ...] = (
            redis.RedisError,
            RedisClusterException,
            OSError,
        )
        # Errors a second try may cure: a topology that changed, a node without the scripts.
        self._retried: tuple[type[BaseException], ...] = (
            redis.exceptions.MovedError,
            redis.exceptions.AskError,
            redis.exceptions.TryAgainError,
            redis.exceptions.NoScriptError,
            redis.ConnectionError,
            RedisClusterException,
        )
        self._fields: dict[ViewRead, list[bytes]] = {}
        # The bulk write's script, one entity per call: a call's keys must share a hash slot.
        self._write_many_sha = _WRITE_MANY_SHA
        self._script_entities = 1

    @property
    def _where(self) -> str:
        return ",".join(f"{host}:{port}" for host, port in self.address.nodes)

    # ---- the client ------------------------------------------------------------------------
    def _cluster(self) -> Any:
        """redis-py's client, made (and the cluster's slots learnt) on first use."""
        if self._client is None:
            from redis.cluster import ClusterNode, RedisCluster

            options: dict[str, Any] = {"password": self.address.password, "ssl": self.address.ssl}
            if self._timeouts:
                options |= {"socket_timeout": 1.0, "socket_connect_timeout": 0.5}
            seeds = [
                ClusterNode(host, port)  # type: ignore[no-untyped-call]
                for host, port in self.address.nodes
            ]
            client: Any = RedisCluster(startup_nodes=seeds, **options)
            for node in client.get_primaries():
                client.get_redis_connection(node).script_load(_READ_SCRIPT)
                client.get_redis_connection(node).script_load(WRITE_SCRIPT)
                client.get_redis_connection(node).script_load(WRITE_MANY_SCRIPT)
            self._client = client
        return self._client

    def _reset(self) -> None:
        """Forget the client: the next call learns the cluster's slots again."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(*self._errors):
                client.close()

    def _guarded(self, action: str, work: Callable[[], Result], *, retry: bool = True) -> Result:
        """``work()``, tried twice when ``retry``; redis-py's errors as OnlineStoreUnavailable."""
        try:
            try:
                return work()
            except self._retried:
                if not retry:
                    raise
                self._reset()
                return work()
        except self._errors as error:
            self._reset()
            raise OnlineStoreUnavailableError(
                f"cannot {action} the Redis Cluster online store at {self._where}: "
                f"{one_line(error)}"
            ) from error

    def _on_key(self, key: bytes, *arguments: Any) -> Command:
        """A command placed by its one key."""
        return self._cluster().keyslot(key), arguments

    def _node_clients(self, slots: Sequence[int]) -> tuple[list[Any], list[int]]:
        """The node clients of the primaries owning ``slots``, and each slot's client number."""
        cluster = self._cluster()
        numbers: dict[str, int] = {}
        clients: list[Any] = []
        owners: list[int] = []
        for slot in slots:
            node = cluster.nodes_manager.get_node_from_slot(slot)
            number = numbers.get(node.name)
            if number is None:
                number = numbers[node.name] = len(clients)
                clients.append(cluster.get_redis_connection(node))
            owners.append(number)
        return clients, owners

    def _run(self, commands: Sequence[Command]) -> list[Any]:
        """Each command on the primary owning its key, every node's commands in one pipeline,
        all pipelines sent before any reply is read; the replies in the order of ``commands``."""
        clients, owners = self._node_clients([slot for slot, _ in commands])
        per_node: list[list[int]] = [[] for _ in clients]
        for position, owner in enumerate(owners):
            per_node[owner].append(position)
        replies: list[Any] = [None] * len(commands)
        sent: list[tuple[Any, Any, list[int]]] = []
        try:
            for client, positions in zip(clients, per_node, strict=True):
                connection = client.connection_pool.get_connection()
                sent.append((client, connection, positions))
                connection.send_packed_command(
                    connection.pack_commands([commands[position][1] for position in positions])
                )
            for _, connection, positions in sent:
                for position in positions:
                    replies[position] = connection.read_response()
        except BaseException:
            for _, connection, _ in sent:
                connection.disconnect()
            raise
        finally:
            for client, connection, _ in sent:
                client.connection_pool.release(connection)
        return replies

    # ---- lookups and pushes ----------------------------------------------------------------
    def read(self, reads: Sequence[ViewRead], keys: Sequence[Sequence[bytes]]) -> list[ViewRows]:
        """One read-script call per hash slot among the keys (each with the same arguments as
        RedisStore's one call, restricted to that slot's keys), one pipeline per node."""
        project = self.project.encode("utf8")
        hashes = [key + project for view_keys in keys for key in view_keys]
        fields = [self._hash_fields(read) for read in reads]
        # Which read each hash belongs to, and the hashes of each slot, in order.
        read_of = [number for number, view_keys in enumerate(keys) for _ in view_keys]

        def work() -> list[Any]:
            cluster = self._cluster()
            slots: dict[int, list[int]] = defaultdict(list)
            slot_of: dict[bytes, int] = {}  # an entity read for several views: one slot
            for position, key in enumerate(hashes):
                slot = slot_of.get(key)
                if slot is None:
                    slot = slot_of[key] = cluster.keyslot(key)
                slots[slot].append(position)
            commands: list[Command] = []
            for slot, positions in slots.items():
                per_read = [0] * len(reads)
                for position in positions:
                    per_read[read_of[position]] += 1
                arguments: list[Any] = [len(reads)]
                for read_fields, keys_of_read in zip(fields, per_read, strict=True):
                    arguments += [keys_of_read, len(read_fields), *read_fields]
                slot_keys = [hashes[position] for position in positions]
                command = ("EVALSHA", _READ_SHA, len(slot_keys), *slot_keys, *arguments)
                commands.append((slot, command))
            replies: list[Any] = [None] * len(hashes)
            for positions, answers in zip(slots.values(), self._run(commands), strict=True):
                for position, answer in zip(positions, answers, strict=True):
                    replies[position] = answer
            return replies

        replies = self._guarded("read", work) if hashes else []
        return self._view_rows(reads, keys, replies)

    def write(self, view: str, rows: Sequence[WriteRow]) -> None:
        """One write-script call per row, one pipeline per node."""
        project = self.project.encode("utf8")
        stamp_field = codec.redis_timestamp_field(view)
        commands: list[Command] = []
        for row in rows:
            key = row.entity_key + project
            arguments = [stamp_field, codec.encode_redis_timestamp(row.event_seconds)]
            for feature, value in row.values.items():
                arguments += (codec.redis_field(view, feature), value)
            commands.append(self._on_key(key, "EVALSHA", _WRITE_SHA, 1, key, *arguments))
        if commands:
            self._guarded("write", lambda: self._run(commands))

    # ---- bulk writes (the materializer) ----------------------------------------------------
    def present(self, view: ViewDef, keys: pa.Table) -> int:
        """How many of the entities ``keys`` have this view's fields; 0 unless every primary
        holds the view's marker."""
        if keys.num_rows == 0:
            return 0
        stamp_field = codec.redis_timestamp_field(view.online_name)

        def work() -> int:
            markers = [self._on_key(marker, "EXISTS", marker) for marker in self._markers(view)]
            if not all(self._run(markers)):
                return 0
            hashes = self._hash_keys(view, keys).to_pylist()
            found = self._run([self._on_key(key, "HEXISTS", key, stamp_field) for key in hashes])
            return sum(bool(answer) for answer in found)

        return self._guarded("read", work)

    def write_batch(self, view: ViewDef, batch: pa.RecordBatch) -> None:
        """Each node gets its entities' script calls as RESP bytes made with numpy, in
        pipelines of :data:`PIPELINE_ENTITIES` entities; a part is encoded while the nodes run
        the one before."""
        import pyarrow as pa

        def work() -> None:
            cluster = self._cluster()
            hashes = self._hash_keys(view, batch).to_pylist()
            clients, owners = self._node_clients([cluster.keyslot(key) for key in hashes])
            node_of = pa.array(owners, pa.int32())
            connections = [client.connection_pool.get_connection() for client in clients]
            waiting = [0] * len(clients)
            try:
                for start in range(0, batch.num_rows, PIPELINE_ENTITIES):
                    part = batch.slice(start, PIPELINE_ENTITIES)
                    part_nodes = node_of.slice(start, PIPELINE_ENTITIES).to_numpy()
                    for number, connection in enumerate(connections):
                        rows = (part_nodes == number).nonzero()[0]
                        payload = self._commands(view, part.take(rows)) if len(rows) else b""
                        read_replies(connection, waiting[number])
                        if payload:
                            connection.send_packed_command([payload])
                        waiting[number] = len(rows)
                for number, connection in enumerate(connections):
                    read_replies(connection, waiting[number])
            except BaseException:
                for connection in connections:
                    connection.disconnect()
                raise
            finally:
                for client, connection in zip(clients, connections, strict=True):
                    client.connection_pool.release(connection)

        if batch.num_rows:
            self._guarded("write", work, retry=False)

    def mark_complete(self, view: ViewDef) -> None:
        """Set the view's marker on every primary."""
        self._guarded(
            "write",
            lambda: self._run(
                [self._on_key(marker, "SET", marker, b"1") for marker in self._markers(view)]
            ),
        )

    def _markers(self, view: ViewDef) -> list[bytes]:
        """One marker key per primary: :data:`MARKER` with a hash tag of a slot it owns."""
        cluster = self._cluster()
        base = MARKER.format(project=self.project, view=view.online_name)
        wanted = {node.name for node in cluster.get_primaries()}
        markers: list[bytes] = []
        for tag in count():
            key = f"{base}:{{{tag}}}".encode()
            name = cluster.nodes_manager.get_node_from_slot(cluster.keyslot(key)).name
            if name in wanted:
                wanted.discard(name)
                markers.append(key)
            if not wanted:
                return markers
        raise AssertionError("unreachable")  # pragma: no cover

    def forget_features(self, views: Sequence[ViewDef]) -> int:
        """:func:`~pitstop.online.redis_store.forget_stale_fields` on each primary in turn
        (a scan sees only the node it runs on)."""

        def work() -> int:
            cluster = self._cluster()
            return sum(
                forget_stale_fields(cluster.get_redis_connection(node), self.project, views)
                for node in cluster.get_primaries()
            )

        return self._guarded("write", work, retry=False)

    def ping(self) -> None:
        """Ping every primary (one down leaves its slots unserved)."""

        def work() -> None:
            cluster = self._cluster()
            for node in cluster.get_primaries():
                cluster.get_redis_connection(node).ping()

        self._guarded("reach", work)

    def close(self) -> None:
        self._reset()
