"""checkpoint.py: a model file holds everything needed to translate, loads without running code
from the file, and is written atomically (a failed save leaves the previous file and no litter)."""

from __future__ import annotations

import errno
import os
import pickle
import random
from pathlib import Path

import pytest
import torch
from helpers import make_pairs, tiny_config_dict

import seq2seq.models.model_file
from seq2seq.config.load import config_from_dict
from seq2seq.errors import UserError
from seq2seq.models.build import build_model
from seq2seq.models.model_file import FORMAT, FORMAT_VERSION, ModelFile, load_model, save_model


class CreatesAFile:
    """Unpickling this calls open(target, "w"): the file appears if the loader runs code."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_the_payload_runs_code_when_unpickled_unsafely(tmp_path):
    """The control for the test below: this payload does create its file under plain pickle."""
    pickle.loads(pickle.dumps(CreatesAFile(tmp_path / "pwned"))).close()
    assert (tmp_path / "pwned").exists()


def _bare(evil):
    return evil


def _inside_a_bundle(evil):
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "config": {}, "model": {"w": evil}}


@pytest.mark.parametrize("wrap", [_bare, _inside_a_bundle], ids=["bare", "inside-a-bundle"])
@pytest.mark.parametrize(
    "write",
    [
        lambda obj, path: torch.save(obj, path),
        lambda obj, path: torch.save(obj, path, _use_new_zipfile_serialization=False),
        lambda obj, path: path.write_bytes(pickle.dumps(obj)),
    ],
    ids=["torch-zip", "torch-legacy", "plain-pickle"],
)
@pytest.mark.parametrize("force_unsafe_env", [False, True], ids=["", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"])
def test_a_malicious_pickle_is_refused_and_runs_nothing(tmp_path, monkeypatch, wrap, write, force_unsafe_env):
    if force_unsafe_env:  # torch honours it only where the caller did not ask for weights_only
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    target = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    write(wrap(CreatesAFile(target)), path)

    with pytest.raises(UserError, match="model.pt") as error:
        ModelFile.read(path)

    assert not target.exists()
    assert "Traceback" not in str(error.value)


def test_a_saved_model_loads_back_with_equal_weights_config_and_tokenizer(tmp_path, tokenizer):
    cfg = config_from_dict(tiny_config_dict(tmp_path))
    torch.manual_seed(3)
    model = build_model(cfg.model, len(tokenizer.src), len(tokenizer.tgt))
    save_model(tmp_path / "model.pt", model, cfg, tokenizer)

    loaded, loaded_cfg, loaded_tokenizer = load_model(tmp_path / "model.pt")

    assert loaded_cfg == cfg
    assert not loaded.training
    saved, back = model.state_dict(), loaded.state_dict()
    assert saved.keys() == back.keys() and all(torch.equal(saved[k], back[k]) for k in saved)
    src, tgt = make_pairs(20, seed=7)
    unseen = ["", "   ", "€ ü 日本 ?!", "x" * 50]
    for side, lines in (("src", src + unseen), ("tgt", tgt + unseen)):
        ours, theirs = getattr(tokenizer, side), getattr(loaded_tokenizer, side)
        assert len(ours) == len(theirs)
        encoded = ours.encode(lines)
        assert all((a == b).all() for a, b in zip(encoded, theirs.encode(lines)))
        assert [ours.decode(x) for x in encoded] == [theirs.decode(x) for x in encoded]


def test_a_training_state_of_plain_values_round_trips(tmp_path, model_file):
    """last.pt carries the trainer's state: Python's random state (nested tuples), -inf, lists."""
    state = {
        "progress": {"step": 7, "best_score": float("-inf"), "history": [{"bleu": 1.5, "epoch": 1}]},
        "rng": {"python": random.Random(1).getstate(), "torch": torch.get_rng_state()},
    }
    model, cfg, tokenizer = load_model(model_file)
    save_model(tmp_path / "last.pt", model, cfg, tokenizer, state)

    back = ModelFile.read(tmp_path / "last.pt").train_state

    assert back["progress"] == state["progress"]
    assert torch.equal(back["rng"]["torch"], state["rng"]["torch"])
    assert back["rng"]["python"] == state["rng"]["python"]


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != "model.pt")


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_a_save_leaves_no_temporary_file_and_follows_the_umask(tmp_path, model_file, umask):
    model, cfg, tokenizer = load_model(model_file)
    old = os.umask(umask)
    try:
        save_model(tmp_path / "model.pt", model, cfg, tokenizer)
        save_model(tmp_path / "model.pt", model, cfg, tokenizer)  # over an existing file, too
    finally:
        os.umask(old)
    assert leftovers(tmp_path) == []
    assert (tmp_path / "model.pt").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize(
    "failure, message",
    [
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on the disk while saving"),
        (
            OSError(errno.EIO, "Input/output error"),
            "cannot save .*: Input/output error; the previous file is",
        ),
        (KeyboardInterrupt(), None),
    ],
    ids=["disk-full", "io-error", "ctrl-c"],
)
def test_a_failed_save_keeps_the_previous_file_and_no_temporary_file(
    tmp_path, model_file, monkeypatch, failure, message
):
    model, cfg, tokenizer = load_model(model_file)
    path = tmp_path / "model.pt"
    save_model(path, model, cfg, tokenizer)
    before = path.read_bytes()

    def half_then_fail(obj, f, *args, **kwargs):
        f.write(before[: len(before) // 2])
        raise failure

    monkeypatch.setattr(seq2seq.models.model_file.torch, "save", half_then_fail)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)  # the new save would hold other weights

    with pytest.raises(UserError if message else KeyboardInterrupt, match=message):
        save_model(path, model, cfg, tokenizer)

    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []
    ModelFile.read(path)
