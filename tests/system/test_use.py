"""Using a trained model from the command line: `seq2seq test` scores what validation scored,
`seq2seq translate` answers arguments, pipes, files and an interactive terminal with n-best text or
JSONL, and `seq2seq average` writes the mean of several model files.

One small model is trained once for the module on the reversal task (a few seconds)."""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest
import torch
from helpers import (
    assert_attention_plots,
    cli,
    kept_globals,
    reversal_config,
    reversal_corpus,
    same_from_arguments_file_and_pipe,
    tiny_model,
)

from seq2seq.cli.train import train
from seq2seq.config.load import config_from_dict
from seq2seq.data.batches import read_lines
from seq2seq.data.corpus import load_corpus
from seq2seq.inference.output import write_translations
from seq2seq.inference.scoring import score_test_set
from seq2seq.inference.translator import Translator
from seq2seq.models.build import build_model
from seq2seq.models.model_file import ModelFile, load_model, save_model
from seq2seq.runtime.distributed import World
from seq2seq.training.validation import Validator


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run directory of a model trained for 8 epochs on the reversal task, and its files."""
    root = reversal_corpus(tmp_path_factory.mktemp("use"), 2000, 60, seed=3)
    cfg = reversal_config(
        root,
        data={"batch_tokens": 400},
        model=tiny_model(24, dropout=0.0),
        train={"epochs": 8, "lr": 0.01, "label_smoothing": 0.0, "seed": 2},
        search={"beam_size": 3, "length_penalty": 0.6},
    )
    with kept_globals():
        train(config_from_dict(cfg))
    with open(root / "run" / "validations.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return root, rows


# ---------------------------------------------------------------- seq2seq test


def test_test_scores_the_best_model_as_validation_did(trained, capsys, restore_globals):
    root, rows = trained
    best = max(rows, key=lambda r: float(r["bleu"]))
    assert float(best["bleu"]) > 10, "the model learned something: the comparison means something"
    model, src, ref = root / "run" / "best.pt", root / "valid.src", root / "valid.tgt"
    code, out, _ = cli(capsys, "test", model, "--src", src, "--ref", ref, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["bleu"] == pytest.approx(float(best["bleu"]), abs=0.005)
    assert result["chrf"] == pytest.approx(float(best["chrf"]), abs=0.005)
    assert result["sentences"] == 60
    assert result["signatures"]["bleu"].startswith("nrefs:1|case:mixed")


def test_validation_and_test_cut_long_lines_alike(trained, restore_globals):
    """With a data.max_len shorter than most lines, validation and `test` both translate them in
    parts, the same parts: the same translations, the same BLEU."""
    root, _ = trained
    model, cfg, tokenizer = load_model(root / "run" / "best.pt")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, max_len=4))
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, examples=60))
    src, ref = root / "valid.src", root / "valid.tgt"
    lines = read_lines(src)
    assert sum(len(x) > 4 for x in tokenizer.src.encode(lines)) > 30, "most lines must be cut"
    translator = Translator(model, tokenizer, cfg, cfg.search, "fp32")
    tested = score_test_set(translator, str(src), str(ref), root / "cut.hyp")
    autocast = functools.partial(torch.autocast, "cpu", enabled=False)
    with load_corpus(str(src), str(ref), tokenizer, root / "cache") as corpus:
        result = Validator(cfg, tokenizer, corpus, lines, read_lines(ref), World(), autocast).validate(model)
    validated = [d.split("hypothesis: ", 1)[1] for d in result.details if "hypothesis: " in d]
    assert validated == read_lines(root / "cut.hyp")
    assert result.metrics["bleu"] == tested["bleu"]


def test_test_prints_bleu_chrf_and_ter_with_signatures_and_writes_the_hypotheses(
    trained, capsys, restore_globals
):
    root, _ = trained
    model, src, ref, hyps = (
        root / "run" / "best.pt",
        root / "valid.src",
        root / "valid.tgt",
        root / "test.hyp",
    )
    # against a poor "system": the untranslated source
    code, out, _ = cli(capsys, "test", model, "--src", src, "--ref", ref, "--output", hyps, "--compare", src)
    assert code == 0
    lines = out.splitlines()
    assert (
        lines[0].startswith("BLEU|nrefs:1|") and lines[1].startswith("chrF2|") and lines[2].startswith("TER|")
    )
    assert len(read_lines(hyps)) == 60
    assert "paired bootstrap" in out and "significant" in out


def test_compare_names_the_better_system_and_its_p_value(trained, capsys, restore_globals):
    """Against the references themselves (a clearly better baseline), the untranslated source (a
    clearly worse one) and the model's own output (the same system)."""
    root, _ = trained
    model, src, ref = root / "run" / "best.pt", root / "valid.src", root / "valid.tgt"
    own = root / "own.hyp"
    assert cli(capsys, "test", model, "--src", src, "--ref", ref, "--output", own)[0] == 0
    found = {}
    for name, baseline in (("references", ref), ("source", src), ("itself", own)):
        code, out, _ = cli(capsys, "test", model, "--src", src, "--ref", ref, "--compare", baseline, "--json")
        assert code == 0
        found[name] = json.loads(out)["compare"]["BLEU"]
    assert found["references"]["baseline"] == 100.0 and found["references"]["better"] == "baseline"
    assert found["source"]["model"] > found["source"]["baseline"] and found["source"]["better"] == "model"
    for name in ("references", "source"):
        assert found[name]["p_value"] <= 0.01 and found[name]["significant"], found[name]
    assert found["itself"]["better"] == "neither" and found["itself"]["p_value"] > 0.2
    assert not found["itself"]["significant"]
    code, out, _ = cli(capsys, "test", model, "--src", src, "--ref", ref, "--compare", ref)
    assert "BLEU: model" in out and "the baseline is better, p = 0.0" in out and ", significant at" in out


