"""The lowercased, Moses-normalized and -tokenized BLEU that Multi30k papers report
(scripts/benchmark.py's lc_tok_bleu), which the quality tables rest on, against cases computed by
hand."""

from __future__ import annotations

import importlib.util
import math

import pytest
from helpers import ROOT, write_lines

pytest.importorskip("sacremoses")
spec = importlib.util.spec_from_file_location("benchmark", ROOT / "scripts" / "benchmark.py")
benchmark = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark)


def test_cased_punctuated_output_matches_its_lowercased_tokenized_reference(tmp_path):
    # lowercased, the comma and full stop split off, the quotes escaped as the official file has them
    ref = write_lines(tmp_path / "ref.tok", ["ein hund , der &quot; bello &quot; heißt , läuft schnell ."])
    assert benchmark.lc_tok_bleu(['Ein Hund, der "Bello" heißt, läuft schnell.'], ref) == 100.0


def test_a_short_hypothesis_pays_the_brevity_penalty_alone(tmp_path):
    # every n-gram of the hypothesis is in the reference (precisions 1), 4 tokens against 5:
    # BLEU = BP = exp(1 - 5/4)
    ref = write_lines(tmp_path / "ref.tok", ["ein hund läuft schnell ."])
    assert benchmark.lc_tok_bleu(["Ein Hund läuft schnell"], ref) == round(100 * math.exp(1 - 5 / 4), 2)


def test_without_tokenization_the_same_output_scores_lower(tmp_path):
    """The figure is not plain BLEU: untokenized, 'schnell.' is one token that matches nothing."""
    ref = write_lines(tmp_path / "ref.tok", ["ein hund läuft schnell ."])
    hyp = ["Ein Hund läuft schnell."]
    assert benchmark.lc_tok_bleu(hyp, ref) == 100.0
    assert (
        benchmark.metrics.score(hyp, ["ein hund läuft schnell ."], tokenize="none", with_ter=False).bleu < 100
    )
