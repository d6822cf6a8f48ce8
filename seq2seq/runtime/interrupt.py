"""Stopping a training run cleanly: Ctrl-C or SIGTERM asks the loop to save and stop after the
update in progress."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def on_interrupt(handler: Callable[[], None], escalate: bool) -> Iterator[None]:
    """Ctrl-C (SIGINT) or SIGTERM (what torchrun and job schedulers send to stop a worker) asks the
    loop to save and stop after the current update. With `escalate`, a second one interrupts at
    once; under torchrun every worker gets the signal twice (from the terminal and from torchrun),
    so there it never escalates, and torchrun kills a worker that does not stop in time."""
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in signals}

    def restore():
        for s in signals:
            signal.signal(s, previous[s] if previous[s] is not None else signal.SIG_DFL)

    def first(signum, frame):
        handler()
        if escalate:
            restore()

    for s in signals:
        signal.signal(s, first)
    try:
        yield
    finally:
        restore()
