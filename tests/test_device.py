"""Device choice: `auto` is the GPU when PyTorch sees one, else the CPU; asking for a GPU that is not
there is a user error naming the setting."""

from __future__ import annotations

import pytest
import torch

from seq2seq.device import describe, pick_device
from seq2seq.errors import UserError


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
