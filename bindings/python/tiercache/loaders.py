"""L3 loaders: Python callables called by the C library on a miss.

How a Python function becomes a C loader:

* One module-level ``CFUNCTYPE`` trampoline (:data:`_TRAMPOLINE`) is the only
  function pointer C ever sees.  Each registered callable gets an integer id,
  and that id travels to C as the loader's ``user_data``.  The callable is kept
  by its cache (``Cache._loaders``, by id); :data:`_registry` maps the id to a
  *weak* reference to the cache.  So a loader that refers to its own cache
  (a closure over it) makes a plain reference cycle, which the garbage
  collector can free, rather than something a module global keeps alive for
  ever; while the library runs a loader, a ``get`` of that cache is running,
  so the cache is alive.  The library calls the destructor (:data:`_DESTRUCTOR`)
  exactly once, when the loader is replaced or the cache shuts down; it
  removes the entries.  Both ``CFUNCTYPE`` objects are module globals, and
  every cache with a loader also holds them (``Cache._callbacks``), so they
  outlive every cache, even during interpreter shutdown.
* Python exceptions must never unwind into C.  The trampoline catches
  everything; it stores the exception in the calling thread's innermost
  :class:`_Call` (pushed by ``Cache.get`` around the C call; the library runs a
  loader on the thread that missed) and returns ``TC_LOADER_FAILED`` so that
  nothing is cached.  ``Cache.get`` then re-raises it after ``tc_get_into`` returns.
  A stack rather than one slot, because a loader may itself call ``get``.

``Cache.get_or_load`` gives the library a loader for one call: a second
module-level trampoline (:data:`ONCE_TRAMPOLINE`) whose user data is the id
of a :class:`OnceCall` registered for the duration of that call (the library
calls such a loader only on the calling thread, during the call).  Its
exception is stored in that ``OnceCall``, not in the ``get`` stack, so a
``get_or_load`` made inside a loader, or a ``get`` made inside ``fn``, keeps
each exception with its own call.

What a loader returns (see :func:`_give`): ``bytes``-like or ``str`` (the
value, cached with the default TTL); ``None`` (no such value: ``KeyError`` /
the ``get`` default); a ``(value, ttl)`` pair, ``ttl`` in seconds as for
``Cache.put`` (``None``: the default TTL); or a :class:`tiercache.Entry`
(value with TTL, tags and/or a file dependency, given through
``tc_sink_put_with``).
"""

from __future__ import annotations

import ctypes
import itertools
import threading
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from . import errors
from ._native import FREE_FN, LOADER_FN, Status, lib
from .options import Entry, entry_options
from .values import TTL, Value, to_bytes, ttl_to_ms

#: What a loader may return.
LoaderResult = Union[None, Value, Tuple[Value, Optional[TTL]], Entry]
#: The loader type: key bytes in, see :data:`LoaderResult` out.
Loader = Callable[[bytes], LoaderResult]

#: Loader id -> weak reference to the cache whose ``_loaders`` holds the callable.
_registry: "Dict[int, weakref.ref[Any]]" = {}
_ids = itertools.count(1)  # 0 would be a NULL user_data
_local = threading.local()


class _Call:
    """One ``Cache.get`` in progress on this thread: where its loader's exception goes."""

    __slots__ = ("owner", "exc", "value")

    def __init__(self, owner: object) -> None:
        self.owner = owner  # the Cache whose get this is
        self.exc: Optional[BaseException] = None
        # The value this thread's loader gave the library during this get, so
        # that a get whose buffer turned out too small returns it instead of
        # asking again (which could run the loader again if the library could
        # not keep the value).
        self.value: Optional[bytes] = None


def _stack() -> List[_Call]:
    try:
        return _local.calls  # type: ignore[no-any-return]
    except AttributeError:
        _local.calls = []
        return _local.calls  # type: ignore[no-any-return]


def begin_call(owner: object) -> _Call:
    """Called by ``Cache.get`` before ``tc_get_into``; pair with :func:`end_call`."""
    call = _Call(owner)
    _stack().append(call)
    return call


def end_call(call: _Call) -> Optional[BaseException]:
    """Called after the C call returns: the exception its loader raised, if any
    (the value it gave, if any, is in ``call.value``)."""
    stack = _stack()
    stack.remove(call)  # normally the last item
    return call.exc


def _give(result: Any, sink: int, default_ttl_ms: int = 0) -> Tuple[int, Optional[bytes]]:
    """Gives a loader's result to the sink: the status for C and the value given."""
    if result is None:
        return Status.NOT_FOUND, None
    if isinstance(result, Entry):
        with entry_options(result.ttl_ms, result.tags, result.depends_on) as opts:
            status = lib.tc_sink_put_with(sink, result.value, len(result.value), opts)
            if status != Status.OK:
                raise errors.error_for(status)
        return Status.OK, result.value
    if isinstance(result, tuple):
        if len(result) != 2:
            raise TypeError(f"a loader's tuple must be (value, ttl), got {len(result)} items")
        value, ttl_ms = to_bytes(result[0], "value"), ttl_to_ms(result[1])
    else:
        value, ttl_ms = to_bytes(result, "value"), default_ttl_ms
    status = lib.tc_sink_put(sink, value, len(value), ttl_ms)
    if status != Status.OK:
        # E.g. TOO_LARGE: surface that status to the caller, not a bare LoaderFailed.
        raise errors.error_for(status)
    return Status.OK, value


