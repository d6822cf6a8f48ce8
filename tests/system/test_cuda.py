"""On a GPU: training in every precision, exact resume, CPU and GPU decoding that agree, no warning
from a bf16 model, and the compiled and captured step against the eager one.

Skipped where PyTorch sees no GPU. SEQ2SEQ_TEST_CUDA_DEVICE=cpu runs the same tests on the CPU (what
does not exist there is skipped): a rehearsal of this file on a machine without a GPU.
scripts/gpu_check.sh runs it on the GPU machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from helpers import kept_globals, reversal_config, reversal_corpus, tiny_model

from seq2seq.cli.train import train
from seq2seq.config.load import DecoderConfig, EncoderConfig, ModelConfig, config_from_dict
from seq2seq.data.batches import read_lines
from seq2seq.inference.translator import Translator
from seq2seq.models.build import build_model
from seq2seq.models.model_file import ModelFile

DEVICE = os.environ.get("SEQ2SEQ_TEST_CUDA_DEVICE", "cuda")
ON_GPU = DEVICE == "cuda"
pytestmark = pytest.mark.skipif(
    ON_GPU and not torch.cuda.is_available(), reason="needs a GPU (SEQ2SEQ_TEST_CUDA_DEVICE=cpu rehearses it)"
)
gpu_only = pytest.mark.skipif(not ON_GPU, reason="a GPU's own feature")


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return reversal_corpus(tmp_path_factory.mktemp("toy"), 2000, 60)


def toy_config(root: Path, run_dir: str, **train_settings) -> dict:
    return reversal_config(
        root,
        run_dir,
        data={"batch_tokens": 400},
        model=tiny_model(32, dropout=0.1),
        # threads 0: torch's default number
        train={"epochs": 3, "lr": 0.01, "threads": 0, "device": DEVICE, "seed": 1} | train_settings,
        search={"beam_size": 3},
    )


# ---------------------------------------------------------------- training


@pytest.mark.parametrize(
    "precision, compile",
    [("fp32", False), ("bf16", False), ("fp16", False), pytest.param("bf16", True, marks=gpu_only)],
)
def test_training_learns_in_every_precision(toy, precision, compile, restore_globals):
    """fp16 trains through the gradient scaler; compile replays the decoder's step as CUDA graphs."""
    name = f"{precision}{'-compiled' if compile else ''}"
    settings = {"precision": precision, "compile": compile, "epochs": 6, "label_smoothing": 0.0}
    progress = train(config_from_dict(toy_config(toy, name, **settings)))
    losses = [row["train_loss"] for row in progress.history]
    assert all(loss == loss and loss < 1e3 for loss in losses), losses  # finite
    assert losses[-1] < 0.6 * losses[0], losses
    assert progress.best_score > 20, progress.history


def run_cli(toy: Path, *args: str) -> None:
    env = os.environ | {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}  # deterministic cuBLAS workspaces
    command = [sys.executable, "-m", "seq2seq", "train", str(toy / "resume.yaml"), *args]
    done = subprocess.run(command, cwd=toy, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_a_resumed_run_ends_bit_identical_to_a_straight_one(toy):
    (toy / "resume.yaml").write_text(yaml.safe_dump(toy_config(toy, "straight")), encoding="utf-8")
    run_cli(toy)
    run_cli(toy, "--set", "run_dir=" + str(toy / "resumed"), "--set", "train.epochs=1")
    run_cli(toy, "--set", "run_dir=" + str(toy / "resumed"), "--resume")
    ours = ModelFile.read(toy / "resumed" / "last.pt").weights
    theirs = ModelFile.read(toy / "straight" / "last.pt").weights
    different = [k for k in theirs if not torch.equal(ours[k], theirs[k])]
    assert not different, f"differ from the straight run: {different}"


@gpu_only
def test_a_run_saved_on_the_cpu_continues_on_the_gpu(toy, restore_globals):
    first = toy_config(toy, "moved", epochs=1, device="cpu")
    train(config_from_dict(first))
    progress = train(
        config_from_dict(first | {"train": first["train"] | {"epochs": 2, "device": "cuda"}}), resume=True
    )
    assert progress.epoch == 2 and progress.history[-1]["train_loss"] < progress.history[0]["train_loss"]


# ---------------------------------------------------------------- decoding


@pytest.fixture(scope="module")
def trained(toy) -> Path:
    cfg = toy_config(toy, "trained", epochs=6)
    cfg["model"]["encoder"]["dropout"] = cfg["model"]["decoder"]["dropout"] = 0.0
    with kept_globals():
        train(config_from_dict(cfg))
    return toy / "trained" / "best.pt"


@gpu_only
@pytest.mark.parametrize("beam", [1, 3])
def test_cpu_and_gpu_decoding_give_the_same_translations(toy, trained, beam, restore_globals):
    lines = read_lines(toy / "valid.src")
    on = {
        device: [t.text for t in Translator.load(trained, device, "fp32", beam_size=beam).translate(lines)]
        for device in ("cpu", "cuda")
    }
    assert on["cuda"] == on["cpu"]


@gpu_only
def test_decoding_a_bf16_model_on_the_gpu_warns_nothing(toy, trained, restore_globals):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        translator = Translator.load(trained, "cuda", "bf16", beam_size=3)
        for _ in range(2):
            translator.translate(read_lines(toy / "valid.src"))
    assert not caught, [str(w.message) for w in caught]


# ---------------------------------------------------------------- the compiled and captured step


def logits_and_gradients(model: torch.nn.Module, batch) -> list[torch.Tensor]:
    src, lengths, tgt = batch
    model.zero_grad()
    with torch.autocast(DEVICE, dtype=torch.bfloat16):
        logits = model(src, lengths, tgt)
    (logits.float() * torch.linspace(-1, 1, logits.numel(), device=DEVICE).view_as(logits)).sum().backward()
    return [logits.float()] + [p.grad.float() for p in model.parameters()]


@pytest.mark.parametrize("wiring", ["bahdanau", "luong"])
def test_the_compiled_and_captured_step_equals_the_eager_one(wiring):
    torch.manual_seed(0)
    cfg = ModelConfig(
        encoder=EncoderConfig(emb_size=16, hidden_size=16),
        decoder=DecoderConfig(emb_size=16, hidden_size=32, attention_size=24, attention=wiring),
    )
    model = build_model(cfg, 40, 50).to(DEVICE).eval()  # no dropout: one function both ways
    lengths = torch.tensor([9, 4, 7, 2])
    src = torch.randint(4, 40, (4, 9)).masked_fill(torch.arange(9) >= lengths[:, None], 0).to(DEVICE)
    batch = (src, lengths, torch.randint(4, 50, (4, 6)).to(DEVICE))
    eager = logits_and_gradients(model, batch)
    model.decoder.compile_steps(cuda_graphs=ON_GPU)
    for _ in range(3):  # warm-up, recording, replay
        captured = logits_and_gradients(model, batch)
        for a, b in zip(captured, eager):
            torch.testing.assert_close(a, b, rtol=2e-2, atol=2e-2)

    model.decoder.compile_steps()  # decoding: shapes change as sentences end, so no CUDA graphs
    prev = torch.full((4,), 2, device=DEVICE)
    with torch.inference_mode():
        memory, state = model.encode(src, lengths)
        compiled = model.decode_step(prev, memory, state)[0]
        model.decoder.compile_steps(compiled=False)
        torch.testing.assert_close(compiled, model.decode_step(prev, memory, state)[0], rtol=1e-4, atol=1e-4)
