"""task: classify end to end: training learns the embedded toy task (data/classify_toy), leaves a
run directory whose model files hold the label list, and `classify` and `test` use them; a
classifier run resumes exactly; the mistakes a user can make are one line each.

One small classifier is trained once for the module: 1,500 toy sentences, 4 epochs (a few seconds
of CPU).
"""

from __future__ import annotations

import csv
import functools
import json
import os
import re
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import ROOT, assert_attention_plots, cli, kept_globals, same_from_arguments_file_and_pipe
from readme_messages import message

import seq2seq.classify.task
from seq2seq.classify.labeler import Labeler
from seq2seq.classify.labeler import test as labeler_test
from seq2seq.classify.predict import predict
from seq2seq.cli.train import train
from seq2seq.config.load import config_from_dict, load_config
from seq2seq.data.batches import read_lines
from seq2seq.models.model_file import ModelFile

TOY = ROOT / "data" / "classify_toy"
LABELS = ["food", "music", "sport", "weather"]


def classifier_config(root: Path, run_dir: str = "run", **train_settings) -> dict:
    return {
        "task": "classify",
        "run_dir": str(root / run_dir),
        "cache_dir": str(root / "cache"),
        "data": {
            "train_src": str(root / "train.txt"),
            "valid_src": str(TOY / "valid.txt"),
            "batch_tokens": 600,
        },
        "classify": {
            "train_labels": str(root / "train.labels"),
            "valid_labels": str(TOY / "valid.labels"),
            "attention_size": 16,
            "dropout": 0.0,
        },
        "tokenizer": {"vocab_size": 120},
        "model": {"encoder": {"emb_size": 16, "hidden_size": 16, "dropout": 0.0}},
        "train": {
            "epochs": 4,
            "lr": 0.01,
            "label_smoothing": 0.0,
            "schedule": "constant",
            "examples": 1,
            "threads": 1,
        }
        | train_settings,
    }


