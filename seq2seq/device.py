"""Where a command computes: `auto` (the default of train, test and translate) is the GPU when
PyTorch sees one, else the CPU; and the line the log gives about it."""

from __future__ import annotations

import torch

from .errors import UserError

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
