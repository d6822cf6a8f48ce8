"""Device choice: `auto` is the GPU when PyTorch sees one, else the CPU; asking for a GPU that is not
there is a user error naming the setting. Precision: `auto` is bf16 only where the device multiplies
bf16 matrices natively; a model decodes in its training precision unless that one is slower there;
an explicit slow choice is kept, with a warning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from helpers import tiny_config_dict

from seq2seq.cli.train import task_for
from seq2seq.config.load import config_from_dict
from seq2seq.errors import UserError
from seq2seq.inference.translator import Translator
from seq2seq.models.build import build_model
from seq2seq.models.model_file import save_model
from seq2seq.runtime import device
from seq2seq.runtime.device import describe, pick_device
from seq2seq.training.run_dir import RunDir
from seq2seq.training.train import Trainer


@pytest.mark.parametrize("gpu, expected", [(False, "cpu"), (True, "cuda")])
def test_auto_is_the_gpu_when_there_is_one_else_the_cpu(monkeypatch, gpu, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    assert pick_device("auto", "train.device").type == expected
    assert pick_device("cpu", "train.device").type == "cpu"


def test_cuda_without_a_gpu_names_the_setting_and_the_fix(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError) as error:
        pick_device("cuda", "--device")
    assert str(error.value) == (
        "--device is cuda but PyTorch sees no GPU; set --device to cpu or auto (the default)"
    )


def test_the_cpu_is_described_with_its_threads():
    assert describe(torch.device("cpu")) == f"cpu ({torch.get_num_threads()} threads)"


# ---------------------------------------------------------------- precision


@pytest.fixture
def bf16_cpu(monkeypatch):
    """Set whether the CPU multiplies bf16 matrices natively: fast_bf16's answer, as a switch."""

    def set_fast(fast: bool) -> None:
        monkeypatch.setattr(device, "fast_bf16", lambda where: fast)

    return set_fast


CPU = torch.device("cpu")


@pytest.mark.parametrize("fast, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_precision_is_bf16_only_where_the_device_runs_it_fast(bf16_cpu, fast, expected):
    bf16_cpu(fast)
    assert device.pick_precision("auto", CPU) == expected
    for asked in ("fp32", "bf16", "fp16"):  # an explicit choice stays
        assert device.pick_precision(asked, CPU) == asked


@pytest.mark.parametrize(
    "trained, fast, expected",
    [
        ("bf16", True, "bf16"),
        ("bf16", False, "fp32"),  # ~100x slower in bf16 there
        ("auto", True, "bf16"),
        ("auto", False, "fp32"),
        ("fp32", True, "fp32"),
        ("fp16", True, "fp32"),  # no fp16 matrix units on a CPU
    ],
)
def test_a_model_decodes_in_its_training_precision_unless_slower_there(bf16_cpu, trained, fast, expected):
    bf16_cpu(fast)
    assert device.decoding_precision(trained, CPU) == expected


def test_a_slow_explicit_precision_gets_one_warning_with_the_fix(bf16_cpu):
    bf16_cpu(False)
    assert device.precision_warning("bf16", CPU, "train.precision") == (
        "train.precision is bf16, slower than fp32 here: this CPU has no bf16 matrix instructions "
        "(AVX-512), so bf16 runs about 100x slower; set train.precision to auto or fp32"
    )
    assert "no fp16 matrix units" in device.precision_warning("fp16", CPU, "--precision")
    for fine in ("auto", "fp32"):
        assert device.precision_warning(fine, CPU, "train.precision") is None
    bf16_cpu(True)
    assert device.precision_warning("bf16", CPU, "train.precision") is None


@pytest.fixture(scope="module")
def bf16_model_file(tmp_path_factory, tokenizer) -> Path:
    """An untrained model file whose config says it trained in bf16."""
    root = tmp_path_factory.mktemp("bf16model")
    raw = tiny_config_dict(root)
    raw["train"]["precision"] = "bf16"
    cfg = config_from_dict(raw)
    torch.manual_seed(0)
    save_model(
        root / "model.pt", build_model(cfg.model, len(tokenizer.src), len(tokenizer.tgt)), cfg, tokenizer
    )
    return root / "model.pt"


@pytest.mark.parametrize("fast, expected", [(True, torch.bfloat16), (False, torch.float32)])
def test_translate_loads_a_bf16_model_in_fp32_on_a_cpu_without_bf16(
    bf16_cpu, bf16_model_file, caplog, fast, expected
):
    bf16_cpu(fast)
    translator = Translator.load(bf16_model_file, device="cpu")
    assert {p.dtype for p in translator.model.parameters()} == {expected}
    assert translator.precision == {torch.bfloat16: "bf16", torch.float32: "fp32"}[expected]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    bf16_cpu(False)
    with caplog.at_level(logging.WARNING, logger="seq2seq"):  # asked for: kept, and warned
        assert Translator.load(bf16_model_file, device="cpu", precision="bf16").precision == "bf16"
    assert "--precision is bf16, slower than fp32 here" in caplog.text


@pytest.mark.parametrize("asked, logged", [("auto", "in fp32 (auto)"), ("bf16", "in bf16")])
def test_training_logs_the_precision_it_picked(
    tmp_path, corpus, bf16_cpu, caplog, restore_globals, asked, logged
):
    bf16_cpu(False)
    raw = tiny_config_dict(tmp_path, corpus)
    raw["train"]["precision"] = asked
    with caplog.at_level(logging.INFO, logger="seq2seq"):
        trainer = Trainer(task_for(config_from_dict(raw)), RunDir(tmp_path / "run", None))
    trainer.close()
    assert trainer.precision == logged.split()[1]
    assert f"training on cpu ({torch.get_num_threads()} threads) {logged}" in caplog.text
    warned = "train.precision is bf16, slower than fp32 here" in caplog.text
    assert warned == (asked == "bf16")
