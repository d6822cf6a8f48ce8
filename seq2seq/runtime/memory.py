"""Giving the C heap's free pages back to the system during training.

Batches of varying shape leave the C heap fragmented: freed activation memory stays resident in
holes between live blocks, and the process's memory creeps up over an epoch. Returning the free
pages to the system every few dozen updates costs a few milliseconds.
"""

from __future__ import annotations

import ctypes
import functools

RELEASE_EVERY = 50  # updates


@functools.cache
def _libc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, musl): nothing to do
        return None


def release_free_memory() -> None:
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
