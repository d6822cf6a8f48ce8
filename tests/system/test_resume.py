"""The exact-resume guarantee: a run that is killed (SIGKILL), interrupted (Ctrl-C), or stopped by a
bad loss or a full disk, and then resumed, ends with the weights and the validation table of a run
that went straight through; a resume that would change the run is refused; last.pt is never half
written.

The toy run: 200 reversal pairs, a model of sizes 8-16 with dropout 0.2 (so the random generators
matter), 22 updates per epoch, 3 epochs, last.pt every 3 updates. One process of it takes about
3 s, most of it importing torch.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from helpers import ROOT, reversal_config, reversal_corpus, tiny_model
from readme_messages import MESSAGES, message, pattern

import seq2seq.models.model_file
import seq2seq.training.state
import seq2seq.training.translation_task
import seq2seq.training.validation
from seq2seq.cli.train import train
from seq2seq.config.load import config_from_dict
from seq2seq.errors import UserError
from seq2seq.models.model_file import ModelFile
from seq2seq.training.validation import Validation

EPOCHS = 3
UPDATES_PER_EPOCH = 22  # 200 pairs in batches of <= 100 padded tokens
TOTAL_UPDATES = EPOCHS * UPDATES_PER_EPOCH
CHECKPOINT_EVERY = 3
TIMING_COLUMNS = {"train_seconds", "elapsed_seconds"}


def toy_config(root: Path, run_dir: str = "run", **train_settings) -> dict:
    return reversal_config(
        root,
        run_dir,
        data={"batch_tokens": 100},
        model=tiny_model(dropout=0.2),
        train={
            "epochs": EPOCHS,
            "lr": 0.01,
            "checkpoint_every": CHECKPOINT_EVERY,
            "log_every": 1,  # train.log shows every update: the subprocess tests watch it
        }
        | train_settings,
    )


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    """A directory with the toy corpus and toy.yaml; runs go in subdirectories, one shared cache."""
    root = reversal_corpus(tmp_path_factory.mktemp("toy"), 200, 10)
    (root / "toy.yaml").write_text(yaml.safe_dump(toy_config(root)), encoding="utf-8")
    return root


# ---------------------------------------------------------------- runs in a subprocess


def start(toy: Path, run_dir: str, *args: str) -> subprocess.Popen:
    """`python -m seq2seq train toy.yaml --set run_dir=... ARGS`; stderr goes to run_dir.stderr."""
    command = [sys.executable, "-m", "seq2seq", "train", str(toy / "toy.yaml")]
    command += ["--set", f"run_dir={toy / run_dir}", *args]
    with open(toy / f"{run_dir}.stderr", "ab") as stderr:  # the child keeps its own descriptor
        return subprocess.Popen(command, cwd=toy, stdout=subprocess.DEVNULL, stderr=stderr)


def wait_for_update(process: subprocess.Popen, log: Path, log_start: int, update: int) -> int:
    """Wait until this process has logged update >= `update` (or ended); return the highest."""
    deadline, seen = time.monotonic() + 120, 0
    while time.monotonic() < deadline and process.poll() is None:
        text = log.read_text(encoding="utf-8")[log_start:] if log.exists() else ""
        seen = max((int(n) for n in re.findall(r" update (\d+): loss", text)), default=0)
        if seen >= update:
            return seen
        time.sleep(0.005)
    pytest.fail(f"the run ended or hung before update {update} (saw {seen}); see {log}")


def log_size(run: Path) -> int:
    log = run / "train.log"
    return len(log.read_text(encoding="utf-8")) if log.exists() else 0


def train_state(path: Path) -> dict:
    return ModelFile.read(path).train_state


def validations(run: Path) -> list[dict]:
    with open(run / "validations.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in rows]


def assert_same_run(run: Path, reference: Path, updates: int = TOTAL_UPDATES) -> None:
    """Bit-identical weights (last.pt and best.pt) and optimizer state, the same validation table
    except for timings."""
    for name in ("last.pt", "best.pt"):
        ours = torch.load(run / name, weights_only=True)["model"]
        theirs = torch.load(reference / name, weights_only=True)["model"]
        assert ours.keys() == theirs.keys()
        different = [k for k in ours if not torch.equal(ours[k], theirs[k])]
        assert not different, f"{name}: tensors differ from the straight run: {different}"
    ours, theirs = train_state(run / "last.pt"), train_state(reference / "last.pt")
    for param, state in theirs["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(ours["optimizer"]["state"][param][key], value), (param, key)
    assert ours["progress"]["step"] == theirs["progress"]["step"] == updates
    rows = validations(run)
    assert len(rows) == EPOCHS
    assert rows == validations(reference)


@pytest.fixture(scope="module")
def straight(toy) -> Path:
    """The reference: the toy run trained straight through."""
    process = start(toy, "straight")
    assert process.wait(timeout=300) == 0, (toy / "straight.stderr").read_text(errors="replace")
    return toy / "straight"


def test_a_run_killed_twice_and_resumed_ends_bit_identical_to_a_straight_run(toy, straight):
    rng = random.Random(1234)
    run = toy / "killed"
    kills, step = [], 0
    for latest in (TOTAL_UPDATES // 2, TOTAL_UPDATES - 10):
        # kill once at least one more checkpoint than the one resumed from is written, and before
        # the end; a random extra delay lands the kill anywhere in an update, a save or a validation
        target = rng.randint(step + CHECKPOINT_EVERY + 1, latest)
        process = start(toy, "killed", *(["--resume"] if kills else []))
        wait_for_update(process, run / "train.log", log_size(run), target)
        time.sleep(rng.uniform(0.0, 0.05))
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL, "the kill did not land mid-run"
        resumed_from, step = step, train_state(run / "last.pt")["progress"]["step"]
        assert resumed_from < step < TOTAL_UPDATES, f"killed at update >= {target}, last.pt at {step}"
        assert "done:" not in (run / "train.log").read_text(encoding="utf-8")
        kills.append(step)

    process = start(toy, "killed", "--resume")
    assert process.wait(timeout=300) == 0, (toy / "killed.stderr").read_text(errors="replace")
    log = (run / "train.log").read_text(encoding="utf-8")
    assert [int(n) for n in re.findall(r"resuming .* update (\d+)\n", log)] == kills
    assert_same_run(run, straight)


def test_ctrl_c_saves_the_interrupt_point_and_resuming_ends_like_a_straight_run(toy, straight):
    run = toy / "interrupted"
    no_periodic_saves = "train.checkpoint_every=0"  # last.pt can only come from the interrupt
    target = random.Random(5).randint(5, UPDATES_PER_EPOCH - 8)
    process = start(toy, "interrupted", "--set", no_periodic_saves)
    wait_for_update(process, run / "train.log", 0, target)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    stderr = (toy / "interrupted.stderr").read_text(encoding="utf-8", errors="replace")
    saved = re.findall(rf"interrupted: saved {re.escape(str(run / 'last.pt'))} at update (\d+);", stderr)
    assert len(saved) == 1 and pattern("interrupted", run).search(stderr), stderr[-2000:]
    step = int(saved[0])

    progress = train_state(run / "last.pt")["progress"]
    last_logged = max(int(n) for n in re.findall(r" update (\d+): loss", (run / "train.log").read_text()))
    assert progress["step"] == step == last_logged  # the update in progress was finished, then saved
    assert target <= step < UPDATES_PER_EPOCH  # mid-epoch: not an epoch-end save
    assert (progress["epoch"], progress["position"]) == (0, step)

    process = start(toy, "interrupted", "--resume", "--set", no_periodic_saves)
    assert process.wait(timeout=300) == 0, stderr
    assert_same_run(run, straight)


SAMPLED = ("--set", "tokenizer.sampling_alpha=0.5", "--set", "tokenizer.sampling_nbest=8")


@pytest.fixture(scope="module")
def straight_sampled(toy) -> Path:
    """The toy run with subword regularization drawn among the 8 best segmentations, straight."""
    process = start(toy, "straight_sampled", *SAMPLED)
    assert process.wait(timeout=300) == 0, (toy / "straight_sampled.stderr").read_text(errors="replace")
    return toy / "straight_sampled"


def test_with_subword_sampling_a_run_interrupted_and_resumed_without_its_kept_segmentation_ends_bit_identical(
    toy, straight, straight_sampled
):
    """Sampling among the n best is drawn from the run's seed and the epoch (data/sampling.py),
    not from SentencePiece's per-process generator: another process draws the same segmentation,
    so even a resume on another machine (the epoch's kept copy gone) ends like the straight run,
    and two processes of one config train the same model."""
    run = toy / "sampled"
    no_periodic_saves = ("--set", "train.checkpoint_every=0")
    target = random.Random(7).randint(5, UPDATES_PER_EPOCH - 8)
    process = start(toy, "sampled", *SAMPLED, *no_periodic_saves)
    wait_for_update(process, run / "train.log", 0, target)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    assert 0 < train_state(run / "last.pt")["progress"]["step"] < UPDATES_PER_EPOCH
    kept = list((toy / "cache").glob("corpus-*-sampled-*"))
    assert kept  # the epoch's segmentation, kept for the resume: delete it, as another machine
    for entry in kept:
        shutil.rmtree(entry)

    process = start(toy, "sampled", "--resume", *SAMPLED, *no_periodic_saves)
    assert process.wait(timeout=300) == 0, (toy / "sampled.stderr").read_text(errors="replace")
    assert "is no longer in" not in (run / "train.log").read_text(encoding="utf-8")
    # sampled pieces are shorter, so more batches: 71 updates in place of 66
    assert_same_run(run, straight_sampled, train_state(straight_sampled / "last.pt")["progress"]["step"])
    plain = torch.load(straight / "last.pt", weights_only=True)["model"]
    sampled = torch.load(run / "last.pt", weights_only=True)["model"]
    assert any(not torch.equal(plain[k], sampled[k]) for k in plain)  # the sampling took part


def test_a_second_ctrl_c_stops_at_once_and_claims_no_save(toy, tmp_path, monkeypatch, restore_globals):
    """The second Ctrl-C interrupts the update in progress: nothing is saved, and the message must
    not say that last.pt holds this update (resuming would silently go back further)."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is not Python's default handler here")
    calls, loss = [], seq2seq.training.translation_task.sequence_loss

    def ctrl_c_twice_in_update_5(*args):
        calls.append(1)
        if len(calls) == 5:
            for _ in range(2):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.01)  # the handler runs here; after the second one, raises here
        return loss(*args)

    monkeypatch.setattr(seq2seq.training.translation_task, "sequence_loss", ctrl_c_twice_in_update_5)
    run = tmp_path / "run"
    cfg = config_from_dict(toy_config(toy, checkpoint_every=3) | {"run_dir": str(run)})

    with pytest.raises(KeyboardInterrupt):
        train(cfg)

    assert len(calls) == 5
    assert train_state(run / "last.pt")["progress"]["step"] == 3
    log = (run / "train.log").read_text(encoding="utf-8")
    assert "interrupted: saved" not in log
    assert message("interrupted-at-once", run) in log


