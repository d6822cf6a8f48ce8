"""data.distill_from: the run trains on the training pairs and on each training source with the
teacher's translation, exactly what `seq2seq translate TEACHER` writes for it (several teachers: what
their ensemble writes); data.back_translate_from: also on each training target (and each line of
data.monolingual_tgt) with what a model of the other direction writes for it. The pair is made once
and cached by content; a resumed run is tied to the models' content as to the data files'."""

from __future__ import annotations

import shutil

import pytest
from helpers import SYMBOLS, make_pairs, reversal_config, reversal_corpus, save_tiny, write_lines

from seq2seq.cli.train import train
from seq2seq.config.load import TokenizerConfig, config_from_dict
from seq2seq.data.batches import check_parallel
from seq2seq.data.tokenizer import train_or_load
from seq2seq.errors import UserError
from seq2seq.inference.translator import Translator
from seq2seq.training import synthetic_pairs
from seq2seq.training.run_dir import data_digests
from seq2seq.training.synthetic_pairs import with_synthetic_pairs


def distilling(root, teacher, **sections):
    """A config distilling from `teacher`, a model file or a list of them (an ensemble)."""
    reversal_corpus(root, 60, 10, seed=3)
    raw = reversal_config(root, **sections)
    raw["data"]["distill_from"] = [str(t) for t in teacher] if isinstance(teacher, list) else str(teacher)
    return raw


def test_the_training_pairs_then_the_teachers_translations(trained_transformer, tmp_path):
    teacher = trained_transformer / "run" / "best.pt"
    cfg = config_from_dict(distilling(tmp_path, teacher))
    sources = (tmp_path / "train.src").read_text(encoding="utf-8").splitlines()
    references = (tmp_path / "train.tgt").read_text(encoding="utf-8").splitlines()
    expected = [t.text for t in Translator.load(teacher).translate(sources)]  # `seq2seq translate`

    distilled = with_synthetic_pairs(cfg)

    src = distilled.data.train_src
    tgt = distilled.data.train_tgt
    assert open(src, encoding="utf-8").read().splitlines() == sources + sources
    assert open(tgt, encoding="utf-8").read().splitlines() == references + expected
    assert expected != references  # the teacher is good but not perfect: its own outputs are tested
    assert distilled.data.valid_src == cfg.data.valid_src and distilled.model == cfg.model


def test_n_best_adds_each_distinct_one_of_the_teachers_best_translations(trained_transformer, tmp_path):
    teacher = trained_transformer / "run" / "best.pt"
    raw = distilling(tmp_path, teacher)
    one_best = with_synthetic_pairs(config_from_dict(raw))
    raw["data"]["distill_n_best"] = 3
    sources = (tmp_path / "train.src").read_text(encoding="utf-8").splitlines()
    references = (tmp_path / "train.tgt").read_text(encoding="utf-8").splitlines()
    lists = [list(dict.fromkeys(t.texts[:3])) for t in Translator.load(teacher).translate(sources, 3)]
    taught = [(s, t) for s, texts in zip(sources, lists) for t in texts if t.strip()]

    distilled = with_synthetic_pairs(config_from_dict(raw))

    assert open(distilled.data.train_src, encoding="utf-8").read().splitlines() == sources + [
        s for s, _ in taught
    ]
    assert open(distilled.data.train_tgt, encoding="utf-8").read().splitlines() == references + [
        t for _, t in taught
    ]
    assert len(sources) < len(taught) <= 3 * len(sources)  # more than the one best, none twice
    assert [texts[0] for texts in lists] == [t.text for t in Translator.load(teacher).translate(sources)]
    assert distilled.data.train_src != one_best.data.train_src  # cached apart from the one best
    raw["data"]["distill_n_best"] = 99
    with pytest.raises(UserError, match="needs a beam at least as large"):
        with_synthetic_pairs(config_from_dict(raw))


def test_made_once_then_read_from_the_cache_and_remade_for_another_teacher(
    trained_transformer, trained_rnn, tmp_path, monkeypatch
):
    cfg = config_from_dict(distilling(tmp_path, trained_transformer / "run" / "best.pt"))
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.*")}
    first = with_synthetic_pairs(cfg)
    monkeypatch.setattr(synthetic_pairs, "teach", lambda *a: pytest.fail("translated again"))
    assert with_synthetic_pairs(cfg) == first
    monkeypatch.undo()

    other = with_synthetic_pairs(config_from_dict(distilling(tmp_path, trained_rnn / "run" / "best.pt")))

    assert other.data.train_src != first.data.train_src
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.*")} == before  # the user's files as they were


def test_without_a_teacher_nothing_changes_and_a_missing_one_is_one_line(tmp_path):
    raw = distilling(tmp_path, tmp_path / "runs" / "teacher" / "best.pt")
    plain = config_from_dict(raw | {"data": raw["data"] | {"distill_from": ""}})
    assert with_synthetic_pairs(plain) is plain
    with pytest.raises(UserError, match=r"^data.distill_from .*best.pt: no such model file; train that "):
        with_synthetic_pairs(config_from_dict(raw))
    with pytest.raises(UserError, match=r"^data.distill_from .* is a directory \(a CTranslate2 export\?\)"):
        with_synthetic_pairs(config_from_dict(raw | {"data": raw["data"] | {"distill_from": str(tmp_path)}}))


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


