#!/usr/bin/env python3
"""Side-by-side load harness: redraft against a real redis-server.

What it measures
----------------
It starts redraft (release build: a single node, a 3-node cluster or both)
and one or more redis-server variants on free loopback ports, then runs the
stock `redis-benchmark` against each of them with identical settings: 50
clients, random keys over a 100k keyspace, each test alone (`-t SET`,
`-t GET`, ...), once without pipelining (`-P 1`, one round trip per request:
latency-bound) and once with `-P 16` (throughput-bound). Before any
measured run, every target gets an unmeasured SET pass over the same
keyspace, so GET reads keys that exist on every server.

The machine is small (2 cores) and shared, so its speed drifts over a run. To
make the drift hit every target alike, the targets run back to back for each
(test, pipeline) pair, and the order rotates from pair to pair so that no
target always goes first. `--repeat K` runs every pair K times and reports the
median of each figure, taken figure by figure.

Note that redraft acknowledges a write only after its Raft entry is durable
(fdatasync), while plain `redis` keeps nothing on disk. `redis-aof-always`
(fsync on every write, not selected by default) is the fair durable baseline.

`redraft-3node` is three redraft processes on loopback, each with its own
generated TOML config, data dir and free ports, and `--threads 1` each by
default (`--cluster-threads`) so that three nodes share a 2-core machine.
redis-benchmark talks to the leader; a write is acknowledged once a majority
(the leader and one follower) has it durable. The cluster's ports are all
bound to 127.0.0.1, like every other server here.

For the redraft targets the harness also reads `INFO raft` from the node it
benchmarks (the leader) before and after each measured run, and reports over
that run alone: commands per Raft entry (delta of raft_commands_proposed /
delta of raft_entries_proposed: how many client writes the proposer coalesced
into one entry) and entries per fdatasync (delta of raft_log_entries_durable /
delta of raft_log_fsyncs: how many entries one log flush made durable). Reads
propose no entries, so they show "-".

How to read the output
----------------------
A markdown table, one row per (test, pipeline), preceded by a line naming the
date, CPU count and model, kernel, redis-server version and the workspace's
git commit. For each target: requests/s, p50 and p99 latency in ms as
redis-benchmark reports them (client-side, including the network stack). The
last columns are the single-node redraft's requests/s divided by each redis
target's: above 1.00 redraft is faster. Differences under about 10% are
within the noise of this machine; use `--repeat 3` or more before trusting
them.

When a redraft target ran, a second table follows: one row per (test,
pipeline, redraft target), set against the baseline that is fair for it:
writes against `redis-aof-always` (durable like redraft), reads against
`redis` (reads touch no disk on either); each falls back to the other
baseline when only one ran. Its last columns are the Raft batching figures
above, summed over the repeats.

Usage
-----
    bench/side_by_side.py [--no-build] [--redraft-bin PATH]
        [--targets redraft,redis | all] [--tests set,get,incr,mset]
        [--pipelines 1,16] [--clients 50] [--requests 200000]
        [--keyspace 100000] [--repeat 1] [--output FILE]
        [--redraft-threads N] [--cluster-threads 1]

`--targets all` runs every target in one run: redraft, redraft-3node,
redis-aof-always and redis.

`--large-writes-mb N` adds, during every measured run, one more client that
SETs an N MB value (key `__large__`) over and over, each after the last was
answered: the table then shows the small writes' latency while large writes
flow (redraft sends a write over 1 MiB through its log in parts). How many
large writes completed during each run is printed after the tables.

The script exits non-zero if a server fails to start or dies, or if
redis-benchmark fails (Redis 7's redis-benchmark stops at the first error
reply and exits 1).

Adding a target
---------------
Add one entry to TARGETS: a name, a function that starts it and returns a
`Running` (one or more processes plus the port clients use), whether it is
a redis baseline (baselines get a ratio column) and whether it is a redraft
node that reports `INFO raft`. `--targets` selects by name.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

# The workspace root is the parent of bench/, wherever the script is run from.
WORKSPACE = Path(__file__).resolve().parent.parent
DEFAULT_REDRAFT_BIN = WORKSPACE / "target" / "release" / "redraft-server"
LOOPBACK = "127.0.0.1"
# Nodes in the redraft-3node target.
CLUSTER_SIZE = 3
# Longest INFO reply read from a server; INFO raft is well under 4 KiB.
INFO_BYTES_MAX = 1 << 20

# Pipelined runs finish several times faster, so they get more requests to
# last about as long as the unpipelined ones (200k at -P 1, 1M at -P 16).
PIPELINED_REQUESTS_FACTOR_MAX = 5


class HarnessError(Exception):
    """A failure that makes the measurements meaningless: exit non-zero."""


# --------------------------------------------------------------------------
# Starting and stopping servers
# --------------------------------------------------------------------------


@dataclass
class Running:
    """A started target: the processes that make it up and where to connect."""

    name: str
    port: int
    # Every process we started for this target; all must stay alive.
    procs: list[subprocess.Popen] = field(default_factory=list)
    # Server output goes to files so a crash can be explained afterwards.
    logs: list[Path] = field(default_factory=list)

    def check_alive(self) -> None:
        for proc, log in zip(self.procs, self.logs):
            if proc.poll() is not None:
                raise HarnessError(
                    f"{self.name}: server exited with code {proc.returncode}"
                    f" (log {log.name})"
                    f"\n--- last lines of its output ---\n{tail(log)}"
                )


@dataclass
class Context:
    """What a target's start function may use."""

    args: argparse.Namespace
    # A fresh directory owned by this run; each target makes its own subdir.
    tmp: Path


