"""Subword regularization: every epoch trains on a new sampled segmentation of the training data
(SentencePiece unigram sampling, or BPE-dropout) while validation stays deterministic. The epoch's
segmentation is kept on disk until the epoch is over, so a run resumed inside it trains on the same
one; memory stays flat (it is read batch by batch like any corpus)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import sentencepiece as spm
from helpers import make_pairs, reversal_config, reversal_corpus, tiny_model, write_lines

from seq2seq.cli.train import train
from seq2seq.config.load import TokenizerConfig, config_from_dict
from seq2seq.data import batches as data
from seq2seq.data.batches import check_parallel
from seq2seq.data.corpus import Corpus, Sampling, encode_corpus
from seq2seq.data.tokenizer import UNK_ID, train_or_load
from seq2seq.training.train import Trainer


@pytest.fixture(scope="module", params=["unigram", "bpe"])
def files(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("sampling")
    src, tgt = make_pairs(400, seed=3)
    paths = write_lines(root / "train.src", src), write_lines(root / "train.tgt", tgt)
    digest = check_parallel(*paths)
    tok = train_or_load(
        TokenizerConfig(model_type=request.param, vocab_size=80, sampling_alpha=0.3),
        *paths,
        digest,
        root / "cache",
        lambda s: None,
    )
    return paths, digest, tok, (src, tgt)


def sentences(corpus: Corpus) -> list[tuple[list[int], list[int]]]:
    batch_of_one = [corpus.batch(np.array([i])) for i in range(len(corpus))]
    return [(b.src[0, :-1].tolist(), b.tgt_out[0, :-1].tolist()) for b in batch_of_one]


def test_a_sampled_segmentation_spells_the_same_text_in_other_pieces(files, tmp_path):
    paths, digest, tok, (src, tgt) = files
    assert len(tok.src) == len(tok.tgt) == tok.src.sp.get_piece_size()  # any piece may be drawn
    plain = encode_corpus(*paths, digest, tok, tmp_path)
    # SentencePiece's threads start from the last seed set (training a tokenizer sets one): two
    # epochs must still get two segmentations
    spm.set_random_generator_seed(1)
    sampled = encode_corpus(*paths, digest, tok, tmp_path, Sampling(0.3, -1, "epoch 1"))
    spm.set_random_generator_seed(1)
    other = encode_corpus(*paths, digest, tok, tmp_path, Sampling(0.3, -1, "epoch 2"))
    assert sentences(sampled) != sentences(plain) and sentences(sampled) != sentences(other)
    assert sampled.src_lengths.sum() > plain.src_lengths.sum()  # smaller pieces, on the whole
    assert sampled.tgt_lengths.sum() > plain.tgt_lengths.sum()
    for (s, t), src_line, tgt_line in zip(sentences(sampled), src, tgt):
        assert tok.src.decode(s) == src_line and tok.tgt.decode(t) == tgt_line
    assert UNK_ID not in {i for s, t in sentences(sampled) for i in s + t}
    again = encode_corpus(*paths, digest, tok, tmp_path, Sampling(0.3, -1, "epoch 1"))
    assert sentences(again) == sentences(sampled)  # a kept segmentation is read back, not redrawn


def sampling_config(root, run: str) -> dict:
    return reversal_config(
        root,
        run,
        data={"batch_tokens": 100},
        tokenizer={"vocab_size": 24, "sampling_alpha": 0.5},
        model=tiny_model(dropout=0.2),
        train={"epochs": 3, "lr": 0.01},
    )


def test_a_run_resumed_inside_an_epoch_trains_on_that_epochs_segmentation(
    tmp_path, monkeypatch, caplog, restore_globals
):
    reversal_corpus(tmp_path, 200, 10)
    cfg = config_from_dict(sampling_config(tmp_path, "run"))
    seen: list[tuple[int, int, list]] = []  # (epoch, update, source rows of its batch)
    update = Trainer.update

    def recording_update(self, batches):
        seen.append((self.progress.epoch, self.progress.step + 1, batches[0].src.tolist()))
        if self.progress.epoch == 1 and self.progress.position == 5 and not self.stop_requested:
            self.stop_requested = True  # as Ctrl-C: finish this update, save, stop
        return update(self, batches)

    monkeypatch.setattr(Trainer, "update", recording_update)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    interrupted = len(seen)
    kept = sorted((tmp_path / "cache").glob("corpus-*-sampled-*"))
    assert len(kept) == 1  # epoch 1's copy is gone, epoch 2's is kept for the resume
    corpus = Corpus(kept[0])
    plan = data.epoch_batches(corpus.src_lengths, corpus.tgt_lengths, cfg.data, cfg.train.seed, 1)
    next_batch = corpus.batch(plan[6]).src.tolist()  # what epoch 2's plan holds after the interrupt
    corpus.close()
    resumed = train(cfg, resume=True)

    epochs = [[rows for e, _, rows in seen if e == epoch] for epoch in range(3)]
    assert epochs[0] != epochs[1] != epochs[2]  # a new segmentation every epoch
    steps = [s for _, s, _ in seen]
    assert steps == list(range(1, len(steps) + 1))  # no update trained twice or skipped
    assert seen[interrupted][2] == next_batch  # the resumed process read the kept segmentation
    assert len(resumed.history) == 3
    assert not list((tmp_path / "cache").glob("corpus-*-sampled-*"))  # nothing left behind

    # a resume whose kept segmentation is gone samples anew and says so
    with pytest.raises(KeyboardInterrupt):
        train(config_from_dict(sampling_config(tmp_path, "run2")))
    for entry in (tmp_path / "cache").glob("corpus-*-sampled-*"):
        for f in entry.iterdir():
            f.unlink()
        entry.rmdir()
    with caplog.at_level(logging.WARNING, logger="seq2seq"):
        train(config_from_dict(sampling_config(tmp_path, "run2")), resume=True)
    assert "is no longer in" in caplog.text


def test_the_next_epochs_segmentation_prepared_in_a_thread_is_the_one_that_epoch_reads(tmp_path, monkeypatch):
    """`prepare(e)` samples epoch e's segmentation into the cache in a thread (a GPU run does it
    while it trains the epoch before); `for_epoch(e)` then waits for it and reads it without
    sampling again, a failure in the thread is raised there, and `close` waits for the thread."""
    import seq2seq.data.corpus
    from seq2seq.data.training_data import load_training_data

    reversal_corpus(tmp_path, 200, 10)
    cfg = config_from_dict(sampling_config(tmp_path, "run"))
    sampled: list[str] = []  # the `key` of each segmentation written
    write = seq2seq.data.corpus._write_corpus

    def recording_write(src, tgt, tok, out, sampling):
        if sampling is not None:
            if sampling.key.endswith("epoch 2"):
                raise OSError("the disk is full")
            sampled.append(sampling.key)
        return write(src, tgt, tok, out, sampling)

    monkeypatch.setattr(seq2seq.data.corpus, "_write_corpus", recording_write)
    training_data = load_training_data(cfg)
    try:
        training_data.for_epoch(0)
        training_data.prepare(1)
        corpus = training_data.for_epoch(1)
        assert sampled == ["seed 42, epoch 0", "seed 42, epoch 1"]  # epoch 1 sampled once, ahead
        for i in range(len(corpus)):  # it is a segmentation of the training text
            b = corpus.batch(np.array([i]))
            src = training_data.tokenizer.src.decode(b.src[0, :-1].tolist())
            assert src == data.read_lines(cfg.data.train_src)[i]

        training_data.prepare(2)
        with pytest.raises(OSError, match="the disk is full"):
            training_data.for_epoch(2)
        training_data.prepare(1)  # already in the cache: nothing to sample
    finally:
        training_data.close()
    assert training_data._preparing is None and sampled == ["seed 42, epoch 0", "seed 42, epoch 1"]
