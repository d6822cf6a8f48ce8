"""`requires:`: `seq2seq train B.yaml` first brings the runs of the configs B requires to their end
(trained, resumed exactly, or left finished), depth first, then trains B; refusals are one line."""

from __future__ import annotations

import signal

import pytest
import torch
import yaml
from helpers import cli, reversal_config, reversal_corpus, tiny_model
from readme_messages import MESSAGES

import seq2seq.training.translation_task
from seq2seq.cli.train import train
from seq2seq.config.load import config_from_dict
from seq2seq.models.model_file import ModelFile


def write(root, name: str, raw: dict) -> str:
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return str(path)


def toy(root, run: str, **train) -> dict:
    return reversal_config(
        root, run, data={"batch_tokens": 100}, model=tiny_model(dropout=0.2), train={"epochs": 2} | train
    )


@pytest.fixture
def recipe(tmp_path):
    """first.yaml trains from scratch; second.yaml fine-tunes first's model and requires first.yaml;
    third.yaml requires second.yaml (and so, through it, first.yaml)."""
    reversal_corpus(tmp_path, 200, 10)
    first = write(tmp_path, "first", toy(tmp_path, "first"))
    start = str(tmp_path / "first" / "best.pt")
    second = write(tmp_path, "second", toy(tmp_path, "second", init_from=start) | {"requires": [first]})
    third = write(tmp_path, "third", toy(tmp_path, "third", init_from=start, seed=3) | {"requires": second})
    return tmp_path, first, second, third


def weights(path) -> dict:
    return torch.load(path, weights_only=True)["model"]


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_one_command_trains_the_required_runs_first_and_again_changes_nothing(
    recipe, capsys, restore_globals
):
    root, _, _, third = recipe
    code, _, err = cli(capsys, "train", third)
    assert code == 0, err
    for run in ("first", "second", "third"):
        assert (root / run / "best.pt").exists(), run
    assert "fine-tuning" in (root / "second" / "train.log").read_text(encoding="utf-8")
    before = {run: (root / run / "best.pt").read_bytes() for run in ("first", "second", "third")}

    code, _, err = cli(capsys, "train", third, "--resume")  # everything finished: nothing moves
    assert code == 0, err
    assert {run: (root / run / "best.pt").read_bytes() for run in before} == before
    assert err.count("resuming (or, if it is finished, checking)") == 2

    code, _, err = cli(capsys, "train", third)  # without --resume the finished last run is refused
    assert code == 2 and "already holds a run; continue it with --resume" in err


def test_a_required_run_that_was_stopped_is_resumed_and_ends_as_a_straight_run(
    recipe, capsys, monkeypatch, restore_globals
):
    root, first, second, _ = recipe
    straight = toy(root, "straight")
    train(config_from_dict(straight))

    calls, loss = [], seq2seq.training.translation_task.sequence_loss

    def ctrl_c_in_update_9(*args):
        calls.append(1)
        if len(calls) == 9:
            signal.raise_signal(signal.SIGINT)  # as Ctrl-C: finish this update, save, stop
        return loss(*args)

    monkeypatch.setattr(seq2seq.training.translation_task, "sequence_loss", ctrl_c_in_update_9)
    with pytest.raises(KeyboardInterrupt):
        train(config_from_dict(toy(root, "first")))
    monkeypatch.undo()
    assert 9 <= ModelFile.read(root / "first" / "last.pt").train_state["progress"]["step"] < 22  # mid-epoch 1

    code, _, err = cli(capsys, "train", second)
    assert code == 0, err
    assert "requires " + first + ": resuming" in err
    assert same(weights(root / "first" / "last.pt"), weights(root / "straight" / "last.pt"))
    assert (root / "second" / "best.pt").exists()


@pytest.mark.parametrize(
    "case, expected",
    [
        ("cycle", "configs that require each other ("),
        ("missing", "which is not a file; give the path of a config"),
        ("shared", "share a run_dir; give each its own"),
    ],
)
def test_a_bad_requires_is_one_line_and_trains_nothing(tmp_path, capsys, case, expected, restore_globals):
    reversal_corpus(tmp_path, 50, 5)
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    raw_a, raw_b = toy(tmp_path, "a"), toy(tmp_path, "b")
    if case == "cycle":
        raw_a["requires"], raw_b["requires"] = [str(b)], [str(a)]
    elif case == "missing":
        raw_b["requires"] = [str(tmp_path / "nowhere.yaml")]
    else:
        raw_a["run_dir"], raw_b["requires"] = raw_b["run_dir"], [str(a)]
    write(tmp_path, "a", raw_a), write(tmp_path, "b", raw_b)

    code, _, err = cli(capsys, "train", b)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_missing_required_config_is_readmes_line(tmp_path, capsys, monkeypatch, restore_globals):
    reversal_corpus(tmp_path, 50, 5)
    (tmp_path / "configs").mkdir()
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "configs", "best", toy(tmp_path, "best") | {"requires": "configs/base.yaml"})
    code, _, err = cli(capsys, "train", "configs/best.yaml")
    assert code == 2 and err == MESSAGES["requires-missing"] + "\n"
