"""Keeps glibc's heap from holding on to memory the service has freed.

glibc keeps freed memory in per-thread arenas. Two things made a soak's RSS creep up while the
memory in use stayed flat at 23.5 MiB (docs/reliability.md):
- once a large block that had its own mapping is freed, glibc raises its thresholds to that size,
  so each worker thread's arena then kept several MiB free at its top for good;
- freed blocks inside the arenas are only given back by an explicit trim.
``GlibcHeap.cap_retained`` fixes both thresholds; ``GlibcHeap.trim`` runs after each operation.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
RETAINED_BYTES = 1 << 20


class GlibcHeap:
    def __init__(self, libc: ctypes.CDLL):
        self._mallopt = libc.mallopt
        self._mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        self._malloc_trim = libc.malloc_trim
        self._malloc_trim.argtypes = [ctypes.c_size_t]

    def cap_retained(self, limit_bytes: int = RETAINED_BYTES) -> None:
        """Blocks of ``limit_bytes`` or more get their own mapping, and an arena gives back free memory
        at its top beyond ``limit_bytes``; setting these also stops glibc from raising them later."""
        for parameter in (M_TRIM_THRESHOLD, M_MMAP_THRESHOLD):
            if self._mallopt(parameter, limit_bytes) != 1:
                raise OSError(f"glibc's mallopt({parameter}, {limit_bytes}) failed")

    def trim(self) -> bool:
        """Give every whole free page in every arena back to the OS; True if any was."""
        return self._malloc_trim(0) == 1


def glibc_heap() -> GlibcHeap | None:
    """This process's heap when its C library is glibc; None elsewhere (musl, macOS, Windows)."""
    return GlibcHeap(ctypes.CDLL(None)) if _running_on_glibc() else None


def _running_on_glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # no confstr (Windows), or no such name (musl, macOS)
        return False
