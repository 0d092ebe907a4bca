"""glibc's allocator set up for the factor engine's temporaries: freed blocks serve the next ones.

A compute allocates and frees thousands of 0.1–3 MiB arrays (a block's series, one per step of the plan).
glibc serves an allocation above its mmap threshold (128 KiB at first, raised to the largest mapping freed so
far) from a fresh mapping, and hands the top of its heap back to the OS whenever more than twice that is free:
either way the next array is faulted in again page by page, which on a virtual machine is the dearest part of
a compute (Alpha158 on 500 × 1,500: 0.1 s of 0.9 s). Fixing both thresholds once per process — arrays below
32 MiB from the heap, up to 256 MiB of free heap kept — lets freed temporaries serve the next ones: a quarter
of the page faults, the same peak RSS. Arrays of 32 MiB and more (the long frame, the stack) are still mapped
and given back when freed.

Only under glibc; elsewhere nothing changes. An operator's ``MALLOC_MMAP_THRESHOLD_`` or
``MALLOC_TRIM_THRESHOLD_`` wins (setting one switches off glibc's own adjustment of both).
"""

from __future__ import annotations

import ctypes
import os
from functools import cache

#: ``mallopt`` parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: the largest mmap threshold glibc accepts on 64-bit (``DEFAULT_MMAP_THRESHOLD_MAX``)
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20


@cache
def keep_freed_blocks() -> bool:
    """Set glibc's mmap and trim thresholds (once per process); False where glibc is not the allocator or the
    operator has set either threshold."""
    if any(v in os.environ for v in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (ValueError, OSError, AttributeError):  # not glibc: no such confstr name, library or symbol
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
