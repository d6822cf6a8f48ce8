"""train.init_from: a new run starts from a model file's weights and tokenizer (the optimizer and
schedule anew), refuses a file that is not the model its config describes, and resumes only with
the same file."""

from __future__ import annotations

import shutil

import pytest
import torch

from seq2seq.cli.train import train
from seq2seq.config.load import config_from_dict
from seq2seq.deploy.int8_export import export_int8
from seq2seq.errors import UserError
from seq2seq.models.model_file import ModelFile
from seq2seq.training.fine_tuning import starting_model


def fine_tuning(source, root, run="tuned", **train):
    """The source file's own config, a new run_dir, train.init_from naming the file."""
    raw = ModelFile.read(source).config
    return raw | {
        "run_dir": str(root / run),
        "train": raw["train"] | {"init_from": str(source), "epochs": 1, "keep_last": 0} | train,
    }


def validation_bleu(run):
    rows = (run / "validations.tsv").read_text(encoding="utf-8").splitlines()
    header, first = rows[0].split("\t"), rows[1].split("\t")
    return float(first[header.index("bleu")])


def test_the_run_starts_from_the_files_weights_and_tokenizer(trained_transformer, tmp_path, restore_globals):
    source = trained_transformer / "run" / "best.pt"
    # at a rate of 1e-30 Adam moves no weight by more than 1e-29: the run's model must be the file's
    train(config_from_dict(fine_tuning(source, tmp_path, lr=1e-30, min_lr=0.0, schedule="constant")))

    tuned, original = ModelFile.read(tmp_path / "tuned" / "last.pt"), ModelFile.read(source)
    assert tuned.weights.keys() == original.weights.keys()
    for name, weight in original.weights.items():
        assert torch.allclose(tuned.weights[name], weight, rtol=0, atol=1e-20), name
    assert tuned.vocab().tgt.same_as(original.vocab().tgt) and tuned.vocab().src.same_as(original.vocab().src)
    assert tuned.train_state["progress"]["step"] > 0  # it did train
    log = (tmp_path / "tuned" / "train.log").read_text(encoding="utf-8")
    assert f"fine-tuning {source}: its weights and tokenizer" in log


def test_it_goes_on_from_where_the_file_was(trained_transformer, tmp_path, restore_globals):
    """One epoch at a small rate keeps the trained model's near-perfect BLEU; one epoch from random
    weights, the same run otherwise, is far from it."""
    source = trained_transformer / "run" / "best.pt"
    tuned = fine_tuning(source, tmp_path, lr=0.0005, schedule="constant")
    train(config_from_dict(tuned))
    scratch = tuned | {"run_dir": str(tmp_path / "scratch"), "train": tuned["train"] | {"init_from": ""}}
    train(config_from_dict(scratch))

    assert validation_bleu(tmp_path / "tuned") > 85
    assert validation_bleu(tmp_path / "scratch") < 50


def test_another_model_is_refused_in_one_line_dropout_may_change(trained_transformer, tmp_path):
    source = trained_transformer / "run" / "best.pt"
    raw = fine_tuning(source, tmp_path)
    layers = raw["model"]["transformer"]
    wider = raw | {"model": raw["model"] | {"transformer": layers | {"d_model": 64}}}
    with pytest.raises(
        UserError,
        match=r"^train.init_from .* is another model than the config describes: "
        r"model.transformer.d_model 32 in the file, 64 here; set them as the file has",
    ):
        starting_model(config_from_dict(wider))
    other_vocabulary = raw | {"tokenizer": raw["tokenizer"] | {"vocab_size": 40}}
    with pytest.raises(UserError, match=r"tokenizer.vocab_size 20 in the file, 40 here"):
        starting_model(config_from_dict(other_vocabulary))
    more_dropout = raw | {"model": raw["model"] | {"transformer": layers | {"dropout": 0.3}}}
    assert starting_model(config_from_dict(more_dropout)).source == str(source)


def test_what_cannot_be_fine_tuned_is_one_line(trained_transformer, tmp_path):
    source = trained_transformer / "run" / "best.pt"
    raw = fine_tuning(source, tmp_path)

    def starting(path):
        return starting_model(config_from_dict(raw | {"train": raw["train"] | {"init_from": str(path)}}))

    with pytest.raises(UserError, match=r"^train.init_from .*missing.pt: no such model file; name a trained"):
        starting(tmp_path / "missing.pt")
    with pytest.raises(UserError, match=r"^train.init_from .* is a directory \(a CTranslate2 export\?\)"):
        starting(tmp_path)
    with pytest.raises(UserError, match=r"^train.init_from .* is an int8 model file; fine-tune the model"):
        starting(export_int8(source, tmp_path / "int8.pt"))
    classifier = {
        "task": "classify",
        "run_dir": str(tmp_path / "classifier"),
        "data": {"train_src": raw["data"]["train_src"], "valid_src": raw["data"]["valid_src"]},
        "classify": {"train_labels": "train.labels", "valid_labels": "valid.labels"},
        "train": {"init_from": str(source)},
    }
    with pytest.raises(UserError, match=r"is a model of task: translate, the config's task is classify; "):
        starting_model(config_from_dict(classifier))
    assert starting_model(config_from_dict(raw | {"train": raw["train"] | {"init_from": ""}})) is None


def test_a_resume_goes_on_from_last_pt_exactly_and_only_with_the_same_file(
    trained_transformer, trained_rnn, tmp_path, restore_globals
):
    source = tmp_path / "start.pt"
    shutil.copy(trained_transformer / "run" / "best.pt", source)
    raw = fine_tuning(source, tmp_path, lr=0.0005, schedule="constant", epochs=2)
    train(config_from_dict(raw | {"run_dir": str(tmp_path / "straight")}))
    train(config_from_dict(raw | {"train": raw["train"] | {"epochs": 1}}))

    shutil.copy(trained_rnn / "run" / "best.pt", source)
    with pytest.raises(UserError, match=r"train.init_from \(.*start.pt\) is not the content the run"):
        train(config_from_dict(raw), resume=True)
    shutil.copy(trained_transformer / "run" / "best.pt", source)
    assert train(config_from_dict(raw), resume=True).epoch == 2

    # from last.pt, not from the file again: the weights of the run never stopped
    straight = ModelFile.read(tmp_path / "straight" / "last.pt").weights
    resumed = ModelFile.read(tmp_path / "tuned" / "last.pt").weights
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)
