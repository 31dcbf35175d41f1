"""CPython's own mapping protocol tests (``test.mapping_tests``) against a Cache.

``BasicTestMappingProtocol`` is the part of CPython's suite written for any
mapping (dict, UserDict, os.environ and shelves use it).  It comes with the
interpreter's ``test`` package; Debian ships that separately
(``libpython3.X-testsuite``, which ``scripts/deps.sh`` installs).

Adaptations, each because a cache holds bytes and only bytes:

1. ``_reference`` returns bytes keys and bytes values.  CPython's reference
   mapping is ``{"1": "2", "key1": "value1", "key2": (1, 2, 3)}``; a cache
   stores a ``str`` as its UTF-8 bytes and gives back ``bytes``, and cannot
   store a tuple, so the same data is given as bytes:
   ``{b"1": b"2", b"key1": b"value1", b"key2": b"\\x01\\x02\\x03"}``.
2. ``type2test`` is a factory, not a class: a fresh memory-only ``Cache``
   each time (closed again in ``tearDown``).

Nothing else is changed: every test method is CPython's.
"""

from __future__ import annotations

import unittest
from typing import Any, Dict, List

import tiercache

try:
    from test import mapping_tests
except ImportError as exc:  # pragma: no cover - depends on the interpreter's packaging
    _missing = exc

    def test_cpython_mapping_tests_are_available() -> None:
        raise AssertionError(
            f"the interpreter lacks CPython's test package ({_missing}); on Debian install "
            "libpython3.X-testsuite (scripts/deps.sh does)"
        )

else:
    _opened: List[tiercache.Cache] = []

    def _fresh_cache() -> tiercache.Cache:
        cache = tiercache.Cache()
        _opened.append(cache)
        return cache

    class TestCacheMappingProtocol(mapping_tests.BasicTestMappingProtocol):
        type2test = staticmethod(_fresh_cache)

        def _reference(self) -> Dict[Any, Any]:
            return {b"1": b"2", b"key1": b"value1", b"key2": b"\x01\x02\x03"}

        def tearDown(self) -> None:
            while _opened:
                _opened.pop().close()

    def test_the_protocol_tests_ran() -> None:
        # Guards against the class silently collecting nothing.
        names = unittest.TestLoader().getTestCaseNames(TestCacheMappingProtocol)
        assert "test_read" in names and "test_write" in names and len(names) >= 14
