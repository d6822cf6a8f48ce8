"""Number types: the names a config or option gives them, and low-precision copies of a model.

Decoding with bf16 or fp16 weights rather than under autocast spares the casts of every weight at
every step; validation and `seq2seq test` both decode such a copy, so they agree.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def low_precision_copy(model: nn.Module, precision: str) -> nn.Module:
    """`model` in eval mode and, for bf16/fp16, a copy of it with weights of that type."""
    if precision == "fp32":
        return model.eval()
    copied = copy.deepcopy(model).to(DTYPES[precision]).eval()
    for module in copied.modules():
        if isinstance(module, nn.RNNBase):
            _flatten(module)
    return copied


def _flatten(rnn: nn.RNNBase) -> None:
    """Lay a GPU recurrent layer's weights out as the one buffer cuDNN reads them from, once. The
    copy's weights were cast one by one, and torch's flatten_parameters() skips bf16 weights (its
    check, torch.backends.cudnn.is_acceptable, admits fp16, fp32 and fp64 only) although cuDNN runs
    them, so every call would compact them again, with a warning. On the CPU there is nothing to do."""
    rnn.flatten_parameters()
    first = rnn._flat_weights[0]
    if first.is_cuda and first.dtype == torch.bfloat16 and torch.backends.cudnn.enabled:
        from torch.backends.cudnn.rnn import get_cudnn_mode

        with torch.no_grad():  # what flatten_parameters() does for the types it accepts
            torch._cudnn_rnn_flatten_weight(
                rnn._flat_weights,
                4 if rnn.bias else 2,
                rnn.input_size,
                get_cudnn_mode(rnn.mode),
                rnn.hidden_size,
                rnn.proj_size,
                rnn.num_layers,
                rnn.batch_first,
                bool(rnn.bidirectional),
            )
