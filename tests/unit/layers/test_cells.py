"""cells.py: the cells that take a pre-projected input compute exactly torch.nn.GRUCell and
torch.nn.LSTMCell when x_proj = x W_ih^T + b_ih."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seq2seq.layers.cells import GRUCell, LSTMCell

BATCH, IN, H, STEPS = 3, 5, 4, 4


@pytest.mark.parametrize("ours_cls, ref_cls", [(GRUCell, nn.GRUCell), (LSTMCell, nn.LSTMCell)])
def test_cell_equals_torch_cell_with_the_same_weights(ours_cls, ref_cls):
    torch.manual_seed(0)
    ref = ref_cls(IN, H).double()
    ours = ours_cls(H).double()
    assert ours.gates * H == ref.weight_ih.size(0)
    with torch.no_grad():
        ours.hh.weight.copy_(ref.weight_hh)
        ours.hh.bias.copy_(ref.bias_hh)
    state = tuple(torch.randn(BATCH, H, dtype=torch.double) for _ in range(ours.n_states))
    ref_state = state
    for _ in range(STEPS):  # several steps, so errors in the carried state show up too
        x = torch.randn(BATCH, IN, dtype=torch.double)
        x_proj = x @ ref.weight_ih.T + ref.bias_ih
        state = ours(x_proj, state)
        ref_state = ref(x, ref_state[0] if ours.n_states == 1 else ref_state)
        ref_state = ref_state if isinstance(ref_state, tuple) else (ref_state,)
        assert len(state) == ours.n_states
        for got, want in zip(state, ref_state, strict=True):
            torch.testing.assert_close(got, want)


def test_gradients_match_too():
    torch.manual_seed(0)
    ref, ours = nn.GRUCell(IN, H).double(), GRUCell(H).double()
    with torch.no_grad():
        ours.hh.weight.copy_(ref.weight_hh)
        ours.hh.bias.copy_(ref.bias_hh)
    x, h = torch.randn(BATCH, IN, dtype=torch.double), torch.randn(BATCH, H, dtype=torch.double)
    ours((x @ ref.weight_ih.T + ref.bias_ih), (h,))[0].sum().backward()
    ref(x, h).sum().backward()
    torch.testing.assert_close(ours.hh.weight.grad, ref.weight_hh.grad)
    torch.testing.assert_close(ours.hh.bias.grad, ref.bias_hh.grad)
