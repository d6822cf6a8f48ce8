"""The learning-rate schedule of `train.schedule`, and when the trainer advances it.

- `constant`: `train.lr` throughout.
- `plateau`: multiply the rate by `plateau_factor` when the validation score has not improved for
  `plateau_patience` validations (never below `min_lr`); advanced after each validation.
- `warmup_decay`: linear warmup over `warmup_steps` updates, then inverse square root decay
  (Vaswani et al. 2017, eq. 3, as a factor of `train.lr`; never below `min_lr`); advanced after
  each update.

`train.cooldown_epochs` N (warmup_decay, constant): over the last N epochs of `train.epochs` the rate
falls linearly to `min_lr`, by the fraction of those epochs done after each update (a cooldown,
Hägele et al. 2024, arXiv:2405.18392). The rate of an update depends only on the update count and
how far into the run it is, so a resumed run continues it exactly; added or moved before it begins,
it changes nothing already computed.
"""

from __future__ import annotations

import torch

from ..config.load import TrainConfig


class Schedule:
    """Wraps the PyTorch scheduler so that the loop only says what happened (an update, a
    validation) and does not branch on the kind of schedule."""

    def __init__(self, optimizer: torch.optim.Optimizer, tc: TrainConfig):
        self.kind = tc.schedule
        self.optimizer, self.tc = optimizer, tc
        self.scheduler = _scheduler(optimizer, tc)

    def after_update(self, epochs_done: float) -> None:
        """`epochs_done`: how far into the run the update ends, in epochs (3.5: half of the fourth)."""
        if self.kind == "warmup_decay":
            self.scheduler.step()
        if self.tc.cooldown_epochs and self.kind != "plateau":
            factor = cooldown_factor(epochs_done, self.tc.epochs, self.tc.cooldown_epochs)
            floor = self.tc.min_lr
            for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
                rate = base * self.scheduler.lr_lambdas[0](self.scheduler.last_epoch)
                group["lr"] = max(floor, rate * factor) if factor < 1 else rate

    def after_validation(self, score: float) -> None:
        """`score`: higher is better (the validation metric that picks the best model)."""
        if self.kind == "plateau":
            self.scheduler.step(score)

    def state_dict(self) -> dict:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.scheduler.load_state_dict(state)


def cooldown_factor(epochs_done: float, epochs: int, cooldown: int) -> float:
    """1 before the cooldown, then falling linearly to 0 at the end of epoch `epochs`."""
    return min(1.0, max(0.0, (epochs - epochs_done) / cooldown))


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