# ---------------------------------------------------------------- seq2seq translate


def test_translate_arguments_file_and_pipe_give_the_same_lines(trained, capsys, restore_globals):
    root, _ = trained
    model = root / "run" / "best.pt"
    sources = read_lines(root / "valid.src")[:7]
    from_args = same_from_arguments_file_and_pipe(capsys, "translate", model, sources, root)
    assert len(from_args.splitlines()) == 7


def test_translate_n_best_text_is_tab_separated_and_distinct(trained, capsys, restore_globals):
    root, _ = trained
    code, out, _ = cli(
        capsys, "translate", root / "run" / "best.pt", "--beam", "4", "--n-best", "3", "a b c d", "e f"
    )
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2
    for line in lines:
        hyps = line.split("\t")
        assert len(hyps) == 3 and len(set(hyps)) == 3


def test_translate_warns_once_when_n_best_lists_repeat_a_translation(
    trained, capsys, monkeypatch, restore_globals
):
    """A model trained with subword sampling can fill its beam with one sentence in several
    segmentations: the lists are written as found, and one warning says how many repeat and that
    a larger beam finds more. Here the first line's hypotheses are made to spell one text."""
    root, _ = trained
    model, lines = root / "run" / "best.pt", ["a b c d", "e f"]
    code, plain, err = cli(capsys, "translate", model, "--beam", "4", "--n-best", "3", *lines)
    assert code == 0 and "repeat" not in err  # the toy's lists differ (the test above)
    real = Translator.translate

    def repeating(self, texts, n_best=1, *args, **kwargs):
        out = real(self, texts, n_best, *args, **kwargs)
        first = dataclasses.replace(out[0], texts=[out[0].texts[0]] * len(out[0].texts))
        return [first, *out[1:]]

    monkeypatch.setattr(Translator, "translate", repeating)
    code, out, err = cli(capsys, "translate", model, "--beam", "4", "--n-best", "3", *lines)
    assert code == 0
    first, second = out.splitlines()
    assert first.split("\t") == [plain.splitlines()[0].split("\t")[0]] * 3
    assert second == plain.splitlines()[1]
    assert err.splitlines() == [
        "seq2seq: warning: 1 of 2 lines' 3-best lists repeat a translation: the beam of 4 held fewer "
        "different sentences than asked for (the same one in other pieces); a larger --beam, e.g. --beam 12, "
        "finds more"
    ]


def test_translate_jsonl_holds_n_best_scores_probabilities_and_attention(trained, capsys, restore_globals):
    root, _ = trained
    code, out, _ = cli(
        capsys,
        "translate",
        root / "run" / "best.pt",
        "--format",
        "jsonl",
        "--beam",
        "3",
        "--n-best",
        "2",
        "a b c",
        "",
    )
    assert code == 0
    first, empty = (json.loads(line) for line in out.splitlines())
    assert first["source"] == "a b c"
    assert len(first["hypotheses"]) == 2
    best, second = first["hypotheses"]
    assert best["normalized_score"] >= second["normalized_score"]
    for h in first["hypotheses"]:
        n_tgt, n_src = len(h["pieces"]), len(first["source_pieces"])
        assert len(h["token_probs"]) == n_tgt  # one per target piece, </s> included
        assert all(0 < p <= 1 for p in h["token_probs"])
        # the total log-probability is the sum of the per-token ones
        assert h["score"] == pytest.approx(sum(torch.tensor(h["token_probs"]).log().tolist()), abs=1e-2)
        assert len(h["attention"]) == n_tgt and all(len(row) == n_src for row in h["attention"])
        assert all(sum(row) == pytest.approx(1, abs=1e-2) for row in h["attention"])
    assert empty["source"] == ""


def test_translate_n_best_gives_n_even_when_fewer_finish(model_file, capsys, restore_globals):
    """With room for no output token, only the empty translation finishes: the other two of the
    3-best are the best unfinished ones, marked, their pieces without </s>."""
    translator = Translator.load(model_file, beam_size=3, max_len_ratio=0.0, max_len_offset=0)
    sink = io.StringIO()
    write_translations(translator, ["bi ca", ""], sink, "jsonl", 3, warn=print, plot_dir=None)
    first, empty = (json.loads(line) for line in sink.getvalue().splitlines())
    hyps = first["hypotheses"]
    assert [h["finished"] for h in hyps] == [True, False, False]
    assert hyps[0]["pieces"] == ["</s>"] and [len(h["pieces"]) for h in hyps[1:]] == [1, 1]
    assert all(len(h["token_probs"]) == len(h["pieces"]) == len(h["attention"]) for h in hyps)
    assert empty["hypotheses"] == []  # an empty line stays empty
    sink = io.StringIO()
    write_translations(translator, ["bi ca"], sink, "text", 3, warn=print, plot_dir=None)
    assert len(sink.getvalue().rstrip("\n").split("\t")) == 3


