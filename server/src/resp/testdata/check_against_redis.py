#!/usr/bin/env python3
"""Replays decode.txt against a real redis-server and checks each case.

Usage (Redis 7.0.15; ports as in the project's test port plan):
    redis-server --port 16500 --save '' --daemonize yes
    redis-server --port 16501 --save '' --requirepass pw --daemonize yes
    python3 check_against_redis.py [decode.txt]

For each case (except `redis-differs` ones) it sends the input on a fresh
connection and checks: one reply per non-empty `ok` command; the arguments of
every command Redis ran, as seen by MONITOR; and for `err`, the exact bytes
"-ERR <text>\r\n" followed by Redis closing the connection, or for `more`/`ok`
that the connection stays open. Exits non-zero on the first mismatch.
"""

import re
import socket
import sys

AUTH_PORT, NOAUTH_PORT = 16500, 16501
WAIT_S = 0.3


def unescape(text):
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        n = text[i + 1]
        if n == "x":
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
            continue
        if n == "{":
            end = text.index("}", i)
            count, ch = text[i + 2:end].split("*")
            out += ch.encode() * int(count)
            i = end + 1
            continue
        out += {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0"}.get(n, n.encode())
        i += 2
    return bytes(out)


def parse_args(text):
    return [unescape(m) for m in re.findall(r'"((?:[^"\\]|\\.)*)"', text)]


def cases(path):
    case, expecting = None, False
    for number, line in enumerate(open(path, encoding="utf-8").read().split("\n"), 1):
        if not line or line.startswith("#"):
            continue
        if line == "redis-differs":
            case["differs"] = True
            continue
        m = re.match(r"(u?)> (.*)", line)
        if m:
            if case is None or expecting:
                if case:
                    yield case
                case = {"line": number, "input": b"", "auth": m.group(1) == "",
                        "expected": [], "differs": False}
            expecting = False
            case["input"] += unescape(m.group(2))
            continue
        expecting = True
        if line == "more":
            case["expected"].append(("more", None))
        elif line.startswith("err "):
            case["expected"].append(("err", unescape(line[4:])))
        else:
            assert line.startswith("ok"), line
            case["expected"].append(("ok", parse_args(line[2:])))
    yield case


def read_all(sock):
    """Everything the server sends until it closes or goes quiet."""
    data, closed = b"", False
    sock.settimeout(WAIT_S)
    try:
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                closed = True
                break
            data += chunk
    except socket.timeout:
        pass
    return data, closed


def split_replies(data):
    """Splits simple/error/integer/bulk replies (all these cases produce)."""
    replies = []
    while data:
        end = data.index(b"\r\n")
        if data[:1] == b"$" and data[1:end] != b"-1":
            end += 2 + int(data[1:end]) + 2
        else:
            end += 2
        replies.append(data[:end])
        data = data[end:]
    return replies


def unrepr(text):
    """Undoes Redis's sdscatrepr as MONITOR prints arguments."""
    out, i = bytearray(), 0
    while i < len(text):
        if text[i:i + 1] == b"\\":
            n = text[i + 1:i + 2]
            if n == b"x":
                out.append(int(text[i + 2:i + 4], 16))
                i += 4
                continue
            out += {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"a": b"\a", b"b": b"\b"}.get(n, n)
            i += 2
        else:
            out += text[i:i + 1]
            i += 1
    return bytes(out)


def monitor_commands(data):
    commands = []
    for line in data.split(b"\r\n"):
        if not line.startswith(b"+") or line == b"+OK":
            continue
        args_text = line.split(b"] ", 1)[1]
        commands.append([unrepr(a) for a in re.findall(rb'"((?:[^"\\]|\\.)*)"', args_text)])
    return commands


def check(case):
    port = AUTH_PORT if case["auth"] else NOAUTH_PORT
    monitor = socket.create_connection(("127.0.0.1", AUTH_PORT))
    monitor.sendall(b"MONITOR\r\n")
    assert read_all(monitor)[0] == b"+OK\r\n"
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(case["input"])
    data, closed = read_all(client)
    client.close()
    seen, _ = read_all(monitor)
    monitor.close()

    commands = [args for kind, args in case["expected"] if kind == "ok" and args]
    last_kind, last_value = case["expected"][-1]
    want_tail = b"-ERR " + last_value + b"\r\n" if last_kind == "err" else b""
    problems = []
    if want_tail and not data.endswith(want_tail):
        problems.append(f"expected error {want_tail!r}")
        replies = []
    else:
        replies = split_replies(data[:len(data) - len(want_tail)])
    if not problems and len(replies) != len(commands):
        problems.append(f"{len(replies)} replies for {len(commands)} commands")
    if closed != (last_kind == "err"):
        problems.append(f"connection closed={closed}")
    if case["auth"] and not problems:
        ran = [args for args, reply in zip(commands, replies) if not reply.startswith(b"-")]
        if monitor_commands(seen) != ran:
            problems.append(f"MONITOR saw {monitor_commands(seen)!r:.200}, expected {ran!r:.200}")
    if problems:
        print(f"decode.txt:{case['line']}: got {data[:200]!r}: " + "; ".join(problems))
        return False
    return True


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else __file__.rsplit("/", 1)[0] + "/decode.txt"
    checked = skipped = failed = 0
    for case in cases(path):
        if case["differs"]:
            skipped += 1
            continue
        checked += 1
        failed += not check(case)
    print(f"{checked} cases checked against redis-server, {failed} failed, {skipped} skipped (redis-differs)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
