"""Recurrent cells that take their input already projected, so the decoder can project what it
knows before the step loop (all target embeddings) in one matrix product instead of one per step.

Dims: B batch, H hidden size, G = gates x H.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .step_linear import StepLinear

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
        self.hh = StepLinear(hidden_size, 3 * hidden_size)

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
        self.hh = StepLinear(hidden_size, 4 * hidden_size)

    def forward(self, x_proj: Tensor, state: State) -> State:
        h, c = state
        i, f, g, o = (x_proj + self.hh(h)).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class GateNorm(nn.Module):
    """Layer normalization of each gate's pre-activation on its own (Ba et al. 2016,
    arXiv:1607.06450, section 3.1): (B, G x H) -> (B, G x H), with a gain and bias per unit."""

    def __init__(self, gates: int, hidden_size: int):
        super().__init__()
        self.gates, self.hidden_size = gates, hidden_size
        self.weight = nn.Parameter(torch.ones(gates, hidden_size))
        self.bias = nn.Parameter(torch.zeros(gates, hidden_size))

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        x = torch.nn.functional.layer_norm(
            x.view(*shape[:-1], self.gates, self.hidden_size), (self.hidden_size,)
        )
        return (x * self.weight + self.bias).view(shape)


class LayerNormGRUCell(GRUCell):
    """GRUCell with the input and recurrent projections normalized per gate:
    [x_r; x_z; x_n] = LN(W_i x), [h_r; h_z; h_n] = LN(W_h h), then GRUCell's equations."""

    def __init__(self, hidden_size: int):
        super().__init__(hidden_size)
        self.norm_x = GateNorm(3, hidden_size)
        self.norm_h = GateNorm(3, hidden_size)

    def forward(self, x_proj: Tensor, state: State) -> State:
        (h,) = state
        x_r, x_z, x_n = self.norm_x(x_proj).chunk(3, dim=-1)
        h_r, h_z, h_n = self.norm_h(self.hh(h)).chunk(3, dim=-1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        return (torch.lerp(n, h, z),)


class LayerNormLSTMCell(LSTMCell):
    """LSTMCell as Ba et al. 2016 (section 6.3, eq. 20-22) normalize it:
    [i; f; g; o] = LN(W_i x) + LN(W_h h), c' = sigma(f) * c + sigma(i) * tanh(g),
    h' = sigma(o) * tanh(LN(c'))."""

    def __init__(self, hidden_size: int):
        super().__init__(hidden_size)
        self.norm_x = GateNorm(4, hidden_size)
        self.norm_h = GateNorm(4, hidden_size)
        self.norm_c = nn.LayerNorm(hidden_size)

    def forward(self, x_proj: Tensor, state: State) -> State:
        h, c = state
        i, f, g, o = (self.norm_x(x_proj) + self.norm_h(self.hh(h))).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(self.norm_c(c)), c


CELLS = {
    ("gru", False): GRUCell,
    ("lstm", False): LSTMCell,
    ("gru", True): LayerNormGRUCell,
    ("lstm", True): LayerNormLSTMCell,
}  # (rnn, layer_norm) -> cell class

RecurrentCell = GRUCell | LSTMCell