# ---------------------------------------------------------------- runs in this process


@pytest.fixture
def finished(toy, tmp_path, restore_globals) -> dict:
    """A finished one-epoch run (in this process) in tmp_path/run; returns its raw config."""
    raw = toy_config(toy, epochs=1) | {"run_dir": str(tmp_path / "run")}
    train(config_from_dict(raw))
    return raw


def snapshot(directory: Path) -> dict[str, bytes]:
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    return {str(p.relative_to(directory)): p.read_bytes() for p in files}


@pytest.mark.parametrize(
    "section, key, value",
    [
        ("model.decoder", "hidden_size", 8),
        ("tokenizer", "vocab_size", 18),
    ],
)
def test_resuming_with_a_config_that_changes_the_run_is_refused_and_touches_nothing(
    finished, tmp_path, section, key, value
):
    raw, node = finished, finished
    for part in section.split("."):
        node = node[part]
    old = node[key]
    node[key] = value
    before = snapshot(tmp_path / "run")

    with pytest.raises(UserError) as error:
        train(config_from_dict(raw), resume=True)

    message = str(error.value)
    assert f"{section}.{key} ({old!r} -> {value!r})" in message
    assert "cannot resume" in message and "start a new run_dir" in message
    assert snapshot(tmp_path / "run") == before


