"""The Bahdanau decoder's readout: the vector at step i that the output layer turns into logits,
p(y_i) = softmax(W_s r_i + b_s). Dims: H decoder hidden size, E target embedding, D encoder output.

`tanh` (model.decoder.readout: tanh, the default): one layer over the new state and the context,
    r_i = tanh(W_o [s_i; c_i] + b_o)                                        (H)
`maxout` (Bahdanau et al. 2015, arXiv:1409.0473, appendix A.2.2): the paper's deep output, over the
previous state, the previous target word and the context, then a maxout of pool 2,
    t~_i = U_o s_{i-1} + V_o E y_{i-1} + C_o c_i                          (2H; no bias, as printed)
    r_i = t_i = [max(t~_{i,2j-1}, t~_{i,2j})]_{j=1..H}                     (H)
The paper's l (500) is H here, so the output layer has the same shape for both.

Each readout names what it reads (`inputs`) and maps the concatenation, after the decoder's
dropout, to r (`forward`, all steps at once). The decoder's step loop keeps only what depends on
the recurrence (`step`); `join` adds the target embeddings, known for all steps at once, after the
loop: join(step(s_{i-1}, s_i, c_i), E y_{i-1}) == inputs(s_{i-1}, s_i, E y_{i-1}, c_i). That wiring
is a mixin over the matrix product, so an int8 readout (models/int8.py) is wired the same way.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class TanhWiring:
    """What a tanh readout does around its matrix product, whichever linear layer computes that
    product (`TanhReadout`: nn.Linear; models/int8.py: an int8 one)."""

    def inputs(self, prev_state: Tensor, state: Tensor, emb: Tensor, context: Tensor) -> Tensor:
        """(B, H), (B, H), (B, E), (B, D) -> (B, H + D): [s_i; c_i]."""
        return self.join(self.step(prev_state, state, context), emb)

    def step(self, prev_state: Tensor, state: Tensor, context: Tensor) -> Tensor:
        return torch.cat([state, context], dim=-1)

    def join(self, steps: Tensor, emb: Tensor) -> Tensor:
        return steps

    def forward(self, x: Tensor) -> Tensor:
        """(..., H + D) -> (..., H)."""
        return torch.tanh(super().forward(x))


class TanhReadout(TanhWiring, nn.Linear):
    """r_i = tanh(W_o [s_i; c_i] + b_o); the parameters are `weight` (H, H + D) and `bias` (H)."""

    def __init__(self, hidden_size: int, emb_size: int, context_size: int):
        super().__init__(hidden_size + context_size, hidden_size)


class MaxoutWiring:
    """What a maxout readout does around its matrix product (as TanhWiring); the product has 2H
    outputs, H = out_features / 2."""

    def inputs(self, prev_state: Tensor, state: Tensor, emb: Tensor, context: Tensor) -> Tensor:
        """(B, H), (B, H), (B, E), (B, D) -> (B, H + E + D): [s_{i-1}; E y_{i-1}; c_i]."""
        return self.join(self.step(prev_state, state, context), emb)

    def step(self, prev_state: Tensor, state: Tensor, context: Tensor) -> Tensor:
        return torch.cat([prev_state, context], dim=-1)

    def join(self, steps: Tensor, emb: Tensor) -> Tensor:
        hidden = self.out_features // 2
        prev_state, context = steps.split([hidden, steps.size(-1) - hidden], dim=-1)
        return torch.cat([prev_state, emb, context], dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        """(..., H + E + D) -> (..., H)."""
        t = super().forward(x)  # (..., 2H)
        return t.unflatten(-1, (-1, 2)).amax(dim=-1)  # pairs (2j-1, 2j) -> their maximum


class MaxoutReadout(MaxoutWiring, nn.Linear):
    """t~_i = [U_o V_o C_o] [s_{i-1}; E y_{i-1}; c_i], then maxout over consecutive pairs; `weight`
    (2H, H + E + D) holds U_o, V_o and C_o side by side."""

    def __init__(self, hidden_size: int, emb_size: int, context_size: int):
        super().__init__(hidden_size + emb_size + context_size, 2 * hidden_size, bias=False)


Readout = TanhReadout | MaxoutReadout
