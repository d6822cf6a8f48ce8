"""A model file written by an earlier release loads and translates as that release did (the files
and its outputs are in tests/fixtures/model_files_v1, see its README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "model_files_v1"


def _translate(model: Path, *options: str) -> str:
    command = [
        sys.executable,
        "-m",
        "seq2seq",
        "translate",
        str(model),
        "--input",
        str(FIXTURES / "lines.src"),
    ]
    done = subprocess.run([*command, "--precision", "fp32", *options], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("name", ["rnn", "transformer"])
def test_an_old_model_file_translates_as_its_release_did(name):
    model = FIXTURES / f"{name}.pt"
    assert _translate(model, "--greedy") == (FIXTURES / f"{name}.greedy.txt").read_text(encoding="utf-8")
    ours = [
        json.loads(line)
        for line in _translate(model, "--format", "jsonl", "--n-best", "2", "--beam", "3").splitlines()
    ]
    theirs = [
        json.loads(line)
        for line in (FIXTURES / f"{name}.beam3.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(ours) == len(theirs) == 8
    for a, b in zip(ours, theirs):
        assert a["source_pieces"] == b["source_pieces"]
        assert [h["text"] for h in a["hypotheses"]] == [h["text"] for h in b["hypotheses"]]
        assert [h["pieces"] for h in a["hypotheses"]] == [h["pieces"] for h in b["hypotheses"]]
        for h, g in zip(a["hypotheses"], b["hypotheses"]):  # printed to 4 digits: a last-digit flip at most
            assert h["score"] == pytest.approx(g["score"], abs=2e-4)
            assert h["token_probs"] == pytest.approx(g["token_probs"], abs=2e-4)
