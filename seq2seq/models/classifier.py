"""Text classification by attention pooling over a recurrent encoder's states.

The sentence vector is a weighted sum of the encoder states h_j, the weights a softmax over the
sentence of an additive score (Yang et al. 2016, "Hierarchical Attention Networks", eqs. 5-7; with
several heads as in Lin et al. 2017, arXiv:1703.03130, section 2); dropout, then a linear layer and
a softmax over the labels:

    e^m_j = v^T tanh(W q_m + U h_j),   alpha^m = softmax_j(e^m),   c^m = sum_j alpha^m_j h_j
    p(label | x) = softmax(W_o dropout([c^1; ...; c^M]) + b_o)

The score is the decoder's `AdditiveAttention`; its query q_m is a learned vector per head (for one
head, W q plays the part of HAN's bias b_w and v that of its context vector u_w). The heads share U
and v: the keys are projected once, and the M queries of a sentence read the same row of keys, as
the beams of a sentence do in beam search.

Dims: B batch, S source length, D encoder output size, M heads, A attention size, L labels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..layers.attention import AdditiveAttention
from ..layers.dropout import Dropout
from .rnn_encoder import RNNEncoder


class AttentionPooling(nn.Module):
    def __init__(self, state_size: int, attention_size: int, heads: int):
        super().__init__()
        self.attention = AdditiveAttention(attention_size, state_size, attention_size)
        self.queries = nn.Parameter(torch.zeros(heads, attention_size))  # q_m, one row per head
        self.heads = heads
        self.output_size = heads * state_size

    def forward(self, states: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """states (B, S, D), mask (B, S) True at real tokens -> pooled (B, M*D), weights (B, M, S)
        that sum to one over the real tokens of each sentence and are zero at padding."""
        batch = states.size(0)
        proj_keys = self.attention.project_keys(states)  # (B, S, A)
        queries = self.queries.to(states.dtype).repeat(batch, 1)  # (B*M, A): each sentence's M queries
        context, weights = self.attention(queries, proj_keys, states, mask)  # (B*M, D), (B*M, S)
        return context.view(batch, -1), weights.view(batch, self.heads, -1)


class TextClassifier(nn.Module):
    """Embeddings and the recurrent encoder, attention pooling, dropout, the output layer."""

    def __init__(self, encoder: RNNEncoder, pooling: AttentionPooling, dropout: float, n_labels: int):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = Dropout(dropout)
        self.output = nn.Linear(pooling.output_size, n_labels)

    def classify(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """src (B, S), src_lengths (B,) -> label logits (B, L), attention weights (B, M, S)."""
        encoded = self.encoder(src, src_lengths)
        pooled, weights = self.pooling(encoded.states, encoded.mask)
        return self.output(self.dropout(pooled)), weights

    def forward(self, src: Tensor, src_lengths: Tensor) -> Tensor:
        """src (B, S), src_lengths (B,) -> label logits (B, L)."""
        return self.classify(src, src_lengths)[0]
