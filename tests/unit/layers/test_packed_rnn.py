"""packed_rnn.py: the CPU training path of the encoder computes exactly what torch's packed GRU and
LSTM compute: the same outputs, final states and gradients, bit for bit."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from seq2seq.layers.packed_rnn import run_packed

LENGTHS = torch.tensor([9, 3, 5, 9, 1, 7, 4])  # unsorted, with ties and a sentence of one token


def outputs_and_gradients(rnn: nn.Module, custom: bool, autocast: bool) -> list[torch.Tensor]:
    torch.manual_seed(1)  # the same dropout masks between layers for both paths
    x = torch.randn(len(LENGTHS), int(LENGTHS.max()), 16, generator=torch.Generator().manual_seed(0))
    x.requires_grad_()
    rnn.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        packed = pack_padded_sequence(x, LENGTHS, batch_first=True, enforce_sorted=False)
        out, hidden = run_packed(rnn, packed) if custom else rnn(packed)
    hidden = hidden if isinstance(hidden, tuple) else (hidden,)
    weights = torch.linspace(-1, 1, out.data.numel()).view_as(out.data)
    loss = (out.data.float() * weights).sum() + sum((h.float() ** 2).sum() for h in hidden)
    loss.backward()
    return [out.data, *hidden, x.grad] + [p.grad for p in rnn.parameters()]


@pytest.mark.parametrize("kind", [nn.GRU, nn.LSTM])
@pytest.mark.parametrize(
    "layers, bidirectional, autocast, dropout",
    [
        (1, True, False, 0.0),
        (1, True, True, 0.0),
        (2, True, True, 0.3),
        (2, False, False, 0.0),
        (1, False, True, 0.0),
    ],
)
def test_outputs_and_gradients_are_bit_identical_to_torchs(kind, layers, bidirectional, autocast, dropout):
    torch.manual_seed(0)
    rnn = kind(16, 12, num_layers=layers, bidirectional=bidirectional, batch_first=True, dropout=dropout)
    ours = outputs_and_gradients(rnn, custom=True, autocast=autocast)
    theirs = outputs_and_gradients(rnn, custom=False, autocast=autocast)
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a.dtype == b.dtype and torch.equal(a, b), f"tensor {i} differs"
