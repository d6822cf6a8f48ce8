"""Dynamic batching: requests that arrive together share one decoding call.

Request threads (or an event loop) `submit` their lines and get a Future. One worker thread takes
the first waiting request, waits at most `max_wait` seconds for more to arrive (a server under load
has them waiting already, so it waits only when the queue runs dry), groups what it took by
decoding settings, and makes one call per group with all their lines. Decoding 32 one-sentence
requests as one batch costs little more than decoding one, which is where the throughput comes from.
The queue is bounded in sentences: past `max_queue` a submit is refused at once (the server answers
503) rather than letting latency grow without bound.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field


class QueueFull(Exception):
    """More sentences are waiting than the queue holds; try again shortly."""


class Closed(Exception):
    """The batcher is shutting down and takes no new work."""


@dataclass
class _Request:
    key: Hashable  # the decoding settings; only requests with equal keys share a call
    lines: list[str]
    future: Future = field(default_factory=Future)


@dataclass
class Stats:
    requests: int = 0  # answered (or failed) requests
    sentences: int = 0
    calls: int = 0  # decoding calls made; below `requests` when requests were merged
    queued: int = 0  # sentences waiting, not yet taken by the worker
    in_progress: int = 0  # sentences being decoded now


class Batcher:
    """`work(key, lines) -> results` (one result per line, in order) runs on one worker thread."""

    def __init__(
        self,
        work: Callable[[Hashable, list[str]], Sequence],
        max_wait: float = 0.005,
        max_queue: int = 1024,
        max_batch: int = 512,
    ):
        self._work = work
        self._max_wait, self._max_queue, self._max_batch = max_wait, max_queue, max_batch
        self._waiting: deque[_Request] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.stats = Stats()
        self._thread = threading.Thread(target=self._run, name="seq2seq-batcher", daemon=True)
        self._thread.start()

    def submit(self, key: Hashable, lines: Sequence[str]) -> Future:
        """Queue lines for decoding; the Future's result is `work`'s results for exactly these
        lines. Raises QueueFull when they do not fit, Closed after `close`."""
        request = _Request(key, list(lines))
        with self._cond:
            if self._closed:
                raise Closed("the server is shutting down")
            if self.stats.queued + len(request.lines) > self._max_queue and self.stats.queued > 0:
                raise QueueFull(f"{self.stats.queued} sentences are waiting (at most {self._max_queue})")
            self._waiting.append(request)
            self.stats.queued += len(request.lines)
            self._cond.notify()
        return request.future

    def close(self) -> None:
        """Take no new work, finish every request already queued, then stop the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    # ------------------------------------------------------------ the worker

    def _run(self) -> None:
        while True:
            taken = self._take()
            if not taken:
                return
            groups: dict[Hashable, list[_Request]] = {}
            for request in taken:
                groups.setdefault(request.key, []).append(request)
            for key, requests in groups.items():
                self._decode(key, requests)

    def _take(self) -> list[_Request]:
        """Block for the first request, then gather more for up to max_wait seconds or until
        max_batch sentences; an empty list once closed and drained."""
        with self._cond:
            while not self._waiting and not self._closed:
                self._cond.wait()
            if not self._waiting:
                return []
            deadline = time.monotonic() + self._max_wait
            taken, lines = [], 0
            while True:
                while self._waiting and (not taken or lines + len(self._waiting[0].lines) <= self._max_batch):
                    request = self._waiting.popleft()
                    taken.append(request)
                    lines += len(request.lines)
                left = deadline - time.monotonic()
                if self._waiting or lines >= self._max_batch or left <= 0 or self._closed:
                    break
                self._cond.wait(left)
            self.stats.queued -= lines
            self.stats.in_progress = lines
            return taken

    def _decode(self, key: Hashable, requests: list[_Request]) -> None:
        taken = sum(len(r.lines) for r in requests)
        # a request whose client went away was cancelled: skip its lines
        requests = [r for r in requests if r.future.set_running_or_notify_cancel()]
        lines = [line for r in requests for line in r.lines]
        try:
            results = list(self._work(key, lines)) if lines else []
            if len(results) != len(lines):
                raise RuntimeError(f"{len(lines)} lines gave {len(results)} results")
        except BaseException as e:  # the requests fail, the worker lives on
            for r in requests:
                r.future.set_exception(e)
        else:
            start = 0
            for r in requests:
                r.future.set_result(results[start : start + len(r.lines)])
                start += len(r.lines)
        with self._cond:
            self.stats.requests += len(requests)
            self.stats.sentences += len(lines)
            self.stats.calls += 1 if requests else 0
            self.stats.in_progress -= taken
