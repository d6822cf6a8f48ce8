"""sampler.py: top-k sampling with a temperature over the Seq2Seq interface: the draws follow the
distribution they should, a seed gives the same outputs again, and k = 1 is greedy search."""

from __future__ import annotations

import math

import torch

from seq2seq.data.batches import pad_src
from seq2seq.decoding.sampler import Sampler, _draw, sample
from seq2seq.decoding.search import greedy_search, max_lengths
from seq2seq.models.model_file import load_model


def frequencies(logp: torch.Tensor, temperature: float, top_k: int, n: int = 20000) -> list[float]:
    generator = torch.Generator().manual_seed(0)
    drawn = _draw(logp.expand(n, -1), temperature, top_k, generator)
    return (torch.bincount(drawn, minlength=logp.size(1)).float() / n).tolist()


def test_draws_follow_the_tempered_distribution_cut_to_the_top_k():
    logp = torch.tensor([[math.log(0.5), math.log(0.3), math.log(0.2)]])
    for freq, expected in zip(frequencies(logp, 1.0, 0), [0.5, 0.3, 0.2]):
        assert abs(freq - expected) < 0.015
    # top 2: 0.5 and 0.3, renormalized
    for freq, expected in zip(frequencies(logp, 1.0, 2), [0.625, 0.375, 0.0]):
        assert abs(freq - expected) < 0.015
    # temperature 0.5 squares the probabilities: .25 .09 .04, renormalized
    for freq, expected in zip(frequencies(logp, 0.5, 0), [0.25 / 0.38, 0.09 / 0.38, 0.04 / 0.38]):
        assert abs(freq - expected) < 0.015
    assert frequencies(logp, 1.0, 1) == [1.0, 0.0, 0.0]


def batch(model_file):
    model, _, tokenizer = load_model(model_file)
    ids = tokenizer.src.encode(["bamo kifa", "daga", "kelo bi mafe gaji hike"])
    src, lengths = pad_src(ids)
    return model, src, lengths, max_lengths(lengths, 2.0, 5)


def test_top_k_1_is_greedy_search(model_file):
    model, src, lengths, max_lens = batch(model_file)
    generator = torch.Generator().manual_seed(1)
    sampled = sample(model, src, lengths, max_lens, 1.0, 1, generator, with_attention=True)
    greedy = greedy_search(model, src, lengths, max_lens, with_attention=True)
    for (s,), (g,) in zip(sampled, greedy):
        assert s.tokens == g.tokens
        assert s.score == g.score and s.token_logprobs == g.token_logprobs
        assert torch.equal(s.attention, g.attention)


def test_a_seed_gives_the_same_samples_and_another_seed_other_ones(model_file):
    model, src, lengths, max_lens = batch(model_file)

    def outputs(seed: int) -> list[list[int]]:
        sampler = Sampler(temperature=1.5, top_k=0, seed=seed)
        return [h.tokens for (h,) in sampler(model, src, lengths, max_lens, False)]

    assert outputs(7) == outputs(7)
    assert outputs(7) != outputs(8)  # an untrained model: near-uniform, so draws differ


def test_scores_are_the_models_log_probabilities_of_the_drawn_tokens(model_file):
    model, src, lengths, max_lens = batch(model_file)
    (h,), *_ = sample(model, src, lengths, max_lens, 2.0, 0, torch.Generator().manual_seed(3))
    assert len(h.token_logprobs) == len(h.tokens) + 1  # EOS included
    assert abs(h.score - sum(h.token_logprobs)) < 1e-4 and h.norm_score == h.score