def test_a_moved_run_resumes_with_its_data_elsewhere(finished, tmp_path, monkeypatch):
    """The run directory is where the run is, and the data files are their content: move the run,
    copy the data under other names, resume from another working directory, by relative paths."""
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "data").mkdir(parents=True)
    shutil.move(tmp_path / "run", elsewhere / "moved")
    data = {}
    for key, path in finished["data"].items():
        if key.endswith(("_src", "_tgt")):
            shutil.copy(path, elsewhere / "data" / f"copy.{key}")
            data[key] = f"data/copy.{key}"
    monkeypatch.chdir(elsewhere)
    moved = finished | {
        "run_dir": "moved",
        "data": finished["data"] | data,
        "train": finished["train"] | {"epochs": 2},
    }
    progress = train(config_from_dict(moved), resume=True)
    assert (progress.epoch, progress.step) == (2, 2 * UPDATES_PER_EPOCH)


def test_resuming_on_changed_data_is_refused_unless_accepted(toy, tmp_path, restore_globals):
    for name in ("train.src", "train.tgt", "valid.src", "valid.tgt"):  # a copy this test may change
        shutil.copy(toy / name, tmp_path / name)
    finished = toy_config(tmp_path, epochs=1) | {"cache_dir": str(toy / "cache")}
    train(config_from_dict(finished))
    src = Path(finished["data"]["train_src"])
    lines = src.read_text(encoding="utf-8").splitlines()
    src.write_text(
        "\n".join([lines[1], lines[0], *lines[2:]]) + "\n", encoding="utf-8"
    )  # same lines, reordered
    more = finished | {"train": finished["train"] | {"epochs": 2}}
    before = snapshot(tmp_path / "run")

    with pytest.raises(UserError) as error:
        train(config_from_dict(more), resume=True)

    assert str(error.value) == (
        f"cannot resume {tmp_path / 'run'}: data.train_src ({src}) is not the content the run trained on "
        "(its SHA-256 differs); restore that file, start a new run_dir, or resume with "
        "--accept-changed-data to go on with the new content"
    )
    assert snapshot(tmp_path / "run") == before
    progress = train(config_from_dict(more), resume=True, accept_changed_data=True)
    assert progress.epoch == 2
    # the new content is what the run trained on now: a plain resume accepts it
    progress = train(config_from_dict(more | {"train": more["train"] | {"epochs": 3}}), resume=True)
    assert progress.epoch == 3


