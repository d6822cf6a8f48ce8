"""`seq2seq export --ctranslate2`: a toy Transformer exported to CTranslate2 translates as ours does
(float32: the same greedy and beam-5 output for every sentence, and every token's log-probability
within rounding); what CTranslate2 cannot run is refused in one line; the directory holds all it
needs; `serve` answers from it as `translate` does. The toy Transformer and its export are
conftest's `trained_transformer` and `exported`."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import ServerProcess, cli, translate_jsonl

from seq2seq.cli.main import main
from seq2seq.data.batches import read_lines
from seq2seq.decoding.search import max_lengths
from seq2seq.deploy.ctranslate2_export import read_tokenizer
from seq2seq.inference.translator import Translator

ctranslate2 = pytest.importorskip("ctranslate2")


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
def test_the_export_translates_as_ours_does(trained_transformer, tmp_path, beam, restore_globals):
    assert _export(trained_transformer / "run" / "best.pt", tmp_path / "ct2") == 0
    lines = read_lines(trained_transformer / "valid.src")
    ours = Translator.load(
        trained_transformer / "run" / "best.pt", precision="fp32", beam_size=beam, length_penalty=0.0
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


def test_the_directory_holds_the_tokenizer_and_config(trained_transformer, tmp_path, restore_globals):
    assert _export(trained_transformer / "run" / "best.pt", tmp_path / "ct2", "--quantization", "int8") == 0
    names = {p.name for p in (tmp_path / "ct2").iterdir()}
    assert {"model.bin", "config.json", "seq2seq.yaml", "source.spm", "target.spm"} <= names
    ours = Translator.load(trained_transformer / "run" / "best.pt").tokenizer
    again = read_tokenizer(tmp_path / "ct2")
    assert again.src.same_as(ours.src) and again.tgt.same_as(ours.tgt)


def test_what_ctranslate2_cannot_run_is_refused_in_one_line(
    model_file, trained_transformer, tmp_path, capsys, restore_globals
):
    assert _export(model_file, tmp_path / "rnn") == 2  # conftest's model is recurrent
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a recurrent model; CTranslate2 runs Transformers only" in err[0]
    assert not (tmp_path / "rnn").exists()
    (tmp_path / "taken").mkdir()
    assert _export(trained_transformer / "run" / "best.pt", tmp_path / "taken") == 2
    assert "already exists; choose a new directory" in capsys.readouterr().err


def test_translate_and_test_take_an_export_as_they_take_the_model_file(
    trained_transformer, exported, capsys, restore_globals
):
    """The engine follows from the path; greedy, no length penalty: the same translations."""
    model, src = trained_transformer / "run" / "best.pt", trained_transformer / "valid.src"
    lines = read_lines(src)[:10]
    options = ["--greedy", "--length-penalty", "0"]
    code, ours, _ = cli(capsys, "translate", model, *lines, *options)
    assert code == 0
    code, theirs, _ = cli(capsys, "translate", exported, *lines, *options)
    assert code == 0 and theirs == ours
    results = []
    for path in (model, exported):
        code, out, _ = cli(
            capsys, "test", path, "--src", src, "--ref", trained_transformer / "valid.tgt", "--json", *options
        )
        assert code == 0
        results.append(json.loads(out))
    assert results[1]["bleu"] == pytest.approx(results[0]["bleu"], abs=0.5)
    code, out, _ = cli(capsys, "translate", exported, "--n-best", "3", "--beam", "4", *lines[:2])
    assert code == 0 and len(out.splitlines()) == 2


def test_what_an_export_cannot_do_is_one_line(trained_transformer, exported, capsys, restore_globals):
    src, tgt = trained_transformer / "valid.src", trained_transformer / "valid.tgt"
    cases = [
        (["translate", exported, "a b", "--attention-head", "0"], "reports no attention"),
        (["translate", exported, "a b", "--compile"], "--compile is for model files"),
        (["translate", exported, exported, "a b"], "ensembles are of model files"),
        (["score", exported, "--src", src, "--tgt", tgt], "needs a model file"),
        (["export", exported, "--int8", trained_transformer / "x.pt"], "it was exported from"),
        (["average", exported, exported, "-o", trained_transformer / "y.pt"], "it was exported from"),
    ]
    for argv, words in cases:
        code, _, err = cli(capsys, *argv)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and words in lines[0], (argv, err)
    assert not (trained_transformer / "x.pt").exists() and not (trained_transformer / "y.pt").exists()


# ---------------------------------------------------------------- seq2seq serve on an export

SERVED_OPTIONS = [
    ((), {}),
    (("--greedy",), {"beam_size": 1}),
    (("--beam", "3", "--length-penalty", "0.6"), {"beam_size": 3, "length_penalty": 0.6}),
    (("--beam", "4", "--n-best", "3"), {"beam_size": 4, "n_best": 3}),
]


def test_serve_answers_from_an_export_as_translate_does(
    trained_transformer, exported, capsys, restore_globals
):
    """The same translations as `translate EXPORT` for every request's settings (n-best lists
    too); greedy without a length penalty, the model file's translations and scores."""
    pytest.importorskip("fastapi")
    model = trained_transformer / "run" / "best.pt"
    lines = [*read_lines(trained_transformer / "valid.src")[:6], ""]
    with ServerProcess(exported) as server:
        info = server.get("/info")
        assert info["engine"] == "ctranslate2" and info["attention"] is False
        assert info["architecture"] == "transformer" and info["models"] == [exported.name]
        assert info["model"]["transformer"]["d_model"] > 0 and not {"encoder", "decoder"} & set(info["model"])
        assert info["parameters"] == Translator.load(model).parameters > 0
        for options, fields in SERVED_OPTIONS:
            code, out, err = cli(capsys, "translate", exported, *options, *lines)
            assert code == 0, err
            expected = [row.split("\t") for row in out.split("\n")[: len(lines)]]
            status, answer, _ = server.post({"text": lines, **fields})
            assert status == 200, answer
            got = answer["translations"]
            assert [t["text"] for t in got] == [row[0] for row in expected], options
            if "n_best" in fields:
                assert [[h["text"] for h in t["hypotheses"]] for t in got] == expected
        status, answer, _ = server.post({"text": lines, "beam_size": 1, "length_penalty": 0.0})
    ours = translate_jsonl(
        capsys, model, lines[:-1], "--greedy", "--length-penalty", "0", "--precision", "fp32"
    )
    got = answer["translations"][:-1]
    assert [t["text"] for t in got] == [e["hypotheses"][0]["text"] for e in ours]
    assert [t["score"] for t in got] == pytest.approx([e["hypotheses"][0]["score"] for e in ours], abs=1e-3)


def test_serve_refuses_attention_from_an_export_in_one_line_and_goes_on(exported):
    pytest.importorskip("fastapi")
    with ServerProcess(exported) as server:
        status, answer, _ = server.post({"text": ["a b c"], "attention": True})
        assert status == 422 and list(answer) == ["error"]
        assert answer["error"] == (
            "'attention': this server's engine (ctranslate2) reports no attention weights; "
            "send the request without 'attention'"
        )
        assert server.get("/health") == {"status": "ok"}
        status, answer, _ = server.post({"text": ["a b c"]})
        assert status == 200 and answer["translations"][0]["text"] == "c b a"


@pytest.mark.parametrize(
    "extra, words",
    [(("EXPORT",), "ensembles are of model files"), (("--compile",), "--compile is for model files")],
)
def test_what_serve_cannot_do_with_an_export_is_one_line(exported, capsys, restore_globals, extra, words):
    pytest.importorskip("fastapi")
    extra = [exported if e == "EXPORT" else e for e in extra]
    code, _, err = cli(capsys, "serve", exported, *extra, "--port", 0)
    assert code == 2 and len(err.strip().splitlines()) == 1 and words in err, err
