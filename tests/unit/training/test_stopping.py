"""Which epochs validate (train.validate_every), and when a run ends before train.epochs: early
stopping and the time budget (train.max_hours)."""

from __future__ import annotations

from seq2seq.config.sections import TrainConfig
from seq2seq.training.state import Progress


def progress(epoch: int, bad: int = 0) -> Progress:
    p = Progress()
    p.epoch, p.bad_validations, p.best_score = epoch, bad, 30.0
    return p


def test_no_limits_never_stop():
    from seq2seq.training.stopping import reason_to_stop

    assert reason_to_stop(progress(5, bad=99), TrainConfig(), hours=1e6, metric="BLEU") is None


def test_patience_stops_after_that_many_validations_without_gain():
    from seq2seq.training.stopping import reason_to_stop

    tc = TrainConfig(early_stopping_patience=3)
    assert reason_to_stop(progress(5, bad=2), tc, hours=0.0, metric="BLEU") is None
    assert "no BLEU gain in 3 validations (best 30.00)" in reason_to_stop(progress(5, bad=3), tc, 0.0, "BLEU")


def test_the_time_budget_stops_once_it_is_spent_but_never_before_the_first_epoch():
    from seq2seq.training.stopping import reason_to_stop

    tc = TrainConfig(max_hours=2.0)
    assert reason_to_stop(progress(4), tc, hours=1.99, metric="BLEU") is None
    reason = reason_to_stop(progress(4), tc, hours=2.0, metric="BLEU")
    assert reason.startswith("time budget: the run has taken 2.00 h of train.max_hours 2 after 4 epochs")
    assert reason_to_stop(progress(0), tc, hours=5.0, metric="BLEU") is None  # one epoch at least


def validated(tc: TrainConfig, epochs_run: int, hours_an_epoch: float = 0.0) -> list[int]:
    """The 1-based epochs whose end validates, of a run that trains `epochs_run` epochs."""
    from seq2seq.training.stopping import validates_after

    return [e + 1 for e in range(epochs_run) if validates_after(progress(e), tc, (e + 1) * hours_an_epoch)]


def test_every_epoch_validates_by_default():
    assert validated(TrainConfig(epochs=4), 4) == [1, 2, 3, 4]


def test_every_nth_epoch_validates_and_so_does_the_last():
    assert validated(TrainConfig(epochs=7, validate_every=3), 7) == [3, 6, 7]
    assert validated(TrainConfig(epochs=6, validate_every=3), 6) == [3, 6]
    assert validated(TrainConfig(epochs=2, validate_every=5), 2) == [2]


def test_the_epoch_that_spends_the_time_budget_validates():
    """An hour an epoch, train.max_hours 2: the run ends after epoch 2, which must validate so
    that its end has a validated epoch, though validate_every would skip it."""
    tc = TrainConfig(epochs=10, validate_every=4, max_hours=2.0)
    assert validated(tc, 2, hours_an_epoch=1.0) == [2]
