"""Exceptions: one class per ``tc_status``, all under :class:`Error`.

Each carries the status and the library's explanation (``tc_last_error()``,
read on the failing thread right after the failing call).  Several also
derive from the built-in a Python caller would naturally catch: a miss is a
``KeyError``, a bad or oversized argument a ``ValueError``, an I/O failure an
``OSError``.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

from ._native import Status, last_error, status_str


class Error(Exception):
    """A tiercache call failed.

    Attributes:
        status: the :class:`Status` the C call returned.
        message: the library's explanation (``tc_last_error()``), possibly "".
    """

    status: Status = Status.PANIC  # overridden by each subclass

    def __init__(self, message: str = "", status: Optional[Status] = None) -> None:
        if status is not None:
            self.status = Status(status)
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        # KeyError's own __str__ would repr() the message; keep it readable.
        name = status_str(self.status) or self.status.name
        return f"{name}: {self.message}" if self.message else name


class NotFound(Error, KeyError):
    """``TC_NOT_FOUND``: no tier, and no loader, has a value for the key."""

    status = Status.NOT_FOUND


class InvalidArgument(Error, ValueError):
    """``TC_INVALID_ARGUMENT``: e.g. an empty key or an out-of-range option."""

    status = Status.INVALID_ARGUMENT


class ClosedError(InvalidArgument):
    """``TC_CLOSED``: the cache was closed (or is closing), or it was inherited
    from the parent process across ``os.fork()`` and belongs to the parent.

    Raised by every method after :meth:`Cache.close`.  Also an
    :class:`InvalidArgument` (and so a ``ValueError``), like an operation on a
    closed file.
    """

    status = Status.CLOSED


class TooLarge(Error, ValueError):
    """``TC_TOO_LARGE``: a key over 64 KiB or a value over ``max_value_size``."""

    status = Status.TOO_LARGE


class StorageError(Error, OSError):
    """``TC_IO_ERROR``: the OS failed to read or write the cache directory."""

    status = Status.IO_ERROR


class Locked(Error):
    """``TC_LOCKED``: another handle, in this process or another, owns the directory."""

    status = Status.LOCKED


class Corrupt(Error):
    """``TC_CORRUPT``: the directory holds data this library version cannot read."""

    status = Status.CORRUPT


class LoaderFailed(Error):
    """``TC_LOADER_FAILED``: the loader failed (on this or another thread); nothing was cached."""

    status = Status.LOADER_FAILED


class BufferTooSmall(Error):
    """``TC_BUFFER_TOO_SMALL``: a caller's buffer was smaller than the value."""

    status = Status.BUFFER_TOO_SMALL


class Panic(Error):
    """``TC_PANIC``: a bug inside the library, caught at the C boundary."""

    status = Status.PANIC


_BY_STATUS: Dict[int, Type[Error]] = {
    cls.status: cls
    for cls in (
        NotFound,
        InvalidArgument,
        TooLarge,
        StorageError,
        Locked,
        Corrupt,
        LoaderFailed,
        BufferTooSmall,
        Panic,
        ClosedError,
    )
}


def error_for(status: int) -> Error:
    """The exception for a failed call.  Must be called on the thread that made
    the call, before it makes another, so that ``tc_last_error()`` is its own."""
    message = last_error()
    try:
        cls = _BY_STATUS[status]
    except KeyError:  # a status this binding does not know: keep the number
        return Error(f"unknown status {status}: {message}", Status.PANIC)
    return cls(message)


def error_with(status: int, message: str) -> Error:
    """The exception for ``status`` with a message of the binding's own (for a
    status that is not the last call's, e.g. one key's status in a batch)."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        return Error(f"unknown status {status}: {message}", Status.PANIC)
    return cls(message)
