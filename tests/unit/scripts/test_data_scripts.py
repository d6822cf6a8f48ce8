"""The committed data of the classification toy task and of chatterbot-corpus is what the scripts
in scripts/ write: regenerating it gives the same bytes."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest
from helpers import ROOT


def regenerate(script: str, out, *options) -> None:
    command = [sys.executable, str(ROOT / "scripts" / script), "--out", str(out), *options]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def same_files(out, committed) -> None:
    names = sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    for name in names:
        assert (out / name).read_bytes() == (committed / name).read_bytes(), name


def test_the_toy_classification_data_regenerates_byte_for_byte(tmp_path):
    regenerate("make_classify_toy_data.py", tmp_path)
    same_files(tmp_path, ROOT / "data" / "classify_toy")


def chatterbot_version() -> str | None:
    try:
        return importlib.metadata.version("chatterbot-corpus")
    except importlib.metadata.PackageNotFoundError:
        return None


@pytest.mark.skipif(
    chatterbot_version() != "1.3.3", reason="the committed data is from chatterbot-corpus 1.3.3"
)
def test_the_chatterbot_data_regenerates_byte_for_byte_and_keeps_utterances_apart(tmp_path):
    regenerate("prepare_chatterbot.py", tmp_path)
    same_files(tmp_path, ROOT / "data" / "chatterbot")
    sources = {
        split: set((tmp_path / "chat" / f"{split}.src").read_text(encoding="utf-8").splitlines())
        for split in ("train", "valid", "test")
    }
    assert not sources["train"] & sources["valid"] and not sources["train"] & sources["test"]
    texts = {
        split: set((tmp_path / "topics" / f"{split}.txt").read_text(encoding="utf-8").splitlines())
        for split in ("train", "valid", "test")
    }
    assert not texts["train"] & texts["test"] and not texts["valid"] & texts["test"]