@dataclass
class Target:
    name: str
    start: Callable[[Context], Running]
    # Baselines are what redraft is compared against (one ratio column each).
    baseline: bool
    help: str
    # A redraft target: the node clients use answers INFO raft, and the
    # report shows its batching figures.
    raft: bool = False
    # Commands sent (each must answer +OK) once the target is ready.
    setup: tuple[tuple[str, ...], ...] = ()


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as err:
        return f"(cannot read log: {err})"


def free_ports(count: int) -> list[int]:
    """Ask the kernel for `count` distinct free loopback ports.

    All sockets stay bound until every port is known, so the ports differ from
    each other. There is a small window between closing them and the servers
    binding the ports; a clash shows up as a server that fails to start, not
    as wrong numbers.
    """
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def free_port() -> int:
    return free_ports(1)[0]


# Every server process this run started, registered the moment it exists so
# that one which never made it into a Running (a cluster target failing at its
# second node, or an interrupt in between) is still stopped at exit.
STARTED: list[subprocess.Popen] = []


def spawn(name: str, argv: list[str], log: Path, port: int) -> Running:
    # A new session puts the server in its own process group: Ctrl-C in the
    # terminal reaches only this script, which then stops the servers in
    # order, and a wrapper script's children are killed along with it.
    with open(log, "wb") as out:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except OSError as err:
            raise HarnessError(f"{name}: cannot start {argv[0]}: {err}") from err
    STARTED.append(proc)
    return Running(name=name, port=port, procs=[proc], logs=[log])


def kill_process_group(proc: subprocess.Popen) -> None:
    """Stop one server we started (its process group), SIGTERM then SIGKILL."""
    if proc.poll() is not None:
        return
    for sig, grace_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


def ping(port: int) -> bool:
    """True once the server answers PING with PONG over RESP."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1.0) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def read_reply(sock: socket.socket) -> bytes:
    """Read one RESP2 bulk-string reply (as INFO sends) and return its body."""
    buf = b""
    while b"\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk or len(buf) > INFO_BYTES_MAX:
            raise OSError("connection closed before a reply header")
        buf += chunk
    header, _, buf = buf.partition(b"\r\n")
    if not header.startswith(b"$"):
        raise OSError(f"unexpected reply {header[:200]!r}")
    size = int(header[1:])
    if not 0 <= size <= INFO_BYTES_MAX:
        raise OSError(f"bulk reply of {size} bytes")
    while len(buf) < size + 2:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("connection closed inside a reply")
        buf += chunk
    return buf[:size]


def send_ok(port: int, args: tuple[str, ...]) -> None:
    """Send one command and insist on +OK (a target's setup)."""
    request = f"*{len(args)}\r\n".encode()
    for arg in args:
        request += f"${len(arg.encode())}\r\n".encode() + arg.encode() + b"\r\n"
    with socket.create_connection((LOOPBACK, port), timeout=2.0) as sock:
        sock.sendall(request)
        reply = sock.recv(4096)
    if not reply.startswith(b"+OK"):
        raise RuntimeError(f"{' '.join(args)} answered {reply[:200]!r}")


def send_setup(port: int, args: tuple[str, ...]) -> None:
    """Send one setup command; any reply but an error will do."""
    request = f"*{len(args)}\r\n".encode()
    for arg in args:
        request += f"${len(arg.encode())}\r\n".encode() + arg.encode() + b"\r\n"
    with socket.create_connection((LOOPBACK, port), timeout=10.0) as sock:
        sock.sendall(request)
        reply = sock.recv(4096)
    if not reply or reply.startswith(b"-"):
        raise HarnessError(f"setup {' '.join(args)} answered {reply[:200]!r}")


def info_raft(port: int) -> dict[str, str] | None:
    """`INFO raft` of the server on `port` as a dict; None if it does not answer."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2.0) as sock:
            sock.sendall(b"*2\r\n$4\r\nINFO\r\n$4\r\nraft\r\n")
            body = read_reply(sock).decode(errors="replace")
    except (OSError, ValueError):
        return None
    fields = {}
    for line in body.splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.startswith("#"):
            fields[key] = value.strip()
    return fields


def wait_ready(running: Running, timeout_s: float) -> None:
    """Poll PING until the target answers; fail fast if it exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        running.check_alive()
        if ping(running.port):
            return
        time.sleep(0.05)
    raise HarnessError(
        f"{running.name}: no PONG on port {running.port} after {timeout_s:.0f}s"
        f"\n--- last lines of its output ---\n{tail(running.logs[0])}"
    )


# --------------------------------------------------------------------------
# The target table: add new targets here.
# --------------------------------------------------------------------------


def start_redraft(ctx: Context, name: str = "redraft",
                  extra: tuple[str, ...] = ()) -> Running:
    port, admin_port, raft_port = free_ports(3)
    data_dir = Path(tempfile.mkdtemp(prefix="redraft-data-", dir=ctx.tmp))
    argv = [
        str(ctx.args.redraft_bin),
        "--bind", LOOPBACK,
        "--port", str(port),
        # Free admin and Raft ports too, so two harness runs (or a running
        # node on the default admin port 8379, or on port + 1000) never clash.
        "--admin-port", str(admin_port),
        "--raft-port", str(raft_port),
        "--threads", str(ctx.args.redraft_threads),
        "--data-dir", str(data_dir),
        "--log-level", "warn",
        *extra,
    ]
    return spawn(name, argv, ctx.tmp / f"{name}.log", port)


@dataclass
class ClusterNode:
    """One node of the redraft-3node target: its id and its three ports."""

    node_id: int
    port: int
    raft_port: int
    admin_port: int


def cluster_toml(node: ClusterNode, nodes: list[ClusterNode], data_dir: Path,
                 threads: int) -> str:
    """The config file of one cluster node: conf/cluster/node1.toml's shape,
    with this run's free ports and directories."""
    # A JSON string is a valid TOML basic string (quotes and backslashes
    # escaped the same way).
    lines = [
        "[server]",
        f"bind = {json.dumps(LOOPBACK)}",
        f"port = {node.port}",
        f"admin_port = {node.admin_port}",
        f"threads = {threads}",
        f"data_dir = {json.dumps(str(data_dir))}",
        'log_level = "warn"',
        "",
        "[raft]",
        f"node_id = {node.node_id}",
        f"raft_port = {node.raft_port}",
    ]
    for member in nodes:
        lines += ["", "[[raft.members]]", f"id = {member.node_id}",
                  f"host = {json.dumps(LOOPBACK)}", f"port = {member.port}",
                  f"raft_port = {member.raft_port}"]
    return "\n".join(lines) + "\n"


def start_redraft_cluster(ctx: Context) -> Running:
    """Three redraft nodes on loopback; clients are pointed at the leader."""
    name = "redraft-3node"
    root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=ctx.tmp))
    ports = free_ports(3 * CLUSTER_SIZE)
    nodes = [ClusterNode(node_id=i + 1, port=ports[3 * i],
                         raft_port=ports[3 * i + 1], admin_port=ports[3 * i + 2])
             for i in range(CLUSTER_SIZE)]
    cluster = Running(name=name, port=nodes[0].port)
    for node in nodes:
        config = root / f"node{node.node_id}.toml"
        config.write_text(cluster_toml(node, nodes, root / f"node{node.node_id}",
                                       ctx.args.cluster_threads))
        one = spawn(f"{name} node{node.node_id}",
                    [str(ctx.args.redraft_bin), "--config", str(config)],
                    root / f"node{node.node_id}.log", node.port)
        cluster.procs += one.procs
        cluster.logs += one.logs
    cluster.port = wait_for_leader(cluster, [node.port for node in nodes],
                                   ctx.args.start_timeout)
    return cluster


