#!/usr/bin/env python3
"""Memory per key: redraft against a real redis-server, same data, one run.

What it measures
----------------
It starts redraft (release build, single node, data in a temporary dir) and
a plain redis-server (no persistence) on free loopback ports, loads the same
keys into both with `redis-cli --pipe`, and reads `INFO memory` before and
after. For each workload it prints the growth of `used_memory` (each
server's own accounting: Redis counts its allocator's bytes, redraft sums
its per-key estimate) and of `used_memory_rss` (what the kernel says the
process holds), per key, and redraft's figures divided by Redis's.

Workloads (`--workloads`, default both):
- `hashes`: N keys `h:<i>`, each a hash of 5 fields `f0`..`f4` with short
  integer values (a small hash: Redis keeps it as a listpack).
- `zsets`: N keys `z:<i>`, each a sorted set of 5 members `m0`..`m4` with
  integer scores (a small sorted set: Redis keeps it as a listpack).

Each workload runs on fresh servers, so one's memory does not blur the
other's. The machine is shared: RSS includes allocator slack and moves a
little between runs; the ratio is what to read.

`--settle-s` waits that long after the load before the second `INFO`, for
both servers alike. Right after a load both still hold memory that they
give back on their own soon after (redraft trims its heap once a second;
Redis shrinks idle query buffers in its cron and jemalloc purges freed
pages after a delay): 0, the default, measures the peak a load leaves, a
few seconds the steady state an operator pays for.

Usage
-----
    bench/memory.py [--redraft-bin PATH] [--keys 1000000]
        [--workloads hashes,zsets] [--settle-s 0]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
FIELDS = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on {port} exited {proc.returncode}")
        out = subprocess.run(["redis-cli", "-h", LOOPBACK, "-p", str(port), "PING"],
                             capture_output=True, text=True)
        if out.stdout.strip() == "PONG":
            return
        time.sleep(0.05)
    raise SystemExit(f"server on {port} did not answer PING in {timeout_s}s")


def info_memory(port: int) -> dict[str, int]:
    out = subprocess.run(["redis-cli", "-h", LOOPBACK, "-p", str(port), "INFO", "memory"],
                         capture_output=True, text=True, check=True).stdout
    fields = {}
    for line in out.splitlines():
        name, _, value = line.strip().partition(":")
        if name in ("used_memory", "used_memory_rss"):
            fields[name] = int(value)
    return fields


def resp(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


def commands(workload: str, keys: int):
    for i in range(keys):
        if workload == "hashes":
            args = [b"HSET", b"h:%d" % i]
            for f in range(FIELDS):
                args += [b"f%d" % f, b"%d" % (i + f)]
        else:
            args = [b"ZADD", b"z:%d" % i]
            for f in range(FIELDS):
                args += [b"%d" % (i + f), b"m%d" % f]
        yield resp(*args)


def load(port: int, workload: str, keys: int, tmp: Path) -> None:
    path = tmp / f"{workload}.resp"
    if not path.exists():
        with open(path, "wb") as out:
            for command in commands(workload, keys):
                out.write(command)
    with open(path, "rb") as data:
        result = subprocess.run(["redis-cli", "-h", LOOPBACK, "-p", str(port), "--pipe"],
                                stdin=data, capture_output=True, text=True)
    if result.returncode != 0 or "errors: 0" not in result.stdout:
        raise SystemExit(f"loading {workload} into {port} failed:\n{result.stdout}{result.stderr}")


def start(name: str, redraft_bin: Path, tmp: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if name == "redis":
        argv = ["redis-server", "--bind", LOOPBACK, "--port", str(port), "--save", "",
                "--appendonly", "no"]
    else:
        data = Path(tempfile.mkdtemp(prefix="redraft-mem-", dir=tmp))
        argv = [str(redraft_bin), "--bind", LOOPBACK, "--port", str(port),
                "--admin-port", str(free_port()), "--raft-port", str(free_port()),
                "--data-dir", str(data), "--log-level", "warn"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_ready(port, proc)
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def measure(name: str, workload: str, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    proc, port = start(name, args.redraft_bin, tmp)
    try:
        before = info_memory(port)
        load(port, workload, args.keys, tmp)
        time.sleep(args.settle_s)
        after = info_memory(port)
    finally:
        stop(proc)
    return {field: (after[field] - before[field]) / args.keys for field in before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redraft-bin", type=Path,
                        default=WORKSPACE / "target" / "release" / "redraft-server")
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--workloads", default="hashes,zsets")
    parser.add_argument("--settle-s", type=float, default=0.0,
                        help="seconds to wait after the load before measuring")
    args = parser.parse_args()
    version = subprocess.run(["redis-server", "--version"], capture_output=True,
                             text=True).stdout.strip()
    print(f"{args.keys} keys of {FIELDS} elements; {version}; {os.cpu_count()} CPUs; "
          f"measured {args.settle_s:g} s after the load")
    print()
    print("| workload | redis used_memory B/key | redraft used_memory B/key | ratio "
          "| redis RSS B/key | redraft RSS B/key | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="redraft-memory-") as tmp_name:
        tmp = Path(tmp_name)
        for workload in args.workloads.split(","):
            redis = measure("redis", workload, args, tmp)
            redraft = measure("redraft", workload, args, tmp)
            used = (redis["used_memory"], redraft["used_memory"])
            rss = (redis["used_memory_rss"], redraft["used_memory_rss"])
            print(f"| {workload} | {used[0]:.0f} | {used[1]:.0f} | {used[1] / used[0]:.2f}x "
                  f"| {rss[0]:.0f} | {rss[1]:.0f} | {rss[1] / rss[0]:.2f}x |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
