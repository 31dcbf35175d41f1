"""The shared remote tier (``remote=``) against a real ``redis-server``
started on a free loopback port for the module, and stopped after it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

import tiercache

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server (scripts/deps.sh)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    d: Path = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(d)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(2000):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                time.sleep(0.005)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def _wait(cond: Callable[[], bool]) -> None:
    for _ in range(4000):
        if cond():
            return
        time.sleep(0.005)
    raise AssertionError("gave up waiting")


def test_a_put_in_one_cache_is_seen_by_another(redis_url: str) -> None:
    with tiercache.Cache(remote=redis_url, remote_namespace="py-a", remote_timeout_ms=500) as a, tiercache.Cache(
        remote=redis_url, remote_namespace=b"py-a"
    ) as b:
        assert a.counter("remote_state") == 1
        assert a.remote_reason() == ""
        a["k"] = b"v1"
        assert b["k"] == b"v1"
        assert b.counter("remote_hits") == 1
        a["k"] = b"v2"
        _wait(lambda: b.counter("remote_invalidations_received") >= 2)
        assert b["k"] == b"v2"
        del a["k"]
        _wait(lambda: b.counter("remote_invalidations_received") >= 3)
        assert "k" not in b and b.get("k") is None


def test_signed_values_need_the_secret(redis_url: str) -> None:
    secret = b"s" * 16
    with tiercache.Cache(remote=redis_url, remote_namespace="py-s", remote_secret=secret) as a, tiercache.Cache(
        remote=redis_url, remote_namespace="py-s"
    ) as unsigned:
        a["k"] = b"v"
        assert unsigned.get("k") is None
        assert unsigned.counter("remote_errors") == 1


def test_bad_remote_options_raise_with_the_reason() -> None:
    with pytest.raises(tiercache.InvalidArgument, match="unknown scheme"):
        tiercache.Cache(remote="http://localhost:1")
    with pytest.raises(tiercache.InvalidArgument, match="namespace"):
        tiercache.Cache(remote="redis://localhost:1", remote_namespace="n" * 256)
    with pytest.raises(tiercache.InvalidArgument, match="secret"):
        tiercache.Cache(remote="redis://localhost:1", remote_secret=b"short")
    with pytest.raises(TypeError):
        tiercache.Cache(remote=b"redis://localhost:1")  # type: ignore[arg-type]


def test_an_unreachable_server_leaves_the_cache_working() -> None:
    with tiercache.Cache(remote=f"redis://127.0.0.1:{_free_port()}", remote_timeout_ms=100) as c:
        assert c.counter("remote_state") == 2
        assert c.remote_reason(), "the reason the tier is degraded"
        c["k"] = b"v"
        assert c["k"] == b"v"


def test_without_remote_nothing_changes() -> None:
    with tiercache.Cache() as c:
        assert c.counter("remote_state") == 0
        assert c.remote_reason() is None


def test_a_get_lets_the_gil_go_while_it_waits_for_the_server(redis_url: str) -> None:
    """A get without a loader holds the GIL only for a memory hit
    (tc_get_made): one that asks the remote tier lets it go for the round
    trip. Here the server pauses every client for 2 s (CLIENT PAUSE), so the
    get waits that long for its answer; the test's own thread must run
    meanwhile. Held through the call, the GIL would let it run at most one
    switch interval (5 ms) after the getter started, a few iterations, not
    the 50 asked for (1 ms sleeps: ~2000 in 2 s)."""
    import threading

    host, port = redis_url.rsplit("/", 1)[-1].split(":")
    with tiercache.Cache(remote=redis_url, remote_namespace="py-gil", remote_timeout_ms=20_000) as c:
        assert c.get(b"absent") is None  # connected, and the handshake done
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"CLIENT PAUSE 2000 ALL\r\n")
            assert s.recv(16).startswith(b"+OK")
        started, done = threading.Event(), threading.Event()
        got: list = []

        def getter() -> None:
            started.set()
            got.append(c.get(b"still-absent", "default"))
            done.set()

        t = threading.Thread(target=getter)
        t.start()
        started.wait()
        ran = 0
        while not done.is_set():
            ran += 1
            time.sleep(0.001)
        t.join()
        assert got == ["default"]
        assert ran >= 50, f"the test's thread ran {ran} times while the get waited"
