"""Parallel text -> validated files (here) -> encoded corpus on disk (corpus.py) -> length-bucketed
token-budget batches (here).

An epoch's batch order is a pure function of (seed, epoch), so a position inside it is just an
index: that is what makes resuming exact. Batches are padded tensors (`collate`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config.load import DataConfig
from ..errors import UserError
from ..special_ids import BOS_ID, EOS_ID, PAD_ID

_CHUNK_LINES = 20_000
_PARALLEL_BYTES = 16 << 20  # files larger than this are encoded by worker processes


@dataclass(frozen=True)
class Batch:
    """One padded batch. B sentences, S source length, T target length.

    src:         (B, S) source ids + EOS, PAD-padded
    src_lengths: (B,)   real source lengths (with EOS)
    tgt_in:      (B, T) BOS y_1 .. y_n   (decoder input, teacher forcing)
    tgt_out:     (B, T) y_1 .. y_n EOS   (prediction targets); PAD where tgt_in is PAD
    """

    src: torch.Tensor
    src_lengths: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor

    @property
    def n_tgt_tokens(self) -> int:
        return int(self.tgt_out.ne(PAD_ID).sum())

    def to(self, device: torch.device) -> Batch:
        return Batch(
            *(
                t.to(device, non_blocking=True)
                for t in (self.src, self.src_lengths, self.tgt_in, self.tgt_out)
            )
        )


def pad_src(src: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Source ids without EOS -> (B, S) ids + EOS, PAD-padded, and lengths (B,) with EOS."""
    lengths = np.array([len(s) + 1 for s in src])
    out = np.full((len(src), lengths.max()), PAD_ID, dtype=np.int64)
    for i, s in enumerate(src):
        out[i, : len(s)] = s
        out[i, len(s)] = EOS_ID
    return torch.from_numpy(out), torch.from_numpy(lengths)


def collate(src: list[np.ndarray], tgt: list[np.ndarray]) -> Batch:
    """Pad a list of (source ids, target ids) without BOS/EOS into a Batch."""
    tgt_len = max(len(t) for t in tgt) + 1
    tgt_in = np.full((len(tgt), tgt_len), PAD_ID, dtype=np.int64)
    tgt_out = np.full((len(tgt), tgt_len), PAD_ID, dtype=np.int64)
    for i, t in enumerate(tgt):
        tgt_in[i, 0] = BOS_ID
        tgt_in[i, 1 : len(t) + 1] = t
        tgt_out[i, : len(t)] = t
        tgt_out[i, len(t)] = EOS_ID
    return Batch(*pad_src(src), torch.from_numpy(tgt_in), torch.from_numpy(tgt_out))


# ---------------------------------------------------------------- reading and validating files


def read_lines(path: str | Path) -> list[str]:
    """Every line of a UTF-8 text file, validated (see `check_text_file`). The file is read once,
    so a pipe serves too (`--src <(zcat test.en.gz)`)."""
    return [text.rstrip("\r\n") for _, text in _checked_lines(path)]


def check_text_file(path: str | Path) -> tuple[int, str]:
    """Line count and content digest of a UTF-8 text file; a clear error if it cannot serve."""
    digest = hashlib.sha256()
    n = 0
    for n, (raw, _) in enumerate(_checked_lines(path), 1):  # noqa: B007
        digest.update(raw)
    return n, digest.hexdigest()


def _checked_lines(path: str | Path) -> Iterator[tuple[bytes, str]]:
    """Each line of the file as bytes and as text (split at \\n only); a clear error for a missing,
    unreadable, empty or non-UTF-8 file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"data file {path} not found; check the path in the config")
    if path.is_dir():
        raise UserError(f"data path {path} is a directory; give a text file with one sentence per line")
    n = 0
    try:
        with open(path, "rb") as f:
            for n, raw in enumerate(f, 1):  # noqa: B007
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise UserError(
                        f"{path}, line {n}: bytes that are not UTF-8 (byte {e.start + 1} of the "
                        "line); convert the file to UTF-8, e.g. with iconv"
                    ) from None
                yield raw, text
    except PermissionError:
        raise UserError(f"data file {path} is not readable; check its permissions") from None
    if n == 0:
        raise UserError(f"data file {path} is empty; it needs one sentence per line")


def check_parallel(src_path: str | Path, tgt_path: str | Path) -> str:
    """Validate a pair of parallel files; return a digest of their content."""
    n_src, src_digest = check_text_file(src_path)
    n_tgt, tgt_digest = check_text_file(tgt_path)
    if n_src != n_tgt:
        raise UserError(
            f"{src_path} has {n_src} lines but {tgt_path} has {n_tgt}; parallel files must be "
            "line-aligned, one sentence pair per line"
        )
    return hashlib.sha256(f"{src_digest}:{tgt_digest}".encode()).hexdigest()


# ---------------------------------------------------------------- batching


def epoch_batches(
    src_lengths: np.ndarray, tgt_lengths: np.ndarray, cfg: DataConfig, seed: int, epoch: int
) -> list[np.ndarray]:
    """This epoch's batches (arrays of sentence indices), a pure function of (seed, epoch).

    Length bucketing: shuffle, sort each pool of `pool_batches` batches by length, cut into
    token-budget batches, then shuffle the batches. Pairs longer than `max_len` are skipped.
    """
    rng = np.random.default_rng([seed, epoch])
    keep = np.flatnonzero((src_lengths <= cfg.max_len) & (tgt_lengths <= cfg.max_len))
    if len(keep) == 0:
        return []
    order = rng.permutation(keep)
    padded = np.maximum(src_lengths, tgt_lengths) + 1  # + EOS (BOS on the input side)
    per_batch = cfg.batch_sentences or max(1, cfg.batch_tokens // max(1, int(padded[keep].mean())))
    pool = per_batch * cfg.pool_batches
    batches: list[np.ndarray] = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.lexsort((src_lengths[chunk], tgt_lengths[chunk]))]
        batches.extend(_cut(chunk, padded, cfg.batch_tokens, cfg.batch_sentences))
    return [batches[i] for i in rng.permutation(len(batches))]


def sorted_batches(lengths: np.ndarray, batch_tokens: int, batch_sentences: int = 0) -> list[np.ndarray]:
    """Batches of similar length in length order, for decoding and validation loss."""
    order = np.argsort(lengths, kind="stable")
    return _cut(order, lengths, batch_tokens, batch_sentences)


def _cut(order: np.ndarray, padded: np.ndarray, batch_tokens: int, batch_sentences: int) -> list[np.ndarray]:
    """Greedy cut of an ordered index array: each batch's sentences x longest <= batch_tokens."""
    batches, start, longest = [], 0, 0
    for i, idx in enumerate(order):
        longest_with = max(longest, int(padded[idx]))
        size = i - start + 1
        full = size * longest_with > batch_tokens or (batch_sentences and size > batch_sentences)
        if full and i > start:
            batches.append(order[start:i])
            start, longest_with = i, int(padded[idx])
        longest = longest_with
    if start < len(order):
        batches.append(order[start:])
    return batches
