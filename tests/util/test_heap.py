from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

from story2video.util.heap import glibc_heap

glibc_only = pytest.mark.skipif(glibc_heap() is None, reason="mallopt and malloc_trim are glibc's")
MIB = 1 << 20

# In a fresh interpreter: free an 8 MiB block (its own mapping, so glibc raises its thresholds to
# 8 MiB), then allocate, touch and free 12 MiB in 256 KiB blocks; print the anonymous RSS (KiB)
# that the freed 12 MiB left behind.
RETENTION = """
import ctypes, sys
from pathlib import Path
from story2video.util.heap import glibc_heap
if sys.argv[1] == "capped":
    glibc_heap().cap_retained()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def anonymous_kib():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("RssAnon:"))
    return int(line.split()[1])
libc.free(libc.malloc(8 << 20))
before = anonymous_kib()
blocks = [libc.malloc(256 << 10) for _ in range(48)]
for block in blocks:
    ctypes.memset(block, 1, 256 << 10)
for block in reversed(blocks):
    libc.free(block)
print(anonymous_kib() - before)
"""


def retained_kib(mode: str) -> int:
    run = subprocess.run([sys.executable, "-c", RETENTION, mode], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    return int(run.stdout)


@glibc_only
def test_capped_heap_gives_back_freed_memory_that_glibc_would_keep():
    assert retained_kib("default") > 10 * 1024  # the behaviour the cap exists for
    assert retained_kib("capped") < 2 * 1024


@glibc_only
def test_trim_returns_freed_pages_inside_the_heap():
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    block_size, count = 32 * 1024, 2048  # 64 MiB in blocks below any mmap threshold
    blocks = [libc.malloc(block_size) for _ in range(count)]
    pin = libc.malloc(block_size)  # above the freed blocks, so free() cannot shrink the heap from the top
    try:
        for block in blocks:
            ctypes.memset(block, 1, block_size)
        for block in blocks:
            libc.free(block)
        retained = anonymous_rss_kib()
        assert glibc_heap().trim() is True
        released = retained - anonymous_rss_kib()
    finally:
        libc.free(pin)
    assert released > count * block_size // 1024 * 3 // 4, f"malloc_trim released only {released} KiB of {count * block_size // 1024}"


def anonymous_rss_kib() -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("RssAnon:")).split()[1])


def unknown_name(name: str) -> str:
    raise ValueError("unrecognized configuration name")


@pytest.mark.parametrize("confstr", [lambda name: None, unknown_name], ids=["no-value", "unknown-name"])
def test_other_c_libraries_have_no_glibc_heap(monkeypatch, confstr):
    monkeypatch.setattr(os, "confstr", confstr)
    assert glibc_heap() is None