def wait_for_leader(cluster: Running, ports: list[int], timeout_s: float) -> int:
    """Poll INFO raft on every node until one is the leader; return its port."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        cluster.check_alive()
        for port in ports:
            info = info_raft(port)
            if info and info.get("raft_role") == "leader":
                log(f"{cluster.name}: leader is node {info.get('raft_node_id')} "
                    f"on port {port} (term {info.get('raft_term')})")
                return port
        time.sleep(0.1)
    raise HarnessError(
        f"{cluster.name}: no leader after {timeout_s:.0f}s"
        + "".join(f"\n--- last lines of {path.name} ---\n{tail(path)}"
                  for path in cluster.logs))


def redis_starter(name: str, extra: list[str]) -> Callable[[Context], Running]:
    """A start function for a redis-server variant with extra config flags."""

    def start(ctx: Context) -> Running:
        port = free_port()
        work_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=ctx.tmp))
        argv = [
            "redis-server",
            "--port", str(port),
            "--bind", LOOPBACK,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(work_dir),
            *extra,
        ]
        return spawn(name, argv, ctx.tmp / f"{name}.log", port)

    return start


TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target("redraft", start_redraft, baseline=False, raft=True,
               help="redraft single node (durable Raft log)"),
        Target("redraft-nometrics",
               lambda ctx: start_redraft(ctx, "redraft-nometrics"),
               baseline=False, raft=True,
               setup=(("CONFIG", "SET", "latency-tracking", "no"),),
               help="redraft single node with latency tracking off "
                    "(CONFIG SET latency-tracking no): the cost of metrics"),
        Target("redraft-lru",
               lambda ctx: start_redraft(ctx, "redraft-lru"),
               baseline=False, raft=True,
               setup=(("CONFIG", "SET", "maxmemory", "32mb"),
                      ("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")),
               help="redraft single node with maxmemory 32mb and allkeys-lru: "
                    "with a keyspace larger than that (-r 1000000), SET "
                    "evicts as it goes; against redraft, the cost of eviction"),
        Target("redraft-raft-thread",
               lambda ctx: start_redraft(ctx, "redraft-raft-thread",
                                         ("--clients-on-raft-thread", "true")),
               baseline=False, raft=True,
               help="redraft single node whose Raft thread also serves "
                    "clients (network loop 0): no thread hand-off for "
                    "its connections' writes"),
        Target("redraft-3node", start_redraft_cluster, baseline=False,
               raft=True,
               help=f"redraft {CLUSTER_SIZE}-node cluster on loopback, "
                    "benchmarked through its leader"),
        Target("redis", redis_starter("redis", []), baseline=True,
               help="redis-server, no persistence"),
        Target("redis-aof-always",
               redis_starter("redis-aof-always",
                             ["--appendonly", "yes", "--appendfsync", "always"]),
               baseline=True,
               help="redis-server, AOF with fsync on every write"),
    ]
}
DEFAULT_TARGETS = "redraft,redis"


# --------------------------------------------------------------------------
# Running redis-benchmark
# --------------------------------------------------------------------------


@dataclass
class Result:
    """One redis-benchmark CSV row: a test's figures on one target."""

    rps: float
    p50_ms: float
    p99_ms: float