def test_readme_lists_the_keys_that_may_change_on_resume():
    from seq2seq.training.run_dir import SAFE_TO_CHANGE

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("only settings that do not change what was computed so far may differ")
    listed = re.findall(r"`([a-z_.]+\.?\*?)`", readme[start : readme.index("\n- ", start)])
    assert sorted(k.rstrip("*") for k in listed) == sorted(SAFE_TO_CHANGE)


def test_resuming_with_more_epochs_continues_the_run(finished, tmp_path):
    first = validations(tmp_path / "run")
    more = finished | {"train": finished["train"] | {"epochs": 2}}

    progress = train(config_from_dict(more), resume=True)

    assert (progress.epoch, progress.step) == (2, 2 * UPDATES_PER_EPOCH)
    rows = validations(tmp_path / "run")
    assert [r["epoch"] for r in rows] == ["1", "2"] and rows[0] == first[0]
    log = (tmp_path / "run" / "train.log").read_text(encoding="utf-8")
    assert f"resuming {tmp_path / 'run'} at epoch 2, batch 0, update {UPDATES_PER_EPOCH}" in log
    assert pattern("resume-log", tmp_path / "run").search(log)


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto is the CPU only where there is no GPU")
def test_a_run_saved_with_device_cpu_resumes_with_the_default_auto_bit_identically(
    toy, straight, tmp_path, restore_globals
):
    """Configs resolved `train.device: cpu` before `auto` became the default: such a run resumes
    with a config that leaves the device to its default, and ends like the straight run."""
    raw = toy_config(toy, epochs=1, device="cpu") | {"run_dir": str(tmp_path / "run")}
    train(config_from_dict(raw))
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["train"]["device"] == "cpu"
    del raw["train"]["device"]

    train(config_from_dict(raw | {"train": raw["train"] | {"epochs": EPOCHS}}), resume=True)

    assert_same_run(tmp_path / "run", straight)


