"""Data-parallel training under torchrun (gloo on CPU, 2 processes).

Two processes that each take one batch per update compute the same update as one process that
accumulates the same two batches (`train.accumulate: 2`): the same data order and the same loss
normalization, so the weights agree to float tolerance and the validation table is the same. The
toy epoch has an odd number of batches (23): both leave the last one out, since an epoch is made
of whole updates. Only
the first process writes; a run resumes with the same number of processes, and only with it.
"""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from helpers import reversal_config, reversal_corpus, tiny_model
from readme_messages import MESSAGES

from seq2seq.models.model_file import ModelFile

TIMING = {"train_seconds", "elapsed_seconds"}


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    root = reversal_corpus(tmp_path_factory.mktemp("ddp"), 205, 20)  # 23 batches an epoch
    config = reversal_config(
        Path(),  # paths relative to the directory the runs start in
        data={"batch_tokens": 100},
        model=tiny_model(dropout=0.0),
        train={"epochs": 3, "lr": 0.02},
    )
    (root / "toy.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return root


def run(toy: Path, processes: int, *settings: str, resume: bool = False) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "seq2seq"]
    if processes > 1:
        launcher = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={processes}",
            "-m",
            "seq2seq",
        ]
    command = launcher + ["train", "toy.yaml", *(a for s in settings for a in ("--set", s))]
    command += ["--resume"] if resume else []
    return subprocess.run(command, cwd=toy, capture_output=True, text=True, timeout=300)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return ModelFile.read(path).weights


def table(run_dir: Path) -> list[dict]:
    with open(run_dir / "validations.tsv", encoding="utf-8") as f:
        return [
            {k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f, delimiter="\t")
        ]


def assert_close_runs(a: Path, b: Path) -> None:
    wa, wb = weights(a / "last.pt"), weights(b / "last.pt")
    assert wa.keys() == wb.keys()
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], rtol=1e-5, atol=1e-6, msg=name)
    assert table(a) == table(b)


def test_two_processes_equal_one_process_with_twice_the_batch(toy):
    single = run(toy, 1, "run_dir=single", "train.accumulate=2")
    assert single.returncode == 0, single.stderr
    ddp = run(toy, 2, "run_dir=ddp")
    assert ddp.returncode == 0, ddp.stderr
    assert_close_runs(toy / "single", toy / "ddp")
    rows = table(toy / "ddp")
    assert [int(r["step"]) for r in rows] == [11, 22, 33]  # 23 batches an epoch, 2 per update
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])  # it trained
    # only the first process writes: one log, one table, no files of a second process
    written = ["best.pt", "last.pt", "config.yaml", "train.log", "validations.tsv"]
    if importlib.util.find_spec("matplotlib") is not None:
        written.append("curves.png")  # the plot extra draws the curves after each validation
    assert sorted(p.name for p in (toy / "ddp").iterdir()) == sorted(written)
    assert ddp.stderr.count("done: best validation BLEU") == 1


def test_a_distributed_run_resumes_with_the_same_number_of_processes_only(toy):
    dropout = ["model.encoder.dropout=0.2", "model.decoder.dropout=0.2"]  # per-process generators matter
    straight = run(toy, 2, "run_dir=straight", *dropout)
    assert straight.returncode == 0, straight.stderr
    first = run(toy, 2, "run_dir=resumed", "train.epochs=1", *dropout)
    assert first.returncode == 0, first.stderr
    refused = run(toy, 1, "run_dir=resumed", *dropout, resume=True)
    assert refused.returncode == 2
    assert MESSAGES["resume-processes"] + "\n" in refused.stderr and "Traceback" not in refused.stderr
    resumed = run(toy, 2, "run_dir=resumed", *dropout, resume=True)
    assert resumed.returncode == 0, resumed.stderr
    assert_close_runs(toy / "straight", toy / "resumed")


def test_ctrl_c_stops_every_process_and_the_run_resumes(toy):
    """Ctrl-C at a terminal signals torchrun and every worker; all of them stop after the same
    update, the first one saves last.pt, and resuming ends where a straight run does."""
    import os
    import signal
    import time

    settings = ["run_dir=interrupted", "train.log_every=1", "train.epochs=2"]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "seq2seq",
        "train",
        "toy.yaml",
        *(a for s in settings for a in ("--set", s)),
    ]
    process = subprocess.Popen(
        command, cwd=toy, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    log = toy / "interrupted" / "train.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and " update 5: loss" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the whole group
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    assert (toy / "interrupted" / "last.pt").exists(), stderr
    saved = ModelFile.read(toy / "interrupted" / "last.pt").train_state["progress"]
    assert 5 <= saved["step"] < 22, stderr  # stopped mid-run, at an update after the signal
    assert "interrupted: saved" in log.read_text()
    resumed = run(toy, 2, "run_dir=interrupted", "train.epochs=2", resume=True)
    assert resumed.returncode == 0, resumed.stderr
    straight = run(toy, 2, "run_dir=straight2", "train.epochs=2")
    assert straight.returncode == 0, straight.stderr
    assert_close_runs(toy / "straight2", toy / "interrupted")
