#!/usr/bin/env python3
"""Runs Redis 7.0.15's own tcl test suite against redraft, unit by unit, in
the suite's external mode (`--host 127.0.0.1 --port P`), and holds the
result to an expectation file.

The suite comes from Debian's `redis` source package (the pinned version
below, whose `.orig.tar.gz` is Redis's release tarball with `tests/` and
`runtest`), fetched with `apt-get source` through a private apt
configuration into `target/redis-suite/`, so the machine's own apt sources
are not changed. Nothing of the suite is patched: what its harness needs,
redraft provides.

Each unit of `units.txt` runs against a fresh single-node redraft (its own
ports and data directory). A test's outcome is read from the suite's
output lines (`[ok]:`, `[err]:`, `[exception]:`, `[skip]:`).

`expected_failures.txt` lists, one per line, `unit | test name | why`: the
tests known to fail. The run fails if a test fails that is not listed, if a
listed test passes (remove it: the list only shrinks), or if a unit ends
in an exception that is not listed (listed as `unit | (exception) | why`).

Usage:
  python3 tests/redis_suite/run.py [--redraft-bin PATH] [--units a,b] [--jobs N]
  python3 tests/redis_suite/run.py --against-redis   # the same units on redis-server
"""

from __future__ import annotations

import argparse
import concurrent.futures
import queue
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
REDIS_VERSION = "7.0.15"
DEBIAN_VERSION = "5:7.0.15-1~deb12u10"
DEBIAN_SOURCES = (
    "deb-src http://deb.debian.org/debian bookworm main\n"
    "deb-src http://deb.debian.org/debian bookworm-updates main\n"
    "deb-src http://deb.debian.org/debian-security bookworm-security main\n"
)
CACHE = ROOT / "target" / "redis-suite"
LOOPBACK = "127.0.0.1"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# `[ok]: name (3 ms)`, `[err]: name in tests/unit/x.tcl`, `[skip]: name`
OUTCOME = re.compile(r"^\[(ok|err|skip|ignore|exception)\]:\s?(.*)$")
UNIT_TIMEOUT_S = 600


def log(message: str) -> None:
    print(f"redis-suite: {message}", file=sys.stderr, flush=True)


def suite_dir() -> Path:
    """Redis's source tree with `runtest` and `tests/`, fetched once."""
    tree = CACHE / f"redis-{REDIS_VERSION}"
    if (tree / "runtest").exists():
        return tree
    CACHE.mkdir(parents=True, exist_ok=True)
    lists = CACHE / "apt-lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    sources = CACHE / "sources.list"
    sources.write_text(DEBIAN_SOURCES)
    options = [
        "-o", f"Dir::Etc::SourceList={sources}",
        "-o", "Dir::Etc::SourceParts=/nonexistent",
        "-o", f"Dir::State::Lists={lists}",
        "-o", "APT::Sandbox::User=root",
        "-qq",
    ]
    log(f"fetching Debian's redis {DEBIAN_VERSION} source package")
    subprocess.run(["apt-get", *options, "update"], check=True)
    subprocess.run(
        ["apt-get", *options, "source", "--download-only", f"redis={DEBIAN_VERSION}"],
        check=True, cwd=CACHE)
    tarball = CACHE / f"redis_{REDIS_VERSION}.orig.tar.gz"
    with tarfile.open(tarball) as archive:
        archive.extractall(CACHE, filter="data")
    if not (tree / "runtest").exists():
        raise SystemExit(f"redis-suite: {tarball} has no redis-{REDIS_VERSION}/runtest")
    return tree


def worker_tree(tree: Path, slot: int) -> Path:
    """A copy of the suite's `tests/` for worker `slot`: the harness cleans
    and writes `tests/tmp`, so two runs must not share one."""
    worker = CACHE / f"worker-{slot}"
    if not (worker / "tests").exists():
        shutil.copytree(tree / "tests", worker / "tests", ignore=shutil.ignore_patterns("tmp"))
        (worker / "tests" / "tmp").mkdir()
    return worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@dataclass
class UnitResult:
    unit: str
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    exception: str | None = None
    seconds: float = 0.0
    output: str = ""


