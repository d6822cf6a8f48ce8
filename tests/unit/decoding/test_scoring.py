"""scoring.py: forced decoding of given translations. Oracles: the summed scores of a corpus are
minus its validation loss (the same forward and cross entropy), and the forced score of what beam
search found is the score beam search reported for it."""

from __future__ import annotations

import contextlib
import json
import math

import numpy as np
import pytest
import torch
from helpers import cli, make_pairs, write_lines

from seq2seq.data import batches as data
from seq2seq.data.corpus import load_corpus
from seq2seq.data.tokenizer import PAD_ID
from seq2seq.decoding.forced import PairScore, as_json, score_ids, score_pairs
from seq2seq.decoding.search import beam_search, greedy_search, max_lengths
from seq2seq.models.loss import sequence_loss, token_log_probs
from seq2seq.models.model_file import load_model
from seq2seq.training.validation import validation_loss


def test_token_log_probs_sum_to_minus_the_unsmoothed_loss():
    torch.manual_seed(0)
    targets = torch.tensor([[4, 5, 3, PAD_ID], [6, 3, PAD_ID, PAD_ID]])
    logits = 3 * torch.randn(2, 4, 9)
    logp = token_log_probs(logits, targets)
    loss, _ = sequence_loss(logits, targets, smoothing=0.0)
    assert logp.shape == (2, 4)
    assert float(logp.sum()) == pytest.approx(-float(loss), rel=1e-6)
    assert torch.equal(logp[targets == PAD_ID], torch.zeros(3))
    expected = torch.log_softmax(logits, -1).gather(2, targets.unsqueeze(2)).squeeze(2)
    torch.testing.assert_close(logp[targets != PAD_ID], expected[targets != PAD_ID])


def test_the_scores_of_a_corpus_sum_to_minus_its_validation_loss(model_file, tmp_path):
    model, cfg, tokenizer = load_model(model_file)
    src, tgt = make_pairs(40, seed=5)
    src_path, tgt_path = write_lines(tmp_path / "v.src", src), write_lines(tmp_path / "v.tgt", tgt)
    corpus = load_corpus(str(src_path), str(tgt_path), tokenizer, tmp_path / "cache")
    lengths = np.maximum(corpus.src_lengths, corpus.tgt_lengths) + 1
    batches = data.sorted_batches(lengths, 100)
    loss, tokens = validation_loss(model, corpus, batches, contextlib.nullcontext)

    scores = score_pairs(model, tokenizer, src, tgt, batch_tokens=150)  # other batches on purpose
    assert len(scores) == 40
    assert math.fsum(s.score for s in scores) == pytest.approx(-loss, rel=1e-5)
    assert sum(len(s.token_logprobs) for s in scores) == tokens
    for s, line in zip(scores, tgt):
        assert len(s.token_logprobs) == len(tokenizer.tgt.encode([line])[0]) + 1  # EOS included
        assert all(lp <= 0 for lp in s.token_logprobs)
        assert s.score_per_token == pytest.approx(s.score / len(s.token_logprobs))


@pytest.mark.parametrize("beam", [1, 3])
def test_the_forced_score_of_a_search_result_is_the_score_search_gave_it(model_file, beam):
    model, cfg, tokenizer = load_model(model_file)
    src_lines, _ = make_pairs(6, seed=7, max_words=4)
    ids = tokenizer.src.encode(src_lines)
    src, lengths = data.pad_src(ids)
    max_lens = max_lengths(lengths, 2.0, 3)
    found = (
        greedy_search(model, src, lengths, max_lens)
        if beam == 1
        else beam_search(model, src, lengths, max_lens, beam_size=beam, alpha=0.6, n_best=2)
    )
    hyps = [h for per_sentence in found for h in per_sentence]
    sources = [x for x, per_sentence in zip(ids, found) for _ in per_sentence]
    scores = score_ids(model, sources, [np.array(h.tokens, dtype=np.int64) for h in hyps], batch_tokens=60)
    for h, s in zip(hyps, scores):
        assert s.tokens == h.tokens
        assert s.score == pytest.approx(h.score, abs=1e-4)
        np.testing.assert_allclose(s.token_logprobs, h.token_logprobs, atol=1e-5)


def test_a_pair_scores_the_same_alone_as_in_a_batch(model_file):
    model, _, tokenizer = load_model(model_file)
    src, tgt = make_pairs(12, seed=9)
    together = score_pairs(model, tokenizer, src, tgt, batch_tokens=4000)
    for i in (0, 5, 11):
        (alone,) = score_pairs(model, tokenizer, [src[i]], [tgt[i]], batch_tokens=4000)
        np.testing.assert_allclose(alone.token_logprobs, together[i].token_logprobs, atol=1e-5)


def test_empty_lines_score_the_end_of_sentence_alone(model_file):
    model, _, tokenizer = load_model(model_file)
    scores = score_pairs(model, tokenizer, ["", "ba ce"], ["", ""], batch_tokens=100)
    assert [len(s.token_logprobs) for s in scores] == [1, 1]
    assert all(s.tokens == [] for s in scores)


def test_the_jsonl_record_holds_pieces_and_probabilities(model_file):
    _, _, tokenizer = load_model(model_file)
    ids = tokenizer.tgt.encode(["nu ry"])[0].tolist()
    s = PairScore(ids, [math.log(0.5)] * len(ids) + [math.log(0.25)])
    record = as_json("ba ce", "nu ry", s, tokenizer)
    assert record["pieces"][-1] == "</s>" and len(record["pieces"]) == len(ids) + 1
    assert record["token_probs"] == [0.5] * len(ids) + [0.25]
    assert record["score"] == pytest.approx(s.score, abs=1e-4)
    assert record["score_per_token"] == pytest.approx(s.score / (len(ids) + 1), abs=1e-4)


# ---------------------------------------------------------------- seq2seq score


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_the_score_command_prints_one_line_per_pair_in_order(
    model_file, tmp_path, capsys, restore_globals, fmt
):
    model, _, tokenizer = load_model(model_file)
    src, tgt = make_pairs(9, seed=21)
    src[4], tgt[4] = "", ""  # an empty pair is a pair too
    src_path, tgt_path = write_lines(tmp_path / "s.src", src), write_lines(tmp_path / "s.tgt", tgt)
    code, out, err = cli(capsys, "score", model_file, "--src", src_path, "--tgt", tgt_path, "--format", fmt)
    assert code == 0, err
    expected = score_pairs(model, tokenizer, src, tgt, batch_tokens=4000)
    lines = out.splitlines()
    assert len(lines) == 9
    for line, e, s, t in zip(lines, expected, src, tgt):
        if fmt == "text":
            total, per_token = (float(x) for x in line.split("\t"))
        else:
            record = json.loads(line)
            assert (record["source"], record["target"]) == (s, t)
            assert len(record["token_probs"]) == len(record["pieces"]) == len(e.token_logprobs)
            total, per_token = record["score"], record["score_per_token"]
        assert total == pytest.approx(e.score, abs=1e-4)
        assert per_token == pytest.approx(e.score_per_token, abs=1e-4)


def test_the_score_command_refuses_files_that_are_not_line_aligned(
    model_file, tmp_path, capsys, restore_globals
):
    src_path = write_lines(tmp_path / "s.src", ["ba", "ce", "di"])
    tgt_path = write_lines(tmp_path / "s.tgt", ["nu", "ry"])
    code, out, err = cli(capsys, "score", model_file, "--src", src_path, "--tgt", tgt_path)
    assert code == 2 and out == ""
    assert err == f"seq2seq: error: {src_path} has 3 lines but {tgt_path} has 2; they must be line-aligned\n"
