"""The statistics snapshot returned by :meth:`tiercache.Cache.stats`."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Dict

from ._native import TcStats


class L2State(enum.IntEnum):
    """The state of the disk tier."""

    NONE = 0  #: memory-only cache: no L2
    OK = 1  #: L2 working
    DEGRADED = 2  #: L2 failing; answering from memory (and the loader) for now


@dataclass(frozen=True)
class Stats:
    """Counters since the cache was opened, and sizes at the moment of the call.

    Mirrors the C ``tc_stats`` struct field for field.
    """

    l1_hits: int  #: gets answered from memory
    l2_hits: int  #: gets answered from disk (and promoted into memory)
    l3_loads: int  #: calls of the loader
    misses: int  #: gets that returned no value (not found, or the loader failed)
    l1_entries: int  #: entries in memory now
    l1_bytes: int  #: key plus value bytes in memory now
    l2_entries: int  #: live keys on disk now
    l2_bytes: int  #: bytes of live records on disk now
    l2_file_bytes: int  #: bytes of all segment files (live and dead records) now
    l1_evictions: int  #: entries evicted from memory to stay within the L1 bounds
    l2_evictions: int  #: entries dropped from disk to stay within the L2 bound
    compactions: int  #: compactions run
    corrupt_records: int  #: records found corrupt and skipped
    io_errors: int  #: failed reads and writes of the cache directory
    l2_state: L2State  #: see :class:`L2State`

    @classmethod
    def _from_c(cls, raw: TcStats) -> "Stats":
        values: Dict[str, Any] = {field[0]: int(getattr(raw, field[0])) for field in TcStats._fields_}
        state = values["l2_state"]
        # A state number from a newer library stays a plain int rather than failing.
        values["l2_state"] = L2State(state) if state in L2State._value2member_map_ else state
        return cls(**values)
