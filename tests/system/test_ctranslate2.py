"""`seq2seq export --ctranslate2`: a toy Transformer exported to CTranslate2 translates as ours does
(float32: the same greedy and beam-5 output for every sentence, and every token's log-probability
within rounding); what
CTranslate2 cannot run is refused in one line; the directory holds all it needs."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import cli, kept_globals, reversal_config, reversal_corpus

from seq2seq.cli.main import main
from seq2seq.cli.train import train
from seq2seq.config.load import config_from_dict
from seq2seq.data.batches import read_lines
from seq2seq.decoding.search import max_lengths
from seq2seq.deploy.ctranslate2_export import read_tokenizer
from seq2seq.inference.translator import Translator

ctranslate2 = pytest.importorskip("ctranslate2")


@pytest.fixture(scope="module")
def transformer(tmp_path_factory):
    """A small Transformer trained a little on the reversal task (outputs that end, not noise)."""
    root = reversal_corpus(tmp_path_factory.mktemp("ct2"), 600, 40)
    raw = reversal_config(
        root,
        data={"batch_tokens": 400},
        model={
            "architecture": "transformer",
            "transformer": {"encoder_layers": 2, "decoder_layers": 2, "d_model": 32, "heads": 4, "d_ff": 64},
            "tie_tgt_embeddings": True,
            "tie_src_tgt_embeddings": True,
        },
        train={"epochs": 10, "lr": 0.005, "schedule": "warmup_decay", "warmup_steps": 50},
    )
    with kept_globals():
        train(config_from_dict(raw))
    return root


def _export(model, out, *extra) -> int:
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(model), "--ctranslate2", str(out), *extra])
    return exit_.value.code


def _ct2_ids(translator, tokenizer, lines: list[str], beam: int) -> list[list[int]]:
    """CTranslate2's best hypothesis per line, as our ids; one line at a time with our length
    limit. (Our search never produces PAD or BOS; CTranslate2 could, but a trained model does not,
    and suppressing them there would renormalize its probabilities.)"""
    vocab = {p: i for i, p in enumerate(tokenizer.tgt.pieces(range(len(tokenizer.tgt))))}
    out = []
    for tokens in _source_tokens(tokenizer, lines):
        limit = int(max_lengths(torch.tensor([len(tokens)]), 2.0, 10)[0])
        result = translator.translate_batch(
            [tokens], beam_size=beam, length_penalty=0.0, max_decoding_length=limit
        )
        out.append([vocab[p] for p in result[0].hypotheses[0]])
    return out


def _source_tokens(tokenizer, lines: list[str]) -> list[list[str]]:
    return [[*tokenizer.src.pieces(ids), "</s>"] for ids in tokenizer.src.encode(lines)]


@pytest.mark.parametrize("beam", [1, 5])
def test_the_export_translates_as_ours_does(transformer, tmp_path, beam, restore_globals):
    assert _export(transformer / "run" / "best.pt", tmp_path / "ct2") == 0
    lines = read_lines(transformer / "valid.src")
    ours = Translator.load(
        transformer / "run" / "best.pt", precision="fp32", beam_size=beam, length_penalty=0.0
    )
    expected = [t.hypotheses[0] for t in ours.translate(lines)]
    engine = ctranslate2.Translator(str(tmp_path / "ct2"), device="cpu", intra_threads=1)
    tokenizer = read_tokenizer(tmp_path / "ct2")
    got = _ct2_ids(engine, tokenizer, lines, beam)
    # at the length limit ours must end with EOS while CTranslate2 just stops: compare the others
    limits = [int(max_lengths(torch.tensor([len(t)]), 2.0, 10)[0]) for t in _source_tokens(tokenizer, lines)]
    ended = [i for i, h in enumerate(expected) if len(h.tokens) < limits[i]]
    assert len(ended) >= len(lines) * 0.8
    assert [got[i] for i in ended] == [expected[i].tokens for i in ended]
    # CTranslate2 gives each token of our translations (EOS included) our log-probability
    scored = engine.score_batch(
        _source_tokens(tokenizer, lines), [tokenizer.tgt.pieces(h.tokens) for h in expected]
    )
    for result, h in zip(scored, expected):
        assert result.log_probs == pytest.approx(h.token_logprobs, abs=1e-4)


def test_the_directory_holds_the_tokenizer_and_config(transformer, tmp_path, restore_globals):
    assert _export(transformer / "run" / "best.pt", tmp_path / "ct2", "--quantization", "int8") == 0
    names = {p.name for p in (tmp_path / "ct2").iterdir()}
    assert {"model.bin", "config.json", "seq2seq.yaml", "source.spm", "target.spm"} <= names
    ours = Translator.load(transformer / "run" / "best.pt").tokenizer
    again = read_tokenizer(tmp_path / "ct2")
    assert again.src.same_as(ours.src) and again.tgt.same_as(ours.tgt)


def test_what_ctranslate2_cannot_run_is_refused_in_one_line(
    model_file, transformer, tmp_path, capsys, restore_globals
):
    assert _export(model_file, tmp_path / "rnn") == 2  # conftest's model is recurrent
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a recurrent model; CTranslate2 runs Transformers only" in err[0]
    assert not (tmp_path / "rnn").exists()
    (tmp_path / "taken").mkdir()
    assert _export(transformer / "run" / "best.pt", tmp_path / "taken") == 2
    assert "already exists; choose a new directory" in capsys.readouterr().err


@pytest.fixture(scope="module")
def exported(transformer, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "ct2"
    with kept_globals(), pytest.raises(SystemExit) as exit_:
        main(["export", str(transformer / "run" / "best.pt"), "--ctranslate2", str(out)])
    assert exit_.value.code == 0
    return out


def test_translate_and_test_take_an_export_as_they_take_the_model_file(
    transformer, exported, capsys, restore_globals
):
    """The engine follows from the path; greedy, no length penalty: the same translations."""
    model, src = transformer / "run" / "best.pt", transformer / "valid.src"
    lines = read_lines(src)[:10]
    options = ["--greedy", "--length-penalty", "0"]
    code, ours, _ = cli(capsys, "translate", model, *lines, *options)
    assert code == 0
    code, theirs, _ = cli(capsys, "translate", exported, *lines, *options)
    assert code == 0 and theirs == ours
    results = []
    for path in (model, exported):
        code, out, _ = cli(
            capsys, "test", path, "--src", src, "--ref", transformer / "valid.tgt", "--json", *options
        )
        assert code == 0
        results.append(json.loads(out))
    assert results[1]["bleu"] == pytest.approx(results[0]["bleu"], abs=0.5)
    code, out, _ = cli(capsys, "translate", exported, "--n-best", "3", "--beam", "4", *lines[:2])
    assert code == 0 and len(out.splitlines()) == 2


def test_what_an_export_cannot_do_is_one_line(transformer, exported, capsys, restore_globals):
    src, tgt = transformer / "valid.src", transformer / "valid.tgt"
    cases = [
        (["translate", exported, "a b", "--attention-head", "0"], "reports no attention"),
        (["translate", exported, "a b", "--compile"], "--compile is for model files"),
        (["translate", exported, exported, "a b"], "ensembles are of model files"),
        (["score", exported, "--src", src, "--tgt", tgt], "needs a model file"),
    ]
    for argv, words in cases:
        code, _, err = cli(capsys, *argv)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and words in lines[0], (argv, err)
