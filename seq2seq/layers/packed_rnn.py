"""torch's packed GRU/LSTM on the CPU, step for step the same operations, with a cheaper backward.

On the CPU, `nn.GRU` and `nn.LSTM` over a PackedSequence run ATen's loop (aten/src/ATen/native/
RNN.cpp: PackedLayer, ReversedPackedLayer, GRUCell, LSTMCell): the input projections of all tokens
in one product, then per step a `narrow` of them, the recurrent product and the gates. Autograd
differentiates every `narrow` into a zero tensor the size of all the projections, so the backward
costs steps x tokens. `run_packed` performs the same operations in the same order on the module's
own parameters, but takes the steps' slices with one `split` (one backward for all): the outputs
and every gradient are bit-identical to the module's (tests/unit/layers/test_packed_rnn.py), and the encoder's
update is faster. Dims: N packed tokens, B batch, H hidden size, G gates x H.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

Hidden = tuple[Tensor, ...]  # (h,) for a GRU, (h, c) for an LSTM; each (B, H)


def run_packed(rnn: nn.GRU | nn.LSTM, packed: PackedSequence) -> tuple[PackedSequence, Tensor | Hidden]:
    """`rnn(packed)` with zero initial states: the packed outputs and h_n (an LSTM: (h_n, c_n)),
    each (layers x directions, B, H) in the caller's sentence order."""
    data, sizes = packed.data, packed.batch_sizes.tolist()
    directions = 2 if rnn.bidirectional else 1
    lstm = isinstance(rnn, nn.LSTM)
    zeros = torch.zeros(sizes[0], rnn.hidden_size, dtype=data.dtype, device=data.device)
    start = (zeros, zeros) if lstm else (zeros,)
    cell = _lstm_cell if lstm else _gru_cell
    finals: list[Hidden] = []
    x = data
    for layer in range(rnn.num_layers):
        outputs = []
        for direction in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            w_hh, b_hh = getattr(rnn, "weight_hh" + suffix), getattr(rnn, "bias_hh" + suffix, None)
            gates = F.linear(x, getattr(rnn, "weight_ih" + suffix), getattr(rnn, "bias_ih" + suffix, None))
            steps = torch.split(gates, sizes)  # (b_t, G) per step
            run = _backward_in_time if direction else _forward_in_time
            out, final = run(cell, steps, sizes, start, w_hh, b_hh)
            outputs.append(out)
            finals.append(final)
        x = torch.cat(outputs, -1) if directions == 2 else outputs[0]
        if rnn.dropout and rnn.training and layer < rnn.num_layers - 1:
            x = F.dropout(x, rnn.dropout, True)
    hidden = tuple(torch.stack([f[i] for f in finals], 0) for i in range(len(start)))
    if packed.unsorted_indices is not None:
        hidden = tuple(h.index_select(1, packed.unsorted_indices) for h in hidden)
    out = PackedSequence(x, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
    return out, (hidden if lstm else hidden[0])


def _forward_in_time(cell, steps, sizes, start: Hidden, w_hh, b_hh) -> tuple[Tensor, Hidden]:
    """ATen's PackedLayer: the batch shrinks as sentences end; their final states are kept."""
    outputs, ended = [], []
    state, last = start, sizes[0]
    for x, size in zip(steps, sizes):
        if size < last:
            ended.append(tuple(s.narrow(0, size, last - size) for s in state))
            state = tuple(s.narrow(0, 0, size) for s in state)
        last = size
        state = cell(x, state, w_hh, b_hh)
        outputs.append(state[0])
    ended.append(state)
    ended.reverse()
    return torch.cat(outputs, 0), tuple(torch.cat(parts, 0) for parts in zip(*ended))


def _backward_in_time(cell, steps, sizes, start: Hidden, w_hh, b_hh) -> tuple[Tensor, Hidden]:
    """ATen's ReversedPackedLayer: from the last step back, the batch grows as sentences begin."""
    outputs = []
    last = sizes[-1]
    state = tuple(s.narrow(0, 0, last) for s in start)
    for i in range(len(sizes) - 1, -1, -1):
        size = sizes[i]
        if size > last:
            state = tuple(torch.cat([s, s0.narrow(0, last, size - last)], 0) for s, s0 in zip(state, start))
        last = size
        state = cell(steps[i], state, w_hh, b_hh)
        outputs.append(state[0])
    outputs.reverse()
    return torch.cat(outputs, 0), state


def _gru_cell(x: Tensor, state: Hidden, w_hh: Tensor, b_hh: Tensor | None) -> Hidden:
    """ATen's GRUCell on precomputed input gates x (b, 3H), in its order of in-place operations."""
    (h,) = state
    x_r, x_z, x_n = x.unsafe_chunk(3, 1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).unsafe_chunk(3, 1)
    r = h_r.add_(x_r).sigmoid_()
    z = h_z.add_(x_z).sigmoid_()
    n = x_n.add(h_n.mul_(r)).tanh_()
    return ((h - n).mul_(z).add_(n),)


def _lstm_cell(x: Tensor, state: Hidden, w_hh: Tensor, b_hh: Tensor | None) -> Hidden:
    """ATen's LSTMCell on precomputed input gates x (b, 4H)."""
    h, c = state
    i, f, g, o = F.linear(h, w_hh, b_hh).add_(x).unsafe_chunk(4, 1)
    i, f, g, o = i.sigmoid_(), f.sigmoid_(), g.tanh_(), o.sigmoid_()
    c = (f * c).add_(i * g)
    return o * c.tanh(), c