class Server:
    """A fresh redraft (or redis-server) on free loopback ports."""

    def __init__(self, args: argparse.Namespace, work: Path):
        self.port = free_port()
        self.log = work / "server.log"
        if args.against_redis:
            argv = ["redis-server", "--port", str(self.port), "--bind", LOOPBACK,
                    "--save", "", "--appendonly", "no", "--dir", str(work),
                    "--enable-debug-command", "yes"]
        else:
            argv = [str(args.redraft_bin), "--bind", LOOPBACK, "--port", str(self.port),
                    "--admin-port", str(free_port()), "--raft-port", str(free_port()),
                    "--data-dir", str(work / "data"), "--log-level", "warn"]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError("server did not answer PING within 30 s")

    def ping(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def run_unit(args: argparse.Namespace, tree: Path, unit: str, index: int,
             slots: "queue.Queue[int]") -> UnitResult:
    slot = slots.get()
    try:
        return run_unit_in(args, tree, unit, index, slot)
    finally:
        slots.put(slot)


def run_unit_in(args: argparse.Namespace, tree: Path, unit: str, index: int,
                slot: int) -> UnitResult:
    result = UnitResult(unit)
    work = Path(tempfile.mkdtemp(prefix="redis-suite-"))
    started = time.monotonic()
    server = Server(args, work)
    try:
        # The suite's own test server listens on a port just below
        # --baseport; a port a finished unit used may not be free again
        # yet, so every unit of the run takes a range of its own.
        baseport = 21000 + index * 100
        proc = subprocess.run(
            ["tclsh", "tests/test_helper.tcl", "--host", LOOPBACK, "--port", str(server.port),
             "--single", unit, "--clients", "1", "--baseport", str(baseport),
             "--portcount", "100", "--timeout", str(UNIT_TIMEOUT_S)],
            cwd=worker_tree(tree, slot), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=UNIT_TIMEOUT_S + 60, text=True, errors="replace")
        result.output = ANSI.sub("", proc.stdout)
    except subprocess.TimeoutExpired as expired:
        result.output = ANSI.sub("", (expired.stdout or b"").decode(errors="replace")
                                 if isinstance(expired.stdout, bytes) else (expired.stdout or ""))
        result.exception = f"timed out after {UNIT_TIMEOUT_S + 60} s"
    finally:
        server.stop()
    for line in result.output.splitlines():
        match = OUTCOME.match(line.strip())
        if not match:
            continue
        kind, text = match.groups()
        if kind == "ok":
            result.passed.append(re.sub(r" \(\d+ ms\)$", "", text))
        elif kind == "err":
            result.failed.append(re.sub(r" in tests/\S+$", "", text))
        elif kind in ("skip", "ignore"):
            result.skipped.append(text)
        elif kind == "exception" and result.exception is None:
            result.exception = text
    result.seconds = time.monotonic() - started
    shutil.rmtree(work, ignore_errors=True)
    return result


def read_expected(path: Path) -> dict[tuple[str, str], str]:
    expected = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [part.strip() for part in line.split(" | ")]
        if len(parts) != 3 or not parts[2]:
            raise SystemExit(f"{path}:{number}: want 'unit | test | why', got {line!r}")
        expected[(parts[0], parts[1])] = parts[2]
    return expected


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redraft-bin", type=Path,
                        default=ROOT / "target" / "debug" / "redraft-server")
    parser.add_argument("--units", help="comma list (default: units.txt)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--against-redis", action="store_true",
                        help="run the units on redis-server instead (no expectations)")
    parser.add_argument("--write-expected", action="store_true",
                        help="rewrite expected_failures.txt from this run (reasons kept; new ones 'unexamined')")
    args = parser.parse_args()
    if not args.against_redis and not args.redraft_bin.exists():
        raise SystemExit(f"redis-suite: no server binary at {args.redraft_bin} (cargo build first)")
    if shutil.which("tclsh") is None:
        raise SystemExit("redis-suite: tclsh is missing (apt-get install tcl)")
    tree = suite_dir()
    units = (args.units.split(",") if args.units else
             [u.strip() for u in (HERE / "units.txt").read_text().splitlines()
              if u.strip() and not u.startswith("#")])
    results: list[UnitResult] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        # Each worker tree serves one unit at a time.
        slots: queue.Queue[int] = queue.Queue()
        for slot in range(args.jobs):
            slots.put(slot)
        futures = [pool.submit(run_unit, args, tree, unit, i, slots)
                   for i, unit in enumerate(units)]
        for future in futures:
            result = future.result()
            results.append(result)
            log(f"{result.unit}: {len(result.passed)} ok, {len(result.failed)} failed, "
                f"{len(result.skipped)} skipped"
                + (f", EXCEPTION {result.exception}" if result.exception else "")
                + f" ({result.seconds:.0f} s)")
    total_ok = sum(len(r.passed) for r in results)
    total_failed = sum(len(r.failed) for r in results)
    log(f"total: {total_ok} ok, {total_failed} failed, "
        f"{sum(1 for r in results if r.exception)} units with an exception")
    if args.against_redis:
        return 0
    expected_path = HERE / "expected_failures.txt"
    expected = read_expected(expected_path) if expected_path.exists() else {}
    seen: dict[tuple[str, str], str] = {}
    problems = []
    for result in results:
        outcomes = [(name, "failed") for name in result.failed]
        if result.exception:
            outcomes.append(("(exception)", result.exception))
        for name, what in outcomes:
            key = (result.unit, name)
            seen[key] = expected.get(key, "unexamined")
            if key not in expected:
                problems.append(f"{result.unit}: unexpected failure: {name}"
                                + (f" ({what})" if what != "failed" else ""))
        if not result.exception and (result.unit, "(exception)") in expected:
            problems.append(f"{result.unit}: no longer stops at an error, remove its "
                            "(exception) line from expected_failures.txt")
        for name in result.passed:
            why = expected.get((result.unit, name))
            if why is not None and not why.startswith("flaky:"):
                problems.append(f"{result.unit}: passes now, remove it from "
                                f"expected_failures.txt: {name}")
    if args.write_expected:
        lines = ["# unit | test | why it fails against redraft (tests/redis_suite/run.py)"]
        lines += [f"{unit} | {name} | {why}" for (unit, name), why in sorted(seen.items())]
        expected_path.write_text("\n".join(lines) + "\n")
        log(f"wrote {len(seen)} expected failures to {expected_path}")
        return 0
    for problem in problems:
        print(f"redis-suite: {problem}", file=sys.stderr)
    if problems:
        for result in results:
            if any(p.startswith(result.unit + ":") for p in problems):
                print(f"--- {result.unit} output (last lines) ---\n"
                      + "\n".join(result.output.splitlines()[-60:]), file=sys.stderr)
        return 1
    log("every outcome as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