def test_several_teachers_translate_as_their_ensemble_does(trained_transformer, trained_rnn, tmp_path):
    teachers = [trained_transformer / "run" / "best.pt", trained_rnn / "run" / "best.pt"]
    cfg = config_from_dict(distilling(tmp_path, teachers))
    sources = (tmp_path / "train.src").read_text(encoding="utf-8").splitlines()
    references = (tmp_path / "train.tgt").read_text(encoding="utf-8").splitlines()
    expected = [t.text for t in Translator.load(teachers).translate(sources)]  # `seq2seq translate A B`
    alone = [[t.text for t in Translator.load(teacher).translate(sources)] for teacher in teachers]

    distilled = with_synthetic_pairs(cfg)

    assert open(distilled.data.train_tgt, encoding="utf-8").read().splitlines() == references + expected
    assert expected != alone[0] and expected != alone[1]  # neither teacher alone
    first_alone = with_synthetic_pairs(config_from_dict(distilling(tmp_path, teachers[0])))
    assert first_alone.data.train_src != distilled.data.train_src  # another teacher, another pair
    # a run is tied to the teachers' contents, in their order (the first one's search settings)
    assert data_digests(cfg)["data.distill_from"] != data_digests(first_alone)["data.distill_from"]
    reversed_order = config_from_dict(distilling(tmp_path, teachers[::-1]))
    assert data_digests(cfg)["data.distill_from"] != data_digests(reversed_order)["data.distill_from"]


def test_teachers_of_another_vocabulary_are_refused_in_one_line(trained_transformer, tmp_path):
    src, tgt = make_pairs(300, seed=0)
    paths = write_lines(tmp_path / "x.src", src), write_lines(tmp_path / "x.tgt", tgt)
    tokenizer = TokenizerConfig(vocab_size=50)
    other = train_or_load(tokenizer, *paths, check_parallel(*paths), tmp_path / "c", print)
    foreign = save_tiny(tmp_path, "foreign.pt", other, seed=0)
    cfg = config_from_dict(distilling(tmp_path, [trained_transformer / "run" / "best.pt", foreign]))
    refused = r"^.*foreign.pt has another target vocabulary than .*best.pt; the models of an ensemble"
    with pytest.raises(UserError, match=refused):
        with_synthetic_pairs(cfg)


def lines(path) -> list[str]:
    return open(path, encoding="utf-8").read().splitlines()


def test_back_translation_adds_each_target_with_what_the_reverse_model_writes(trained_transformer, tmp_path):
    # reversing is its own inverse: the reversal model is also a model of the other direction
    reverse = trained_transformer / "run" / "best.pt"
    raw = distilling(tmp_path, reverse)
    mono = write_lines(tmp_path / "mono.tgt", [" ".join(SYMBOLS[i : i + 5]) for i in range(3)])
    raw["data"] |= {"distill_from": "", "back_translate_from": str(reverse), "monolingual_tgt": str(mono)}
    cfg = config_from_dict(raw)
    sources, targets = lines(tmp_path / "train.src"), lines(tmp_path / "train.tgt")
    monolingual = lines(tmp_path / "mono.tgt")
    expected = [t.text for t in Translator.load(reverse).translate(targets + monolingual)]  # `translate`

    made = with_synthetic_pairs(cfg)

    assert lines(made.data.train_src) == sources + expected
    assert lines(made.data.train_tgt) == targets + targets + monolingual
    assert expected[: len(targets)] != sources  # good but not perfect: its own outputs are tested
    assert data_digests(cfg).keys() >= {"data.back_translate_from", "data.monolingual_tgt"}  # resume ties


def test_both_directions_references_then_forward_then_backward(trained_transformer, trained_rnn, tmp_path):
    forward, backward = trained_transformer / "run" / "best.pt", trained_rnn / "run" / "best.pt"
    raw = distilling(tmp_path, forward)
    raw["data"]["back_translate_from"] = str(backward)
    sources, targets = lines(tmp_path / "train.src"), lines(tmp_path / "train.tgt")
    taught = [t.text for t in Translator.load(forward).translate(sources)]
    back = [t.text for t in Translator.load(backward).translate(targets)]

    made = with_synthetic_pairs(config_from_dict(raw))
    forward_only = with_synthetic_pairs(config_from_dict(distilling(tmp_path, forward)))

    assert lines(made.data.train_src) == sources + sources + back
    assert lines(made.data.train_tgt) == targets + taught + targets
    assert forward_only.data.train_src != made.data.train_src  # another pair, cached apart
    assert lines(forward_only.data.train_tgt) == targets + taught


def test_monolingual_text_needs_a_reverse_model_and_a_missing_one_is_one_line(trained_transformer, tmp_path):
    raw = distilling(tmp_path, "")
    raw["data"]["monolingual_tgt"] = str(tmp_path / "mono.tgt")
    with pytest.raises(UserError, match=r"^data.monolingual_tgt is back-translated by data.back_tr"):
        config_from_dict(raw)
    raw["data"]["back_translate_from"] = str(tmp_path / "runs" / "de_en" / "best.pt")
    with pytest.raises(UserError, match=r"^data.back_translate_from .*best.pt: no such model file; train th"):
        with_synthetic_pairs(config_from_dict(raw))
