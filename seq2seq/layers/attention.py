"""Attention: score a query against every source position, softmax over the real ones, average values.

Dims: B batch, S source length, Q query size, K key size, V value size, A attention size, M queries
per memory row. Keys that do not depend on the decoder step are projected once per batch
(`project_keys`) and the result is passed to every step explicitly: no hidden state inside the
module. Consecutive groups of M queries may share one row of keys and values: beam search keeps the
encoder states once per sentence, not once per hypothesis (M = beam size; M = 1 in training).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .step_linear import StepLinear


class Attention(nn.Module):
    """(query, projected keys, values, mask) -> (context, weights); subclasses define the score."""

    def project_keys(self, keys: Tensor) -> Tensor:
        """(B, S, K) -> (B, S, *): the step-independent part of the score, computed once."""
        raise NotImplementedError

    def project_values(self, values: Tensor) -> Tensor:
        """(B, S, D) -> what the context averages; the values themselves for one head."""
        return values

    def show_head(self, head: int | None) -> None:
        """Which head's weights to report (multihead.py); one head here."""
        if head not in (None, 0):
            raise ValueError(f"head {head} does not exist; this attention has one head (0)")

    def score(self, query: Tensor, proj_keys: Tensor) -> Tensor:
        """(B, M, Q), (B, S, *) -> (B, M, S) unnormalized scores e_j."""
        raise NotImplementedError

    def forward(
        self, query: Tensor, proj_keys: Tensor, values: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """query (B*M, Q), proj_keys (B, S, *), values (B, S, V), mask (B, S) True at real tokens
        -> context (B*M, V), weights (B*M, S): alpha = softmax(e) over unmasked j; c = sum_j alpha_j v_j."""
        batch = proj_keys.size(0)
        query = query.view(batch, -1, query.size(-1))  # (B, M, Q)
        scores = self.score(query, proj_keys).masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, M, S)
        context = torch.bmm(weights.to(values.dtype), values)  # (B, M, V)
        return context.flatten(0, 1), weights.flatten(0, 1)


class AdditiveAttention(Attention):
    """e_j = v^T tanh(W q + U k_j).

    Bahdanau et al. 2015 (arXiv:1409.0473), appendix A.1.2, with q = s_{i-1}; the same form is
    Luong et al. 2015's `concat` score (arXiv:1508.04025, eq. 8), v_a^T tanh(W_a [h_t; h_s]).

    Computed as v^T tanh(a) = 2 v^T sigmoid(2a) - sum(v), the same value: on CPU torch's sigmoid runs
    several times faster than its tanh, and this elementwise op over (B, M, S, A) is the costliest
    part of every decoder step. The factor 2 goes into the keys once per batch, not into every step.
    """

    def __init__(self, query_size: int, key_size: int, attention_size: int):
        super().__init__()
        self.W = StepLinear(query_size, attention_size, bias=False)
        self.U = nn.Linear(key_size, attention_size, bias=False)
        self.v = nn.Linear(attention_size, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return 2 * self.U(keys)  # (B, S, A): 2 U k_j

    def score(self, query: Tensor, proj_keys: Tensor) -> Tensor:
        gates = (2 * self.W(query).unsqueeze(2) + proj_keys.unsqueeze(1)).sigmoid_()  # (B, M, S, A)
        return 2 * self.v(gates).squeeze(3) - self.v.weight.sum()  # (B, M, S)


class DotAttention(Attention):
    """e_j = h_t^T h_s (Luong et al. 2015, eq. 8, `dot`); needs Q == K."""

    def project_keys(self, keys: Tensor) -> Tensor:
        return keys

    def score(self, query: Tensor, proj_keys: Tensor) -> Tensor:
        return torch.bmm(query, proj_keys.transpose(1, 2))  # (B, M, S)


class GeneralAttention(DotAttention):
    """e_j = h_t^T W_a h_s (Luong et al. 2015, eq. 8, `general`); W_a h_s is computed once."""

    def __init__(self, query_size: int, key_size: int):
        super().__init__()
        self.W_a = nn.Linear(key_size, query_size, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.W_a(keys)  # (B, S, Q)
