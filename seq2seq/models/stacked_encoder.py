"""A recurrent encoder built layer by layer from the decoder's cells, for what torch's fused GRU/LSTM
cannot do: layer normalization inside the cells and residual connections between layers (RNMT+,
Chen et al. 2018, arXiv:1804.09849, section 4.1; residuals as in GNMT, Wu et al. 2016, section 3).

    x^1 = embeddings;  h^l = [->RNN^l(x^l); <-RNN^l(x^l)];  x^{l+1} = h^l (+ x^l from layer 2 on)

Padding is never read: a direction steps only while t < length (a finished sentence keeps its
state) and the backward direction reads each sentence reversed within its own length, so a sentence
encodes the same alone and in a padded batch. Dims: B batch, S source length, I input size,
H hidden size per direction, G gates x H, D output size (H x directions).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..layers.cells import RecurrentCell
from ..layers.dropout import Dropout, EmbeddingDropout
from ..layers.step_linear import summed_step_gradients
from .rnn_encoder import EncoderOutput


class CellRNN(nn.Module):
    """One direction of one layer: h_t = cell(W_i x_t + b_i, h_{t-1}), the input projected for all
    steps at once."""

    def __init__(self, input_size: int, cell: RecurrentCell):
        super().__init__()
        self.input = nn.Linear(input_size, cell.gates * cell.hidden_size)
        self.cell = cell

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, S, I), lengths (B,) -> outputs (B, S, H) (zero at padding), final h (B, H)."""
        b, s, _ = x.shape
        x_proj = self.input(x)  # (B, S, G)
        h = x_proj.new_zeros(b, self.cell.hidden_size)
        state = (h,) * self.cell.n_states
        outputs = []
        with summed_step_gradients(self):
            for t in range(s):
                stepped = self.cell(x_proj[:, t], state)
                running = (t < lengths).unsqueeze(1)  # (B, 1)
                state = tuple(torch.where(running, new, old) for new, old in zip(stepped, state))
                outputs.append(state[0].masked_fill(~running, 0.0))
        return torch.stack(outputs, dim=1), state[0]


def reverse_within_lengths(x: Tensor, lengths: Tensor) -> Tensor:
    """(B, S, F): each row's first `length` positions reversed, padding left in place."""
    s = x.size(1)
    t = torch.arange(s, device=x.device)[None, :]
    index = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # (B, S)
    return x.gather(1, index.unsqueeze(2).expand_as(x))


class StackedEncoder(nn.Module):
    """Bidirectional (or forward-only) layers of `CellRNN`; same output as RNNEncoder."""

    def __init__(
        self,
        embedding: nn.Embedding,
        layers: list[tuple[CellRNN, CellRNN | None]],
        dropout: float,
        embedding_dropout: float,
        residual: bool,
    ):
        super().__init__()
        self.embedding = embedding
        self.forward_layers = nn.ModuleList(f for f, _ in layers)
        self.backward_layers = nn.ModuleList(b for _, b in layers if b is not None)
        self.bidirectional = len(self.backward_layers) > 0
        self.residual = residual
        self.dropout = Dropout(dropout)
        self.embedding_dropout = EmbeddingDropout(embedding_dropout)
        directions = 2 if self.bidirectional else 1
        self.output_size = layers[0][0].cell.hidden_size * directions

    def forward(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        """src (B, S) ids, src_lengths (B,) -> EncoderOutput."""
        x = self.dropout(self.embedding_dropout(self.embedding(src)))  # (B, S, E)
        lengths = src_lengths.to(src.device)
        for i, forward in enumerate(self.forward_layers):
            if i > 0:
                x = self.dropout(x)  # between layers, as torch's multi-layer RNNs
            out, final = forward(x, lengths)
            finals = [final]
            if self.bidirectional:
                back, back_final = self.backward_layers[i](reverse_within_lengths(x, lengths), lengths)
                out = torch.cat([out, reverse_within_lengths(back, lengths)], dim=-1)  # (B, S, D)
                finals.append(back_final)
            x = out + x if self.residual and i > 0 else out
        mask = torch.arange(src.size(1), device=src.device)[None, :] < lengths[:, None]
        return EncoderOutput(states=x, final=torch.cat(finals, dim=-1), mask=mask)
