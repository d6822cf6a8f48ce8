"""dropout.py: inverted dropout, the same function as torch.nn.Dropout."""

from __future__ import annotations

import pytest
import torch

from seq2seq.layers.dropout import Dropout


def test_eval_mode_and_p_zero_are_the_identity():
    x = torch.randn(50, 40)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.6])
def test_training_zeroes_a_fraction_p_and_scales_the_rest(p):
    torch.manual_seed(0)
    x = torch.rand(400, 500) + 0.5  # no zeros of its own
    y = Dropout(p).train()(x)
    dropped = y == 0
    assert dropped.float().mean().item() == pytest.approx(p, abs=0.01)
    torch.testing.assert_close(y[~dropped], x[~dropped] / (1 - p))
    assert y.mean().item() == pytest.approx(x.mean().item(), rel=0.01)  # expectation kept


def test_the_mask_comes_from_the_global_generator():
    x = torch.ones(30, 30)
    torch.manual_seed(3)
    a = Dropout(0.4).train()(x)
    torch.manual_seed(3)
    b = Dropout(0.4).train()(x)
    assert torch.equal(a, b)
    assert not torch.equal(Dropout(0.4).train()(x), a)


def test_gradients_flow_through_kept_elements_only():
    torch.manual_seed(0)
    x = torch.rand(20, 20, requires_grad=True)
    y = Dropout(0.5).train()(x)
    y.sum().backward()
    kept = y.detach() != 0
    torch.testing.assert_close(x.grad[kept], torch.full_like(x.grad[kept], 2.0))
    assert torch.all(x.grad[~kept] == 0)


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_an_impossible_probability_is_refused(p):
    with pytest.raises(ValueError):
        Dropout(p)