def _answer(result: Any, sink: int) -> int:
    """Gives the cache loader's result to the sink; returns the status for C."""
    status, value = _give(result, sink)
    stack = getattr(_local, "calls", None)
    if stack and value is not None:
        # The innermost get on this thread is the one whose miss runs this
        # loader (a get made by the loader itself has returned by now).
        stack[-1].value = value
    return status


def _trampoline(user_data: Optional[int], key: Optional[int], key_len: int, sink: Optional[int]) -> int:
    """The C loader for every Python loader.  Never raises."""
    try:
        ident = user_data or 0
        owner = _registry[ident]()
        if owner is None:  # the library promises this cannot happen
            raise RuntimeError("tiercache: a loader was called after its cache was freed")
        func = owner._loaders[ident]
        return _answer(func(ctypes.string_at(key or 0, key_len) if key_len else b""), sink or 0)
    except BaseException as exc:  # noqa: BLE001 - nothing may unwind into C
        stack = getattr(_local, "calls", None)
        if stack:
            stack[-1].exc = exc
        # else: the loader ran outside any Cache.get on this thread (not expected);
        # the caller still gets LoaderFailed, only the Python exception is lost.
        return Status.LOADER_FAILED


def _destructor(user_data: Optional[int], _registry: "Dict[int, weakref.ref[Any]]" = _registry) -> None:
    """Called once by C when a loader is replaced or its cache shuts down.  Never
    raises: it may run from ``Cache.__del__`` during interpreter shutdown (hence
    the registry bound as a default argument, which outlives module teardown)."""
    try:
        ref = _registry.pop(user_data or 0, None)
        owner = ref() if ref is not None else None
        if owner is not None:
            owner._loaders.pop(user_data or 0, None)
    except BaseException:  # noqa: BLE001 - nothing may unwind into C
        pass


class OnceCall:
    """One ``Cache.get_or_load`` in progress: its loader, and what it left."""

    __slots__ = ("fn", "ttl_ms", "exc", "ident")

    def __init__(self, fn: Callable[[], Any], ttl_ms: int) -> None:
        self.fn = fn
        self.ttl_ms = ttl_ms  # for a plain value (a (value, ttl) pair gives its own)
        self.exc: Optional[BaseException] = None
        self.ident = next(_ids)


#: get_or_load calls in progress, by id (the id is the C loader's user data).
#: The library calls that loader only on the calling thread, during the call.
_once_calls: Dict[int, OnceCall] = {}


def begin_once(fn: Callable[[], Any], ttl_ms: int) -> OnceCall:
    """Registers the loader of one ``tc_get_or_load``; pair with :func:`end_once`."""
    call = OnceCall(fn, ttl_ms)
    _once_calls[call.ident] = call
    return call


def end_once(call: OnceCall) -> Optional[BaseException]:
    """After the C call: the exception the loader raised, if any."""
    _once_calls.pop(call.ident, None)
    return call.exc


def _once_trampoline(user_data: Optional[int], key: Optional[int], key_len: int, sink: Optional[int]) -> int:
    """The C loader of ``tc_get_or_load`` for every Python callable.  Never raises."""
    call = _once_calls.get(user_data or 0)
    try:
        if call is None:  # the library promises this cannot happen
            raise RuntimeError("tiercache: a get_or_load loader was called after its call returned")
        return _give(call.fn(), sink or 0, call.ttl_ms)[0]
    except BaseException as exc:  # noqa: BLE001 - nothing may unwind into C
        if call is not None:
            call.exc = exc
        return Status.LOADER_FAILED


# Module globals, so they stay alive for as long as any cache may call them.
_TRAMPOLINE = LOADER_FN(_trampoline)
_DESTRUCTOR = FREE_FN(_destructor)
#: The loader given to tc_get_or_load (it is only called during that call).
ONCE_TRAMPOLINE = LOADER_FN(_once_trampoline)


#: What a cache with a loader keeps alive for as long as the library may call it.
CALLBACKS = (_TRAMPOLINE, _DESTRUCTOR)


def install(owner: Any, handle: Optional[int], func: Optional[Loader]) -> None:
    """Makes ``func`` the loader of ``owner`` (a Cache, whose ``_loaders`` dict
    keeps the callable), whose C handle is ``handle`` (``None`` once closed: the
    library refuses it).  ``None`` as ``func``: no loader."""
    if func is None:
        status = lib.tc_cache_set_loader(handle, LOADER_FN(), None, FREE_FN())
        if status != Status.OK:
            raise errors.error_for(status)
        return
    if not callable(func):
        raise TypeError(f"a loader must be callable or None, not {type(func).__name__}")
    ident = next(_ids)
    owner._loaders[ident] = func
    _registry[ident] = weakref.ref(owner)
    status = lib.tc_cache_set_loader(handle, _TRAMPOLINE, ident, _DESTRUCTOR)
    if status != Status.OK:
        # The library did not take ownership (e.g. TC_CLOSED after close()).
        _registry.pop(ident, None)
        owner._loaders.pop(ident, None)
        raise errors.error_for(status)


def registered_count() -> int:
    """How many loaders the library still holds (for tests of the destructor)."""
    return len(_registry)
