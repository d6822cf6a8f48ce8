"""Multi-head attention for the recurrent decoders (RNMT+, Chen et al. 2018, arXiv:1804.09849,
section 4.1): h heads score the query against the keys in h subspaces, each head averages its own
projection of the values, and the heads' contexts are concatenated.

    head_i = sum_j alpha_ij (W^V v_j)_i,  alpha_i = softmax_j(e_ij),  context = [head_1; ...; head_h]
    additive:      e_ij = v_i^T tanh((W q)_i + (U k_j)_i)              (Bahdanau's score per head)
    scaled dot:    e_ij = (W^Q q)_i . (W^K k_j)_i / sqrt(A / h)          (Vaswani et al. 2017, eq. 1)

Keys and values are projected once per batch (`project_keys`, `project_values`), as in attention.py,
and the M hypotheses of a sentence share its row of them. Dims: B batch, M queries per memory row,
S source length, Q query size, K key size, D value size, A attention size, h heads.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .attention import Attention
from .step_linear import StepLinear


class MultiHeadAttention(Attention):
    """(query, projected keys, projected values, mask) -> (context (B*M, D), weights (B*M, S)); the
    weights reported are the heads' average, or one head after `show_head(i)`."""

    def __init__(self, key_size: int, heads: int):
        super().__init__()
        self.heads = heads
        self.W_V = nn.Linear(key_size, key_size, bias=False)
        self.shown_head: int | None = None

    def project_values(self, values: Tensor) -> Tensor:
        return self.W_V(values)  # (B, S, D)

    def show_head(self, head: int | None) -> None:
        if head is not None and not 0 <= head < self.heads:
            raise ValueError(f"head {head} does not exist; the attention has heads 0 to {self.heads - 1}")
        self.shown_head = head

    def forward(
        self, query: Tensor, proj_keys: Tensor, values: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        batch, src_len, value_size = values.shape
        query = query.view(batch, -1, query.size(-1))  # (B, M, Q)
        scores = self.score(query, proj_keys).masked_fill(~mask[:, None, None, :], float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, h, M, S)
        per_head = values.view(batch, src_len, self.heads, -1).transpose(1, 2)  # (B, h, S, D/h)
        context = weights.to(values.dtype) @ per_head  # (B, h, M, D/h)
        context = context.permute(0, 2, 1, 3).reshape(-1, value_size)  # (B*M, D)
        shown = weights.mean(dim=1) if self.shown_head is None else weights[:, self.shown_head]
        return context, shown.flatten(0, 1)

    def score(self, query: Tensor, proj_keys: Tensor) -> Tensor:
        """(B, M, Q), (B, S, A) -> (B, h, M, S)."""
        raise NotImplementedError


class MultiHeadAdditiveAttention(MultiHeadAttention):
    def __init__(self, query_size: int, key_size: int, attention_size: int, heads: int):
        super().__init__(key_size, heads)
        self.W = StepLinear(query_size, attention_size, bias=False)
        self.U = nn.Linear(key_size, attention_size, bias=False)
        self.v = nn.Parameter(torch.empty(heads, attention_size // heads))

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.U(keys)  # (B, S, A)

    def score(self, query: Tensor, proj_keys: Tensor) -> Tensor:
        b, m, _ = query.shape
        s = proj_keys.size(1)
        hidden = torch.tanh(self.W(query).unsqueeze(2) + proj_keys.unsqueeze(1))  # (B, M, S, A)
        hidden = hidden.view(b, m, s, self.heads, -1)  # (B, M, S, h, A/h)
        return torch.einsum("bmshd,hd->bhms", hidden, self.v.to(hidden.dtype))


class ScaledDotAttention(MultiHeadAttention):
    def __init__(self, query_size: int, key_size: int, attention_size: int, heads: int):
        super().__init__(key_size, heads)
        self.W_Q = StepLinear(query_size, attention_size, bias=False)
        self.W_K = nn.Linear(key_size, attention_size, bias=False)
        self.scale = (attention_size // heads) ** -0.5

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.W_K(keys)  # (B, S, A)

    def score(self, query: Tensor, proj_keys: Tensor) -> Tensor:
        b, m, _ = query.shape
        q = self.W_Q(query).view(b, m, self.heads, -1).transpose(1, 2)  # (B, h, M, A/h)
        k = proj_keys.view(b, proj_keys.size(1), self.heads, -1).transpose(1, 2)  # (B, h, S, A/h)
        return q @ k.transpose(-1, -2) * self.scale  # (B, h, M, S)
