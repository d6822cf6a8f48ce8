"""data.py: padding and shifting, length-bucketed token-budget batches, file validation, and the
encoded corpus cache."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import torch
from helpers import make_pairs, write_lines

import seq2seq.data.corpus
from seq2seq.config.load import DataConfig
from seq2seq.data.batches import check_parallel, collate, epoch_batches, pad_src, read_lines, sorted_batches
from seq2seq.data.corpus import Corpus, encode_corpus, load_corpus
from seq2seq.data.tokenizer import BOS_ID, EOS_ID, PAD_ID
from seq2seq.errors import UserError

P, B, E = PAD_ID, BOS_ID, EOS_ID

# ---------------------------------------------------------------- collate


def test_collate_pads_and_shifts():
    src = [np.array([5, 6, 7]), np.array([8])]
    tgt = [np.array([9, 10]), np.array([11, 12, 13])]
    batch = collate(src, tgt)
    assert batch.src.tolist() == [[5, 6, 7, E], [8, E, P, P]]
    assert batch.src_lengths.tolist() == [4, 2]
    assert batch.tgt_in.tolist() == [[B, 9, 10, P], [B, 11, 12, 13]]
    assert batch.tgt_out.tolist() == [[9, 10, E, P], [11, 12, 13, E]]
    assert batch.n_tgt_tokens == 7  # 2 + 3 words, one EOS each
    assert batch.src.dtype == batch.tgt_in.dtype == torch.long


def test_collate_handles_empty_sentences():
    batch = collate(
        [np.array([], dtype=np.int64), np.array([4])], [np.array([], dtype=np.int64), np.array([5])]
    )
    assert batch.src.tolist() == [[E, P], [4, E]]
    assert batch.tgt_in.tolist() == [[B, P], [B, 5]]
    assert batch.tgt_out.tolist() == [[E, P], [5, E]]
    assert batch.n_tgt_tokens == 3


def test_collate_invariants_on_random_sentences():
    rng = np.random.default_rng(0)
    src = [rng.integers(4, 50, rng.integers(0, 9)) for _ in range(20)]
    tgt = [rng.integers(4, 50, rng.integers(0, 9)) for _ in range(20)]
    batch = collate(src, tgt)
    for i, (s, t) in enumerate(zip(src, tgt, strict=True)):
        n, m = len(s), len(t)
        assert batch.src[i, :n].tolist() == s.tolist() and batch.src[i, n] == E
        assert (batch.src[i, n + 1 :] == P).all() and batch.src_lengths[i] == n + 1
        assert batch.tgt_in[i, : m + 1].tolist() == [B, *t.tolist()]
        assert batch.tgt_out[i, : m + 1].tolist() == [*t.tolist(), E]
        assert (batch.tgt_in[i, m + 1 :] == P).all() and (batch.tgt_out[i, m + 1 :] == P).all()
    # tgt_out is tgt_in shifted left by one wherever the target is real
    real = batch.tgt_out.ne(P)
    assert torch.equal(batch.tgt_in.ne(P), real)
    assert torch.equal(batch.tgt_in[:, 1:][real[:, 1:]], batch.tgt_out[:, :-1][real[:, 1:]])
    assert batch.n_tgt_tokens == sum(len(t) + 1 for t in tgt)


def test_pad_src_alone():
    src, lengths = pad_src([np.array([4, 5]), np.array([6, 7, 8])])
    assert src.tolist() == [[4, 5, E, P], [6, 7, 8, E]]
    assert lengths.tolist() == [3, 4]


# ---------------------------------------------------------------- batching


def lengths_with_variety(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Source lengths spread over 1..60; targets close to their sources, as in real data."""
    rng = np.random.default_rng(seed)
    src = rng.integers(1, 61, n)
    tgt = np.clip(src + rng.integers(-3, 4, n), 1, None)
    return src, tgt


def data_config(**kwargs) -> DataConfig:
    return DataConfig("a", "b", "c", "d", **kwargs)


def padded(src_lengths, tgt_lengths) -> np.ndarray:
    return np.maximum(src_lengths, tgt_lengths) + 1


@pytest.mark.parametrize("batch_sentences", [0, 7])
def test_epoch_batches_keep_every_pair_once_within_the_budget(batch_sentences):
    src, tgt = lengths_with_variety(600)
    cfg = data_config(max_len=50, batch_tokens=300, batch_sentences=batch_sentences, pool_batches=5)
    batches = epoch_batches(src, tgt, cfg, seed=1, epoch=0)
    taken = np.concatenate(batches)
    expected = np.flatnonzero((src <= 50) & (tgt <= 50))
    assert len(expected) < len(src)  # some pairs are too long
    assert sorted(taken.tolist()) == expected.tolist()  # every kept pair exactly once
    cost = padded(src, tgt)
    for batch in batches:
        assert len(batch) * cost[batch].max() <= 300
        if batch_sentences:
            assert len(batch) <= batch_sentences
    assert all(b.dtype.kind == "i" for b in batches)


