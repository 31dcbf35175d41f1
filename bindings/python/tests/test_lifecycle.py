"""close(), the context manager, every method after close, garbage collection
without close, interpreter exit, copies and pickles, and fork()."""

from __future__ import annotations

import copy
import gc
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path
from typing import Callable, List

import pytest

import tiercache
from tiercache import loaders

from conftest import PYTHON, subprocess_env


def test_close_is_idempotent() -> None:
    c = tiercache.Cache()
    assert not c.closed
    c.close()
    c.close()
    assert c.closed
    assert "closed" in repr(c)


def test_context_manager_closes(cache_dir: Path) -> None:
    with tiercache.Cache(cache_dir) as c:
        c["k"] = "v"
    assert c.closed
    with tiercache.Cache(cache_dir) as c2:  # the lock was released
        assert c2["k"] == b"v"


def test_context_manager_closes_on_error(cache_dir: Path) -> None:
    with pytest.raises(RuntimeError):
        with tiercache.Cache(cache_dir) as c:
            raise RuntimeError
    assert c.closed
    tiercache.Cache(cache_dir).close()


#: Every method, as a call on a cache (after close: each must raise ClosedError).
EVERY_METHOD: List[Callable[[tiercache.Cache], object]] = [
    lambda c: c["k"],
    lambda c: c.get("k"),
    lambda c: c.get("k", 5),
    lambda c: c.__setitem__("k", "v"),
    lambda c: c.put("k", "v", ttl=1),
    lambda c: "k" in c,
    lambda c: c.__delitem__("k"),
    lambda c: c.remove_prefix("k"),
    lambda c: c.clear(),
    lambda c: c.clear(memory_only=True),
    lambda c: c.flush(),
    lambda c: c.purge_expired(),
    lambda c: c.stats(),
    lambda c: c.counter("l1_hits"),
    lambda c: c.compact(),
    lambda c: c.set_loader(None),
    lambda c: c.set_loader(lambda k: b""),
]


@pytest.mark.parametrize("with_loader", [False, True], ids=["no-loader", "loader"])
@pytest.mark.parametrize("op", EVERY_METHOD)
def test_use_after_close_raises(cache_dir: Path, op, with_loader: bool) -> None:  # type: ignore[no-untyped-def]
    c = tiercache.Cache(cache_dir, loader=(lambda k: b"loaded") if with_loader else None)
    c["k"] = "v"
    c.close()
    with pytest.raises(tiercache.ClosedError, match="TC_CLOSED") as info:
        op(c)
    assert info.value.status == tiercache.Status.CLOSED
    assert info.value.message  # the library's explanation
    # ClosedError is also an InvalidArgument / ValueError, like a closed file,
    # and a tiercache.Error.
    with pytest.raises(ValueError):
        op(c)
    with pytest.raises(tiercache.Error):
        op(c)


