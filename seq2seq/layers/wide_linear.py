"""A linear layer with many outputs (the output layer, the recurrent gates) whose forward product
runs through oneDNN on a CPU in fp32.

On a CPU torch multiplies fp32 matrices with MKL; bf16 and fp16 products already go to oneDNN.
On an AVX2 CPU (an AMD EPYC; figures in docs/benchmarks.md), y = x W^T + b with W of 5,483 x 512
(the reference model's output layer) ran markedly faster through oneDNN than through MKL, and with
W of 1,536 x 512 (a GRU's gates) somewhat faster; with 512 outputs the two are even or MKL is
ahead, and so are the backward's products (g W, g^T x). So a
layer of at least `WIDE` outputs takes oneDNN's kernel for its forward product:
torch.ops.mkldnn._linear_pointwise, the one torch.compile's CPU backend calls for a linear layer.
Its results equal MKL's to rounding. With autograd, `_Forward` keeps nn.Linear's backward.

oneDNN compiles a kernel for each matrix shape it meets and caches it (`__init__.py`); for a new
number of rows at the output layer that costs a good part of what the faster product saves.
The rows scored in a training batch (its real target tokens) are a new number nearly every
update, and so are the live hypotheses of beam search, so the rows are padded with zeros to a
multiple of `ROWS` (at most 31 more in ~1,000) and the padding's outputs dropped: the shapes
repeat and their kernels are reused.

Same parameters and state_dict as nn.Linear, and, on a GPU, in another precision or under
autocast, the same computation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd import Function

WIDE = 1024  # outputs from which oneDNN is used
ROWS = 32  # oneDNN's products take a multiple of this many rows

_onednn = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


class WideLinear(nn.Linear):
    def forward(self, x: Tensor) -> Tensor:
        """(..., I) -> (..., O)."""
        if not (
            _onednn
            and self.out_features >= WIDE
            and x.device.type == "cpu"
            and x.dtype == self.weight.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")
        ):
            return F.linear(x, self.weight, self.bias)
        if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            return _Forward.apply(x, self.weight, self.bias)
        return _onednn_linear(x, self.weight, self.bias)


def _onednn_linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """x (..., I) -> (..., O); the rows are padded with zeros to a multiple of ROWS for oneDNN."""
    rows = x.reshape(-1, x.size(-1))  # (N, I)
    n = rows.size(0)
    if n % ROWS:
        rows = torch.cat([rows, rows.new_zeros(ROWS - n % ROWS, rows.size(1))])
    y = torch.ops.mkldnn._linear_pointwise(rows, weight, bias, "none", [], "")
    return y[:n].view(*x.shape[:-1], weight.size(0))


class _Forward(Function):
    """x (..., I), W (O, I), b (O,) -> x W^T + b through oneDNN; the backward is nn.Linear's:
    dx = g W, dW = g^T x, db = sum(g) over the rows."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        return _onednn_linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        g = grad.reshape(-1, grad.size(-1))  # (N, O)
        grad_x = (g @ weight).view_as(x) if ctx.needs_input_grad[0] else None
        grad_weight = g.t() @ x.reshape(-1, x.size(-1)) if ctx.needs_input_grad[1] else None
        grad_bias = g.sum(0) if ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias
