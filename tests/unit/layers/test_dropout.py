"""dropout.py: inverted dropout, the same function as torch.nn.Dropout."""

from __future__ import annotations

import pytest
import torch

from seq2seq.layers.dropout import Dropout, keep_mask, kept_scale


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
    torch.testing.assert_close(y[~dropped], x[~dropped] * kept_scale(p))
    assert kept_scale(p) == pytest.approx(1 / (1 - p), rel=1e-4)  # p rounded to a multiple of 2^-16
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


@pytest.mark.parametrize("p", [0.1, 0.3])
def test_each_of_the_four_masks_drawn_from_one_64_bit_word_keeps_1_minus_p(p):
    """The mask takes 16 bits an element, four elements to a 64-bit draw: every one of the four
    lanes, and each pair of neighbours, must be as random as a mask drawn element by element."""
    torch.manual_seed(1)
    keep = keep_mask((250_000, 4), p, torch.device("cpu")).float()
    for lane in range(4):
        assert keep[:, lane].mean().item() == pytest.approx(1 - p, abs=0.004)
    both = (keep[:, 0] * keep[:, 1]).mean().item()  # independent lanes: (1 - p)^2
    assert both == pytest.approx((1 - p) ** 2, abs=0.004)
