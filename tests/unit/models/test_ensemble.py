"""Ensembles: several model files decode as one, averaging their log-probabilities at every step.
An ensemble of one model twice is that model; the models must share the vocabulary; recurrent and
Transformer models can be mixed; `translate` and `test` take several model files."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from helpers import TINY_TRANSFORMER, make_pairs, save_tiny, write_lines

from seq2seq.cli.main import main
from seq2seq.config.load import TokenizerConfig
from seq2seq.data.batches import check_parallel, pad_src
from seq2seq.data.tokenizer import BOS_ID, train_or_load
from seq2seq.inference.translator import Translator
from seq2seq.models.ensemble import Ensemble
from seq2seq.models.model_file import load_model
from seq2seq.report import metrics

LINES = ["ba ca da", "fe ge", "hi ja ki la ma", ""]


@pytest.fixture(scope="module")
def models(tmp_path_factory, tokenizer):
    root = tmp_path_factory.mktemp("ensemble")
    transformer = TINY_TRANSFORMER
    return {
        "a": save_tiny(root, "a.pt", tokenizer, seed=0),
        "b": save_tiny(root, "b.pt", tokenizer, seed=1),
        "t": save_tiny(root, "t.pt", tokenizer, seed=2, **transformer),
    }


def translations(translator, lines=LINES, n_best=2):
    return [
        (t.texts, [h.tokens for h in t.hypotheses], [h.score for h in t.hypotheses])
        for t in translator.translate(lines, n_best=n_best)
    ]


def test_an_ensemble_of_one_model_twice_is_that_model(models):
    single = Translator.load(models["a"], beam_size=3)
    twice = Translator.load([models["a"], models["a"]], beam_size=3)
    assert isinstance(twice.model, Ensemble)
    for (texts, tokens, scores), (texts2, tokens2, scores2) in zip(translations(single), translations(twice)):
        assert texts == texts2 and tokens == tokens2
        assert scores == pytest.approx(scores2, abs=1e-4)


def test_each_step_averages_the_models_log_probabilities(models):
    nets = [load_model(models[k])[0] for k in ("a", "b", "t")]
    ensemble = Ensemble(nets).eval()
    src, lengths = pad_src([torch.tensor([5, 6, 7]).numpy(), torch.tensor([8, 9]).numpy()])
    prev = torch.full((2,), BOS_ID)
    with torch.no_grad():
        memory, state = ensemble.encode(src, lengths)
        logp, state, attention = ensemble.decode_step(prev, memory, state)
        expected, weights = [], []
        for net in nets:
            m, s = net.encode(src, lengths)
            logits, _, a = net.decode_step(prev, m, s)
            expected.append(torch.log_softmax(logits, -1))
            weights.append(a)
    torch.testing.assert_close(logp, torch.stack(expected).mean(0))
    torch.testing.assert_close(attention, torch.stack(weights).mean(0))
    assert torch.allclose(attention.sum(-1), torch.ones(2))
    # and the states it returns reorder like any model's
    picked = state.select(torch.tensor([1, 1, 0]))
    assert len(picked.members) == 3


@pytest.mark.system
def test_translate_and_test_take_several_model_files(models, tmp_path, capsys, restore_globals):
    with pytest.raises(SystemExit) as e:
        main(["translate", models["a"], models["b"], models["t"], "ba ca da", "fe ge", "--beam", "2"])
    assert e.value.code == 0
    out = capsys.readouterr().out.splitlines()
    ensemble = Translator.load([models["a"], models["b"], models["t"]], beam_size=2)
    assert out == [t.text for t in ensemble.translate(["ba ca da", "fe ge"])]

    src, ref = make_pairs(5, seed=9)
    write_lines(tmp_path / "t.src", src), write_lines(tmp_path / "t.ref", ref)
    with pytest.raises(SystemExit) as e:
        main(
            [
                "test",
                models["a"],
                models["b"],
                "--src",
                str(tmp_path / "t.src"),
                "--ref",
                str(tmp_path / "t.ref"),
                "--json",
            ]
        )
    assert e.value.code == 0
    result = json.loads(capsys.readouterr().out)
    pair = Translator.load([models["a"], models["b"]])
    expected = metrics.score([t.text for t in pair.translate(src)], ref)
    assert (result["bleu"], result["chrf"]) == (round(expected.bleu, 2), round(expected.chrf, 2))


def test_models_are_told_from_sentences_by_being_files(models, tmp_path, capsys, restore_globals):
    """Any existing file is a model (`B.ckpt` too); a word that names no file but looks like a
    model file's name is refused, not translated."""
    other = tmp_path / "B.ckpt"
    other.write_bytes(Path(models["b"]).read_bytes())
    with pytest.raises(SystemExit) as e:
        main(["translate", models["a"], str(other), "ba ca da"])
    assert e.value.code == 0
    pair = Translator.load([models["a"], models["b"]])
    assert capsys.readouterr().out.splitlines() == [pair.translate(["ba ca da"])[0].text]
    with pytest.raises(SystemExit) as e:
        main(["translate", models["a"], str(tmp_path / "C.ckpt"), "ba ca da"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "C.ckpt looks like a model file but there is no such file" in err[0]


def test_models_with_another_vocabulary_are_refused_in_one_line(models, tmp_path, capsys, restore_globals):
    src, tgt = make_pairs(300, seed=0)
    paths = write_lines(tmp_path / "x.src", src), write_lines(tmp_path / "x.tgt", tgt)
    other = train_or_load(
        TokenizerConfig(vocab_size=50), *paths, check_parallel(*paths), tmp_path / "c", print
    )
    foreign = save_tiny(tmp_path, "foreign.pt", other, seed=0)
    with pytest.raises(SystemExit) as e:
        main(["translate", models["a"], foreign, "ba ca da"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another target vocabulary" in err[0] and "must share it" in err[0]


def test_a_chosen_attention_head_is_reported(models, capsys, restore_globals):
    with pytest.raises(SystemExit) as e:
        main(["translate", models["t"], "ba ca da", "--format", "jsonl", "--attention-head", "5"])
    assert e.value.code == 2
    assert "--attention-head 5: head 5 does not exist; the model has heads 0 to 1" in capsys.readouterr().err
    translator = Translator.load(models["t"], beam_size=1)
    average = translator.translate(["ba ca da"], with_attention=True)[0].hypotheses[0].attention
    heads = []
    for head in (0, 1):
        chosen = copy.deepcopy(translator)
        chosen.model.show_head(head)
        heads.append(chosen.translate(["ba ca da"], with_attention=True)[0].hypotheses[0].attention)
    torch.testing.assert_close(average, (heads[0] + heads[1]) / 2)
