"""The encoded corpus: a parallel corpus tokenized once into a binary cache of token ids (keyed by
the files' content and the tokenizer) with an index of per-sentence offsets and lengths; training
reads each batch from it, so memory does not grow with the corpus. Large files are encoded by
worker processes, in chunks. With subword sampling, each epoch's sampled segmentation is a cache
entry of its own (drawn here from the cached n best segmentations where that can be: sampling.py).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import cache_entry
from . import sampling as exact_sampling
from .batches import Batch, check_parallel, collate
from .tokenizer import SubwordVocab, Tokenizer

_CHUNK_LINES = 20_000
_PARALLEL_BYTES = 16 << 20  # files larger than this are encoded by worker processes


@dataclass(frozen=True)
class Sampling:
    """Encode with a sampled segmentation; `key` names which one (e.g. the run's seed and epoch):
    drawn from the n best segmentations (sampling.py), the same key gives the same one in any
    process; drawn by SentencePiece (the whole lattice, BPE-dropout), in no other process."""

    alpha: float
    nbest: int
    key: str


class Corpus:
    """Token ids of a parallel corpus in a binary cache; sentences are read on demand from its two
    open files until `close()` (or the end of a `with` block)."""

    def __init__(self, directory: Path):
        self.directory = directory
        index = np.load(directory / "index.npz")
        self.src_lengths = index["src_lengths"]  # (N,) pieces, without EOS
        self.tgt_lengths = index["tgt_lengths"]
        self._src_offsets = _offsets(self.src_lengths)
        self._tgt_offsets = _offsets(self.tgt_lengths)
        self._dtype = np.dtype(str(index["dtype"]))
        self._src_fd = os.open(directory / "src.bin", os.O_RDONLY)
        try:
            self._tgt_fd = os.open(directory / "tgt.bin", os.O_RDONLY)
        except OSError:
            os.close(self._src_fd)
            raise

    def __len__(self) -> int:
        return len(self.src_lengths)

    def batch(self, indices: np.ndarray) -> Batch:
        src = [self._read(self._src_fd, self._src_offsets, self.src_lengths, i) for i in indices]
        tgt = [self._read(self._tgt_fd, self._tgt_offsets, self.tgt_lengths, i) for i in indices]
        return collate(src, tgt)

    def _read(self, fd: int, offsets: np.ndarray, lengths: np.ndarray, i: int) -> np.ndarray:
        size = self._dtype.itemsize
        data = os.pread(fd, int(lengths[i]) * size, int(offsets[i]) * size)
        return np.frombuffer(data, dtype=self._dtype).astype(np.int64)

    def close(self) -> None:
        for fd in (self._src_fd, self._tgt_fd):
            if fd >= 0:
                os.close(fd)
        self._src_fd = self._tgt_fd = -1

    def __enter__(self) -> Corpus:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def encode_corpus(
    src_path: Path,
    tgt_path: Path,
    digest: str,
    tokenizer: Tokenizer,
    cache_dir: Path,
    sampling: Sampling | None = None,
) -> Corpus:
    """The cached encoding of a parallel corpus, built on first use (atomically); with `sampling`,
    one sampled segmentation of it."""
    entry = _corpus_entry(digest, tokenizer, cache_dir, sampling)
    if not cache_entry.is_built(entry, "index.npz"):
        nbest = None
        if sampling is not None and exact_sampling.reproducible(tokenizer.src, sampling.nbest):
            nbest = _candidates(src_path, tgt_path, digest, tokenizer, cache_dir, sampling.nbest)
        with cache_entry.building(entry, "index.npz") as tmp:
            _write_corpus(src_path, tgt_path, tokenizer, tmp, sampling, nbest)
    return Corpus(entry)


def sampled_corpus_exists(digest: str, tokenizer: Tokenizer, cache_dir: Path, sampling: Sampling) -> bool:
    return cache_entry.is_built(_corpus_entry(digest, tokenizer, cache_dir, sampling), "index.npz")


def _corpus_entry(digest: str, tokenizer: Tokenizer, cache_dir: Path, sampling: Sampling | None) -> Path:
    key = _digest(f"{digest}:{tokenizer.digest()}")
    if sampling is None:
        return cache_dir / f"corpus-{key}"
    return cache_dir / f"corpus-{key}-sampled-{_digest(repr(astuple(sampling)))}"


def _candidates(
    src_path: Path, tgt_path: Path, digest: str, tokenizer: Tokenizer, cache_dir: Path, nbest: int
) -> Path:
    """The cache entry with the n best segmentations of the training lines (sampling.py)."""
    name = exact_sampling.entry_name(f"{digest}:{tokenizer.digest()}", nbest)
    sides = (("src", _read_chunks(src_path), tokenizer.src), ("tgt", _read_chunks(tgt_path), tokenizer.tgt))
    return exact_sampling.candidates(cache_dir / name, sides, nbest, _dtype(tokenizer))


def _dtype(tokenizer: Tokenizer) -> np.dtype:
    return np.dtype(np.uint16 if max(len(tokenizer.src), len(tokenizer.tgt)) <= 65536 else np.int32)


def _write_corpus(
    src_path: Path,
    tgt_path: Path,
    tokenizer: Tokenizer,
    out: Path,
    sampling: Sampling | None,
    nbest: Path | None = None,
) -> None:
    """With `nbest` (the n best segmentations' cache entry), the sampled segmentation is drawn
    from it; without, SentencePiece encodes (or samples) the files."""
    dtype = _dtype(tokenizer)
    lengths: dict[str, list[np.ndarray]] = {"src": [], "tgt": []}
    sides = (("src", src_path, tokenizer.src), ("tgt", tgt_path, tokenizer.tgt))
    for side, path, vocab in sides:
        if nbest is not None and sampling is not None:
            chunks = exact_sampling.draw(nbest, side, sampling.alpha, sampling.key)
        else:
            chunks = _encode_file(path, vocab, dtype, sampling)
        bar = tqdm(desc=f"encoding {path}", unit=" lines", leave=False, mininterval=1.0)
        with open(out / f"{side}.bin", "wb") as sink:
            for chunk_lengths, ids in chunks:
                lengths[side].append(chunk_lengths)
                sink.write(ids)
                bar.update(len(chunk_lengths))
        bar.close()
    np.savez(
        out / "index.npz",
        src_lengths=np.concatenate(lengths["src"]),
        tgt_lengths=np.concatenate(lengths["tgt"]),
        dtype=np.array(np.dtype(dtype).str),
    )


def _encode_file(
    path: Path, vocab: SubwordVocab, dtype: np.dtype, sampling: Sampling | None
) -> Iterator[tuple[np.ndarray, bytes]]:
    """(lengths, packed ids) per chunk of lines, in file order. A large file is encoded by one
    worker process per core, a bounded number of chunks in flight, so memory stays flat."""
    workers = os.cpu_count() or 1
    in_process = workers == 1 or path.stat().st_size < _PARALLEL_BYTES
    threads = 0 if in_process else 1  # in this process SentencePiece's threads use every core
    chunks = (
        (vocab.proto, vocab.spm_ids, lines, dtype, sampling, _seed(f"{sampling}:{path}:{number}"), threads)
        for number, lines in enumerate(_read_chunks(path))
    )
    if in_process:
        yield from map(_encode_chunk, chunks)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.submit(_encode_chunk, chunk))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _read_chunks(path: Path) -> Iterator[list[str]]:
    with open(path, encoding="utf-8", newline="\n") as f:
        while lines := [line.rstrip("\r\n") for _, line in zip(range(_CHUNK_LINES), f)]:
            yield lines


def _encode_chunk(
    job: tuple[bytes, np.ndarray, list[str], np.dtype, Sampling | None, int, int],
) -> tuple[np.ndarray, bytes]:
    proto, spm_ids, lines, dtype, sampling, seed, threads = job
    vocab = SubwordVocab(proto, spm_ids)
    if sampling is None:
        ids = vocab.encode(lines, threads=threads)
    else:
        ids = vocab.sample(lines, sampling.alpha, sampling.nbest, seed, threads=threads)
    lengths = np.array([len(x) for x in ids], dtype=np.int32)
    packed = np.concatenate(ids).astype(dtype).tobytes() if ids else b""
    return lengths, packed


def _seed(text: str) -> int:
    """A 32-bit seed for SentencePiece, different for every epoch, file and chunk."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") % (2**32 - 1)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _offsets(lengths: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    return offsets


def load_corpus(src_path: str, tgt_path: str, tokenizer: Tokenizer, cache_dir: str | Path) -> Corpus:
    digest = check_parallel(src_path, tgt_path)
    return encode_corpus(Path(src_path), Path(tgt_path), digest, tokenizer, Path(cache_dir))