def test_translate_plots_attention_heatmaps(trained, capsys, restore_globals):
    root, _ = trained
    code, _, _ = cli(
        capsys, "translate", root / "run" / "best.pt", "--plot-attention", root / "plots", "a b", "c d e"
    )
    assert code == 0
    assert_attention_plots(root / "plots", 2)


def test_translate_answers_each_line_at_a_terminal_before_the_next_is_typed(trained):
    """Interactive use: on a pseudo-terminal, every line is answered while standard input is still
    open (a reader that waited for the end of input would never answer)."""
    root, _ = trained
    model = root / "run" / "best.pt"
    expected = subprocess.run(
        [sys.executable, "-m", "seq2seq", "translate", str(model), "a b c", "d e f g"],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.splitlines()
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "seq2seq", "translate", str(model)],
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.DEVNULL,
        close_fds=True,
    )
    os.close(terminal)
    try:
        answers = []
        for line in ("a b c", "d e f g"):
            os.write(controller, (line + "\n").encode())
            answers.append(_read_answer(controller, echo=line, timeout=60))
        assert answers == expected
    finally:
        os.write(controller, b"\x04")  # Ctrl-D: end of input
        proc.wait(timeout=60)
        os.close(controller)
    assert proc.returncode == 0


def _read_answer(fd: int, echo: str, timeout: float) -> str:
    """The next output line on the terminal that is not the echo of what was typed."""
    buffer, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            buffer += os.read(fd, 4096)
        lines = buffer.replace(b"\r\n", b"\n").split(b"\n")
        complete = [x.decode() for x in lines[:-1]]
        if echo in complete:
            after = complete[complete.index(echo) + 1 :]
            if after:
                return after[0]
    raise AssertionError(f"no answer within {timeout} s; the terminal shows {buffer!r}")


# ---------------------------------------------------------------- seq2seq average


def other_seed(model_file, root, seed: int):
    """A model file like `model_file` (same config and tokenizer), with weights from another seed."""
    model, cfg, tokenizer = load_model(model_file)
    torch.manual_seed(seed)
    other = build_model(cfg.model, len(tokenizer.src), len(tokenizer.tgt))
    save_model(root / f"seed{seed}.pt", other, cfg, tokenizer)
    return root / f"seed{seed}.pt"


def test_average_writes_the_arithmetic_mean_of_different_models(
    model_file, tmp_path, capsys, restore_globals
):
    a_path, b_path, c_path = (
        model_file,
        other_seed(model_file, tmp_path, 1),
        other_seed(model_file, tmp_path, 2),
    )
    a, b, c = (ModelFile.read(p).weights for p in (a_path, b_path, c_path))
    assert all(not torch.equal(a[k], b[k]) for k in a if "embedding" not in k), "the inputs must differ"
    code, _, _ = cli(capsys, "average", a_path, b_path, "-o", tmp_path / "avg2.pt")
    assert code == 0
    code, _, _ = cli(capsys, "average", a_path, b_path, c_path, "-o", tmp_path / "avg3.pt")
    assert code == 0
    two, three = ModelFile.read(tmp_path / "avg2.pt").weights, ModelFile.read(tmp_path / "avg3.pt").weights
    assert two.keys() == a.keys() == three.keys()
    for name in a:  # the mean computed here in float64, element by element
        want2 = ((a[name].double() + b[name].double()) / 2).float()
        want3 = ((a[name].double() + b[name].double() + c[name].double()) / 3).float()
        torch.testing.assert_close(two[name], want2, rtol=0, atol=1e-7)
        torch.testing.assert_close(three[name], want3, rtol=0, atol=1e-7)
    name = "decoder.output.weight"
    assert not torch.equal(two[name], a[name]) and not torch.equal(two[name], b[name])
    assert load_model(tmp_path / "avg2.pt")[1] == load_model(a_path)[1]
    code, out, _ = cli(capsys, "translate", tmp_path / "avg2.pt", "bi ca")
    assert code == 0 and len(out.splitlines()) == 1

    code, _, _ = cli(capsys, "average", a_path, "-o", tmp_path / "one.pt")  # the average of one is itself
    assert code == 0
    assert all(torch.equal(t, a[k]) for k, t in ModelFile.read(tmp_path / "one.pt").weights.items())


def test_average_refuses_to_overwrite_an_input(trained, capsys, restore_globals):
    root, _ = trained
    best = root / "run" / "best.pt"
    before = best.read_bytes()
    code, _, err = cli(capsys, "average", best, root / "run" / "last.pt", "-o", best)
    assert code == 2 and "one of the inputs" in err
    assert best.read_bytes() == before
