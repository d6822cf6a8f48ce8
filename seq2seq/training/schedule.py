"""The learning-rate schedule of `train.schedule`, and when the trainer advances it.

- `constant`: `train.lr` throughout.
- `plateau`: multiply the rate by `plateau_factor` when the validation score has not improved for
  `plateau_patience` validations (never below `min_lr`); advanced after each validation.
- `warmup_decay`: linear warmup over `warmup_steps` updates, then inverse square root decay
  (Vaswani et al. 2017, eq. 3, as a factor of `train.lr`; never below `min_lr`); advanced after
  each update.
"""

from __future__ import annotations

import torch

from ..config.load import TrainConfig


class Schedule:
    """Wraps the PyTorch scheduler so that the loop only says what happened (an update, a
    validation) and does not branch on the kind of schedule."""

    def __init__(self, optimizer: torch.optim.Optimizer, tc: TrainConfig):
        self.kind = tc.schedule
        self.scheduler = _scheduler(optimizer, tc)

    def after_update(self) -> None:
        if self.kind == "warmup_decay":
            self.scheduler.step()

    def after_validation(self, score: float) -> None:
        """`score`: higher is better (the validation metric that picks the best model)."""
        if self.kind == "plateau":
            self.scheduler.step(score)

    def state_dict(self) -> dict:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.scheduler.load_state_dict(state)


def _scheduler(optimizer: torch.optim.Optimizer, tc: TrainConfig):
    if tc.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=tc.plateau_factor, patience=tc.plateau_patience, min_lr=tc.min_lr
        )
    if tc.schedule == "warmup_decay":  # linear warmup, then inverse square root decay
        warmup, floor = tc.warmup_steps, tc.min_lr / tc.lr
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: max(floor, min((step + 1) / warmup, (warmup / (step + 1)) ** 0.5))
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
