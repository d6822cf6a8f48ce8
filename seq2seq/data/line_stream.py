"""Input lines in batches from a byte stream, as fast as they come: what `translate`, `classify`
and `chat` read from standard input or a file.

A reader thread queues raw lines; each batch is every line already waiting (up to a limit). In a
pipe the queue is full, so work is batched; at a terminal each line is a batch of its own and is
answered as soon as it is entered.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import BinaryIO


def line_batches(
    source: BinaryIO, warn: Callable[[str], None], batch_lines: int = 4096, keep_ends: bool = False
) -> Iterator[tuple[int, list[str]]]:
    """(number of the batch's first line, its lines without line ends, or with them if
    `keep_ends`), in order. Bytes that are not UTF-8 are replaced, with a warning naming the line."""
    lines: queue.Queue = queue.Queue(maxsize=4 * batch_lines)
    threading.Thread(target=_read_into, args=(source, lines), daemon=True).start()
    done, count = False, 0
    while not done:
        raws = [lines.get()]
        while raws[-1] is not None and len(raws) < batch_lines:
            try:
                raws.append(lines.get_nowait())
            except queue.Empty:
                break
        done = raws[-1] is None
        texts = [
            decode_line(raw, count + i + 1, warn, keep_ends)
            for i, raw in enumerate(r for r in raws if r is not None)
        ]
        if texts:
            yield count + 1, texts
            count += len(texts)


def decode_line(raw: bytes, number: int, warn: Callable[[str], None], keep_end: bool = False) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        warn(f"line {number}: bytes that are not UTF-8 were replaced by U+FFFD")
    return text if keep_end else text.rstrip("\r\n")


def _read_into(source: BinaryIO, lines: queue.Queue) -> None:
    for raw in source:
        lines.put(raw)
    lines.put(None)
