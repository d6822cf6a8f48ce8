"""Subword regularization: every epoch trains on a new sampled segmentation of the training data
(SentencePiece unigram sampling, or BPE-dropout) while validation stays deterministic. The epoch's
segmentation is kept on disk until the epoch is over, so a run resumed inside it trains on the same
one; memory stays flat (it is read batch by batch like any corpus)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
import torch
from helpers import make_pairs, reversal_config, reversal_corpus, tiny_model, write_lines

from seq2seq.cli.train import train
from seq2seq.config.load import TokenizerConfig, config_from_dict
from seq2seq.data import batches as data
from seq2seq.data import sampling
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

    def recording_write(src, tgt, tok, out, sampling, *rest):
        if sampling is not None:
            if sampling.key.endswith("epoch 2"):
                raise OSError("the disk is full")
            sampled.append(sampling.key)
        return write(src, tgt, tok, out, sampling, *rest)

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


# ------------------------------------------------ sampling among the n best, drawn by us (sampling.py)


@pytest.fixture(scope="module")
def unigram(tmp_path_factory):
    root = tmp_path_factory.mktemp("nbest")
    src, tgt = make_pairs(300, seed=5)
    paths = write_lines(root / "train.src", src), write_lines(root / "train.tgt", tgt)
    digest = check_parallel(*paths)
    config = TokenizerConfig(vocab_size=80, sampling_alpha=0.3, sampling_nbest=8)
    tok = train_or_load(config, *paths, digest, root / "cache", lambda s: None)
    return root, paths, digest, tok


def corpus_bytes(corpus: Corpus) -> bytes:
    return (corpus.directory / "src.bin").read_bytes() + (corpus.directory / "tgt.bin").read_bytes()


def test_a_draw_among_the_n_best_is_the_same_in_another_process_and_differs_by_epoch(unigram, tmp_path):
    root, paths, digest, tok = unigram
    assert sampling.reproducible(tok.src, 8) and not sampling.reproducible(tok.src, -1)
    epoch0 = encode_corpus(*paths, digest, tok, tmp_path / "a", Sampling(0.3, 8, "seed 1, epoch 0"))
    epoch1 = encode_corpus(*paths, digest, tok, tmp_path / "a", Sampling(0.3, 8, "seed 1, epoch 1"))
    plain = encode_corpus(*paths, digest, tok, tmp_path / "a")
    assert sentences(epoch0) != sentences(epoch1) and sentences(epoch0) != sentences(plain)
    for (s, t), src_line, tgt_line in zip(sentences(epoch0), *make_pairs(300, seed=5)):
        assert tok.src.decode(s) == src_line and tok.tgt.decode(t) == tgt_line

    # another process, another cache: SentencePiece's own sampler would draw otherwise there
    torch.save(tok.state(), tmp_path / "tokenizer.pt")
    script = (
        "import sys, torch; from pathlib import Path\n"
        "from seq2seq.data.corpus import Sampling, encode_corpus\n"
        "from seq2seq.data.tokenizer import Tokenizer\n"
        "tok = Tokenizer.from_state(torch.load(sys.argv[1], weights_only=True))\n"
        "c = encode_corpus(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], tok, Path(sys.argv[5]),\n"
        "                  Sampling(0.3, 8, 'seed 1, epoch 0'))\n"
        "print(c.directory)\n"
    )
    args = [str(tmp_path / "tokenizer.pt"), *map(str, paths), digest, str(tmp_path / "b")]
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=True)
    assert corpus_bytes(Corpus(Path(out.stdout.strip()))) == corpus_bytes(epoch0)


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    return 0.5 * float(np.abs(p - q).sum())


def test_the_draw_follows_sentencepieces_own_distribution_over_the_n_best(unigram, tmp_path):
    """Oracles: SentencePiece's n-best list with its scores (softmax of alpha x score is the
    distribution it samples from), and SentencePiece's own sampler, 3,000 draws each."""
    _, _, _, tok = unigram
    line, draws, alpha = max(make_pairs(300, seed=5)[0], key=len), 3_000, 0.05
    sp = tok.src.sp
    best = sp.nbest_encode_as_proto(line, nbest_size=8).nbests
    candidates = [tuple(p.id for p in n.pieces) for n in best]
    expected = np.exp(alpha * np.array([n.score for n in best]))
    expected /= expected.sum()
    assert len(set(candidates)) == 8 and expected.max() < 0.6  # a draw worth testing

    found = tok.src.nbest([line], 8)[0]
    assert [tuple(tok.src.spm_ids[ids]) for ids in found[0]] == candidates
    np.testing.assert_allclose(found[1], [n.score for n in best], atol=1e-4)

    lines = [[line] * draws]  # one chunk of the same line: one draw per line
    entry = sampling.candidates(tmp_path / "nbest", [("src", lines, tok.src)], 8, np.dtype(np.uint16))
    ours = [tuple(tok.src.spm_ids[np.frombuffer(ids, np.uint16)].tolist()) for ids in _split(entry, alpha)]
    theirs = []
    for seed in range(draws):
        spm.set_random_generator_seed(seed + 1)
        theirs.append(tuple(sp.encode(line, enable_sampling=True, alpha=alpha, nbest_size=8)))
    ours_frequency = np.array([ours.count(c) for c in candidates]) / draws
    their_frequency = np.array([theirs.count(c) for c in candidates]) / draws
    assert len(ours) == draws and ours_frequency.sum() == 1.0  # every draw is one of the 8 best
    assert total_variation(ours_frequency, expected) < 0.05  # measured: 0.013 (uniform: 0.23)
    assert total_variation(ours_frequency, their_frequency) < 0.07  # measured: 0.022


def _split(entry, alpha: float) -> list[bytes]:
    """The draw of the entry's source side, one item of packed ids per line."""
    out = []
    for sizes, packed in sampling.draw(entry, "src", alpha, "seed 1, epoch 0"):
        ends = np.cumsum(sizes) * 2
        out += [packed[a:b] for a, b in zip(np.concatenate([[0], ends[:-1]]), ends)]
    return out
