"""schedule.py: the learning rate each update uses, by hand."""

from __future__ import annotations

import math

import pytest
import torch

from seq2seq.config.load import TrainConfig
from seq2seq.training.schedule import Schedule


def rates(
    tc: TrainConfig, updates: int, scores: list[float] | None = None, per_epoch: int = 1000
) -> list[float]:
    """The learning rate of updates 1..`updates`, `per_epoch` updates an epoch; a validation after
    every update when `scores`."""
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=tc.lr)
    schedule = Schedule(optimizer, tc)
    used = []
    for k in range(updates):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.after_update((k + 1) / per_epoch)
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


def test_a_cooldown_lowers_the_rate_linearly_to_the_floor_over_the_last_epochs():
    """4 epochs of 10 updates, the last 2 a cooldown: updates 1-21 as without it, then update k of
    the cooldown (k = 1..20) uses the rate times (20 - k + 1) / 20, the last one min_lr at most."""
    common = dict(lr=0.01, schedule="warmup_decay", warmup_steps=4, min_lr=1e-4, epochs=4)
    plain = rates(TrainConfig(**common), 40, per_epoch=10)
    cooled = rates(TrainConfig(**common, cooldown_epochs=2), 40, per_epoch=10)
    assert cooled[:21] == plain[:21]
    for k in range(1, 20):
        assert cooled[20 + k] == pytest.approx(max(1e-4, plain[20 + k] * (20 - k) / 20), rel=1e-9), k
    assert cooled[-1] == pytest.approx(plain[-1] / 20)
    constant = rates(
        TrainConfig(lr=0.01, schedule="constant", epochs=2, cooldown_epochs=1, min_lr=0.0), 20, per_epoch=10
    )
    assert constant == pytest.approx([0.01] * 11 + [0.01 * (10 - k) / 10 for k in range(1, 10)])


def test_a_cooldown_needs_a_schedule_it_can_lower():
    from seq2seq.config.load import config_from_dict
    from seq2seq.errors import UserError

    raw = {"run_dir": "r", "data": {"train_src": "a", "train_tgt": "b", "valid_src": "c", "valid_tgt": "d"}}
    raw["train"] = {"schedule": "plateau", "cooldown_epochs": 2}
    with pytest.raises(UserError, match="train.cooldown_epochs lowers the rate of schedule warmup_decay"):
        config_from_dict(raw)