def test_close_from_many_threads(cache_dir: Path) -> None:
    c = tiercache.Cache(cache_dir)
    c["k"] = "v"
    problems: List[str] = []

    def closer() -> None:
        try:
            c.close()
            c["k"]
            problems.append("a get after close answered")
        except tiercache.ClosedError:
            pass
        except Exception as e:  # noqa: BLE001
            problems.append(repr(e))

    threads = [threading.Thread(target=closer) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not problems
    assert c.closed
    with tiercache.Cache(cache_dir) as again:
        assert again["k"] == b"v"


def test_failed_open_leaves_nothing_to_close(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("")
    with pytest.raises(tiercache.Error):
        tiercache.Cache(f)
    with pytest.raises(TypeError):
        tiercache.Cache(l1_max_entries="many")  # type: ignore[arg-type]
    gc.collect()  # the half-built objects' __del__ has nothing to free


# -- garbage collection without close ---------------------------------------------


def test_del_without_close_flushes_and_unlocks(cache_dir: Path) -> None:
    c = tiercache.Cache(cache_dir, write_policy="back")
    c["k"] = "written back by __del__"
    del c
    gc.collect()
    with tiercache.Cache(cache_dir) as again:  # not Locked: __del__ closed it
        assert again["k"] == b"written back by __del__"


def test_del_without_close_with_a_loader_referring_to_its_cache(cache_dir: Path) -> None:
    """A loader closing over its own cache makes a reference cycle; the garbage
    collector frees it, the cache is closed and the loader released."""
    gc.collect()
    before = loaders.registered_count()
    c = tiercache.Cache(cache_dir, write_policy="back")
    c.set_loader(lambda key: b"loaded" if "other" not in c else b"?")
    assert c["x"] == b"loaded"
    c["k"] = "v"
    assert loaders.registered_count() == before + 1
    del c
    gc.collect()
    assert loaders.registered_count() == before
    with tiercache.Cache(cache_dir) as again:
        assert again["k"] == b"v"
        assert again["x"] == b"loaded"


def test_del_after_close(cache_dir: Path) -> None:
    c = tiercache.Cache(cache_dir)
    c["k"] = "v"
    c.close()
    del c  # frees the handle only
    gc.collect()
    with tiercache.Cache(cache_dir) as again:
        assert again["k"] == b"v"


_AT_EXIT = textwrap.dedent(
    """
    import sys, threading, tiercache
    mode, path = sys.argv[1], sys.argv[2]
    cache = tiercache.Cache(path, write_policy="back")
    cache["k"] = "v"
    if mode == "loader":
        # A cycle through the loader, and a loader to free at exit.
        cache.set_loader(lambda key: cache.get(b"k"))
        assert cache["other"] == b"v"
    elif mode == "closed":
        cache.close()
    elif mode == "thread":
        # A daemon thread still hammering the cache when the interpreter exits.
        started = threading.Event()
        def hammer():
            i = 0
            while True:
                try:
                    cache[f"t{i % 100}"] = b"x" * 100
                    cache.get("k")
                except tiercache.ClosedError:
                    pass
                i += 1
                started.set()
        threading.Thread(target=hammer, daemon=True).start()
        started.wait()
    elif mode == "cycle":
        # Only a reference cycle keeps it: collected (or not) at exit.
        class Holder:
            pass
        h = Holder()
        h.cache, h.self = cache, h
        del cache, h
    print("exiting", flush=True)
    """
)


@pytest.mark.parametrize("mode", ["open", "loader", "closed", "cycle", "thread"])
def test_cache_left_at_interpreter_exit(cache_dir: Path, mode: str) -> None:
    result = subprocess.run(
        [PYTHON, "-c", _AT_EXIT, mode, str(cache_dir)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "exiting\n"
    assert "Exception ignored" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    if mode == "thread":
        return  # a daemon thread may keep the cache alive to the end: the OS releases the lock
    with tiercache.Cache(cache_dir) as again:  # the lock was released
        assert again["k"] == b"v"  # and the write-back entry flushed


# -- copies and pickles -------------------------------------------------------------


@pytest.mark.parametrize(
    "how, what",
    [
        (copy.copy, "copied"),
        (copy.deepcopy, "deep-copied"),
        (pickle.dumps, "pickled"),
        (lambda c: pickle.dumps(c, protocol=0), "pickled"),
        (lambda c: copy.deepcopy({"cache": c}), "deep-copied"),
    ],
)
def test_copy_and_pickle_are_refused(cache_dir: Path, how, what: str) -> None:  # type: ignore[no-untyped-def]
    with tiercache.Cache(cache_dir) as c:
        c["k"] = "v"
        with pytest.raises(TypeError, match=f"cannot be {what}"):
            how(c)
        assert c["k"] == b"v"  # the original is untouched
    gc.collect()
    with tiercache.Cache(cache_dir) as again:
        assert again["k"] == b"v"


# -- fork ---------------------------------------------------------------------------


def _fork() -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # forking a threaded process
        return os.fork()


def _child_checks(c: tiercache.Cache, cache_dir: Path) -> int:
    """Runs in the forked child: returns the exit code (0: every check passed)."""
    code = 0
    for i, op in enumerate(EVERY_METHOD):
        try:
            op(c)
            code = 10 + i  # answered in the child
        except tiercache.ClosedError as e:
            if e.status != tiercache.Status.CLOSED or "fork" not in e.message:
                code = 50 + i
        if code:
            return code
    try:
        tiercache.Cache(cache_dir).close()
        return 3  # the parent's directory opened in the child
    except tiercache.Locked:
        pass
    c.close()  # marks it closed; touches nothing of the parent's
    c.close()
    if not c.closed:
        return 4
    try:
        c["k"]
        return 5
    except tiercache.ClosedError:
        pass
    return 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_gets_closed_and_leaves_parent_alone(cache_dir: Path) -> None:
    c = tiercache.Cache(cache_dir, loader=lambda key: b"loaded")
    c["k"] = "v"
    closed_r, closed_w = os.pipe()  # the child says it has closed its copy
    exit_r, exit_w = os.pipe()  # the parent lets the child exit
    pid = _fork()
    if pid == 0:  # the child: never returns into pytest
        code = 99
        try:
            os.close(closed_r)
            os.close(exit_w)
            code = _child_checks(c, cache_dir)
            del c
            gc.collect()  # __del__: tc_cache_close in the child
            os.write(closed_w, b"x")
            os.read(exit_r, 1)
        finally:
            os._exit(code)
    os.close(closed_w)
    os.close(exit_r)
    try:
        assert os.read(closed_r, 1) == b"x"
        # The child closed and freed its copy: the parent still holds the lock...
        with pytest.raises(tiercache.Locked):
            tiercache.Cache(cache_dir)
    finally:
        os.close(exit_w)  # ...and lets the child exit
        os.close(closed_r)
        _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    # After the child's exit: still locked, and the parent's cache still works.
    with pytest.raises(tiercache.Locked):
        tiercache.Cache(cache_dir)
    assert c["k"] == b"v"
    assert c["new"] == b"loaded"
    c["k2"] = "v2"
    c.flush()
    c.close()
    with tiercache.Cache(cache_dir) as again:
        assert again["k"] == b"v" and again["k2"] == b"v2" and again["new"] == b"loaded"


_FORK_AT_EXIT = textwrap.dedent(
    """
    import os, sys, tiercache
    path = sys.argv[1]
    cache = tiercache.Cache(path, write_policy="back", loader=lambda key: b"loaded")
    cache["k"] = "v"
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        # The child touches the inherited cache, then exits normally with it
        # still referenced: interpreter exit runs its __del__.
        try:
            cache["k"]
            sys.exit(10)
        except tiercache.ClosedError:
            pass
        sys.exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    try:
        tiercache.Cache(path)
        sys.exit(11)
    except tiercache.Locked:
        pass
    cache["k2"] = "v2"
    assert cache["x"] == b"loaded"
    print("parent ok", flush=True)
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_exiting_normally(cache_dir: Path) -> None:
    """A child that ends through interpreter exit, with the inherited cache
    still referenced: no crash, no noise, and the parent's data intact."""
    result = subprocess.run(
        [PYTHON, "-c", _FORK_AT_EXIT, str(cache_dir)], capture_output=True, text=True, env=subprocess_env(), timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "parent ok\n"
    assert "Exception ignored" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    with tiercache.Cache(cache_dir) as again:
        assert again["k"] == b"v" and again["k2"] == b"v2"
