"""The compiled hot paths of the slow-log digest (bot/slowlog/_speedups.c), when they were built.

`speedups` is the extension module, or None: no C compiler at install time, or
MILVUS_TRIAGE_PURE_PYTHON=1 (how the tests check the Python versions give the same answers).
Each caller keeps the Python version of what it takes from here, and uses it whenever this is None
or a compiled function declines to answer (it returns None where exactness would need Unicode
tables).
"""

from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("MILVUS_TRIAGE_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from bot.slowlog import _speedups
    except ImportError:  # not built here: the Python versions run
        return None
    return _speedups


speedups: ModuleType | None = _load()
