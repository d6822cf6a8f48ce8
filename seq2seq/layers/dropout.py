"""Inverted dropout (Srivastava et al. 2014) with a cheaper mask on CPU.

Same function as torch.nn.Dropout: in training, each element is zeroed with probability p and the
rest are scaled by 1 / (1 - p); in eval mode it is the identity. The mask comes from torch.rand,
which on CPU is several times faster than the Bernoulli sampler nn.Dropout uses (with that sampler
dropout was a large share of a training step of the reference model); it draws from the same
global generator, so runs stay reproducible and resumable.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Dropout(nn.Module):
    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must lie in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, device=x.device) >= self.p
        return torch.where(keep, x * (1.0 / (1.0 - self.p)), 0.0)  # one pass fewer than masked_fill

    def extra_repr(self) -> str:
        return f"p={self.p}"


class EmbeddingDropout(Dropout):
    """Drops whole embedding vectors: each position's vector is zeroed with probability p (the rest
    scaled by 1 / (1 - p)), so the model must do without that word there (Gal and Ghahramani 2016,
    arXiv:1512.05287, section 4, drawn per position). Draws nothing when p is 0."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand((*x.shape[:-1], 1), device=x.device) >= self.p
        return x.masked_fill(~keep, 0.0) * (1.0 / (1.0 - self.p))