def test_an_over_long_sentence_forms_its_own_batch():
    src = np.array([3, 3, 40, 3, 3, 3])
    tgt = np.array([3, 3, 40, 3, 3, 3])
    cfg = data_config(max_len=50, batch_tokens=20)  # 41 padded tokens > 20
    batches = epoch_batches(src, tgt, cfg, seed=0, epoch=0)
    assert [2] in [b.tolist() for b in batches]
    assert sorted(np.concatenate(batches).tolist()) == list(range(6))
    for b in batches:
        assert len(b) == 1 or len(b) * 4 <= 20


def test_epoch_batches_are_a_function_of_seed_and_epoch():
    src, tgt = lengths_with_variety(300)
    cfg = data_config(batch_tokens=200, pool_batches=3)

    def plan(seed, epoch):
        return [b.tolist() for b in epoch_batches(src, tgt, cfg, seed, epoch)]

    assert plan(1, 0) == plan(1, 0)
    assert plan(1, 0) != plan(1, 1)
    assert plan(1, 0) != plan(2, 0)


def test_bucketing_keeps_padding_small():
    src, tgt = lengths_with_variety(2000)
    cfg = data_config(max_len=100, batch_tokens=400, pool_batches=20)
    cost = padded(src, tgt)
    real = cost.sum()
    batches = epoch_batches(src, tgt, cfg, seed=0, epoch=0)
    bucketed = sum(len(b) * cost[b].max() for b in batches) / real
    # random batching with the same batch sizes
    order = np.random.default_rng(0).permutation(len(src))
    cuts = np.cumsum([len(b) for b in batches])[:-1]
    random = sum(len(b) * cost[b].max() for b in np.split(order, cuts)) / real
    assert bucketed < 1.15
    assert random > 1.5 * bucketed


def test_pairs_all_over_max_len_give_no_batches_not_a_crash():
    src = tgt = np.array([60, 70, 80])
    try:
        batches = epoch_batches(src, tgt, data_config(max_len=50), seed=0, epoch=0)
    except UserError:
        return  # also acceptable: a clear error naming data.max_len
    assert batches == []


def test_sorted_batches_cover_everything_in_length_order():
    lengths = np.array([5, 1, 9, 3, 3, 7, 2])
    batches = sorted_batches(lengths, batch_tokens=10)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(7))
    assert lengths[flat].tolist() == sorted(lengths.tolist())
    for b in batches:
        assert len(b) == 1 or len(b) * lengths[b].max() <= 10


# ---------------------------------------------------------------- files


