"""Sampling: draw every output token at random from the model's distribution instead of searching
for the most probable output; what a chatbot wants, whose replies should not always be the same.

The distribution is sharpened (temperature < 1) or flattened (> 1), p_i ~ exp(log p_i / T), and
cut to its k most probable tokens (top-k sampling, Fan et al. 2018, arXiv:1805.04833, section 5.4).
With k = 1 it is greedy search. Batched over sentences like greedy search, over the Seq2Seq
interface only (`encode`, `decode_step`, `select`); the random draws come from a generator the
caller seeds, so a seed gives the same outputs again. Dims: B sentences, V vocabulary, L steps.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor

from ..models.seq2seq import Seq2Seq
from .hypotheses import Hypothesis
from .search import greedy_search  # its loop, token masking and result rows: k = 1 equals it


def sample(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    max_lens: Tensor,
    temperature: float,
    top_k: int,
    generator: torch.Generator,
    with_attention: bool = False,
) -> list[list[Hypothesis]]:
    """One sampled output per sentence; src (B, S), src_lengths (B,), max_lens (B,). top_k 0: the
    whole vocabulary. Scores are the model's log-probabilities of the drawn tokens (temperature 1).
    Greedy search's loop, drawing each step's tokens instead of taking the most probable."""
    draw = functools.partial(_draw, temperature=temperature, top_k=top_k, generator=generator)
    return greedy_search(model, src, src_lengths, max_lens, with_attention, pick=draw)


def _draw(logp: Tensor, temperature: float, top_k: int, generator: torch.Generator) -> Tensor:
    """logp (b, V) -> one token per row, from softmax(logp / T) over the row's k best tokens."""
    scores = logp / temperature
    if 0 < top_k < scores.size(1):
        kth_best = scores.topk(top_k, dim=1).values[:, -1:]  # (b, 1)
        scores = scores.masked_fill(scores < kth_best, float("-inf"))
    return torch.multinomial(torch.softmax(scores, dim=1), 1, generator=generator).squeeze(1)


@dataclass
class Sampler:
    """The decoding that `decoding.translate.translate` runs instead of greedy or beam search when given one:
    sampling with these settings, from a generator seeded once (one chat session, one stream)."""

    temperature: float = 1.0
    top_k: int = 0
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)

    def __call__(
        self, model: Seq2Seq, src: Tensor, src_lengths: Tensor, max_lens: Tensor, with_attention: bool
    ) -> list[list[Hypothesis]]:
        return sample(
            model, src, src_lengths, max_lens, self.temperature, self.top_k, self.generator, with_attention
        )
