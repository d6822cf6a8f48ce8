"""A linear layer that a recurrence applies at every step, with its weight gradient formed once.

Backpropagation through time needs the input gradient g_t W of y_t = W x_t + b step by step, but
not the weight gradient sum_t g_t^T x_t: that is one product over all steps, which is how cuDNN's
RNNs compute it. Autograd cannot know that the steps share W, so it forms a small product g_t^T x_t
and adds it up at every step. Inside `summed_step_gradients(module)`, every StepLinear of the
module does the former: per step its forward (exactly nn.Linear's, the weight cast to autocast's
type once instead of looked up in autocast's cache) and its input gradient; after the last step's
backward, dW = G^T X and db = sum(G) over all steps at once. The gradients equal nn.Linear's up to
the order of the sums. Outside the context, and without autograd, a StepLinear is a WideLinear
(wide_linear.py: an nn.Linear whose wide fp32 products run through oneDNN on a CPU): same
parameters, same state_dict.

Dims: N rows at a step, I input size, O output size, T steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd import Function

from .wide_linear import WideLinear


class StepLinear(WideLinear):
    _steps: _Steps | None = None  # set inside summed_step_gradients

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x) if self._steps is None else self._steps(x)


@contextlib.contextmanager
def summed_step_gradients(module: nn.Module) -> Iterator[None]:
    """Within: the StepLinears of `module` sum their weight gradients over the steps in one product
    (when autograd records; a nested context leaves an outer one's in place)."""
    linears = []
    if torch.is_grad_enabled():
        for m in module.modules():
            if isinstance(m, StepLinear) and m.weight.requires_grad and m._steps is None:
                m._steps = _Steps(m)
                linears.append(m)
    try:
        yield
    finally:
        for m in linears:
            m._steps = None


class _Steps:
    """One StepLinear's uses in one forward pass: each step's input, then each step's output
    gradient as the backward pass reaches it."""

    def __init__(self, linear: StepLinear):
        device = linear.weight.device.type
        autocast = torch.is_autocast_enabled(device)
        dtype = torch.get_autocast_dtype(device) if autocast else linear.weight.dtype
        self.inputs: list[Tensor] = []
        self.grads: list[Tensor | None] = []
        self.weight, self.bias = _SharedWeight.apply(linear.weight, linear.bias, dtype, self)

    def __call__(self, x: Tensor) -> Tensor:
        return _Step.apply(x, self.weight, self.bias, self)


class _SharedWeight(Function):
    """weight (O, I), bias (O,) -> their copies in the compute type, made once; its backward runs
    after every step's and forms the gradients from all of them."""

    @staticmethod
    def forward(ctx, weight: Tensor, bias: Tensor | None, dtype: torch.dtype, steps: _Steps):
        ctx.steps, ctx.dtypes = steps, (weight.dtype, None if bias is None else bias.dtype)
        ctx.set_materialize_grads(False)
        cast = [t if t is None else t.to(dtype) if t.dtype != dtype else t.view_as(t) for t in (weight, bias)]
        return cast[0], cast[1]

    @staticmethod
    def backward(ctx, _weight_grad, _bias_grad):
        steps = ctx.steps
        used = [(x, g) for x, g in zip(steps.inputs, steps.grads) if g is not None]
        # break the cycle steps -> cast weight -> this node -> ctx -> steps: the garbage collector
        # cannot see through autograd's nodes, so each update's cast weights would stay (bf16)
        steps.inputs, steps.grads, steps.weight, steps.bias, ctx.steps = [], [], None, None, None
        if not used:
            return None, None, None, None
        x = torch.cat([x.reshape(-1, x.size(-1)) for x, _ in used])  # (T x N, I)
        g = torch.cat([g.reshape(-1, g.size(-1)) for _, g in used])  # (T x N, O)
        weight_dtype, bias_dtype = ctx.dtypes
        grad_bias = None if bias_dtype is None else g.sum(0).to(bias_dtype)
        return (g.t() @ x).to(weight_dtype), grad_bias, None, None


class _Step(Function):
    """x (..., I) -> x W^T + b (..., O); the backward gives x's gradient and hands g to _Steps."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, steps: _Steps):
        cast = x.to(weight.dtype)  # what autocast would cast x to
        ctx.set_materialize_grads(False)  # a step whose output is unused adds nothing
        ctx.save_for_backward(weight)
        ctx.steps, ctx.index, ctx.x_dtype = steps, len(steps.inputs), x.dtype
        steps.inputs.append(cast)
        steps.grads.append(None)
        return F.linear(cast, weight, bias)

    @staticmethod
    def backward(ctx, grad: Tensor | None):
        (weight,) = ctx.saved_tensors
        ctx.steps.grads[ctx.index] = grad
        return None if grad is None else (grad @ weight).to(ctx.x_dtype), None, None, None
