"""scripts/release_model.py: the released file holds the same model in bf16 (tied weights still one
tensor, no training state), loads through the safe loader, and translates as the original does
within bf16 rounding."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
import torch
from helpers import ROOT, make_pairs, write_lines

from seq2seq.models.model_file import ModelFile, load_model

spec = importlib.util.spec_from_file_location("release_model", ROOT / "scripts" / "release_model.py")
release = importlib.util.module_from_spec(spec)
spec.loader.exec_module(release)


def test_compact_casts_the_weights_and_keeps_ties(model_file, tmp_path):
    original = ModelFile.read(model_file)
    original.train_state = {"anything": 1}
    tied = next(iter(k for k, v in original.weights.items() if v.is_floating_point()))
    original.weights["alias"] = original.weights[tied]  # two names, one tensor
    out = release.compact(original, torch.bfloat16)
    assert out.train_state is None and out.config == original.config and out.tokenizer is original.tokenizer
    for name, t in original.weights.items():
        if t.is_floating_point():
            assert out.weights[name].dtype == torch.bfloat16
            torch.testing.assert_close(out.weights[name].float(), t, atol=0, rtol=2**-8)
    assert out.weights["alias"] is out.weights[tied]


@pytest.mark.system
def test_the_released_file_loads_and_is_written_only_within_tolerance(model_file, tmp_path):
    src, ref = make_pairs(20, seed=5)
    write_lines(tmp_path / "v.src", src)
    write_lines(tmp_path / "v.tgt", ref)
    out = tmp_path / "models" / "m.pt"
    command = [sys.executable, str(ROOT / "scripts" / "release_model.py"), str(model_file), str(out)]
    command += ["--src", str(tmp_path / "v.src"), "--ref", str(tmp_path / "v.tgt")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size < model_file.stat().st_size
    model, cfg, _ = load_model(out)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    # a tolerance no file can meet unless it is bit-identical: refused, nothing written
    refused = tmp_path / "models" / "refused.pt"
    command[3] = str(refused)
    done = subprocess.run([*command, "--tolerance", "-1"], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "nothing written" in done.stderr and not refused.exists()