# Tests redis-benchmark has no `-t` name for, run as a given command line.
# `zrange_100` reads the first 100 members of the sorted set that the `zadd`
# test fills (list it after `zadd` and before `zpopmin`).
CUSTOM_TESTS = {
    "zrange_100": ["ZRANGE", "myzset", "0", "99"],
    # SETBIT on random keys (redis-benchmark writes __rand_int__ with
    # leading zeros, which a bit offset may not have, so the key varies).
    "setbit": ["SETBIT", "bitmap:__rand_int__", "100", "1"],
    # BITCOUNT of the whole of a 1 MB string that TEST_SETUP builds.
    "bitcount_1mb": ["BITCOUNT", "bitmap_1mb"],
    # PFADD of a random element to one HyperLogLog (dense once the
    # elements pass a few thousand).
    "pfadd": ["PFADD", "hll", "element:__rand_int__"],
    # PFCOUNT of the union of three sketches that TEST_SETUP fills.
    "pfcount_3": ["PFCOUNT", "hll:a", "hll:b", "hll:c"],
    # GEOADD of a random member (one geo set, fixed coordinates).
    "geoadd": ["GEOADD", "geo", "13.361389", "38.115556", "member:__rand_int__"],
    # GEOSEARCH BYRADIUS finding the 100 of 1000 points that TEST_SETUP
    # puts within 50 km of the centre, nearest first.
    "geosearch_100": ["GEOSEARCH", "geo:points", "FROMLONLAT", "13.0", "38.0",
                      "BYRADIUS", "50", "km", "ASC"],
}

# Commands run once on each target before a custom test's measured run
# (idempotent, so repeats may run them again); any reply but an error.
TEST_SETUP = {
    # The last bit of the first megabyte: a 1 MB string.
    "bitcount_1mb": [("SETBIT", "bitmap_1mb", "8388607", "1")],
    "pfcount_3": [
        ("PFADD", name, *(f"{name}:{i}" for i in range(5000)))
        for name in ("hll:a", "hll:b", "hll:c")
    ],
    # 100 points within about 30 km of (13, 38), 900 far away.
    "geosearch_100": [
        ("GEOADD", "geo:points", *(
            field for i in range(100)
            for field in (f"{13.0 + (i % 10 - 4.5) * 0.05:.4f}",
                          f"{38.0 + (i // 10 - 4.5) * 0.04:.4f}", f"near:{i}"))),
        ("GEOADD", "geo:points", *(
            field for i in range(900)
            for field in (f"{-120.0 + (i % 30) * 0.1:.4f}",
                          f"{-40.0 + (i // 30) * 0.1:.4f}", f"far:{i}"))),
    ],
}


def bench_argv(port: int, test: str, pipeline: int, requests: int,
               args: argparse.Namespace) -> list[str]:
    argv = [
        "redis-benchmark",
        "-h", LOOPBACK,
        "-p", str(port),
        "-c", str(args.clients),
        "-P", str(pipeline),
        "-n", str(requests),
        "-r", str(args.keyspace),
        "--csv",
    ]
    if test in CUSTOM_TESTS:
        return argv + CUSTOM_TESTS[test]
    return argv + ["-t", test]


def run_benchmark(running: Running, argv: list[str],
                  timeout_s: float) -> dict[str, Result]:
    """Run redis-benchmark against one target; return its rows by test name.

    redis-benchmark spins forever when its server goes away, so the target's
    processes are watched while it runs and a death stops the benchmark.
    Its pipes are read only after it exits: with --csv it writes a few
    hundred bytes, far below a pipe's buffer, so it cannot block on them.
    """
    try:
        bench = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 start_new_session=True)
    except OSError as err:
        raise HarnessError(f"cannot run {argv[0]}: {err}") from err
    try:
        deadline = time.monotonic() + timeout_s
        while bench.poll() is None:
            running.check_alive()
            if time.monotonic() > deadline:
                raise HarnessError(f"{running.name}: redis-benchmark took over "
                                   f"{timeout_s:.0f}s: {' '.join(argv)}")
            time.sleep(0.1)
        stdout, stderr = bench.communicate()
    finally:
        kill_process_group(bench)
    running.check_alive()
    if bench.returncode != 0:
        raise HarnessError(
            f"{running.name}: redis-benchmark exited {bench.returncode}: "
            f"{' '.join(argv)}\n{stderr.decode(errors='replace').strip()}")
    rows = parse_csv(stdout.decode(errors="replace"))
    if not rows:
        raise HarnessError(f"{running.name}: no CSV rows from {' '.join(argv)}"
                           f"\n{stderr.decode(errors='replace').strip()}")
    return rows


def parse_csv(text: str) -> dict[str, Result]:
    """Parse Redis 7 `--csv` output (header row, then one row per test)."""
    rows = {}
    for row in csv.DictReader(io.StringIO(text)):
        rows[row["test"]] = Result(rps=float(row["rps"]),
                                   p50_ms=float(row["p50_latency_ms"]),
                                   p99_ms=float(row["p99_latency_ms"]))
    return rows


def requests_for(pipeline: int, args: argparse.Namespace) -> int:
    return args.requests * min(pipeline, PIPELINED_REQUESTS_FACTOR_MAX)


def populate(running: Running, args: argparse.Namespace) -> None:
    """Write the GET keyspace once, unmeasured, so GETs hit real keys.

    SET and GET draw keys from the same `key:__rand_int__` pattern. Five
    random draws per key leave under 1% of the keyspace unwritten.
    """
    argv = bench_argv(running.port, "set", 16, 5 * args.keyspace, args)
    log(f"populating {running.name} ({args.keyspace} keys)")
    run_benchmark(running, argv, args.bench_timeout)


