"""int8 weights for decoding on a CPU, by PyTorch's own dynamic quantization
(torch.ao.quantization.quantize_dynamic).

A dynamically quantized layer keeps its weight matrix in int8 with one scale per output row
(symmetric, per channel); at every call it quantizes its input to 8 bits over the range that input
has, multiplies in integers (fbgemm / oneDNN kernels) and returns fp32. Nothing is calibrated, and
it runs on CPUs only.

What becomes int8: every linear layer, nn.Linear and ours built on it (WideLinear, StepLinear and
the readouts, whose wiring stays theirs: readout.py), and torch's fused GRU/LSTM (the recurrent
encoder's). What stays as it was: embeddings, layer norms, biases, and two linear layers whose
weight is read directly and whose product is no per-step cost: additive attention's v (one output;
score() subtracts sum(v), attention.py) and the recurrent decoder's input_emb (applied once to the
whole vocabulary, and the product kept: rnn_decoder.py, _projected_vocabulary).

In a model file (model_file.py) the int8 matrices are plain tensors under the float model's
parameter names, {name: {"values": int8 (O, I), "scales": float64 (O,), "zero_points": int64 (O,)}}:
loading builds the float model from the config, quantizes the same layers and sets these exact
matrices, so nothing is quantized twice and no code comes from the file.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch
import torch.ao.nn.quantized.dynamic as nnqd
from torch import Tensor, nn
from torch.ao.nn.quantized.dynamic.modules.rnn import RNNBase as Int8RNN
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

from ..layers.attention import AdditiveAttention
from ..layers.readout import MaxoutReadout, MaxoutWiring, TanhReadout, TanhWiring
from ..layers.step_linear import StepLinear
from ..layers.wide_linear import WideLinear
from .rnn_decoder import AttentionDecoder

Int8Weights = dict[str, dict[str, Tensor]]  # parameter name -> values, scales, zero_points


class Int8Linear(nnqd.Linear):
    """nnqd.Linear made from any of our linear layers, whose inference forward is x W^T + b
    (torch's from_float takes nn.Linear itself only)."""

    @classmethod
    def from_float(cls, mod: nn.Linear, use_precomputed_fake_quant: bool = False) -> Int8Linear:
        plain = nn.Linear(mod.in_features, mod.out_features, bias=mod.bias is not None, device="meta")
        plain.weight, plain.bias, plain.qconfig = mod.weight, mod.bias, mod.qconfig
        return super().from_float(plain)


class Int8TanhReadout(TanhWiring, Int8Linear):
    """TanhReadout's wiring over an int8 product."""


class Int8MaxoutReadout(MaxoutWiring, Int8Linear):
    """MaxoutReadout's wiring over an int8 product."""


# float layer type -> its int8 type; every nn.Linear subclass in a model must be here
MAPPING: dict[type[nn.Module], type[nn.Module]] = {
    nn.Linear: Int8Linear,
    WideLinear: Int8Linear,
    StepLinear: Int8Linear,
    TanhReadout: Int8TanhReadout,
    MaxoutReadout: Int8MaxoutReadout,
    nn.GRU: nnqd.GRU,
    nn.LSTM: nnqd.LSTM,
}
# (owner type, attribute): the linear layers that stay as they are (the module docstring says why)
KEPT: tuple[tuple[type[nn.Module], str], ...] = ((AdditiveAttention, "v"), (AttentionDecoder, "input_emb"))


def quantize(model: nn.Module) -> nn.Module:
    """`model` (float, on the CPU) with its layers made int8, in place; returned in eval mode."""
    spec = dict.fromkeys(_int8_layers(model), per_channel_dynamic_qconfig)
    with _quiet():
        return quantize_dynamic(model.eval(), spec, mapping=MAPPING, inplace=True)


def int8_weights(model: nn.Module) -> Int8Weights:
    """The int8 matrices of a quantized model as plain tensors, by parameter name."""
    plain = {}
    for name, q in _quantized_weights(model).items():
        if q.qscheme() != torch.per_channel_affine or q.q_per_channel_axis() != 0:
            raise ValueError(f"{name}: int8 weights are per output row; this one is {q.qscheme()}")
        plain[name] = {
            "values": q.int_repr(),
            "scales": q.q_per_channel_scales(),
            "zero_points": q.q_per_channel_zero_points(),
        }
    return plain


def load_int8(model: nn.Module, weights: dict[str, Tensor], int8: Int8Weights) -> nn.Module:
    """The model of an int8 model file: `model`, as built from its config, given the float
    `weights`, quantized, then given the exact int8 matrices. A ValueError says what does not fit."""
    if not isinstance(int8, dict) or not all(isinstance(v, dict) for v in int8.values()):
        raise ValueError("its int8 weights are not a table of values, scales and zero_points")
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if unexpected:
        raise ValueError(f"unexpected weights {', '.join(unexpected[:3])}")
    model = quantize(model)
    expected = _quantized_weights(model)
    if not_int8 := sorted(set(missing) - set(int8)):
        raise ValueError(f"missing weights {', '.join(not_int8[:3])}")
    if expected.keys() != int8.keys():
        odd = sorted(set(expected) ^ set(int8))
        raise ValueError(f"int8 weights for other layers than the config's model has ({', '.join(odd[:3])})")
    exact = {name: _qtensor(name, int8[name], q.shape) for name, q in expected.items()}
    for prefix, module in model.named_modules():
        if isinstance(module, nnqd.Linear):
            module.set_weight_bias(exact[f"{prefix}.weight"], module.bias())
        elif isinstance(module, Int8RNN):
            matrices = {k: exact[f"{prefix}.{k}"] for k in module.get_weight()}
            module.set_weight_bias(matrices | module.get_bias())
    return model


def _int8_layers(model: nn.Module) -> list[str]:
    """The names of the layers `quantize` makes int8."""
    names = []
    for owner_name, owner in model.named_modules():
        for attribute, layer in owner.named_children():
            if any(isinstance(owner, kind) and attribute == kept for kind, kept in KEPT):
                continue
            if type(layer) in MAPPING:
                names.append(f"{owner_name}.{attribute}" if owner_name else attribute)
            elif isinstance(layer, nn.Linear):  # a new linear layer type: decide, do not guess
                raise TypeError(f"{type(layer).__name__} is a linear layer that models/int8.py does not map")
    return names


def _quantized_weights(model: nn.Module) -> dict[str, Tensor]:
    """The quantized matrices of a quantized model, by the float model's parameter names."""
    found = {}
    for prefix, module in model.named_modules():
        if isinstance(module, nnqd.Linear):
            found[f"{prefix}.weight"] = module.weight()
        elif isinstance(module, Int8RNN):
            found |= {f"{prefix}.{k}": w for k, w in module.get_weight().items()}
    return found


def _qtensor(name: str, plain: dict[str, Tensor], shape: torch.Size) -> Tensor:
    """A per-row qint8 tensor of `shape` from its plain tensors, exactly."""
    values, scales, zero_points = (plain.get(k) for k in ("values", "scales", "zero_points"))
    if not all(isinstance(t, Tensor) for t in (values, scales, zero_points)):
        raise ValueError(f"{name}: int8 weights need values, scales and zero_points tensors")
    rows = (shape[0],)
    if (
        values.dtype != torch.int8
        or values.shape != shape
        or scales.shape != rows
        or zero_points.shape != rows
    ):
        raise ValueError(
            f"{name}: int8 weights of shape {tuple(values.shape)}, the model's are {tuple(shape)}"
        )
    with _quiet():
        return torch._make_per_channel_quantized_tensor(values, scales.double(), zero_points.long(), 0)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch 2.10 and later mark torch.ao.quantization and its quantized tensors deprecated, in
    favor of torchao, and warn each time; the path still works, and a user can do nothing about
    it. The file format above is plain tensors, so another backend can load it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated")
        warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions")
        yield