def test_read_lines_strips_newlines(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"one\r\ntwo  \nthree")
    assert read_lines(path) == ["one", "two  ", "three"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_read_lines_reads_a_pipe_once(tmp_path):
    """`seq2seq test --src <(zcat test.en.gz)`: a pipe can be read only once, and a check that read
    it before the lines were taken left nothing to translate (and sacrebleu failing on it)."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    read: list[list[str]] = []
    reader = threading.Thread(target=lambda: read.append(read_lines(pipe)), daemon=True)
    reader.start()
    pipe.write_bytes(b"eins\nzwei\r\ndrei\n")
    reader.join(timeout=30)  # a second open of the pipe would wait for a writer for ever
    assert read == [["eins", "zwei", "drei"]]


def test_check_parallel_digest_follows_the_content(tmp_path):
    a = write_lines(tmp_path / "a", ["x", "y"])
    b = write_lines(tmp_path / "b", ["u", "v"])
    digest = check_parallel(a, b)
    assert check_parallel(a, b) == digest
    write_lines(b, ["u", "w"])
    assert check_parallel(a, b) != digest


def test_missing_file(tmp_path):
    good = write_lines(tmp_path / "good", ["x"])
    with pytest.raises(UserError, match="not found"):
        check_parallel(tmp_path / "nope", good)
    with pytest.raises(UserError, match="nope"):
        read_lines(tmp_path / "nope")


def test_directory(tmp_path):
    good = write_lines(tmp_path / "good", ["x"])
    with pytest.raises(UserError, match="directory"):
        check_parallel(good, tmp_path)


def test_empty_file(tmp_path):
    good = write_lines(tmp_path / "good", ["x"])
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(UserError, match="empty"):
        check_parallel(tmp_path / "empty", good)


def test_mismatched_line_counts_name_both_counts(tmp_path):
    a = write_lines(tmp_path / "a.src", ["x", "y", "z"])
    b = write_lines(tmp_path / "b.tgt", ["u", "v"])
    with pytest.raises(UserError) as info:
        check_parallel(a, b)
    message = str(info.value)
    assert "a.src" in message and "b.tgt" in message
    assert "3 lines" in message and "has 2" in message


def test_undecodable_bytes_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.src"
    bad.write_bytes(b"fine\nalso fine\nnot \xff\xfe utf-8\nfine\n")
    good = write_lines(tmp_path / "good.tgt", ["a", "b", "c", "d"])
    with pytest.raises(UserError) as info:
        check_parallel(bad, good)
    assert "bad.src" in str(info.value) and "line 3" in str(info.value)
    with pytest.raises(UserError, match="line 3"):
        read_lines(bad)


# ---------------------------------------------------------------- encoded corpus


def test_corpus_batches_hold_the_directly_encoded_ids(tmp_path, tokenizer):
    src, tgt = make_pairs(40, seed=3)
    src[5], tgt[5] = "", ""  # an empty pair must survive the binary cache
    src_path, tgt_path = write_lines(tmp_path / "c.src", src), write_lines(tmp_path / "c.tgt", tgt)
    corpus = encode_corpus(
        src_path, tgt_path, check_parallel(src_path, tgt_path), tokenizer, tmp_path / "cache"
    )
    try:
        assert len(corpus) == 40
        src_ids, tgt_ids = tokenizer.src.encode(src), tokenizer.tgt.encode(tgt)
        assert corpus.src_lengths.tolist() == [len(x) for x in src_ids]
        assert corpus.tgt_lengths.tolist() == [len(x) for x in tgt_ids]
        indices = np.array([7, 0, 5, 39, 12])
        got = corpus.batch(indices)
        want = collate([src_ids[i] for i in indices], [tgt_ids[i] for i in indices])
        for name in ("src", "src_lengths", "tgt_in", "tgt_out"):
            assert torch.equal(getattr(got, name), getattr(want, name)), name
    finally:
        corpus.close()
    # a second load reads the cache entry that the first one wrote
    entries = sorted((tmp_path / "cache").iterdir())
    again = load_corpus(str(src_path), str(tgt_path), tokenizer, tmp_path / "cache")
    assert sorted((tmp_path / "cache").iterdir()) == entries
    assert again.src_lengths.tolist() == corpus.src_lengths.tolist()
    again.close()
    assert isinstance(again, Corpus)


@pytest.mark.system
def test_a_file_over_the_parallel_size_encodes_as_it_does_serially(tmp_path, tokenizer, monkeypatch):
    """Files above `_PARALLEL_BYTES` are encoded in chunks by worker processes: the cache they
    write must be byte for byte the serial one. The threshold and chunk size are lowered so a small
    file takes the parallel path, in several chunks."""
    src, tgt = make_pairs(150, seed=5)
    src_path, tgt_path = write_lines(tmp_path / "p.src", src), write_lines(tmp_path / "p.tgt", tgt)
    digest = check_parallel(src_path, tgt_path)
    with encode_corpus(src_path, tgt_path, digest, tokenizer, tmp_path / "serial") as serial:
        serial_lengths = (serial.src_lengths.copy(), serial.tgt_lengths.copy())

    submitted = []

    class CountingPool(seq2seq.data.corpus.ProcessPoolExecutor):
        def submit(self, *args, **kwargs):
            submitted.append(1)
            return super().submit(*args, **kwargs)

    monkeypatch.setattr(seq2seq.data.corpus, "_PARALLEL_BYTES", 1)
    monkeypatch.setattr(seq2seq.data.corpus, "_CHUNK_LINES", 40)
    monkeypatch.setattr(seq2seq.data.corpus.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(seq2seq.data.corpus, "ProcessPoolExecutor", CountingPool)
    with encode_corpus(src_path, tgt_path, digest, tokenizer, tmp_path / "parallel") as parallel:
        assert parallel.src_lengths.tolist() == serial_lengths[0].tolist()
        assert parallel.tgt_lengths.tolist() == serial_lengths[1].tolist()

    assert len(submitted) == 2 * 4  # two sides of 150 lines, in chunks of 40
    (serial_dir,) = (tmp_path / "serial").glob("corpus-*")
    (parallel_dir,) = (tmp_path / "parallel").glob("corpus-*")
    for name in ("src.bin", "tgt.bin"):
        assert (parallel_dir / name).read_bytes() == (serial_dir / name).read_bytes(), name
