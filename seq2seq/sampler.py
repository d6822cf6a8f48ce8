"""Sampling: draw every output token at random from the model's distribution instead of searching
for the most probable output; what a chatbot wants, whose replies should not always be the same.

The distribution is sharpened (temperature < 1) or flattened (> 1), p_i ~ exp(log p_i / T), and
cut to its k most probable tokens (top-k sampling, Fan et al. 2018, arXiv:1805.04833, section 5.4).
With k = 1 it is greedy search. Batched over sentences like greedy search, over the Seq2Seq
interface only (`encode`, `decode_step`, `select`); the random draws come from a generator the
caller seeds, so a seed gives the same outputs again. Dims: B sentences, V vocabulary, L steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

# the token masking and the result rows are greedy search's, so sampling with k = 1 equals it
from .hypotheses import Hypothesis, hypothesis
from .model import Seq2Seq
from .search import next_token_logprobs
from .tokenizer import BOS_ID, EOS_ID, PAD_ID


@torch.inference_mode()
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
    whole vocabulary. Scores are the model's log-probabilities of the drawn tokens (temperature 1)."""
    memory, state = model.encode(src, src_lengths)
    n, steps = src.size(0), int(max_lens.max()) + 1
    tokens = src.new_full((n, steps), PAD_ID)
    logprobs = torch.zeros(n, steps, device=src.device)  # stays 0 after a sentence's EOS
    attention = torch.zeros(n, steps, src.size(1), device=src.device) if with_attention else None
    lengths = torch.zeros(n, dtype=torch.long, device=src.device)
    active = torch.arange(n, device=src.device)  # original rows of the sentences still decoding
    prev = src.new_full((n,), BOS_ID)
    for t in range(steps):
        logits, state, alpha = model.decode_step(prev, memory, state)
        logp = next_token_logprobs(logits, t >= max_lens[active])  # (b, V)
        drawn = _draw(logp, temperature, top_k, generator)  # (b,)
        tokens[active, t], logprobs[active, t] = drawn, logp.gather(1, drawn.unsqueeze(1)).squeeze(1)
        if attention is not None:
            attention[active, t] = alpha.float()
        done = drawn == EOS_ID
        lengths[active[done]] = t + 1
        if bool(done.all()):
            break
        if bool(done.any()):
            keep = (~done).nonzero().squeeze(1)
            active, memory, state, drawn = active[keep], memory.select(keep), state.select(keep), drawn[keep]
        prev = drawn
    scores = logprobs.sum(dim=1)
    return [
        [
            hypothesis(
                tokens[b],
                logprobs[b],
                attention[b] if attention is not None else None,
                int(lengths[b]),
                float(scores[b]),
                float(scores[b]),
                int(src_lengths[b]),
            )
        ]
        for b in range(n)
    ]


def _draw(logp: Tensor, temperature: float, top_k: int, generator: torch.Generator) -> Tensor:
    """logp (b, V) -> one token per row, from softmax(logp / T) over the row's k best tokens."""
    scores = logp / temperature
    if 0 < top_k < scores.size(1):
        kth_best = scores.topk(top_k, dim=1).values[:, -1:]  # (b, 1)
        scores = scores.masked_fill(scores < kth_best, float("-inf"))
    return torch.multinomial(torch.softmax(scores, dim=1), 1, generator=generator).squeeze(1)


@dataclass
class Sampler:
    """The decoding that `evaluate.translate` runs instead of greedy or beam search when given one:
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
