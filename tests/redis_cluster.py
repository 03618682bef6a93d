"""A real three-node Redis Cluster on 127.0.0.1 for the tests, started and stopped here.

    with running_cluster(tmp_path) as cluster:
        cluster.url        # redis://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3 (PITSTOP_REDIS_URL)
        cluster.stop()     # every node down: the online store is gone
        cluster.start(); cluster.wait_until_serving()   # back, empty

Three primaries, no replicas (``redis-cli --cluster create ... --cluster-replicas 0``), no
persistence; each node's ``nodes.conf`` and log in a folder of its own. A machine without
``redis-server`` or ``redis-cli`` fails the tests that need the cluster, loudly: they are part
of the product's tests, not optional ones.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

NODES = 3
START_TIMEOUT_S = 30.0


@dataclass
class RedisCluster:
    """A running cluster: its nodes' ports and processes."""

    ports: list[int]
    folder: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The cluster as PITSTOP_REDIS_URL names it: every node a seed."""
        return "redis://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self) -> None:
        """Start every node and wait until each answers. A node started again after
        :meth:`stop` finds its slots in its ``nodes.conf`` (its data is gone)."""
        server, cli = tool("redis-server"), tool("redis-cli")
        self.processes = []
        for port in self.ports:
            node_dir = self.folder / f"node-{port}"
            node_dir.mkdir(parents=True, exist_ok=True)
            command = [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir)]
            command += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            command += ["--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no"]
            command += ["--logfile", str(node_dir / "redis.log")]
            self.processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
        for port in self.ports:
            _wait_for("PONG", [cli, "-p", str(port), "ping"])

    def wait_until_serving(self) -> None:
        """Wait until every node says ``cluster_state:ok``."""
        cli = tool("redis-cli")
        for port in self.ports:
            _wait_for("cluster_state:ok", [cli, "-p", str(port), "cluster", "info"])

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after 5 s)."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else "")
    if not path:
        raise RuntimeError(f"{name} is not installed: the Redis Cluster tests need Redis 7")
    return path


def free_ports(count: int) -> list[int]:
    """``count`` free loopback ports whose cluster bus ports (+10000) are free too."""
    ports: list[int] = []
    with contextlib.ExitStack() as held:
        while len(ports) < count:
            probe = held.enter_context(socket.socket())
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            if port + 10000 > 65535:
                continue
            with socket.socket() as bus:
                try:
                    bus.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            ports.append(port)
    return ports


def _wait_for(check: str, command: list[str], timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if check in result.stdout:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{' '.join(command)}: no {check!r} after {timeout_s:.0f} s")
        time.sleep(0.1)


@contextlib.contextmanager
def running_cluster(folder: Path) -> Iterator[RedisCluster]:
    """A fresh three-primary cluster under ``folder`` until the block ends."""
    cli = tool("redis-cli")
    cluster = RedisCluster(free_ports(NODES), folder)
    try:
        cluster.start()
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{port}" for port in cluster.ports)]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            check=True,
            timeout=START_TIMEOUT_S,
        )
        cluster.wait_until_serving()
        yield cluster
    finally:
        cluster.stop()
