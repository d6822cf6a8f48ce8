"""batcher.py: concurrent requests share decoding calls, each gets exactly its own results, a
full queue refuses at once, and closing finishes what was queued."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from seq2seq.serving.batcher import Batcher, Closed, QueueFull


class Recorder:
    """A `work` function that answers each line with (key, line) and records its calls; while
    `gate` is closed a call waits, so requests pile up behind it."""

    def __init__(self):
        self.calls: list[tuple[object, list[str]]] = []
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, key, lines):
        self.entered.set()
        self.gate.wait(timeout=30)
        self.calls.append((key, list(lines)))
        return [(key, line) for line in lines]


def test_requests_waiting_behind_a_call_are_merged_into_one_call():
    work = Recorder()
    batcher = Batcher(work, max_wait=0.0)
    try:
        first = batcher.submit("k", ["first"])
        assert work.entered.wait(timeout=30)  # the worker is busy with the first request
        futures = [batcher.submit("k", [f"line {i}"]) for i in range(31)]
        assert batcher.stats.queued == 31
        work.gate.set()
        assert first.result(timeout=30) == [("k", "first")]
        for i, f in enumerate(futures):
            assert f.result(timeout=30) == [("k", f"line {i}")]
    finally:
        batcher.close()
    assert [len(lines) for _, lines in work.calls] == [1, 31]
    assert (batcher.stats.requests, batcher.stats.sentences, batcher.stats.calls) == (32, 32, 2)
    assert (batcher.stats.queued, batcher.stats.in_progress) == (0, 0)


def test_only_requests_with_the_same_settings_share_a_call():
    work = Recorder()
    batcher = Batcher(work, max_wait=0.0)
    try:
        batcher.submit("a", ["x"])
        assert work.entered.wait(timeout=30)
        futures = [batcher.submit(key, [f"{key}{i}", f"{key}{i}'"]) for i in range(3) for key in "ab"]
        work.gate.set()
        results = [f.result(timeout=30) for f in futures]
    finally:
        batcher.close()
    for result in results:
        assert len(result) == 2 and result[0][1] + "'" == result[1][1]
    merged = work.calls[1:]
    assert sorted(key for key, _ in merged) == ["a", "b"]
    for key, lines in merged:
        assert len(lines) == 6 and all(line.startswith(key) for line in lines)


def test_concurrent_submitters_get_their_own_lines_back_in_order():
    batcher = Batcher(lambda key, lines: [line.upper() for line in lines], max_wait=0.002)
    try:

        def client(i: int) -> bool:
            lines = [f"client {i} line {j}" for j in range(1 + i % 4)]
            return batcher.submit(None, lines).result(timeout=30) == [line.upper() for line in lines]

        with ThreadPoolExecutor(16) as pool:
            assert all(pool.map(client, range(200)))
    finally:
        batcher.close()
    assert batcher.stats.requests == 200
    assert batcher.stats.calls < 200  # some requests were merged


def test_a_full_queue_refuses_at_once_and_frees_up_afterwards():
    work = Recorder()
    batcher = Batcher(work, max_wait=0.0, max_queue=4)
    try:
        batcher.submit("k", ["busy"])
        assert work.entered.wait(timeout=30)
        waiting = batcher.submit("k", ["a", "b", "c"])
        with pytest.raises(QueueFull):
            batcher.submit("k", ["d", "e"])
        fits = batcher.submit("k", ["d"])
        work.gate.set()
        assert len(waiting.result(timeout=30)) == 3 and len(fits.result(timeout=30)) == 1
        assert batcher.submit("k", ["a", "b", "c", "d"]).result(timeout=30)
    finally:
        batcher.close()


def test_a_failing_call_fails_its_requests_and_the_worker_goes_on():
    def work(key, lines):
        if "bad" in lines:
            raise ValueError("cannot decode")
        return lines

    batcher = Batcher(work, max_wait=0.0)
    try:
        with pytest.raises(ValueError, match="cannot decode"):
            batcher.submit("k", ["bad"]).result(timeout=30)
        assert batcher.submit("k", ["good"]).result(timeout=30) == ["good"]
    finally:
        batcher.close()


def test_close_finishes_the_queued_requests_then_refuses_new_ones():
    work = Recorder()
    batcher = Batcher(work, max_wait=0.0)
    batcher.submit("k", ["busy"])
    assert work.entered.wait(timeout=30)
    queued = [batcher.submit("k", [str(i)]) for i in range(5)]
    closer = threading.Thread(target=batcher.close)
    closer.start()
    work.gate.set()
    closer.join(timeout=30)
    assert not closer.is_alive()
    assert [f.result(timeout=0) for f in queued] == [[("k", str(i))] for i in range(5)]
    with pytest.raises(Closed):
        batcher.submit("k", ["late"])


def test_a_cancelled_request_is_not_decoded():
    work = Recorder()
    batcher = Batcher(work, max_wait=0.0)
    try:
        batcher.submit("k", ["busy"])
        assert work.entered.wait(timeout=30)
        gone = batcher.submit("k", ["client went away"])
        kept = batcher.submit("k", ["kept"])
        assert gone.cancel()
        work.gate.set()
        assert kept.result(timeout=30) == [("k", "kept")]
    finally:
        batcher.close()
    assert all("client went away" not in lines for _, lines in work.calls)
