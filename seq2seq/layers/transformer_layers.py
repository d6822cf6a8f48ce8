"""The Transformer's building blocks (Vaswani et al. 2017, arXiv:1706.03762): positions, the
embedder, multi-head attention and the position-wise feed-forward network; models/transformer.py
stacks them into pre-norm layers.

Dims: B batch, M queries per memory row (beam size; 1 in training), T target length, S source
length, d d_model, h heads, k = d / h.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import UserError
from .dropout import Dropout


def sinusoid_positions(positions: Tensor, d_model: int) -> Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...)  (section 3.5).
    positions (...) -> (..., d)."""
    i = torch.arange(0, d_model, 2, device=positions.device, dtype=torch.float32)
    angles = positions.float().unsqueeze(-1) / (10000.0 ** (i / d_model))  # (..., d/2)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)[..., :d_model]


class Embedder(nn.Module):
    """Token embeddings scaled by sqrt(d) (section 3.4) plus sinusoidal or learned positions."""

    def __init__(self, embedding: nn.Embedding, dropout: float, learned_positions: int = 0):
        super().__init__()
        self.embedding = embedding
        self.scale = math.sqrt(embedding.embedding_dim)
        self.positions = (
            nn.Embedding(learned_positions, embedding.embedding_dim) if learned_positions else None
        )
        self.dropout = Dropout(dropout)

    def forward(self, ids: Tensor, first_position: int = 0) -> Tensor:
        """ids (B, T) -> (B, T, d); positions count from `first_position`."""
        pos = torch.arange(first_position, first_position + ids.size(1), device=ids.device)
        if self.positions is None:
            pe = sinusoid_positions(pos, self.embedding.embedding_dim)
        else:
            if first_position + ids.size(1) > self.positions.num_embeddings:
                raise UserError(
                    f"a sequence of {first_position + ids.size(1)} positions is longer than this model's "
                    f"{self.positions.num_embeddings} learned positions (model.transformer.max_positions); "
                    "give shorter input or a lower --max-len-ratio, or train with more max_positions"
                )
            pe = self.positions(pos)
        return self.dropout(self.embedding(ids) * self.scale + pe.to(self.embedding.weight.dtype))


class MultiHeadAttention(nn.Module):
    """MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O, head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V),
    Attention(Q, K, V) = softmax(Q K^T / sqrt(k)) V  (sections 3.2.1, 3.2.2).

    Keys and values are projected by `project_kv` (once per sentence for cross-attention) and
    passed in. Written out rather than through torch's fused kernel: on CPU in bf16 the plain
    matrix products are several times faster, and the weights are at hand for attention plots.
    """

    def __init__(self, d_model: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(d_model, d_model)
        self.key_value = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = Dropout(dropout)

    def project_kv(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, S, d) -> keys and values, each (B, h, S, k)."""
        k, v = self.key_value(x).chunk(2, dim=-1)
        return self._split(k), self._split(v)

    def forward(self, x: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """x (B*M, T, d) queries; keys, values (B, h, S, k); mask (B, 1, M*T or 1, S) True where a
        query may look, or None -> output (B*M, T, d), weights (B, h, M*T, S).

        Consecutive groups of M query rows share one row of keys and values: the M beams of a
        sentence attend to its encoder states as M more query positions."""
        n, t, d = x.shape
        batch = keys.size(0)
        q = self._split(self.query(x).view(batch, -1, d))  # (B, h, M*T, k)
        scores = q @ keys.transpose(-1, -2) * q.size(-1) ** -0.5  # (B, h, M*T, S)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1, dtype=torch.float32)
        context = self.dropout(weights).to(values.dtype) @ values  # (B, h, M*T, k)
        context = context.transpose(1, 2).reshape(n, t, d)
        return self.out(context), weights

    def _split(self, x: Tensor) -> Tensor:
        """(B, L, d) -> (B, h, L, k)."""
        b, length, d = x.shape
        return x.view(b, length, self.heads, d // self.heads).transpose(1, 2)


class FeedForward(nn.Module):
    """FFN(x) = max(0, x W_1 + b_1) W_2 + b_2  (section 3.3), dropout on the activations."""

    def __init__(self, d_model: int, d_ff: int, dropout: float):
        super().__init__()
        self.inner = nn.Linear(d_model, d_ff)
        self.outer = nn.Linear(d_ff, d_model)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.outer(self.dropout(torch.relu(self.inner(x))))
