"""Stopping a run that diverges, with advice, before it saves anything: a loss that is no longer
finite, or fp16 gradients that keep overflowing."""

from __future__ import annotations

import math

import torch

from ..errors import UserError

# GradScaler halves its scale at each update whose fp16 gradients overflow (and skips that update):
# from 2**16 to below 2**-8 takes at least 24 of them, with few good updates between: nothing learns.
MIN_FP16_SCALE = 2.0**-8


def check_loss(summed: float, where: str, precision: str) -> None:
    """`summed`: the update's training loss over all processes; `where`: e.g. "update 8 (epoch 1)"."""
    if not math.isfinite(summed):
        fix = (
            "fp16 holds values up to 65504 only: use train.precision: bf16 (fp32's range) or fp32"
            if precision == "fp16"
            else "Lower train.lr, keep train.clip_grad_norm on, or use train.precision: fp32"
        )
        raise UserError(
            f"training loss became {summed} at {where}; stopped, and last.pt is left as it was. {fix}"
        )


def check_scaler(scaler: torch.amp.GradScaler, where: str) -> None:
    """Call after `scaler.update()`."""
    if scaler.is_enabled() and scaler.get_scale() < MIN_FP16_SCALE:
        raise UserError(
            f"fp16 gradients kept overflowing up to {where}: the gradient scaler skipped those "
            f"updates and fell to {scaler.get_scale():.1e}; stopped, and last.pt is left as it was. "
            "Use train.precision: bf16 (fp32's range) or fp32"
        )
