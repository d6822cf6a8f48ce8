"""Reproducible subword regularization for unigram models (Kudo 2018, arXiv:1804.10959, sec. 3.3).

With `nbest_size` n, SentencePiece samples a line's segmentation among its n best ones with
probability proportional to exp(alpha * score), the score being the segmentation's log-probability
under the unigram model. But its generator mixes a salt of its own into every seed, per process:
two runs of one config never draw alike, and a resumed run draws other segmentations than the run
it continues would have. So the draw is made here instead: SentencePiece's n-best search (no
randomness in it) finds every training line's candidates and their scores once, kept in the cache;
each epoch then draws one candidate per line with NumPy's generator, seeded by the run's seed, the
epoch, the side and the chunk. The Gumbel-max trick makes it one vectorized step: the argmax of
alpha * score + Gumbel noise is a draw from that very softmax. The same config trains on the same
segmentations in any process, and a draw takes milliseconds where SentencePiece took a second or
two per side and epoch. Sampling from the whole lattice (`sampling_nbest: -1`) and BPE-dropout
have no n best to draw from and stay SentencePiece's.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import cache_entry
from .tokenizer import SubwordVocab

_DRAW_LINES = 20_000  # lines drawn per step (memory stays flat)
log = logging.getLogger("seq2seq")


def reproducible(vocab: SubwordVocab, nbest: int) -> bool:
    """Whether sampling among the `nbest` best segmentations of this vocabulary is drawn here."""
    return nbest > 1 and vocab.is_unigram


def candidates(
    entry: Path, sides: Iterable[tuple[str, Iterable[list[str]], SubwordVocab]], nbest: int, dtype: np.dtype
) -> Path:
    """The cache entry holding, for each (side, chunks of lines, vocabulary), the `nbest` best
    segmentations of every line and their scores; found on first use, written atomically."""
    if cache_entry.is_built(entry, "done"):
        return entry
    log.info(f"subword sampling: the {nbest} best segmentations of every training line, found once: {entry}")
    with cache_entry.building(entry, "done") as tmp:
        for side, chunks, vocab in sides:
            _write_side(tmp, side, chunks, vocab, nbest, dtype)
        (tmp / "done").touch()
    return entry


def _write_side(
    out: Path, side: str, chunks: Iterable[list[str]], vocab: SubwordVocab, nbest: int, dtype: np.dtype
) -> None:
    counts, lengths, scores = [], [], []
    bar = tqdm(desc=f"the {nbest} best segmentations ({side})", unit=" lines", leave=False, mininterval=1.0)
    with open(out / f"{side}.bin", "wb") as sink:
        for lines in chunks:
            for ids, line_scores in vocab.nbest(lines, nbest):
                counts.append(len(ids))
                lengths.extend(len(x) for x in ids)
                scores.append(line_scores)
                sink.write(np.concatenate(ids).astype(dtype).tobytes())
            bar.update(len(lines))
    bar.close()
    np.savez(
        out / f"{side}.npz",
        counts=np.array(counts, dtype=np.int32),  # candidates per line
        lengths=np.array(lengths, dtype=np.int32),  # pieces per candidate
        scores=np.concatenate(scores).astype(np.float32),  # per candidate
        dtype=np.array(np.dtype(dtype).str),
    )


def draw(entry: Path, side: str, alpha: float, key: str) -> Iterator[tuple[np.ndarray, bytes]]:
    """One sampled segmentation of the side's lines, as (pieces per line, packed ids) per chunk of
    lines, in order; `key` names the draw (the run's seed and the epoch): the same key, the same
    segmentation."""
    index = np.load(entry / f"{side}.npz")
    counts, lengths, scores = index["counts"], index["lengths"], index["scores"].astype(np.float64)
    ids = np.memmap(entry / f"{side}.bin", dtype=np.dtype(str(index["dtype"])), mode="r")
    first_candidate = _offsets(counts)
    first_piece = _offsets(lengths)
    for number, lo in enumerate(range(0, len(counts), _DRAW_LINES)):
        rng = np.random.default_rng(_seed(f"{key}:{alpha}:{side}:{number}"))
        n, first = counts[lo : lo + _DRAW_LINES], first_candidate[lo : lo + _DRAW_LINES]
        column = np.arange(max(int(n.max(initial=0)), 1))
        present = column[None, :] < n[:, None]  # (lines, nbest)
        candidate = np.where(present, first[:, None] + column[None, :], 0)
        noisy = alpha * scores[candidate] + rng.gumbel(size=candidate.shape)
        chosen = first + np.where(present, noisy, -np.inf).argmax(axis=1)  # (lines,)
        size = lengths[chosen]
        # the chosen candidates' pieces, one after the other
        start = np.repeat(first_piece[chosen] - _offsets(size), size)
        yield size, ids[start + np.arange(int(size.sum()))].tobytes()


def entry_name(corpus_key: str, nbest: int) -> str:
    return f"nbest-{hashlib.sha256(f'{corpus_key}:{nbest}'.encode()).hexdigest()[:16]}"


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def _offsets(lengths: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    return offsets
