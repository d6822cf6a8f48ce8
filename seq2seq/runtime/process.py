"""The `seq2seq` command's own process: how its memory allocator keeps freed memory, and how it
ends. Neither happens on import: a program that imports the package keeps its own."""

from __future__ import annotations

import atexit
import ctypes
import os
import platform
import sys
import threading

# glibc's mallopt(3): what malloc serves with fresh pages (mmap) instead of its heap, how many such
# blocks it may hold at once (0: none, everything from the heap), and how much free memory at the
# top of the heap it keeps rather than returning to the kernel
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_MMAP_ABOVE, _KEEP = 32 << 20, 1 << 30


def keep_freed_memory() -> bool:
    """Tune glibc's malloc so that the memory a step frees serves the next step.

    By default glibc serves a large allocation with fresh pages from the kernel (above a threshold
    that adapts, up to 32 MB) and gives free memory at the top of its heap back beyond twice that
    threshold. A decoder step makes and frees tens of MB of tensors of sizes that change as
    sentences finish, so much of it came as fresh pages, a page fault per 4 KB, a noticeable part of
    a beam search command's time (docs/benchmarks.md). A Transformer's training step makes larger
    ones still: its (N, V) logits and their gradient, 65 MB each in bf16 for 4,096 tokens and 8,000
    pieces, above the highest threshold glibc takes (32 MB), came as fresh zeroed pages at every
    update, about 25 ms of each. Here every allocation comes from the heap (no mmap at all), and up
    to 1 GB of freed memory stays for reuse (the peak is about the same, 1.6 % higher in a training
    run; what the process frees it keeps until it ends). Only on glibc, and not when the user set
    malloc's own environment variables. Returns whether it changed anything."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(k.startswith("MALLOC_") or k == "GLIBC_TUNABLES" for k in os.environ):
        return False
    libc = ctypes.CDLL(None)
    return all(
        [
            libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_ABOVE) == 1,
            libc.mallopt(_M_MMAP_MAX, 0) == 1,
            libc.mallopt(_M_TRIM_THRESHOLD, _KEEP) == 1,
        ]
    )


def leave(code: int | str | None) -> None:
    """End the process with `code` (SystemExit's), skipping the interpreter's teardown.

    With torch imported that teardown takes a noticeable part of a short command's time: garbage
    collection over every object and deallocating them one by one, all memory the kernel frees at
    once anyway (docs/benchmarks.md).
    What a normal exit does before it still happens here: the exit handlers (logging's flush, ...) and
    the flush of stdout and stderr. While other threads run (which a normal exit would wait for),
    the exit is the normal one."""
    if threading.active_count() > 1:
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # the reader went away, or the stream is closed
            code = code or 141
    os._exit(code)