@dataclass
class RaftCounters:
    """The INFO raft counters behind the batching figures, or their change
    over one measured run."""

    commands: int  # raft_commands_proposed: client writes proposed
    entries: int   # raft_entries_proposed: Raft entries they went into
    durable: int   # raft_log_entries_durable: entries fdatasync'ed
    fsyncs: int    # raft_log_fsyncs: fdatasync calls on the log
    # Context switches of every thread of the target's processes
    # (/proc/PID/task/*/status, voluntary and not).
    switches: int

    def minus(self, earlier: RaftCounters) -> RaftCounters:
        return RaftCounters(self.commands - earlier.commands,
                            self.entries - earlier.entries,
                            self.durable - earlier.durable,
                            self.fsyncs - earlier.fsyncs,
                            self.switches - earlier.switches)

    def plus(self, other: RaftCounters) -> RaftCounters:
        return RaftCounters(self.commands + other.commands,
                            self.entries + other.entries,
                            self.durable + other.durable,
                            self.fsyncs + other.fsyncs,
                            self.switches + other.switches)


RAFT_COUNTER_FIELDS = ("raft_commands_proposed", "raft_entries_proposed",
                       "raft_log_entries_durable", "raft_log_fsyncs")


def raft_counters(running: Running) -> RaftCounters:
    """Read the counters from the node clients use, which must still lead:
    after a leader change redis-benchmark would only get -MOVED replies."""
    info = info_raft(running.port)
    if info is None:
        raise HarnessError(f"{running.name}: no INFO raft reply on port "
                           f"{running.port}")
    if info.get("raft_role") != "leader":
        raise HarnessError(
            f"{running.name}: the node on port {running.port} is no longer the "
            f"leader (role {info.get('raft_role')}, term {info.get('raft_term')}, "
            f"leader id {info.get('raft_leader_id')})")
    try:
        values = [int(info[key]) for key in RAFT_COUNTER_FIELDS]
    except (KeyError, ValueError) as err:
        raise HarnessError(f"{running.name}: INFO raft lacks a counter: {err}") \
            from err
    return RaftCounters(*values, context_switches(running))


