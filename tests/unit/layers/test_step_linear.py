"""step_linear.py: inside summed_step_gradients, a StepLinear used at every step of a recurrence gives
nn.Linear's outputs bit for bit and its gradients up to the order of the sums; outside, it is an
nn.Linear."""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch import nn

from seq2seq.layers.step_linear import StepLinear, summed_step_gradients

STEPS, BATCH, SIZE = 6, 4, 8


def unrolled(layer: nn.Linear, x0: torch.Tensor, autocast: bool, summed: bool):
    """A small recurrence h_t = tanh(layer(h_{t-1}) + t); the loss reads every step but the 3rd."""
    layer.zero_grad()
    x0 = x0.detach().requires_grad_()
    outputs = []
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        with summed_step_gradients(layer) if summed else contextlib.nullcontext():
            h = x0
            assert (getattr(layer, "_steps", None) is not None) == summed
            for t in range(STEPS):
                h = torch.tanh(layer(h) + t)
                outputs.append(h)
    del outputs[2]
    loss = sum((o.float() * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outputs)
    loss.backward()
    return outputs, x0.grad, layer.weight.grad, layer.bias.grad


@pytest.mark.parametrize("autocast, tolerance", [(False, 1e-5), (True, 2e-2)])
def test_outputs_are_nn_linears_and_gradients_equal_up_to_summation_order(autocast, tolerance):
    torch.manual_seed(0)
    plain = nn.Linear(SIZE, SIZE)
    step = StepLinear(SIZE, SIZE)
    step.load_state_dict(plain.state_dict())
    x0 = torch.randn(BATCH, SIZE)
    ours = unrolled(step, x0, autocast, summed=True)
    theirs = unrolled(plain, x0, autocast, summed=False)
    assert all(torch.equal(a, b) for a, b in zip(ours[0], theirs[0]))  # the forward, bit for bit
    for a, b in zip(ours[1:], theirs[1:]):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b, rtol=tolerance, atol=tolerance)


def test_outside_the_context_or_without_autograd_it_is_an_nn_linear():
    torch.manual_seed(0)
    step = StepLinear(SIZE, 3)
    assert list(step.state_dict()) == list(nn.Linear(SIZE, 3).state_dict())
    x = torch.randn(BATCH, SIZE)
    assert torch.equal(step(x), nn.functional.linear(x, step.weight, step.bias))
    with torch.no_grad(), summed_step_gradients(step):
        assert step._steps is None
        assert torch.equal(step(x), nn.functional.linear(x, step.weight, step.bias))


def test_a_nested_context_leaves_the_outer_one_in_place():
    step = StepLinear(SIZE, SIZE)
    with summed_step_gradients(step):
        outer = step._steps
        with summed_step_gradients(step):
            assert step._steps is outer
        assert step._steps is outer
    assert step._steps is None


def test_nothing_of_an_update_stays_alive_after_its_backward():
    """The cast weights of one forward pass (bf16 under autocast: copies) must be freed once its
    backward ran; a reference cycle through autograd's graph, which Python's collector cannot
    see, once kept every update's copies."""
    import gc
    import weakref

    step = StepLinear(SIZE, SIZE)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with summed_step_gradients(step):
            steps = weakref.ref(step._steps)
            cast = weakref.ref(step._steps.weight)
            h = torch.randn(BATCH, SIZE)
            for _ in range(3):
                h = torch.tanh(step(h))
    h.float().sum().backward()
    del h
    gc.collect()
    assert steps() is None and cast() is None
