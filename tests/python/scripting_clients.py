"""redis-py's Lock and register_script against a server on the port given
as the only argument (run by tests/scripting_clients.rs). Exits non-zero,
with the failed assertion, if any step differs from what redis-py expects
of Redis."""

import sys
import time

import redis
from redis.exceptions import LockError, LockNotOwnedError


def lock_steps(r):
    lock = r.lock("resource", timeout=10)
    assert lock.acquire(blocking=False), "acquire a free lock"
    token = r.get("resource")
    assert token is not None and token == lock.local.token, "the lock holds our token"
    other = r.lock("resource", timeout=10)
    assert not other.acquire(blocking=False), "a held lock is not acquired again"
    ttl = r.pttl("resource")
    assert 0 < ttl <= 10_000, f"the lock expires in 10 s, pttl {ttl}"
    assert lock.extend(20), "extend adds 20 s"
    ttl = r.pttl("resource")
    assert 20_000 < ttl <= 30_000, f"extended to about 30 s, pttl {ttl}"
    assert lock.extend(5, replace_ttl=True), "extend replacing the ttl"
    ttl = r.pttl("resource")
    assert 0 < ttl <= 5_000, f"replaced with 5 s, pttl {ttl}"
    assert lock.reacquire(), "reacquire resets the timeout"
    ttl = r.pttl("resource")
    assert 5_000 < ttl <= 10_000, f"reacquired for 10 s, pttl {ttl}"
    try:
        other.release()
        raise AssertionError("releasing a lock held by another token must fail")
    except LockError:
        pass
    assert r.get("resource") == token, "a foreign release leaves the lock"
    lock.release()
    assert r.get("resource") is None, "release deletes the key"
    try:
        lock.extend(10)
        raise AssertionError("extending a released lock must fail")
    except LockError:
        pass
    # A lock that expired is not owned any more.
    short = r.lock("short", timeout=0.05)
    assert short.acquire(blocking=False)
    deadline = time.monotonic() + 5
    while r.exists("short") and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        short.release()
        raise AssertionError("releasing an expired lock must fail")
    except LockNotOwnedError:
        pass
    # The context manager form.
    with r.lock("ctx", timeout=5, blocking_timeout=1):
        assert r.exists("ctx") == 1
    assert r.exists("ctx") == 0


def register_script_steps(r):
    r.script_flush()
    incr = r.register_script("return redis.call('incrby', KEYS[1], ARGV[1])")
    # The first call meets NOSCRIPT and falls back to SCRIPT LOAD.
    assert incr(keys=["counter"], args=[5]) == 5
    assert r.script_exists(incr.sha) == [True]
    assert incr(keys=["counter"], args=[2]) == 7
    r.script_flush()
    assert r.script_exists(incr.sha) == [False]
    assert incr(keys=["counter"], args=[1]) == 8, "reloaded after a flush"
    pipe = r.pipeline()
    incr(keys=["counter"], args=[10], client=pipe)
    pipe.get("counter")
    assert pipe.execute() == [18, b"18"]


def main():
    r = redis.Redis(port=int(sys.argv[1]))
    lock_steps(r)
    register_script_steps(r)
    print("redis-py scripting clients: ok")


if __name__ == "__main__":
    main()
