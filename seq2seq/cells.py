"""Recurrent cells that take their input already projected, so the decoder can project what it
knows before the step loop (all target embeddings) in one matrix product instead of one per step.

Dims: B batch, H hidden size, G = gates x H.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

State = tuple[Tensor, ...]  # (h,) for a GRU, (h, c) for an LSTM; each (B, H)


class GRUCell(nn.Module):
    """torch.nn.GRUCell's equations and gate order (r, z, n), given x_proj = W_i x + b_i (B, 3H):
    r = sigma(x_r + W_hr h + b_hr), z = sigma(x_z + W_hz h + b_hz),
    n = tanh(x_n + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h."""

    gates = 3
    n_states = 1

    def __init__(self, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.hh = nn.Linear(hidden_size, 3 * hidden_size)

    def forward(self, x_proj: Tensor, state: State) -> State:
        (h,) = state
        x_r, x_z, x_n = x_proj.chunk(3, dim=-1)
        h_r, h_z, h_n = self.hh(h).chunk(3, dim=-1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        return (torch.lerp(n, h, z),)  # (1 - z) * n + z * h


class LSTMCell(nn.Module):
    """torch.nn.LSTMCell's equations and gate order (i, f, g, o), given x_proj = W_i x + b_i (B, 4H):
    c' = sigma(f) * c + sigma(i) * tanh(g), h' = sigma(o) * tanh(c')."""

    gates = 4
    n_states = 2

    def __init__(self, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.hh = nn.Linear(hidden_size, 4 * hidden_size)

    def forward(self, x_proj: Tensor, state: State) -> State:
        h, c = state
        i, f, g, o = (x_proj + self.hh(h)).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


RecurrentCell = GRUCell | LSTMCell
