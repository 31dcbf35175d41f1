"""Per-entry options: TTL, tags and a file dependency (``tc_entry_options``).

:class:`Entry` is what a loader (or a ``get_or_load`` function) returns to
give its value with options; :func:`entry_options` turns Python options into
a ``tc_entry_options`` for one C call and frees it afterwards.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterable, Iterator, List, Optional, Tuple, Union

from . import errors
from ._native import Status, lib
from .values import TTL, Value, to_bytes, ttl_to_ms

#: A file an entry depends on: a path as ``str`` or any ``os.PathLike``.
DependsOn = Union[str, "os.PathLike[str]", "os.PathLike[bytes]"]


def tags_to_bytes(tags: Iterable[Value]) -> List[bytes]:
    """Checks and converts ``tags`` (an iterable of ``str``/bytes-likes).

    A single ``str`` or ``bytes`` is refused (``TypeError``): it would be read
    as one tag per character, which is never what was meant.  The limits (1 to
    255 bytes, at most 32 tags) are the library's: it reports them when the
    options are built.
    """
    if isinstance(tags, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"tags must be an iterable of tags (e.g. a list or tuple), not a single {type(tags).__name__}")
    try:
        items = list(tags)
    except TypeError:
        raise TypeError(f"tags must be an iterable of str or bytes, not {type(tags).__name__}") from None
    return [to_bytes(t, "tag") for t in items]


def path_to_bytes(depends_on: DependsOn) -> bytes:
    """``depends_on`` as the NUL-terminated UTF-8 path C takes (without the NUL)."""
    if not isinstance(depends_on, (str, os.PathLike)):
        raise TypeError(f"depends_on must be a str or os.PathLike, not {type(depends_on).__name__}")
    path = os.fsdecode(os.fspath(depends_on))
    if not path:
        raise ValueError("depends_on must not be empty")
    if "\0" in path:
        raise ValueError("depends_on must not contain NUL characters")
    try:
        return path.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"depends_on is not valid UTF-8: {path!r}") from None


class Entry:
    """A value with entry options, as a loader or a ``get_or_load`` function
    returns it (instead of plain bytes) to store it with a TTL, tags or a file
    dependency::

        def load(key: bytes) -> tiercache.Entry:
            data = read_config(key)
            return tiercache.Entry(data, ttl=600, tags=["config"], depends_on="/etc/app.toml")

    Args:
        value: the value (``bytes``-like or ``str``, stored as UTF-8).
        ttl: seconds (int, float) or a ``timedelta``; ``None``: the cache's
            default TTL (a ``get_or_load`` ``ttl`` does not apply to an Entry).
        tags: an iterable of tags (``str`` or bytes-likes), 1 to 255 bytes
            each, at most 32; :meth:`Cache.remove_tag` removes every entry
            carrying one.
        depends_on: a file (``str`` or ``os.PathLike``) the entry depends on:
            it stays valid while the file's modification time, size and inode
            are what they were when it was stored; a changed or missing file
            makes a get of it a miss (which goes to the loader).

    Arguments are checked here (types, TTL range), the tag limits and the
    file's existence when the value is stored.
    """

    __slots__ = ("value", "ttl_ms", "tags", "depends_on")

    def __init__(
        self,
        value: Value,
        ttl: Optional[TTL] = None,
        tags: Iterable[Value] = (),
        depends_on: Optional[DependsOn] = None,
    ) -> None:
        self.value: bytes = to_bytes(value, "value")
        self.ttl_ms: int = ttl_to_ms(ttl) if ttl is not None else 0
        self.tags: Tuple[bytes, ...] = tuple(tags_to_bytes(tags))
        self.depends_on: Optional[bytes] = path_to_bytes(depends_on) if depends_on is not None else None

    def __repr__(self) -> str:
        return (
            f"Entry({self.value!r}, ttl_ms={self.ttl_ms}, tags={list(self.tags)!r}, "
            f"depends_on={self.depends_on!r})"
        )


@contextmanager
def entry_options(ttl_ms: int, tags: Iterable[bytes], depends_on: Optional[bytes]) -> Iterator[int]:
    """A ``tc_entry_options *`` with these options, freed when the block ends.

    Raises the library's error (:class:`InvalidArgument` for an empty tag or a
    missing dependency file, :class:`TooLarge` for a tag over 255 bytes or a
    33rd tag) right after the call that failed.
    """
    handle = lib.tc_entry_options_new()
    if not handle:
        raise MemoryError("tc_entry_options_new returned NULL")
    try:
        if ttl_ms:
            _check(lib.tc_entry_options_set_ttl(handle, ttl_ms))
        for tag in tags:
            _check(lib.tc_entry_options_add_tag(handle, tag, len(tag)))
        if depends_on is not None:
            _check(lib.tc_entry_options_set_dependency(handle, depends_on))
        yield handle
    finally:
        lib.tc_entry_options_free(handle)


def _check(status: int) -> None:
    if status != Status.OK:
        raise errors.error_for(status)
