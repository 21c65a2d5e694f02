"""A long-running process's memory kept flat: glibc's malloc arenas capped and freed memory handed
back to the OS. Both are no-ops where the C library is not glibc.

Each run of the engine starts new threads, and glibc gives new threads their own malloc arenas (up
to 8 per core); memory freed in an arena stays with the process. Measured on 8 s replays, one
after another in one process: resident memory 198 → 328 MB over nine runs with the default, flat at
193 MB with two arenas.
"""

from __future__ import annotations

import ctypes
import gc

M_ARENA_MAX = -8  # mallopt parameter number, from glibc's malloc.h


def _glibc_function(name: str):
    try:
        return getattr(ctypes.CDLL(None), name, None)
    except OSError:
        return None


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap the arenas threads allocate from; call it before the threads start."""
    mallopt = _glibc_function("mallopt")
    if mallopt is not None:
        mallopt(M_ARENA_MAX, arenas)


def hand_back_memory() -> None:
    """Collect reference cycles and return freed heap pages to the OS (after a run has stopped)."""
    gc.collect()
    trim = _glibc_function("malloc_trim")
    if trim is not None:
        trim(0)