@pytest.fixture
def saved_copies(monkeypatch) -> list[bytes]:
    """The bytes of last.pt right after each save of it by the trainer."""
    copies, save = [], seq2seq.training.state.save_model

    def save_and_copy(path, *args):
        save(path, *args)
        if Path(path).name == "last.pt":
            copies.append(Path(path).read_bytes())

    monkeypatch.setattr(seq2seq.training.state, "save_model", save_and_copy)
    return copies


@pytest.mark.parametrize("bad", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_a_non_finite_loss_stops_the_run_and_leaves_last_pt_as_it_was(
    toy, tmp_path, monkeypatch, restore_globals, saved_copies, bad
):
    calls, loss = [], seq2seq.training.translation_task.sequence_loss

    def going_bad_at_update_8(*args):
        calls.append(1)
        summed, count = loss(*args)
        return (summed * bad if len(calls) >= 8 else summed), count

    monkeypatch.setattr(seq2seq.training.translation_task, "sequence_loss", going_bad_at_update_8)
    cfg = config_from_dict(toy_config(toy) | {"run_dir": str(tmp_path / "run")})

    with pytest.raises(UserError) as error:
        train(cfg)

    assert f"seq2seq: error: {error.value}" == MESSAGES["nan"].replace("became nan", f"became {bad}")
    last = tmp_path / "run" / "last.pt"
    assert len(saved_copies) == 2 and last.read_bytes() == saved_copies[-1]
    assert train_state(last)["progress"]["step"] == 6


@pytest.mark.parametrize("failure, name", [(errno.ENOSPC, "disk-full"), (errno.EIO, "cannot-save")])
def test_a_failed_save_keeps_the_previous_last_pt_and_no_temporary_file(
    toy, tmp_path, monkeypatch, restore_globals, failure, name
):
    """A full disk, or another write error, in the middle of saving last.pt."""
    save, saves = torch.save, []

    def failing_on_the_third_save(obj, f, *args, **kwargs):
        saves.append(1)
        if len(saves) == 3:  # last.pt at update 9
            f.write(b"PK\x03\x04 half a checkpoint")
            raise OSError(failure, os.strerror(failure))
        save(obj, f, *args, **kwargs)

    monkeypatch.setattr(seq2seq.models.model_file.torch, "save", failing_on_the_third_save)
    raw = toy_config(toy, epochs=1) | {"run_dir": str(tmp_path / "run")}
    run = tmp_path / "run"

    with pytest.raises(UserError) as error:
        train(config_from_dict(raw))

    assert f"seq2seq: error: {error.value}" == message(name, run)
    assert train_state(run / "last.pt")["progress"]["step"] == 6
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "last.pt", "train.log"]

    monkeypatch.setattr(seq2seq.models.model_file.torch, "save", save)  # space freed: the advice works
    progress = train(config_from_dict(raw), resume=True)
    assert progress.step == UPDATES_PER_EPOCH


def test_fp16_gradients_that_keep_overflowing_stop_the_run_with_advice(
    toy, tmp_path, monkeypatch, restore_globals, saved_copies
):
    """A loss so large that its fp16 gradients overflow at every scale: the gradient scaler skips
    the updates and shrinks; the run stops with a message instead of silently learning nothing."""
    calls, loss = [], seq2seq.training.translation_task.sequence_loss

    def huge_from_update_8(*args):
        calls.append(1)
        summed, count = loss(*args)
        return (summed * 1e30 if len(calls) >= 8 else summed), count

    monkeypatch.setattr(seq2seq.training.translation_task, "sequence_loss", huge_from_update_8)
    cfg = config_from_dict(toy_config(toy, precision="fp16", epochs=20) | {"run_dir": str(tmp_path / "run")})

    with pytest.raises(UserError) as error:
        train(cfg)

    message = str(error.value)
    assert "fp16 gradients kept overflowing" in message and "bf16" in message
    last = tmp_path / "run" / "last.pt"
    assert last.read_bytes() == saved_copies[-1]


def test_an_fp16_overflow_in_the_forward_pass_names_the_fp16_range(
    toy, tmp_path, monkeypatch, restore_globals
):
    calls, loss = [], seq2seq.training.translation_task.sequence_loss

    def infinite_from_update_3(*args):
        calls.append(1)
        summed, count = loss(*args)
        return (summed * float("inf") if len(calls) >= 3 else summed), count

    monkeypatch.setattr(seq2seq.training.translation_task, "sequence_loss", infinite_from_update_3)
    cfg = config_from_dict(toy_config(toy, precision="fp16") | {"run_dir": str(tmp_path / "run")})
    with pytest.raises(UserError, match="fp16 holds values up to 65504"):
        train(cfg)


