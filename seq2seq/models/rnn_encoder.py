"""The source side: embeddings and a (bi)directional GRU or LSTM over packed sequences.

Dims: B batch, S source length, E embedding size, D output size (hidden x directions).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..layers.dropout import Dropout, EmbeddingDropout
from ..layers.packed_rnn import run_packed


@dataclass(frozen=True)
class EncoderOutput:
    """states (B, S, D): h_j for every source position; zeros at padding.
    final  (B, D):    last layer's final state, forward and backward concatenated (recurrent
                      encoders; None for the Transformer, whose decoder starts from nothing).
    mask   (B, S):    True at real tokens."""

    states: Tensor
    final: Tensor | None
    mask: Tensor


class RNNEncoder(nn.Module):
    """h_j = [->h_j; <-h_j] (Bahdanau et al. 2015, section 3.2), with padding never read:
    sequences are packed, so a sentence encodes the same alone and in a padded batch."""

    def __init__(
        self, embedding: nn.Embedding, rnn: nn.GRU | nn.LSTM, dropout: float, embedding_dropout: float = 0.0
    ):
        super().__init__()
        self.embedding = embedding
        self.rnn = rnn
        self.dropout = Dropout(dropout)
        self.embedding_dropout = EmbeddingDropout(embedding_dropout)
        self.output_size = rnn.hidden_size * (2 if rnn.bidirectional else 1)

    def forward(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        """src (B, S) ids, src_lengths (B,) -> EncoderOutput."""
        embedded = self.dropout(self.embedding_dropout(self.embedding(src)))  # (B, S, E)
        packed = pack_padded_sequence(embedded, src_lengths.cpu(), batch_first=True, enforce_sorted=False)
        if embedded.device.type == "cpu" and torch.is_grad_enabled():  # training: a cheaper backward
            packed_states, hidden = run_packed(self.rnn, packed)
        else:
            packed_states, hidden = self.rnn(packed)
        states, _ = pad_packed_sequence(packed_states, batch_first=True, total_length=src.size(1))
        h_n = hidden[0] if isinstance(hidden, tuple) else hidden  # LSTM returns (h_n, c_n)
        directions = 2 if self.rnn.bidirectional else 1
        final = torch.cat(list(h_n[-directions:]), dim=-1)  # (B, D): last layer, all directions
        mask = torch.arange(src.size(1), device=src.device)[None, :] < src_lengths[:, None]
        return EncoderOutput(states=states, final=final, mask=mask)
