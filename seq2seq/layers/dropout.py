"""Inverted dropout (Srivastava et al. 2014) with a cheaper mask on CPU.

Same function as torch.nn.Dropout: in training, each element is zeroed with probability p and the
rest are scaled by 1 / (1 - p); in eval mode it is the identity. The mask comes from 16 random bits
an element, drawn four to a 64-bit integer (`keep_mask`): on CPU, where torch's random numbers come
one at a time from a serial generator, that is four times fewer draws than `torch.rand`'s one
float an element, and `torch.rand` was itself several times faster than the Bernoulli sampler
nn.Dropout uses (docs/benchmarks.md, "The CPU training step"). p is therefore rounded to a multiple
of 2^-16 (0.3 becomes 0.300003) and the scale is that p's. The bits come from the global generator,
so runs stay reproducible and resumable.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

LEVELS = 1 << 16  # the mask's resolution: p is rounded to a multiple of 1 / LEVELS


def keep_mask(shape: tuple[int, ...], p: float, device: torch.device) -> Tensor:
    """A bool tensor of `shape`, each element True (kept) with probability 1 - round(p * 2^16) / 2^16,
    independently: 16 uniform random bits an element, compared with a threshold."""
    n = 1
    for size in shape:
        n *= size
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(1 << 63), None)
    bits = words.view(torch.int16)[:n].view(shape)  # uniform over [-2^15, 2^15)
    return bits >= round(p * LEVELS) - LEVELS // 2


def kept_scale(p: float) -> float:
    """1 / (1 - p) for the p the mask realizes."""
    return 1.0 / (1.0 - round(p * LEVELS) / LEVELS)


class Dropout(nn.Module):
    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must lie in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        # x * keep is exact; then one rounding, as torch.where(keep, x * scale, 0) has, in fewer passes
        return (x * keep_mask(x.shape, self.p, x.device)).mul_(kept_scale(self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class EmbeddingDropout(Dropout):
    """Drops whole embedding vectors: each position's vector is zeroed with probability p (the rest
    scaled by 1 / (1 - p)), so the model must do without that word there (Gal and Ghahramani 2016,
    arXiv:1512.05287, section 4, drawn per position). Draws nothing when p is 0."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = keep_mask((*x.shape[:-1], 1), self.p, x.device)
        return (x * keep).mul_(kept_scale(self.p))