def open_files() -> set[str]:
    """The paths this process holds open."""
    found = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            found.add(os.readlink(fd))
        except OSError:
            pass
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_a_finished_run_leaves_no_corpus_file_open(finished, tmp_path):
    cache = Path(finished["cache_dir"]).resolve()
    assert list(cache.glob("corpus-*/src.bin")), "the run read an encoded corpus"
    assert not {f for f in open_files() if f.startswith(str(cache))}


def test_resuming_uses_the_tokenizer_in_last_pt_not_the_cache(finished, tmp_path):
    """The cache may hold another tokenizer by then (another SentencePiece version, another
    cache_dir): the resumed run must read its data with the ids its model learned."""
    for vocab in Path(finished["cache_dir"]).glob("tokenizer-*/vocab.json"):
        ids = json.loads(vocab.read_text())
        vocab.write_text(json.dumps({side: pieces[:-1] for side, pieces in ids.items()}))
    saved = ModelFile.read(tmp_path / "run" / "last.pt").tokenizer
    more = finished | {"train": finished["train"] | {"epochs": 2}}

    progress = train(config_from_dict(more), resume=True)

    assert progress.epoch == 2
    tokenizer = ModelFile.read(tmp_path / "run" / "last.pt").tokenizer
    assert all(torch.equal(tokenizer[k], saved[k]) for k in saved)
    assert "tokenizer: the model's own" in (tmp_path / "run" / "train.log").read_text(encoding="utf-8")


@pytest.mark.parametrize("threads", [2, 0], ids=["another", "the-default"])
def test_resuming_with_another_thread_count_is_refused(finished, tmp_path, threads):
    """The run trained with train.threads: 1; 0 is torch's default, more than 1 on this machine."""
    if threads == 0 and torch.get_num_threads() == 1:
        pytest.skip("torch's default is 1 thread here")
    now = threads or torch.get_num_threads()
    changed = finished | {"train": finished["train"] | {"threads": threads}}
    before = snapshot(tmp_path / "run")

    with pytest.raises(UserError) as error:
        train(config_from_dict(changed), resume=True)

    want = message("resume-threads", tmp_path / "run").replace("with 2 CPU", f"with {now} CPU")
    assert f"seq2seq: error: {error.value}" == want
    assert snapshot(tmp_path / "run") == before


def scripted_validations(monkeypatch, scores: list[float]) -> None:
    """Validation returns these scores in turn (no decoding): early stopping under control."""
    calls = []

    def validate(self, model, *search):
        calls.append(1)
        score = scores[len(calls) - 1]
        metrics = {"valid_loss": 1.0, "valid_ppl": 2.718, "bleu": score, "chrf": score}
        return Validation(metrics, score=score, summary="scripted", details=[])

    monkeypatch.setattr(seq2seq.training.validation.Validator, "validate", validate)


def test_raising_the_epochs_of_an_early_stopped_run_continues_it(toy, tmp_path, monkeypatch, restore_globals):
    """Patience 1: epoch 2 brings no gain and stops the run. Resumed with more epochs, its count of
    validations without gain starts again: epoch 3 gains, epoch 4 does not, and it stops there."""
    scripted_validations(monkeypatch, [10.0, 5.0, 12.0, 11.0, 13.0, 14.0])
    raw = toy_config(toy, epochs=5, early_stopping_patience=1, checkpoint_every=0)
    raw["run_dir"] = str(tmp_path / "run")
    assert train(config_from_dict(raw)).epoch == 2

    raw["train"]["epochs"] = 8
    progress = train(config_from_dict(raw), resume=True)

    assert progress.epoch == 4 and progress.best_score == 12.0
    assert [float(r["bleu"]) for r in validations(tmp_path / "run")] == [10.0, 5.0, 12.0, 11.0]
    log = (tmp_path / "run" / "train.log").read_text(encoding="utf-8")
    assert "train.epochs raised from 5 to 8: continuing" in log