def context_switches(running: Running) -> int:
    """Context switches so far of every thread of the target's processes
    (a thread that ended meanwhile is not counted)."""
    total = 0
    for proc in running.procs:
        for status in Path(f"/proc/{proc.pid}/task").glob("*/status"):
            try:
                text = status.read_text()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith(("voluntary_ctxt_switches",
                                    "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
    return total


# Results by (test row name, pipeline, target name): one Result per repeat.
Samples = dict[tuple[str, int, str], list[Result]]
# Raft counter changes by the same key, for redraft targets: one per repeat.
RaftSamples = dict[tuple[str, int, str], list[RaftCounters]]


class LargeWriter:
    """A client that SETs a large value over and over until stopped."""

    def __init__(self, port: int, megabytes: int) -> None:
        value = os.urandom(1024) * (megabytes * 1000 * 1000 // 1024)
        self.request = (b"*3\r\n$3\r\nSET\r\n$9\r\n__large__\r\n"
                        + f"${len(value)}\r\n".encode() + value + b"\r\n")
        self.port = port
        self.done = 0
        self.error: str | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=120) as sock:
                while not self.stopping.is_set():
                    sock.sendall(self.request)
                    reply = sock.recv(4096)
                    if not reply.startswith(b"+OK"):
                        self.error = f"SET answered {reply[:200]!r}"
                        return
                    self.done += 1
        except OSError as err:
            self.error = str(err)

    def __enter__(self) -> "LargeWriter":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join()


def measure(servers: list[Running],
            args: argparse.Namespace) -> tuple[Samples, RaftSamples]:
    """Run every (test, pipeline) pair on every target, targets back to back.

    The target order rotates from one pair to the next, so that on a machine
    whose speed drifts no target is always the first (or last) to run.
    """
    samples: Samples = {}
    raft_samples: RaftSamples = {}
    pair_index = 0
    for rep in range(args.repeat):
        for test in args.tests:
            for pipeline in args.pipelines:
                shift = pair_index % len(servers)
                order = servers[shift:] + servers[:shift]
                pair_index += 1
                for running in order:
                    log(f"[{rep + 1}/{args.repeat}] {test} -P {pipeline} "
                        f"on {running.name}")
                    for setup in TEST_SETUP.get(test, []):
                        send_setup(running.port, setup)
                    argv = bench_argv(running.port, test, pipeline,
                                      requests_for(pipeline, args), args)
                    is_raft = TARGETS[running.name].raft
                    before = raft_counters(running) if is_raft else None
                    cpu_before = cpu_seconds(running)
                    if args.large_writes_mb:
                        with LargeWriter(running.port, args.large_writes_mb) as large:
                            rows = run_benchmark(running, argv, args.bench_timeout)
                        if large.error is not None:
                            raise HarnessError(f"{running.name}: large writer: {large.error}")
                        LARGE_WRITES.setdefault((test, pipeline, running.name), []).append(large.done)
                    else:
                        rows = run_benchmark(running, argv, args.bench_timeout)
                    cpu_us = ((cpu_seconds(running) - cpu_before) * 1e6
                              / requests_for(pipeline, args))
                    delta = (raft_counters(running).minus(before)
                             if before is not None else None)
                    for name, result in rows.items():
                        key = (name, pipeline, running.name)
                        samples.setdefault(key, []).append(result)
                        CPU_SAMPLES.setdefault(key, []).append(cpu_us)
                        if delta is not None:
                            raft_samples.setdefault(key, []).append(delta)
    return samples, raft_samples


# Server CPU time (user + system, every process of the target) per request
# of each measured run, in microseconds, by (test row name, pipeline,
# target). Unlike req/s, this hardly moves when other work shares the
# machine: it is what the server spent, not how fast the machine let it.
CPU_SAMPLES: dict[tuple[str, int, str], list[float]] = {}


def cpu_seconds(running: Running) -> float:
    """User plus system CPU time so far of the target's processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for proc in running.procs:
        try:
            # The fields after the command name: utime and stime are the
            # 14th and 15th of the line, 12th and 13th after the ')'.
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


# Large writes completed during each measured run, by (test, pipeline, target).
LARGE_WRITES: dict[tuple[str, int, str], list[int]] = {}


def large_writes_lines(args: argparse.Namespace) -> str:
    if not args.large_writes_mb:
        return ""
    lines = ["", f"{args.large_writes_mb} MB SETs completed during each run "
             "(one client, back to back):", ""]
    for (test, pipeline, name), counts in LARGE_WRITES.items():
        lines.append(f"- {test} -P {pipeline} on {name}: "
                     + ", ".join(str(c) for c in counts))
    return "\n".join(lines) + "\n"


def log(message: str) -> None:
    # Progress goes to stderr so stdout holds only the table.
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def command_output(argv: list[str], cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git_commit() -> str:
    commit = command_output(["git", "rev-parse", "--short=12", "HEAD"], WORKSPACE)
    if not commit:
        return "no commit"
    # A dirty tree means the numbers belong to uncommitted code.
    dirty = command_output(["git", "status", "--porcelain", "--untracked-files=no"],
                           WORKSPACE)
    return commit + ("-dirty" if dirty else "")


def header_line() -> str:
    version = command_output(["redis-server", "--version"])
    # "Redis server v=7.0.15 sha=..." -> "7.0.15"
    version = next((w[2:] for w in version.split() if w.startswith("v=")),
                   "unknown")
    now = datetime.datetime.now(datetime.timezone.utc)
    return (f"{now:%Y-%m-%d %H:%M} UTC, nproc {len(os.sched_getaffinity(0))}, "
            f"{cpu_model()}, Linux {platform.release()}, "
            f"redis-server {version}, redraft {git_commit()}")


def median_result(results: list[Result]) -> Result:
    # Each figure's median on its own: with few repeats this is robust to
    # one disturbed run, which is what a shared machine produces.
    return Result(rps=statistics.median(r.rps for r in results),
                  p50_ms=statistics.median(r.p50_ms for r in results),
                  p99_ms=statistics.median(r.p99_ms for r in results))


def settings_line(target_names: list[str], args: argparse.Namespace) -> str:
    """The benchmark settings, and the redraft threads, after the header."""
    text = f"; -c {args.clients} -r {args.keyspace}, median of {args.repeat}"
    if "redraft" in target_names:
        text += f"; redraft --threads {args.redraft_threads}"
    if "redraft-3node" in target_names:
        text += (f"; redraft-3node {CLUSTER_SIZE} nodes x --threads "
                 f"{args.cluster_threads}")
    if args.large_writes_mb:
        text += f"; with {args.large_writes_mb} MB SETs flowing from one more client"
    return text


def render_table(samples: Samples, raft_samples: RaftSamples,
                 target_names: list[str], args: argparse.Namespace) -> str:
    ratio_cols = ([n for n in target_names if TARGETS[n].baseline]
                  if "redraft" in target_names else [])
    head = ["test", "pipeline"]
    for name in target_names:
        head += [f"{name} req/s", f"{name} p50 ms", f"{name} p99 ms"]
    head += [f"redraft/{name}" for name in ratio_cols]
    lines = [header_line() + settings_line(target_names, args),
             "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    # dicts keep insertion order, which is the order the tests ran in.
    for test, pipeline in dict.fromkeys((t, p) for t, p, _ in samples):
        cells = [test, str(pipeline)]
        cells += table_cells(samples, test, pipeline, target_names, ratio_cols)
        lines.append("| " + " | ".join(cells) + " |")
    lines += render_comparison(samples, raft_samples, target_names)
    lines += render_cpu(samples, target_names)
    lines += render_metrics_cost(samples, target_names)
    lines += render_eviction_cost(samples, target_names)
    return "\n".join(lines) + "\n"


def render_cpu(samples: Samples, target_names: list[str]) -> list[str]:
    """Server CPU time per request on each target (median over the
    repeats), and redraft's against its fair baseline."""
    raft_names = [n for n in target_names if TARGETS[n].raft]
    head = ["test", "pipeline"] + [f"{name} µs" for name in target_names]
    head += [f"{name}/baseline" for name in raft_names]
    lines = ["", "Server CPU time per request (user + system of every process "
             "of the target, in µs; lower is better), and each redraft "
             "target's against its fair baseline.",
             "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    for test, pipeline in dict.fromkeys((t, p) for t, p, _ in samples):
        cpu = {name: statistics.median(CPU_SAMPLES[(test, pipeline, name)])
               for name in target_names if (test, pipeline, name) in CPU_SAMPLES}
        cells = [test, str(pipeline)]
        cells += [f"{cpu[name]:.1f}" if name in cpu else "n/a" for name in target_names]
        for name in raft_names:
            baseline = baseline_for(test, target_names)
            if name in cpu and baseline in cpu and cpu[baseline] > 0:
                cells.append(f"{cpu[name] / cpu[baseline]:.2f}")
            else:
                cells.append("n/a")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_pair_cost(samples: Samples, target_names: list[str],
                     pair: tuple[str, str], labels: tuple[str, str],
                     caption: str) -> list[str]:
    """One redraft variant against another from the same run (`pair`:
    measured, reference; `labels` name them in the columns), when both
    ran: what the variant's difference costs."""
    if not set(pair) <= set(target_names):
        return []
    measured, reference = labels
    head = ["test", "pipeline", f"{measured} req/s", f"{reference} req/s",
            f"{measured}/{reference} req/s", f"{measured} p99 ms",
            f"{reference} p99 ms"]
    lines = ["", caption,
             "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    for test, pipeline in dict.fromkeys((t, p) for t, p, _ in samples):
        keys = [(test, pipeline, n) for n in pair]
        if not all(k in samples for k in keys):
            continue
        one, other = (median_result(samples[k]) for k in keys)
        ratio = f"{one.rps / other.rps:.3f}" if other.rps > 0 else "n/a"
        lines.append(f"| {test} | {pipeline} | {one.rps:,.0f} | {other.rps:,.0f} "
                     f"| {ratio} | {one.p99_ms:.3f} | {other.p99_ms:.3f} |")
    return lines


def render_eviction_cost(samples: Samples, target_names: list[str]) -> list[str]:
    """redraft-lru (evicting under maxmemory) against redraft (no limit)."""
    return render_pair_cost(
        samples, target_names, ("redraft-lru", "redraft"), ("evicting", "no limit"),
        "Cost of eviction: redraft under maxmemory 32mb with allkeys-lru "
        "against the same server without a limit, same run.")


def render_metrics_cost(samples: Samples, target_names: list[str]) -> list[str]:
    """redraft (latency tracking on) against redraft-nometrics (off)."""
    return render_pair_cost(
        samples, target_names, ("redraft", "redraft-nometrics"),
        ("tracking on", "tracking off"),
        "Cost of metrics: redraft with latency tracking on (the default) "
        "against the same server with `CONFIG SET latency-tracking no`, "
        "same run.")


# Tests that only read: compared with plain redis, since neither server
# touches the disk for them. Matched on the CSV row name's first word.
READ_TESTS = ("GET", "LRANGE", "PING", "ZRANGE", "BITCOUNT", "PFCOUNT", "GEOSEARCH")


def baseline_for(test: str, target_names: list[str]) -> str | None:
    """The fair baseline for one test: redis-aof-always for writes (durable
    like redraft), redis for reads; the other when only one ran."""
    is_read = test.split()[0].split("_")[0] in READ_TESTS
    preference = (["redis", "redis-aof-always"] if is_read
                  else ["redis-aof-always", "redis"])
    return next((name for name in preference if name in target_names), None)


def batching_cells(deltas: list[RaftCounters] | None) -> list[str]:
    """Commands per entry, entries per fdatasync and context switches per
    entry over the repeats; "-" where the run proposed or flushed nothing
    (reads)."""
    if not deltas:
        return ["n/a", "n/a", "n/a"]
    total = deltas[0]
    for delta in deltas[1:]:
        total = total.plus(delta)
    per_entry = f"{total.commands / total.entries:.2f}" if total.entries > 0 else "-"
    per_fsync = f"{total.durable / total.fsyncs:.2f}" if total.fsyncs > 0 else "-"
    switches = f"{total.switches / total.entries:.2f}" if total.entries > 0 else "-"
    return [per_entry, per_fsync, switches]


def render_comparison(samples: Samples, raft_samples: RaftSamples,
                      target_names: list[str]) -> list[str]:
    """Each redraft target against its fair baseline, with its batching."""
    raft_names = [n for n in target_names if TARGETS[n].raft]
    if not raft_names:
        return []
    head = ["test", "pipeline", "target", "req/s", "p99 ms", "baseline",
            "baseline req/s", "baseline p99 ms", "target/baseline req/s",
            "cmds/entry", "entries/fsync", "switches/entry"]
    lines = ["", "Redraft against its fair baseline: writes vs redis-aof-always "
             "(fsync on every write), reads vs redis (no persistence). "
             "cmds/entry and entries/fsync: INFO raft deltas on the leader over "
             "the measured runs; switches/entry: context switches of all the "
             "target's threads (every node's) per entry proposed.",
             "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * 3 + ["---:"] * 2 + ["---"]
                            + ["---:"] * (len(head) - 6)) + "|"]
    for test, pipeline in dict.fromkeys((t, p) for t, p, _ in samples):
        baseline = baseline_for(test, target_names)
        base = (median_result(samples[(test, pipeline, baseline)])
                if (test, pipeline, baseline) in samples else None)
        for name in raft_names:
            if (test, pipeline, name) not in samples:
                continue
            med = median_result(samples[(test, pipeline, name)])
            cells = [test, str(pipeline), name, f"{med.rps:,.0f}",
                     f"{med.p99_ms:.3f}", baseline or "n/a"]
            if base is not None and base.rps > 0:
                cells += [f"{base.rps:,.0f}", f"{base.p99_ms:.3f}",
                          f"{med.rps / base.rps:.2f}"]
            else:
                cells += ["n/a"] * 3
            cells += batching_cells(raft_samples.get((test, pipeline, name)))
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def table_cells(samples: Samples, test: str, pipeline: int,
                target_names: list[str], ratio_cols: list[str]) -> list[str]:
    """One row's figures; a target that reported no such row shows n/a."""
    med = {n: median_result(samples[(test, pipeline, n)])
           for n in target_names if (test, pipeline, n) in samples}
    cells = []
    for name in target_names:
        if name in med:
            cells += [f"{med[name].rps:,.0f}", f"{med[name].p50_ms:.3f}",
                      f"{med[name].p99_ms:.3f}"]
        else:
            cells += ["n/a"] * 3
    for name in ratio_cols:
        ok = "redraft" in med and name in med and med[name].rps > 0
        cells.append(f"{med['redraft'].rps / med[name].rps:.2f}" if ok else "n/a")
    return cells


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="redis-benchmark redraft and redis-server side by side; "
                    "prints a markdown table.",
        epilog="targets: " + "; ".join(f"{t.name}: {t.help}"
                                       for t in TARGETS.values()))
    p.add_argument("--targets", type=comma_list, default=comma_list(DEFAULT_TARGETS),
                   help=f"comma list of targets, or all (default {DEFAULT_TARGETS})")
    p.add_argument("--tests", type=comma_list, default=["set", "get", "incr", "mset"],
                   help="redis-benchmark -t tests, run one at a time "
                        "(default set,get,incr,mset); also zrange_100, a "
                        "ZRANGE of 100 members of the set `zadd` fills. The "
                        "data-type set of issue 5 is "
                        "lpush,lpop,sadd,hset,zadd,zrange_100,zpopmin; the "
                        "bitmap set of issue 19 is setbit,bitcount_1mb; the "
                        "HyperLogLog set is pfadd,pfcount_3; the geo set is "
                        "geoadd,geosearch_100")
    p.add_argument("--pipelines", default=[1, 16],
                   type=lambda s: [int(x) for x in comma_list(s)],
                   help="redis-benchmark -P values (default 1,16)")
    p.add_argument("--clients", type=int, default=50, help="-c (default 50)")
    p.add_argument("--requests", type=int, default=200_000,
                   help="-n at -P 1; pipelined runs use up to "
                        f"{PIPELINED_REQUESTS_FACTOR_MAX}x this (default 200000)")
    p.add_argument("--keyspace", type=int, default=100_000, help="-r (default 100000)")
    p.add_argument("--repeat", type=int, default=1,
                   help="run each pair K times, report medians (default 1)")
    p.add_argument("--output", type=Path, help="also write the table to FILE")
    p.add_argument("--no-build", action="store_true",
                   help="do not run cargo build --release -p redraft-server")
    p.add_argument("--redraft-bin", type=Path,
                   help="redraft server binary to run instead of the release "
                        "build (implies --no-build)")
    p.add_argument("--redraft-threads", type=int,
                   default=len(os.sched_getaffinity(0)),
                   help="redraft --threads (default: CPUs available)")
    p.add_argument("--cluster-threads", type=int, default=1,
                   help="--threads of each redraft-3node node (default 1: "
                        f"{CLUSTER_SIZE} nodes share the machine)")
    p.add_argument("--large-writes-mb", type=int, default=0,
                   help="during each run, one more client SETs a value of "
                        "this many MB back to back (default 0: none)")
    p.add_argument("--start-timeout", type=float, default=30.0,
                   help="seconds to wait for a server's PONG (default 30)")
    p.add_argument("--bench-timeout", type=float, default=600.0,
                   help="seconds one redis-benchmark run may take (default 600)")
    args = p.parse_args(argv)
    if args.targets == ["all"]:
        # Durable targets first; the order rotates from pair to pair anyway.
        args.targets = ["redraft", "redraft-3node", "redis-aof-always", "redis"]
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown or not args.targets:
        p.error(f"unknown targets {unknown}; known: {', '.join(TARGETS)}")
    if len(set(args.targets)) != len(args.targets):
        p.error("--targets names a target twice")
    if min(args.pipelines + [args.clients, args.requests, args.keyspace,
                             args.repeat, args.redraft_threads,
                             args.cluster_threads]) < 1:
        p.error("--pipelines, --clients, --requests, --keyspace, --repeat, "
                "--redraft-threads and --cluster-threads must be positive")
    return args


def build_redraft(args: argparse.Namespace) -> None:
    if args.redraft_bin is None:
        args.redraft_bin = DEFAULT_REDRAFT_BIN
        if not args.no_build:
            log("cargo build --release -p redraft-server")
            # Cargo's own output goes to stderr, next to our progress lines.
            done = subprocess.run(["cargo", "build", "--release", "-p", "redraft-server"],
                                  cwd=WORKSPACE, stdout=sys.stderr)
            if done.returncode != 0:
                raise HarnessError(f"cargo build failed ({done.returncode})")
    if not os.access(args.redraft_bin, os.X_OK):
        raise HarnessError(f"redraft binary not executable: {args.redraft_bin}")


def run(args: argparse.Namespace) -> str:
    if any(TARGETS[name].raft for name in args.targets):
        build_redraft(args)
    servers: list[Running] = []
    with tempfile.TemporaryDirectory(prefix="redraft-sbs-") as tmp:
        try:
            ctx = Context(args=args, tmp=Path(tmp))
            for name in args.targets:
                servers.append(TARGETS[name].start(ctx))
                wait_ready(servers[-1], args.start_timeout)
                for command in TARGETS[name].setup:
                    send_ok(servers[-1].port, command)
                log(f"{name} ready on {LOOPBACK}:{servers[-1].port}")
            for running in servers:
                populate(running, args)
            samples, raft_samples = measure(servers, args)
        finally:
            # Stop servers before the temp dir (their data) is removed.
            for proc in STARTED:
                kill_process_group(proc)
    return (render_table(samples, raft_samples, args.targets, args)
            + large_writes_lines(args))


def on_sigterm(signum: int, frame: object) -> None:
    # Turn SIGTERM and SIGHUP into an exception so the finally blocks stop
    # the servers.
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGHUP, on_sigterm)
    # A shell starts background jobs with SIGINT ignored; restore Python's
    # handler so an interrupt always means "stop the servers and exit".
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        table = run(args)
    except HarnessError as err:
        print(f"side_by_side: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("side_by_side: interrupted; servers stopped", file=sys.stderr)
        return 130
    print(table, end="")
    if args.output:
        args.output.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
