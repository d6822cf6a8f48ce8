"""schedule.py: the learning rate each update uses, by hand."""

from __future__ import annotations

import math

import pytest
import torch

from seq2seq.config.load import TrainConfig
from seq2seq.training.schedule import Schedule


def rates(tc: TrainConfig, updates: int, scores: list[float] | None = None) -> list[float]:
    """The learning rate of updates 1..`updates`; a validation after every update when `scores`."""
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=tc.lr)
    schedule = Schedule(optimizer, tc)
    used = []
    for k in range(updates):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.after_update()
        if scores:
            schedule.after_validation(scores[k])
    return used


def test_warmup_decay_rises_linearly_then_falls_as_the_inverse_square_root():
    """Update k uses lr * min(k / warmup, sqrt(warmup / k)), never below min_lr (Vaswani et al.
    2017, eq. 3, as a factor of train.lr)."""
    used = rates(TrainConfig(lr=0.01, schedule="warmup_decay", warmup_steps=4, min_lr=0.001), 500)
    by_hand = {
        1: 0.0025,
        2: 0.005,
        3: 0.0075,
        4: 0.01,
        5: 0.01 * math.sqrt(4 / 5),
        9: 0.01 * 2 / 3,
        100: 0.002,
    }
    for k, lr in by_hand.items():
        assert used[k - 1] == pytest.approx(lr, rel=1e-9), k
    assert used[399] == pytest.approx(0.001)  # sqrt(4 / 400) = 0.1: the floor is reached at update 400
    assert used[400:] == pytest.approx([0.001] * 100)  # and kept


def test_the_floor_holds_during_warmup_too():
    used = rates(TrainConfig(lr=0.01, schedule="warmup_decay", warmup_steps=4, min_lr=0.004), 4)
    assert used == pytest.approx([0.004, 0.005, 0.0075, 0.01])


def test_warmup_decay_ignores_validations_and_plateau_ignores_updates():
    warm = TrainConfig(lr=0.01, schedule="warmup_decay", warmup_steps=4, min_lr=0.0)
    assert rates(warm, 6, scores=[1.0] * 6) == rates(warm, 6)
    plateau = TrainConfig(lr=0.01, schedule="plateau", plateau_factor=0.5, plateau_patience=1, min_lr=0.0)
    # no gain after the first validation: patience 1 lets one pass, then each halves the rate
    assert rates(plateau, 5, scores=[5.0, 4.0, 4.0, 4.0, 4.0]) == pytest.approx(
        [0.01, 0.01, 0.01, 0.005, 0.005]
    )
