"""One entry of the cache folder (a tokenizer, an encoded corpus, the n best segmentations), built
in a temporary folder beside it and published in one rename: a reader sees all of an entry or none,
a run stopped while building leaves nothing under the entry's name, and of two runs building the
same entry at once the first to finish wins (the entries are the same bytes)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def is_built(entry: Path, marker: str) -> bool:
    """Whether `entry` is whole: `marker` is a file written last inside it."""
    return (entry / marker).exists()


@contextmanager
def building(entry: Path, marker: str) -> Iterator[Path]:
    """A temporary folder to write `entry` into, `marker` among its files; when the block ends
    without an error it becomes `entry`, otherwise it is removed."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=entry.parent, prefix=f".tmp-{entry.name.split('-')[0]}-"))
    try:
        yield tmp
        if not is_built(tmp, marker):
            raise RuntimeError(f"cache entry {entry} built without its marker {marker}")
        if entry.exists() and not is_built(entry, marker):  # a part left by a killed older version
            shutil.rmtree(entry)
        try:
            os.replace(tmp, entry)
        except OSError:  # another run published it first
            if not is_built(entry, marker):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
