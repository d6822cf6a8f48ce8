"""`train.average_with`: the end of training also tries each candidate averaged with the named
models (a model soup); a soup that validates best becomes best.pt, its weights the element-wise
mean. The files are checked when the run starts: a missing file or another model is one clear
error before any training.

The validator's scores are scripted (conftest.py's `scripted`: an oracle, which trial must win is
known); the training, averaging, decoding and files are real."""

from __future__ import annotations

import pytest
import torch
from helpers import reversal_config, reversal_corpus, same_weights, tiny_model, validation_rows

from seq2seq.cli.train import train
from seq2seq.config.load import config_from_dict
from seq2seq.errors import UserError
from seq2seq.models.model_file import ModelFile, mean_weights


@pytest.fixture
def relative(tmp_path, restore_globals):
    """A reversal corpus in tmp_path and a model trained on it in tmp_path/first: the model the
    run under test starts from, and its partner in the soup."""
    reversal_corpus(tmp_path, 200, 12)
    train(config_from_dict(reversal_config(tmp_path, run="first", train={"epochs": 1})))
    return tmp_path


def _soup_config(root, **train_keys):
    first = str(root / "first" / "best.pt")
    return config_from_dict(
        reversal_config(
            root,
            train={"epochs": 2, "keep_last": 2, "average_kept": True, "init_from": first} | train_keys,
            search={"beam_size": 2, "valid_beam_size": 1, "length_penalties": [0.5, 1.0]},
        )
    )


def test_a_soup_that_validates_best_becomes_best_pt(relative, scripted):
    first = relative / "first" / "best.pt"
    calls = scripted(
        [10, 20]  # epochs 1-2, greedy: epoch 2 is best.pt
        + [15]  # the average of epochs 1-2, greedy
        + [20, 21]  # epoch 2, length penalties 0.5 and 1.0
        + [22, 21]  # the average of epochs 1-2
        + [19, 18]  # epoch 2 averaged with the first model
        + [23, 30]  # the average averaged with the first model: 1.0 wins
    )
    progress = train(_soup_config(relative, average_with=str(first)))
    run = relative / "run"
    assert len(calls) == 11
    label = f"average of epochs 1-2 averaged with {first}"
    trials = ["epoch 2", "average of epochs 1-2", f"epoch 2 averaged with {first}", label]
    assert [r["model"] for r in validation_rows(run)[2:]] == [t for t in trials for _ in range(2)]
    best = ModelFile.read(run / "best.pt")
    averaged, partner = ModelFile.read(run / "averaged.pt"), ModelFile.read(first)
    assert same_weights(best.weights, mean_weights([averaged.weights, partner.weights]))
    assert not same_weights(best.weights, averaged.weights)
    assert not same_weights(best.weights, partner.weights)
    assert best.cfg().search.length_penalty == 1.0
    assert progress.best_model == label
    assert f"chosen for {run / 'best.pt'}: {label}, beam 2, length penalty 1 (BLEU 30.00)" in (
        run / "train.log"
    ).read_text(encoding="utf-8")


def test_a_soup_that_validates_worse_is_passed_over(relative, scripted):
    scripted([10, 20] + [15] + [25, 21] + [22, 21] + [19, 18] + [23, 24])  # epoch 2 at 0.5 wins
    train(_soup_config(relative, average_with=str(relative / "first" / "best.pt")))
    run = relative / "run"
    best = ModelFile.read(run / "best.pt")
    assert same_weights(best.weights, ModelFile.read(run / "epoch2.pt").weights)
    assert best.cfg().search.length_penalty == 0.5


def test_the_soup_is_the_element_wise_mean_in_fp32_stored_in_the_first_type():
    a = {"w": torch.tensor([1.0, 2.0], dtype=torch.bfloat16), "step": torch.tensor(3)}
    b = {"w": torch.tensor([2.0, 5.0], dtype=torch.bfloat16), "step": torch.tensor(7)}
    c = {"w": torch.tensor([3.0, 5.0], dtype=torch.bfloat16), "step": torch.tensor(9)}
    mean = mean_weights([a, b, c])
    assert mean["w"].dtype == torch.bfloat16 and mean["w"].tolist() == [2.0, 4.0]
    assert mean["step"] is a["step"]  # not a weight: the first's


def test_a_missing_file_or_another_model_is_refused_before_training(relative, scripted):
    calls = scripted([])  # any validation (any training) would exhaust the script
    missing = relative / "nowhere.pt"
    with pytest.raises(UserError, match=rf"^train.average_with {missing}: no such model file; train its run"):
        train(_soup_config(relative, average_with=[str(relative / "first" / "best.pt"), str(missing)]))
    other = reversal_config(relative, run="other", model=tiny_model(size=12), train={"epochs": 1})
    scripted([5.0])
    train(config_from_dict(other))
    calls = scripted([])
    with pytest.raises(UserError, match=r"holds another model than this run; list models fine-tuned"):
        train(_soup_config(relative, average_with=str(relative / "other" / "best.pt")))
    assert calls == []