def test_a_time_budget_ends_the_run_as_its_last_epoch_would_and_raising_it_continues(
    toy, tmp_path, monkeypatch, restore_globals
):
    """Each epoch takes an hour (a scripted clock) and train.max_hours is 2: the run stops after
    epoch 2, and its end still averages the kept epochs and chooses best.pt; resumed with a larger
    budget it goes on to its epochs."""
    scripted_validations(monkeypatch, [10.0, 11.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0])
    hour_an_epoch = lambda state: 3600.0 * state.progress.epoch  # noqa: E731
    monkeypatch.setattr(seq2seq.training.state.TrainState, "elapsed", hour_an_epoch)
    raw = toy_config(toy, epochs=4, checkpoint_every=0, keep_last=2, average_kept=True, max_hours=2)
    raw["run_dir"] = str(tmp_path / "run")
    assert train(config_from_dict(raw)).epoch == 2
    log = (tmp_path / "run" / "train.log").read_text(encoding="utf-8")
    assert "time budget: the run has taken 2.00 h of train.max_hours 2 after 2 epochs" in log
    assert "average of epochs 1-2" in log and (tmp_path / "run" / "averaged.pt").exists()

    raw["train"]["max_hours"] = 3
    assert train(config_from_dict(raw), resume=True).epoch == 3
    log = (tmp_path / "run" / "train.log").read_text(encoding="utf-8")
    assert "train.max_hours 3 after 3 epochs" in log


def test_a_cooldown_added_on_resume_before_it_begins_gives_the_run_that_had_it_from_the_start(
    toy, tmp_path, restore_globals
):
    """Trained 2 epochs, then resumed with 3 epochs of which the last is a cooldown: bit-identical to
    a run that had train.cooldown_epochs from its start (the released model's run was made so)."""
    settings = dict(checkpoint_every=0, schedule="warmup_decay", warmup_steps=5)
    straight = toy_config(toy, epochs=3, cooldown_epochs=1, **settings)
    straight["run_dir"] = str(tmp_path / "straight")
    train(config_from_dict(straight))

    later = toy_config(toy, epochs=2, **settings)
    later["run_dir"] = str(tmp_path / "later")
    train(config_from_dict(later))
    later["train"] |= {"epochs": 3, "cooldown_epochs": 1}
    train(config_from_dict(later), resume=True)
    assert_same_run(tmp_path / "later", tmp_path / "straight")


def test_validating_every_second_epoch_trains_the_same_run_and_validates_the_last(
    toy, tmp_path, restore_globals
):
    """train.validate_every 2 over 3 epochs: the weights are those of the same run validating every
    epoch (validation draws nothing from the random generators), validations.tsv holds epochs 2 and
    3 with that run's figures, and train.log still gives every epoch's training figures."""
    runs = {}
    for every in (1, 2):
        raw = toy_config(toy, validate_every=every, checkpoint_every=0)
        raw["run_dir"] = str(tmp_path / f"every{every}")
        train(config_from_dict(raw))
        runs[every] = tmp_path / f"every{every}"

    ours, reference = validations(runs[2]), validations(runs[1])
    assert [r["epoch"] for r in reference] == ["1", "2", "3"]
    assert [r["epoch"] for r in ours] == ["2", "3"] and ours == reference[1:]
    weights = torch.load(runs[2] / "last.pt", weights_only=True)["model"]
    reference_weights = torch.load(runs[1] / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(weights[k], reference_weights[k]) for k in reference_weights)
    log = (runs[2] / "train.log").read_text(encoding="utf-8")
    line = r"epoch 1 \(update 22\): train loss [\d.]+, [\d,]+ target tokens/s over [\d.]+ s of training\n"
    assert re.search(line, log)


def test_raising_the_patience_of_an_early_stopped_run_gives_it_the_difference(
    toy, tmp_path, monkeypatch, restore_globals
):
    scripted_validations(monkeypatch, [10.0, 5.0, 4.0, 3.0, 2.0])
    raw = toy_config(toy, epochs=5, early_stopping_patience=1, checkpoint_every=0)
    raw["run_dir"] = str(tmp_path / "run")
    assert train(config_from_dict(raw)).epoch == 2

    raw["train"]["early_stopping_patience"] = 3
    assert train(config_from_dict(raw), resume=True).epoch == 4  # 3 validations without gain in all
