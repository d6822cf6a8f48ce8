"""The end of training chooses best.pt on validation among the best epoch and the average of the
kept epochs, each decoded with every length penalty of search.length_penalties; the choice and its
search settings are stored in best.pt and reported in train.log and validations.tsv, and a resumed
run never lets a worse epoch replace the chosen model.

The validator's scores are scripted (conftest.py's `scripted`: an oracle, which model and setting
must win is known); the training, averaging, decoding and files are real."""

from __future__ import annotations

import pytest
from helpers import reversal_config, reversal_corpus, same_weights, validation_rows

from seq2seq.cli.train import train
from seq2seq.config.load import config_from_dict
from seq2seq.models.model_file import ModelFile


@pytest.fixture
def reversal(tmp_path):
    return reversal_corpus(tmp_path, 200, 12)


def _config(root, epochs: int):
    return config_from_dict(
        reversal_config(
            root,
            train={"epochs": epochs, "keep_last": 2, "average_kept": True},
            search={"beam_size": 2, "valid_beam_size": 1, "length_penalties": [0.5, 1.0, 2.0]},
        )
    )


def test_the_best_model_and_length_penalty_are_chosen_on_validation(reversal, scripted, restore_globals):
    calls = scripted(
        [10, 20, 30, 25]  # epochs 1-4, greedy: epoch 3 is best.pt
        + [28]  # the average of epochs 3-4, greedy
        + [30, 31, 29]  # best.pt (epoch 3), beam 2, length penalties 0.5, 1.0, 2.0
        + [33, 32, 33]  # the average: 0.5 wins (the first of equals)
    )
    progress = train(_config(reversal, epochs=4))
    run = reversal / "run"

    assert [s for s, _ in calls[:5]] == ["greedy"] * 5
    assert [s for s, _ in calls[5:]] == [f"beam 2, length penalty {a:g}" for a in (0.5, 1.0, 2.0)] * 2
    best, averaged = ModelFile.read(run / "best.pt"), ModelFile.read(run / "averaged.pt")
    assert same_weights(best.weights, averaged.weights)
    assert best.cfg().search.length_penalty == 0.5
    log = (run / "train.log").read_text(encoding="utf-8")
    assert "average of epochs 3-4, beam 2, length penalty 0.5 (BLEU 33.00)" in log
    closing = f"done: {run / 'best.pt'} holds average of epochs 3-4, beam 2, length penalty 0.5 (BLEU 33.00)"
    assert log.strip().splitlines()[-1].endswith(closing + ", chosen on the validation set")
    rows = validation_rows(run)
    assert [r["model"] for r in rows] == [f"epoch {e}" for e in range(1, 5)] + ["epoch 3"] * 3 + [
        "average of epochs 3-4"
    ] * 3
    assert [float(r["bleu"]) for r in rows[4:]] == [30, 31, 29, 33, 32, 33]
    assert progress.best_model == "average of epochs 3-4" and progress.best_score == 30


def test_a_resumed_run_never_lets_a_worse_epoch_replace_the_chosen_model(reversal, scripted, restore_globals):
    scripted([10, 20, 30, 25] + [40] + [30, 31, 29] + [40, 42, 41])  # the average wins, 1.0
    train(_config(reversal, epochs=4))
    run = reversal / "run"
    chosen = ModelFile.read(run / "best.pt").weights
    assert same_weights(chosen, ModelFile.read(run / "averaged.pt").weights)

    # epoch 5 beats every epoch (35 > 30) but not the average's greedy score (40): it must not
    # become best.pt; the next choice weighs the chosen model against the average of epochs 4-5
    calls = scripted([35] + [33] + [40, 42, 41] + [30, 31, 32])
    progress = train(_config(reversal, epochs=5), resume=True)
    assert len(calls) == 8
    best = ModelFile.read(run / "best.pt")
    assert same_weights(best.weights, chosen)
    assert not same_weights(best.weights, ModelFile.read(run / "averaged.pt").weights)  # 4-5 now
    assert best.cfg().search.length_penalty == 1.0
    log = (run / "train.log").read_text(encoding="utf-8")
    assert "new best BLEU 35" not in log
    assert "chosen for" in log.rsplit("resuming", 1)[1]
    assert progress.best_model == "average of epochs 3-4"
    assert progress.chosen == "average of epochs 3-4, beam 2, length penalty 1 (BLEU 42.00)"
    assert [r["model"] for r in validation_rows(run)[-6:]] == ["average of epochs 3-4"] * 3 + [
        "average of epochs 4-5"
    ] * 3


def test_resuming_a_finished_run_chooses_nothing_again(reversal, scripted, restore_globals):
    scripted([10, 20, 30, 25] + [40] + [30, 31, 29] + [40, 42, 41])
    train(_config(reversal, epochs=4))
    rows = validation_rows(reversal / "run")
    calls = scripted([])  # any validation would exhaust the script
    train(_config(reversal, epochs=4), resume=True)
    assert calls == [] and validation_rows(reversal / "run") == rows


def test_without_a_list_or_an_average_there_is_nothing_to_choose(reversal, scripted, restore_globals):
    calls = scripted([10, 20])
    raw = reversal_config(reversal, train={"epochs": 2})
    train(config_from_dict(raw))
    assert len(calls) == 2
    assert [r["model"] for r in validation_rows(reversal / "run")] == ["epoch 1", "epoch 2"]


def test_a_negative_length_penalty_in_the_list_is_refused(reversal):
    from seq2seq.errors import UserError

    with pytest.raises(UserError, match=r"search.length_penalties\[1\] is -1.0"):
        config_from_dict(reversal_config(reversal, search={"length_penalties": [1.0, -1.0]}))


def test_a_resumed_run_without_an_end_choice_says_its_best_epoch_not_the_old_choice(
    reversal, scripted, restore_globals
):
    scripted([10, 20, 30, 25] + [28] + [30, 31, 29] + [33, 32, 33])  # the average wins, 0.5
    train(_config(reversal, epochs=4))
    run = reversal / "run"
    plain = reversal_config(
        reversal,
        train={"epochs": 5, "keep_last": 2, "average_kept": False},
        search={"beam_size": 2, "valid_beam_size": 0, "length_penalties": []},
    )
    calls = scripted([35])  # epoch 5 beats the epochs' best (30): best.pt, and nothing to choose
    progress = train(config_from_dict(plain), resume=True)
    assert len(calls) == 1 and progress.chosen == "" and progress.best_model == "epoch 5"
    last = (run / "train.log").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert last.endswith(f"done: best validation BLEU 35.00, model in {run / 'best.pt'}")
