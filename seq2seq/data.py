"""Parallel text -> validated, encoded corpus on disk -> length-bucketed token-budget batches.

A corpus is tokenized once into a binary cache of token ids (keyed by the files' content and the
tokenizer) with an index of per-sentence offsets and lengths; training reads each batch from it, so
memory does not grow with the corpus. An epoch's batch order is a pure function of (seed, epoch), so
a position inside it is just an index: that is what makes resuming exact.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .config import DataConfig
from .errors import UserError
from .tokenizer import BOS_ID, EOS_ID, PAD_ID, SubwordVocab, Tokenizer

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
    """Every line of a UTF-8 text file, validated (see `check_text_file`)."""
    check_text_file(path)
    with open(path, encoding="utf-8", newline="\n") as f:
        return [line.rstrip("\r\n") for line in f]


def check_text_file(path: str | Path) -> tuple[int, str]:
    """Line count and content digest of a UTF-8 text file; a clear error if it cannot serve."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"data file {path} not found; check the path in the config")
    if path.is_dir():
        raise UserError(f"data path {path} is a directory; give a text file with one sentence per line")
    digest = hashlib.sha256()
    n = 0
    try:
        with open(path, "rb") as f:
            for n, raw in enumerate(f, 1):  # noqa: B007
                digest.update(raw)
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise UserError(
                        f"{path}, line {n}: bytes that are not UTF-8 (byte {e.start + 1} of the "
                        "line); convert the file to UTF-8, e.g. with iconv"
                    ) from None
    except PermissionError:
        raise UserError(f"data file {path} is not readable; check its permissions") from None
    if n == 0:
        raise UserError(f"data file {path} is empty; it needs one sentence per line")
    return n, digest.hexdigest()


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


# ---------------------------------------------------------------- the encoded corpus


@dataclass(frozen=True)
class Sampling:
    """Encode with a sampled segmentation (SubwordVocab.sample); `key` names which one (e.g. the
    run's seed and epoch) in the cache, since SentencePiece cannot draw the same one twice."""

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
    if not (entry / "index.npz").exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".tmp-corpus-"))
        try:
            _write_corpus(src_path, tgt_path, tokenizer, tmp, sampling)
            try:
                os.replace(tmp, entry)
            except OSError:
                if not (entry / "index.npz").exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return Corpus(entry)


def sampled_corpus_exists(digest: str, tokenizer: Tokenizer, cache_dir: Path, sampling: Sampling) -> bool:
    return (_corpus_entry(digest, tokenizer, cache_dir, sampling) / "index.npz").exists()


def _corpus_entry(digest: str, tokenizer: Tokenizer, cache_dir: Path, sampling: Sampling | None) -> Path:
    key = _digest(f"{digest}:{tokenizer.digest()}")
    if sampling is None:
        return cache_dir / f"corpus-{key}"
    return cache_dir / f"corpus-{key}-sampled-{_digest(repr(astuple(sampling)))}"


def _write_corpus(
    src_path: Path, tgt_path: Path, tokenizer: Tokenizer, out: Path, sampling: Sampling | None
) -> None:
    dtype = np.uint16 if max(len(tokenizer.src), len(tokenizer.tgt)) <= 65536 else np.int32
    lengths: dict[str, list[np.ndarray]] = {"src": [], "tgt": []}
    sides = (("src", src_path, tokenizer.src), ("tgt", tgt_path, tokenizer.tgt))
    for side, path, vocab in sides:
        bar = tqdm(desc=f"encoding {path}", unit=" lines", leave=False, mininterval=1.0)
        with open(out / f"{side}.bin", "wb") as sink:
            for chunk_lengths, ids in _encode_file(path, vocab, np.dtype(dtype), sampling):
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
    chunks = (
        (vocab.proto, vocab.spm_ids, lines, dtype, sampling, _seed(f"{sampling}:{path}:{number}"))
        for number, lines in enumerate(_read_chunks(path))
    )
    workers = os.cpu_count() or 1
    if workers == 1 or path.stat().st_size < _PARALLEL_BYTES:
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
    job: tuple[bytes, np.ndarray, list[str], np.dtype, Sampling | None, int],
) -> tuple[np.ndarray, bytes]:
    proto, spm_ids, lines, dtype, sampling, seed = job
    vocab = SubwordVocab(proto, spm_ids)
    if sampling is None:
        ids = vocab.encode(lines, threads=1)
    else:
        ids = vocab.sample(lines, sampling.alpha, sampling.nbest, seed)
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


def load_corpus(src_path: str, tgt_path: str, tokenizer: Tokenizer, cache_dir: str | Path) -> Corpus:
    digest = check_parallel(src_path, tgt_path)
    return encode_corpus(Path(src_path), Path(tgt_path), digest, tokenizer, Path(cache_dir))
