"""data.distill_from: the run trains on the training pairs and on each training source with the
teacher's translation, exactly what `seq2seq translate TEACHER` writes for it; the pair is made once
and cached by content; a resumed run is tied to the teacher's content as to the data files'."""

from __future__ import annotations

import shutil

import pytest
from helpers import reversal_config, reversal_corpus

from seq2seq.cli.train import train
from seq2seq.config.load import config_from_dict
from seq2seq.errors import UserError
from seq2seq.inference.translator import Translator
from seq2seq.training import distillation
from seq2seq.training.distillation import with_distilled_data


def distilling(root, teacher, **sections):
    reversal_corpus(root, 60, 10, seed=3)
    raw = reversal_config(root, **sections)
    raw["data"]["distill_from"] = str(teacher)
    return raw


def test_the_training_pairs_then_the_teachers_translations(trained_transformer, tmp_path):
    teacher = trained_transformer / "run" / "best.pt"
    cfg = config_from_dict(distilling(tmp_path, teacher))
    sources = (tmp_path / "train.src").read_text(encoding="utf-8").splitlines()
    references = (tmp_path / "train.tgt").read_text(encoding="utf-8").splitlines()
    expected = [t.text for t in Translator.load(teacher).translate(sources)]  # `seq2seq translate`

    distilled = with_distilled_data(cfg)

    src = distilled.data.train_src
    tgt = distilled.data.train_tgt
    assert open(src, encoding="utf-8").read().splitlines() == sources + sources
    assert open(tgt, encoding="utf-8").read().splitlines() == references + expected
    assert expected != references  # the teacher is good but not perfect: its own outputs are tested
    assert distilled.data.valid_src == cfg.data.valid_src and distilled.model == cfg.model


def test_made_once_then_read_from_the_cache_and_remade_for_another_teacher(
    trained_transformer, trained_rnn, tmp_path, monkeypatch
):
    cfg = config_from_dict(distilling(tmp_path, trained_transformer / "run" / "best.pt"))
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.*")}
    first = with_distilled_data(cfg)
    monkeypatch.setattr(distillation, "teach", lambda *a: pytest.fail("translated again"))
    assert with_distilled_data(cfg) == first
    monkeypatch.undo()

    other = with_distilled_data(config_from_dict(distilling(tmp_path, trained_rnn / "run" / "best.pt")))

    assert other.data.train_src != first.data.train_src
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.*")} == before  # the user's files as they were


def test_without_a_teacher_nothing_changes_and_a_missing_one_is_one_line(tmp_path):
    raw = distilling(tmp_path, tmp_path / "runs" / "teacher" / "best.pt")
    plain = config_from_dict(raw | {"data": raw["data"] | {"distill_from": ""}})
    assert with_distilled_data(plain) is plain
    with pytest.raises(UserError, match=r"^data.distill_from .*best.pt: no such model file; train the "):
        with_distilled_data(config_from_dict(raw))
    with pytest.raises(UserError, match=r"^data.distill_from .* is a directory \(a CTranslate2 export\?\)"):
        with_distilled_data(config_from_dict(raw | {"data": raw["data"] | {"distill_from": str(tmp_path)}}))


def test_a_run_trains_on_both_and_resumes_only_with_the_same_teacher(
    trained_transformer, trained_rnn, tmp_path, restore_globals
):
    teacher = tmp_path / "teacher.pt"
    shutil.copy(trained_transformer / "run" / "best.pt", teacher)
    raw = distilling(tmp_path, teacher)
    train(config_from_dict(raw))
    log = (tmp_path / "run" / "train.log").read_text(encoding="utf-8")
    assert "distillation: 60 translations added to 60 pairs" in log
    assert "data: 120 training pairs" in log

    more = raw | {"train": raw["train"] | {"epochs": 2}}
    shutil.copy(trained_rnn / "run" / "best.pt", teacher)
    with pytest.raises(UserError, match=r"data.distill_from \(.*teacher.pt\) is not the content the run"):
        train(config_from_dict(more), resume=True)
    shutil.copy(trained_transformer / "run" / "best.pt", teacher)
    assert train(config_from_dict(more), resume=True).epoch == 2
