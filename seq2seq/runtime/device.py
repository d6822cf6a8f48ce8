"""Where a command computes, and in what precision.

Device `auto` (the default of train, test and translate) is the GPU when PyTorch sees one, else the
CPU. Precision `auto` is bf16 where the device multiplies bf16 matrices natively, else fp32: a CPU
without AVX-512 (or Arm's BF16 extension) runs torch's bf16 matrix products through a portable
loop, orders of magnitude slower than fp32 (docs/benchmarks.md)."""

from __future__ import annotations

import torch

from ..errors import UserError

DEVICES = ("auto", "cpu", "cuda")


def pick_device(name: str, option: str) -> torch.device:
    """`name` is one of DEVICES; `option` names the setting in the error, e.g. 'train.device'."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError(
            f"{option} is cuda but PyTorch sees no GPU; set {option} to cpu or auto (the default)"
        )
    return torch.device(name)


def describe(device: torch.device) -> str:
    """'cuda:0 (NVIDIA H200)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def fast_bf16(device: torch.device) -> bool:
    """Whether `device` multiplies bf16 matrices natively: on a CPU torch's own test for taking
    oneDNN's bf16 kernels (AVX-512 BW/VL/DQ on x86, BF16 on Arm), on a GPU compute capability 8+."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without that test: assume the slow loop
        return False


def runs_fast(precision: str, device: torch.device) -> bool:
    """Whether `device` computes in `precision` (not auto) at least as fast as in fp32."""
    if precision == "bf16":
        return fast_bf16(device)
    return precision == "fp32" or device.type == "cuda"  # fp16: a GPU's


def pick_precision(name: str, device: torch.device) -> str:
    """`name` is auto, fp32, bf16 or fp16: `auto` becomes bf16 where `device` runs it fast, else fp32."""
    if name != "auto":
        return name
    return "bf16" if fast_bf16(device) else "fp32"


def decoding_precision(trained: str, device: torch.device) -> str:
    """A model's decoding precision when none is asked for: the one it trained in (auto picked
    anew for `device`), or fp32 where `device` would be slower in that one."""
    precision = pick_precision(trained, device)
    return precision if runs_fast(precision, device) else "fp32"


def precision_warning(name: str, device: torch.device, option: str) -> str | None:
    """One line for the log when an asked-for `name` is slower on `device` than fp32, with the
    fix; None when it is not."""
    if runs_fast(pick_precision(name, device), device):
        return None
    if device.type == "cpu" and name == "fp16":
        why = "a CPU has no fp16 matrix units"
    elif device.type == "cpu":
        why = "this CPU has no bf16 matrix instructions (AVX-512), so bf16 runs about 100x slower"
    else:
        why = "this GPU (compute capability below 8) has no bf16 matrix units"
    return f"{option} is {name}, slower than fp32 here: {why}; set {option} to auto or fp32"
