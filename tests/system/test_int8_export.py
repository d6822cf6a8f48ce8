"""`seq2seq export MODEL --int8 OUT.pt`: a recurrent model and a Transformer trained on the reversal
task (conftest's `trained_rnn` and `trained_transformer`) keep their test BLEU within 0.5 in int8,
in a smaller file that loads with weights_only; translate, test, serve and ensembles take the file
as any model file; every mistake is one line."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import ServerProcess, cli, translate_jsonl, write_reversal

from seq2seq.data.batches import read_lines
from seq2seq.models.model_file import load_model

FAMILIES = ["rnn", "transformer"]


@pytest.fixture(scope="module")
def int8_files(trained_rnn, trained_transformer, tmp_path_factory) -> dict[str, Path]:
    """Each family's best.pt exported with --int8 (by the command, in a process of its own)."""
    out = tmp_path_factory.mktemp("int8")
    files = {}
    for family, root in (("rnn", trained_rnn), ("transformer", trained_transformer)):
        files[family] = out / f"{family}.int8.pt"
        exported = _seq2seq("export", root / "run" / "best.pt", "--int8", files[family])
        assert exported.returncode == 0, exported.stderr
        assert "with int8 weights" in exported.stderr
    return files


def _seq2seq(*argv) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "seq2seq", *map(str, argv)], capture_output=True, text=True, timeout=300
    )


def _root(family: str, trained_rnn: Path, trained_transformer: Path) -> Path:
    return {"rnn": trained_rnn, "transformer": trained_transformer}[family]


@pytest.fixture(scope="module")
def test_set(tmp_path_factory) -> tuple[Path, Path]:
    """500 new pairs of the reversal task. Dynamic quantization perturbs every product a little, so
    a sentence the float model nearly got otherwise may come out otherwise: on 100 sentences one
    such change moves BLEU by ~0.6, on 500 by ~0.15."""
    root = tmp_path_factory.mktemp("test_set")
    write_reversal(root / "test.src", root / "test.tgt", 500, random.Random(5))
    return root / "test.src", root / "test.tgt"


@pytest.mark.parametrize("family", FAMILIES)
def test_int8_keeps_test_bleu_within_half_a_point(
    family, trained_rnn, trained_transformer, int8_files, test_set, capsys, restore_globals
):
    root = _root(family, trained_rnn, trained_transformer)
    scores = {}
    for name, model in (("fp32", root / "run" / "best.pt"), ("int8", int8_files[family])):
        precision = ["--precision", "fp32"] if name == "fp32" else []
        code, out, err = cli(
            capsys, "test", model, "--src", test_set[0], "--ref", test_set[1], "--json", *precision
        )
        assert code == 0, err
        scores[name] = json.loads(out)
    assert scores["fp32"]["bleu"] > 95  # a model that knows the task: its decisions are not coin flips
    assert scores["int8"]["bleu"] == pytest.approx(scores["fp32"]["bleu"], abs=0.5)
    assert scores["int8"]["precision"] == "int8" and scores["int8"]["device"].startswith("cpu")


@pytest.mark.parametrize("family", FAMILIES)
def test_the_int8_file_is_smaller_and_loads_with_weights_only(
    family, trained_rnn, trained_transformer, int8_files
):
    fp32 = _root(family, trained_rnn, trained_transformer) / "run" / "best.pt"
    assert int8_files[family].stat().st_size < fp32.stat().st_size
    data = torch.load(int8_files[family], weights_only=True)  # raises on anything but plain values
    assert data["format_version"] == 2 and data["int8"]
    matrices = [p["values"] for p in data["int8"].values()]
    assert all(m.dtype == torch.int8 for m in matrices)
    original = torch.load(fp32, weights_only=True)["model"]
    float_bytes = sum(original[name].numel() * 4 for name in data["int8"])
    assert sum(m.numel() for m in matrices) == float_bytes // 4  # every int8 matrix: 1 byte a weight