def write_head(root: Path, n: int) -> None:
    """The first n toy training sentences and labels in root/train.txt and root/train.labels."""
    for suffix in ("txt", "labels"):
        lines = read_lines(TOY / f"train.{suffix}")[:n]
        (root / f"train.{suffix}").write_text("".join(x + "\n" for x in lines), encoding="utf-8")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A classifier trained on 1,500 toy sentences; its run directory, config and progress."""
    root = tmp_path_factory.mktemp("classify")
    write_head(root, 1500)
    cfg = config_from_dict(classifier_config(root))
    with kept_globals():
        progress = train(cfg)
    return root, cfg, progress


# ---------------------------------------------------------------- training


def test_training_learns_the_toy_task_and_saves_the_labels(trained):
    root, cfg, progress = trained
    accuracies = [row["accuracy"] for row in progress.history]
    assert accuracies[0] < 90, "the task is not solved after a single epoch"
    assert max(accuracies) >= 95, f"validation accuracy per epoch: {accuracies}"
    assert progress.best_score == max(row["macro_f1"] for row in progress.history)  # best.pt by macro-F1

    run = root / "run"
    saved = load_config(run / "config.yaml")
    assert saved.classify.labels == tuple(LABELS)  # settled from the training labels, sorted
    assert ModelFile.read(run / "best.pt").config["classify"]["labels"] == LABELS
    with open(run / "validations.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert list(rows[0])[:6] == ["epoch", "step", "train_loss", "valid_loss", "accuracy", "macro_f1"]
    assert [float(r["macro_f1"]) for r in rows] == [r["macro_f1"] for r in progress.history]
    log = (run / "train.log").read_text(encoding="utf-8")
    assert "sentences/s" in log and "new best macro-F1" in log
    assert "label    precision  recall     F1  support" in log  # the per-label table
    assert all(re.search(rf"INFO {label} +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9]+\n", log) for label in LABELS)


def test_test_scores_the_best_model_as_validation_did(trained, capsys, restore_globals):
    root, cfg, progress = trained
    best = max(progress.history, key=lambda r: r["macro_f1"])
    model, src, ref = root / "run" / "best.pt", TOY / "valid.txt", TOY / "valid.labels"
    code, out, _ = cli(capsys, "test", model, "--src", src, "--ref", ref, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["accuracy"] == pytest.approx(best["accuracy"], abs=0.005)
    assert result["macro_f1"] == pytest.approx(best["macro_f1"], abs=0.005)
    assert list(result["labels"]) == LABELS and result["sentences"] == 300
    confusion = result["confusion"]
    assert [sum(row) for row in confusion] == [result["labels"][label]["support"] for label in LABELS]
    assert sum(confusion[i][i] for i in range(4)) == round(result["accuracy"] * 3)


def test_test_prints_the_figures_the_per_label_table_and_the_confusion_matrix(
    trained, capsys, restore_globals
):
    root, _, _ = trained
    model, predictions = root / "run" / "best.pt", root / "predicted.labels"
    code, out, _ = cli(
        capsys,
        "test",
        model,
        "--src",
        TOY / "test.txt",
        "--ref",
        TOY / "test.labels",
        "--output",
        predictions,
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("accuracy ") and ", macro-F1 " in lines[0]
    assert "reference (rows) by predicted (columns)" in out and "4. weather" in out
    assert len(read_lines(predictions)) == 300 and set(read_lines(predictions)) <= set(LABELS)


# ---------------------------------------------------------------- seq2seq classify


def test_classify_arguments_file_and_pipe_give_the_same_labels(trained, capsys, restore_globals):
    root, _, _ = trained
    model = root / "run" / "best.pt"
    texts = read_lines(TOY / "test.txt")[:6] + [""]
    from_args = same_from_arguments_file_and_pipe(capsys, "classify", model, texts, root)
    lines = from_args.splitlines()
    assert len(lines) == 7 and set(lines[:6]) <= set(LABELS) and lines[6] == ""  # a blank line: no label
    assert lines[:6] == read_lines(TOY / "test.labels")[:6]  # the trained model gets these right


def test_classify_jsonl_holds_probabilities_and_the_attention_over_the_pieces(
    trained, capsys, restore_globals
):
    root, _, _ = trained
    code, out, _ = cli(
        capsys, "classify", root / "run" / "best.pt", "--format", "jsonl", "the rain and no football", ""
    )
    assert code == 0
    first, blank = (json.loads(line) for line in out.splitlines())
    assert first["text"] == "the rain and no football"
    assert list(first["probabilities"]) == LABELS
    assert sum(first["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    assert first["label"] == max(first["probabilities"], key=first["probabilities"].get)
    assert first["pieces"][-1] == "</s>"
    (weights,) = first["attention"]  # one head
    assert len(weights) == len(first["pieces"]) and sum(weights) == pytest.approx(1, abs=1e-3)
    assert blank == {"text": "", "label": None}


def test_classify_plots_attention_bars(trained, capsys, restore_globals):
    pytest.importorskip("matplotlib")
    root, _, _ = trained
    code, _, _ = cli(
        capsys, "classify", root / "run" / "best.pt", "--plot-attention", root / "plots", "a", "b c"
    )
    assert code == 0
    assert_attention_plots(root / "plots", 2)


# ---------------------------------------------------------------- one-line errors


@pytest.mark.parametrize("command", ["translate", "chat"])
def test_a_classifier_given_to_translate_or_chat_is_refused(trained, capsys, restore_globals, command):
    root, _, _ = trained
    model = root / "run" / "best.pt"
    code, out, err = cli(capsys, command, model, *(["hello"] if command == "translate" else []))
    assert code == 2 and out == ""
    assert err == message("classifier-to-translate").replace("runs/classify_toy/best.pt", str(model)) + "\n"


def test_a_translation_model_given_to_classify_is_refused(model_file, capsys, restore_globals):
    code, _, err = cli(capsys, "classify", model_file, "hello")
    assert code == 2
    assert err == message("translation-model-to-classify").replace("runs/toy/best.pt", str(model_file)) + "\n"


def test_unknown_labels_and_misaligned_files_in_test_are_named(trained, capsys, restore_globals):
    root, _, _ = trained
    model = root / "run" / "best.pt"
    ref = root / "bad.labels"
    ref.write_text("food\nsport\ncooking\n", encoding="utf-8")
    src = root / "three.txt"
    src.write_text("a\nb\nc\n", encoding="utf-8")
    code, _, err = cli(capsys, "test", model, "--src", src, "--ref", ref)
    assert code == 2
    assert err == message("unknown-label").replace("ref.labels", str(ref)) + "\n"
    code, _, err = cli(capsys, "test", model, "--src", TOY / "test.txt", "--ref", ref)
    assert code == 2 and err == (
        f"seq2seq: error: {TOY / 'test.txt'} has 300 lines but {ref} has 3; they must be line-aligned\n"
    )
    code, _, err = cli(capsys, "test", model, "--src", src, "--ref", ref, "--beam", "4")
    assert code == 2
    assert err == message("beam-on-classifier").replace("runs/classify_toy/best.pt", str(model)) + "\n"


def test_training_data_mistakes_are_one_line(tmp_path, restore_globals):
    write_head(tmp_path, 50)
    raw = classifier_config(tmp_path)
    short = tmp_path / "short.labels"
    short.write_text("food\n" * 7, encoding="utf-8")
    with pytest.raises(Exception) as error:
        train(config_from_dict(raw | {"classify": raw["classify"] | {"train_labels": str(short)}}))
    shown = message("label-lines-differ").replace("data/train.txt", str(tmp_path / "train.txt"))
    assert "seq2seq: error: " + str(error.value) == shown.replace("short.labels", str(short))
    gap = tmp_path / "gap.labels"
    gap.write_text("food\n" * 11 + " \n" + "food\n" * 38, encoding="utf-8")
    with pytest.raises(Exception) as error:
        train(config_from_dict(raw | {"classify": raw["classify"] | {"train_labels": str(gap)}}))
    assert "seq2seq: error: " + str(error.value) == message("no-label").replace("train.labels", str(gap))
    labels = raw["classify"] | {"labels": ["food", "music", "sport"]}  # weather missing
    with pytest.raises(Exception) as error:
        train(config_from_dict(raw | {"classify": labels}))
    text = str(error.value)
    assert "unknown label 'weather'" in text and "the labels that classify.labels lists are: food" in text
    assert not (tmp_path / "run" / "best.pt").exists()


# ---------------------------------------------------------------- exact resume


def test_a_classifier_run_stopped_by_ctrl_c_resumes_to_the_straight_run(
    tmp_path, monkeypatch, restore_globals
):
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is not Python's default handler here")
    write_head(tmp_path, 300)
    settings = {"epochs": 2, "examples": 0, "checkpoint_every": 4}
    dropout = {"model": {"encoder": {"emb_size": 16, "hidden_size": 16, "dropout": 0.3}}}
    straight = config_from_dict(classifier_config(tmp_path, "straight", **settings) | dropout)
    train(straight)

    calls, loss = [], seq2seq.classify.task.ClassificationTask.batch_loss

    def ctrl_c_in_update_7(self, *args):
        calls.append(1)
        if len(calls) == 7:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # the handler runs here: it asks to stop after this update
        return loss(self, *args)

    stopped = config_from_dict(classifier_config(tmp_path, "stopped", **settings) | dropout)
    monkeypatch.setattr(seq2seq.classify.task.ClassificationTask, "batch_loss", ctrl_c_in_update_7)
    with pytest.raises(KeyboardInterrupt):
        train(stopped)
    monkeypatch.undo()
    # the processes agree on a stop at the start of an update: the run stops after update 8, mid-epoch
    assert ModelFile.read(tmp_path / "stopped" / "last.pt").train_state["progress"]["step"] == 8
    train(stopped, resume=True)

    for name in ("last.pt", "best.pt"):
        ours = ModelFile.read(tmp_path / "stopped" / name).weights
        theirs = ModelFile.read(tmp_path / "straight" / name).weights
        assert all(torch.equal(ours[k], theirs[k]) for k in theirs), name
    timing = {"train_seconds", "elapsed_seconds"}
    rows = [
        [{k: v for k, v in row.items() if k not in timing} for row in csv.DictReader(open(p), delimiter="\t")]
        for p in (tmp_path / "stopped" / "validations.tsv", tmp_path / "straight" / "validations.tsv")
    ]
    assert len(rows[0]) == 2 and rows[0] == rows[1]


def test_a_bf16_classifier_is_tested_in_the_precision_it_validated_in(tmp_path, restore_globals):
    """Validation classified under bf16 autocast (train.precision); `test` and `classify` must too:
    the labeler's probabilities are bit for bit those of `predict` under that autocast, which are
    not fp32's, and its figures are the validation's."""
    write_head(tmp_path, 300)
    progress = train(config_from_dict(classifier_config(tmp_path, epochs=1, precision="bf16")))
    labeler = Labeler.load(tmp_path / "run" / "best.pt")
    texts = read_lines(TOY / "valid.txt")
    ids = labeler.tokenizer.src.encode(texts)
    bf16 = functools.partial(torch.autocast, "cpu", dtype=torch.bfloat16)
    validated, _ = predict(labeler.model, ids, labeler.batch_tokens, bf16)
    fp32, _ = predict(labeler.model, ids, labeler.batch_tokens)
    assert not np.array_equal(validated, fp32)
    labeled = np.stack([x.probabilities for x in labeler.classify(texts)])
    assert np.array_equal(labeled, np.exp(validated))
    result = labeler_test(labeler, TOY / "valid.txt", TOY / "valid.labels")
    last = progress.history[-1]
    assert (result["accuracy"], result["macro_f1"]) == (last["accuracy"], last["macro_f1"])