@pytest.mark.parametrize("family", FAMILIES)
def test_translate_and_an_ensemble_take_the_int8_file(
    family, trained_rnn, trained_transformer, int8_files, capsys, restore_globals
):
    """An ensemble of the int8 file with itself averages equal log-probabilities: the same
    translations and scores as the file alone; with its float original, it still translates."""
    root = _root(family, trained_rnn, trained_transformer)
    lines = read_lines(root / "valid.src")[:8]
    alone = translate_jsonl(capsys, int8_files[family], lines)
    twice = translate_jsonl(capsys, [int8_files[family], int8_files[family]], lines)
    assert [e["hypotheses"][0]["text"] for e in twice] == [e["hypotheses"][0]["text"] for e in alone]
    assert [e["hypotheses"][0]["score"] for e in twice] == pytest.approx(
        [e["hypotheses"][0]["score"] for e in alone], abs=1e-3
    )
    assert all(e["hypotheses"][0]["attention"] for e in alone)  # int8 models report attention
    code, out, err = cli(capsys, "translate", int8_files[family], root / "run" / "best.pt", *lines)
    assert code == 0 and len(out.splitlines()) == len(lines), err


def test_serve_answers_from_an_int8_file_as_translate_does(trained_rnn, int8_files, capsys, restore_globals):
    pytest.importorskip("fastapi")
    lines = [*read_lines(trained_rnn / "valid.src")[:5], ""]
    expected = translate_jsonl(capsys, int8_files["rnn"], lines, "--beam", "4", "--n-best", "2")
    with ServerProcess(int8_files["rnn"]) as server:
        info = server.get("/info")
        assert info["precision"] == "int8" and info["engine"] == "pytorch" and info["attention"] is True
        float_model, _, _ = load_model(trained_rnn / "run" / "best.pt")
        assert info["parameters"] == sum(p.numel() for p in float_model.parameters())
        status, answer, _ = server.post({"text": lines, "beam_size": 4, "n_best": 2, "attention": True})
    assert status == 200
    for t, e in zip(answer["translations"][:-1], expected):
        assert [h["text"] for h in t["hypotheses"]] == [h["text"] for h in e["hypotheses"]]
        assert [h["score"] for h in t["hypotheses"]] == pytest.approx(
            [h["score"] for h in e["hypotheses"]], abs=1e-3
        )
        weights = [w for row in t["attention"]["weights"] for w in row]
        assert weights == pytest.approx([w for row in e["hypotheses"][0]["attention"] for w in row], abs=1e-3)
    assert answer["translations"][-1]["text"] == "" and expected[-1]["hypotheses"] == []


# ---------------------------------------------------------------- mistakes, one line each


def test_what_int8_cannot_do_is_one_line(trained_transformer, int8_files, tmp_path, capsys, restore_globals):
    model, int8 = trained_transformer / "run" / "best.pt", int8_files["transformer"]
    (tmp_path / "notes.txt").write_text("not a model\n", encoding="utf-8")
    (tmp_path / "taken.pt").write_bytes(b"")
    src, tgt = trained_transformer / "valid.src", trained_transformer / "valid.tgt"
    cases = [
        (
            ["export", tmp_path / "notes.txt", "--int8", tmp_path / "a.pt"],
            "is not a readable seq2seq model file",
        ),
        (["export", tmp_path / "none.pt", "--int8", tmp_path / "a.pt"], "model file", "not found"),
        (["export", model, "--int8", tmp_path / "a.pt", "--ctranslate2", tmp_path / "d"], "give one"),
        (["export", model, "--int8", tmp_path / "a.pt", "--quantization", "int8"], "--quantization is for"),
        (["export", model], "--ctranslate2 OUT_DIR or --int8 OUT.pt"),
        (["export", model, "--int8", tmp_path / "taken.pt"], "taken.pt already exists; choose a new file"),
        (["export", int8, "--int8", tmp_path / "a.pt"], "is an int8 model file already"),
        (["export", int8, "--ctranslate2", tmp_path / "d"], "is an int8 model file; export the model file"),
        (["translate", int8, "a b", "--device", "cuda"], "runs int8 layers on the CPU only"),
        (["translate", int8, "a b", "--precision", "bf16"], "--precision bf16:", "leave --precision off"),
        (["test", int8, "--src", src, "--ref", tgt, "--compile"], "--compile is for float model files"),
        (
            ["average", int8, int8, "-o", tmp_path / "avg.pt"],
            "is an int8 model file; average the checkpoints",
        ),
    ]
    for argv, *words in cases:
        code, _, err = cli(capsys, *argv)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and all(w in lines[0] for w in words), (argv, err)
    assert not (tmp_path / "a.pt").exists() and not (tmp_path / "d").exists()
    assert (tmp_path / "taken.pt").read_bytes() == b""
    # a process of its own: one line, no traceback
    done = _seq2seq("export", model, "--int8", tmp_path / "b.pt", "--ctranslate2", tmp_path / "d")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
