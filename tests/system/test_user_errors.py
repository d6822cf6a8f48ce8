"""Every mistake a user can make at the command line ends the same way: exit code 2, one line on
stderr, `seq2seq: error: <what is wrong and what to do>`, no traceback, and no file that existed
before is changed. `--debug` shows the traceback instead.

And `translate` answers every input line with exactly one output line, whatever the line holds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml
from helpers import ROOT, SRC_WORDS, make_pairs, tiny_config_dict, write_lines
from readme_messages import MESSAGES, readme_messages

from seq2seq.cli.main import main
from seq2seq.config.load import load_config
from seq2seq.models.build import build_model
from seq2seq.models.model_file import ModelFile, save_model


@dataclass
class Workspace:
    """A valid setup in `dir`, the working directory of the case: the tiny corpus, config.yaml that
    trains on it (paths relative to `dir`, run_dir runs/toy, as README's examples), and `model`, a
    real model file (shared by all cases, outside `dir`)."""

    dir: Path
    model: Path

    @property
    def config(self) -> str:
        return "config.yaml"

    def write(self, name: str, content: str | bytes) -> str:
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return name

    def train(self, *overrides: str) -> list[str]:
        return ["train", self.config, *(x for o in overrides for x in ("--set", o))]

    def train_on(self, key: str, name: str, content: str | bytes) -> list[str]:
        """`train` with the data file `key` replaced by a new file `name` holding `content`."""
        return self.train(f"{key}={self.write(name, content)}")

    def model_variant(self, name: str, change: Callable[[dict], object]) -> str:
        """A copy of the real model file, its bundle passed through `change` and saved again."""
        bundle = torch.load(self.model, weights_only=True)
        torch.save(change(bundle) or bundle, self.dir / name)
        return name


@pytest.fixture
def workspace(tmp_path, model_file, monkeypatch) -> Workspace:
    paths = {}
    for split, n, seed in (("train", 30, 0), ("valid", 5, 1)):
        src, tgt = make_pairs(n, seed)
        paths[f"{split}_src"] = write_lines(tmp_path / f"{split}.src", src).name
        paths[f"{split}_tgt"] = write_lines(tmp_path / f"{split}.tgt", tgt).name
    raw = tiny_config_dict(tmp_path, paths) | {"run_dir": "runs/toy", "cache_dir": "cache"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return Workspace(tmp_path, model_file)


def _half_of_the_model(w: Workspace) -> str:
    data = w.model.read_bytes()
    return w.write("half.pt", data[: len(data) // 2])


def _existing_run(w: Workspace) -> list[str]:
    w.write("runs/toy/last.pt", w.model.read_bytes())
    w.write("runs/toy/train.log", "the log of an earlier run\n")
    return w.train()


def _resume_state(w: Workspace, threads: int, **state) -> None:
    """runs/toy/last.pt of a run of config.yaml that trained with `threads` threads (and `state`)."""
    cfg = load_config(w.config)
    torch.manual_seed(0)
    tokenizer = ModelFile.read(w.model).vocab()
    model = build_model(cfg.model, len(tokenizer.src), len(tokenizer.tgt))
    (w.dir / "runs" / "toy").mkdir(parents=True)
    save_model(w.dir / "runs" / "toy" / "last.pt", model, cfg, tokenizer, {"threads": threads} | state)


def _resume_changing_the_model(w: Workspace) -> list[str]:
    _resume_state(w, torch.get_num_threads())
    return [*w.train("model.decoder.hidden_size=32", "tokenizer.vocab_size=64"), "--resume"]


def _resume_on_changed_data(w: Workspace) -> list[str]:
    _resume_state(w, torch.get_num_threads(), data_digests={"data.train_src": "0" * 64})
    (w.dir / "data" / "toy").mkdir(parents=True)
    shutil.copy(w.dir / "train.src", w.dir / "data" / "toy" / "train.src")
    return [*w.train("data.train_src=data/toy/train.src"), "--resume"]


def _resume_with_other_threads(w: Workspace) -> list[str]:
    _resume_state(w, threads=1)
    return [*w.train("train.threads=2"), "--resume"]


def _read_only_parent(w: Workspace) -> list[str]:
    (w.dir / "locked").mkdir(mode=0o500)
    return w.train("run_dir=locked/run")


def _saved(w: Workspace, name: str, obj: object) -> str:
    torch.save(obj, w.dir / name)
    return name


def _directory(w: Workspace, name: str) -> str:
    (w.dir / name).mkdir(parents=True)
    return name


def _translate(model: str) -> list[str]:
    return ["translate", model, "bi ca"]


def case(name: str, setup: Callable[[Workspace], list[str]], words: list[str] | None = None, *marks):
    """A bad input: `setup` makes what it needs in the workspace and returns the argv. The error
    line must be README's MESSAGES[name] exactly, or, for a case README does not show, hold all of
    `words` (they name the problem and the fix)."""
    return pytest.param(setup, words or [], id=name, marks=marks)


CASES = [
    case("config-not-yaml", lambda w: ["train", w.write("bad.yaml", "data: [unclosed\nrun_dir: x\n")]),
    case("config-missing", lambda w: ["train", "nope.yaml"]),
    case("unknown-key", lambda w: w.train("train.epoch=2")),
    case(
        "unknown-key-in-file",
        lambda w: [
            "train",
            w.write("typo.yaml", Path(w.config).read_text().replace("hidden_size", "hiden_size")),
        ],
        ["unknown config key 'model.encoder.hiden_size'", "did you mean 'model.encoder.hidden_size'"],
    ),
    case("wrong-type", lambda w: w.train("train.epochs=ten")),
    case("negative-size", lambda w: w.train("model.encoder.hidden_size=-8")),
    case("dropout-1", lambda w: w.train("model.decoder.dropout=1.0")),
    case("beam-0", lambda w: w.train("search.beam_size=0")),
    case("vocab-below-specials", lambda w: w.train("tokenizer.vocab_size=3")),
    case("missing-train-file", lambda w: w.train("data.train_src=nope.src")),
    case(  # found before the tokenizer is trained, so nothing else is printed
        "missing-valid-file",
        lambda w: w.train("data.valid_tgt=nope.tgt"),
        ["data file nope.tgt not found", "check the path in the config"],
    ),
    case("line-counts-differ", lambda w: w.train_on("data.train_tgt", "short.tgt", "so nu\n" * 7)),
    case("empty-train-file", lambda w: w.train_on("data.train_src", "empty.src", "")),
    case(
        "undecodable-bytes",
        lambda w: w.train_on("data.train_src", "latin1.src", b"bi ca\n" * 29 + b"caf\xe9\n"),
    ),
    case("data-file-is-a-directory", lambda w: w.train(f"data.valid_src={_directory(w, 'data')}")),
    case("run-dir-under-a-file", lambda w: w.train(f"run_dir={w.write('afile', 'x')}/run")),
    case("run-dir-is-a-file", lambda w: w.train(f"run_dir={w.write('afile', 'x')}")),
    case(
        "run-dir-read-only",
        _read_only_parent,
        None,
        pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories"),
    ),
    case(  # where not even root may create a directory: the same error as root meets it
        "run-dir-not-creatable",
        lambda w: w.train("run_dir=/sys/seq2seq-test-run"),
        ["cannot write to run directory", "/sys/seq2seq-test-run", "choose a writable run_dir"],
        pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs"),
    ),
    case("run-dir-holds-a-run", _existing_run),
    case("resume-changes-run", _resume_changing_the_model),
    case("resume-changed-data", _resume_on_changed_data),
    case("resume-threads", _resume_with_other_threads),
    case("model-missing", lambda w: _translate("nope.pt")),
    case("model-truncated", lambda w: _translate(_half_of_the_model(w))),
    case(
        "model-is-text",
        lambda w: _translate(w.write("notes.pt", "hello world\n")),
        ["notes.pt is not a readable seq2seq model file", "best.pt or last.pt"],
    ),
    case(
        "model-is-another-torch-file",
        lambda w: _translate(_saved(w, "other.pt", {"state_dict": {"weight": torch.zeros(2)}})),
    ),
    case(
        "model-from-a-newer-version",
        lambda w: _translate(w.model_variant("future.pt", lambda b: b.update(format_version=999))),
    ),
    case(
        "model-holds-python-objects",
        lambda w: _translate(w.model_variant("evil.pt", lambda b: b.update(extra=argparse.Namespace()))),
    ),
    case("model-is-a-directory", lambda w: _translate(_directory(w, "runs/toy"))),
    case(
        "unknown-option-train",
        lambda w: [*w.train(), "--frobnicate"],
        ["unrecognized arguments: --frobnicate", "see 'seq2seq train --help'"],
    ),
    case(
        "unknown-option-test",
        lambda w: ["test", str(w.model), "--src", "valid.src", "--ref", "valid.tgt", "--bleu"],
        ["unrecognized arguments: --bleu", "see 'seq2seq test --help'"],
    ),
    case("unknown-option-translate", lambda w: [*_translate(str(w.model)), "--nbest", "2"]),
    case(
        "device-cuda-without-a-gpu",
        lambda w: [*_translate(str(w.model)), "--device", "cuda"],
        ["--device is cuda but PyTorch sees no GPU", "set --device to cpu or auto"],
        pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU"),
    ),
    case(
        "train-device-cuda-without-a-gpu",
        lambda w: w.train("train.device=cuda"),
        ["train.device is cuda but PyTorch sees no GPU", "set train.device to cpu or auto"],
        pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU"),
    ),
    case("n-best-above-beam", lambda w: [*_translate(str(w.model)), "--n-best", "3", "--beam", "2"]),
    case(
        "test-src-ref-lengths-differ",
        lambda w: ["test", str(w.model), "--src", "train.src", "--ref", "valid.tgt"],
    ),
]


def test_readme_shows_exactly_the_messages_the_tests_check():
    """README's troubleshooting section promises that each message it shows is checked: it shows
    MESSAGES, all of them, and each of them is a case above or is used by another test."""
    shown = readme_messages()
    assert len(shown) == len(set(shown)), "README shows a message twice"
    assert sorted(set(shown) - set(MESSAGES.values())) == [], "README shows messages no test checks"
    assert sorted(set(MESSAGES.values()) - set(shown)) == [], "README lacks these messages"
    sources = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    cases = {c.id for c in CASES}
    unused = [n for n in MESSAGES if n not in cases and f'"{n}"' not in sources and f"[{n!r}]" not in sources]
    assert not unused, f"no test uses these messages: {unused}"


def snapshot(*roots: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for root in roots for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("setup, words", CASES)
def test_a_user_error_is_one_line_exit_2_and_changes_no_file(
    workspace, capsys, restore_globals, request, setup, words
):
    argv = setup(workspace)
    before = snapshot(workspace.dir, workspace.model.parent)
    capsys.readouterr()

    with pytest.raises(SystemExit) as exit_:
        main(argv)

    out, err = capsys.readouterr()
    assert exit_.value.code == 2, err
    assert out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("seq2seq: error: "), err
    name = request.node.callspec.id
    if name in MESSAGES:
        assert err == MESSAGES[name] + "\n"
    else:
        assert words and all(word in err for word in words), f"{words!r} not all in {err!r}"
    after = snapshot(workspace.dir, workspace.model.parent)
    assert {p: after.get(p) for p in before} == before, "a file that existed was changed"
    # the only file a failed command may create is the log of a run that could not start
    assert {p.relative_to(workspace.dir) for p in set(after) - set(before)} <= {Path("runs/toy/train.log")}


def test_the_corrected_command_runs_after_a_failed_start(workspace, capsys, restore_globals):
    """A run that failed while setting up leaves at most a train.log, which does not make its
    run_dir 'hold a run': the corrected command is not refused."""
    with pytest.raises(SystemExit):
        main(workspace.train("data.train_src=nope.src"))
    assert (workspace.dir / "runs" / "toy" / "train.log").exists()
    capsys.readouterr()

    with pytest.raises(SystemExit) as exit_:
        main(workspace.train("train.threads=1"))

    assert exit_.value.code == 0, capsys.readouterr().err
    assert (workspace.dir / "runs" / "toy" / "best.pt").exists()


def test_debug_shows_the_traceback_instead(workspace):
    argv = workspace.train("train.epoch=2")
    run = subprocess.run(
        [sys.executable, "-m", "seq2seq", *argv, "--debug"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=workspace.dir,
    )
    assert run.returncode == 1
    assert "Traceback (most recent call last)" in run.stderr
    assert "seq2seq.errors.UserError: unknown config key 'train.epoch'" in run.stderr
    assert "seq2seq: error:" not in run.stderr


# ---------------------------------------------------------------- one output line per input line

ORDINARY = f"{SRC_WORDS[0]} {SRC_WORDS[1]}"
LINES: list[tuple[bytes, str]] = [  # (input line without its newline, what it is)
    (b"", "empty"),
    (b"   ", "spaces"),
    (b"?!.,;:", "punctuation"),
    (b"\t", "tab"),
    (b"\xff\xfe " + SRC_WORDS[2].encode(), "undecodable"),
    (" ".join(SRC_WORDS[:30]).encode(), "long"),
    (ORDINARY.encode() + b"\r", "windows newline"),
    ("\u00a0\u2028\x0c\x85 é € 日本".encode(), "odd whitespace and unseen characters"),
    (ORDINARY.encode(), "ordinary"),
]
BLANK = {"empty", "spaces", "tab"}


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
@pytest.mark.parametrize("final_newline", [True, False], ids=["final-newline", "no-final-newline"])
def test_translate_writes_one_line_per_input_line(
    model_file, tmp_path, capsys, restore_globals, fmt, final_newline
):
    torch.set_num_threads(1)  # tiny ops: threads only wait for each other on a busy machine
    source = tmp_path / "in.txt"
    source.write_bytes(b"\n".join(line for line, _ in LINES) + (b"\n" if final_newline else b""))

    output = tmp_path / "out.txt"

    with pytest.raises(SystemExit) as exit_:
        main(["translate", str(model_file), "-i", str(source), "-o", str(output), "--format", fmt])

    err = capsys.readouterr().err
    assert exit_.value.code == 0, err
    out = output.read_text(encoding="utf-8")
    assert out.endswith("\n")
    answers = out.split("\n")[:-1]
    assert len(answers) == len(LINES)
    for (line, kind), answer in zip(LINES, answers):
        if fmt == "jsonl":  # each answer names its source: the order is kept too
            answer = json.loads(answer)
            assert answer["source"] == line.decode("utf-8", errors="replace").rstrip("\r"), kind
            assert (answer["hypotheses"] == []) == (kind in BLANK), kind
        elif kind in BLANK:
            assert answer == ""
    number = {kind: i + 1 for i, (_, kind) in enumerate(LINES)}
    warnings = [line for line in err.splitlines() if line]
    assert all(w.startswith("seq2seq: warning: line ") for w in warnings), err
    assert [w for w in warnings if "not UTF-8" in w] == [MESSAGES["warning-not-utf8"]]
    assert [w for w in warnings if "longer than" in w] == [MESSAGES["warning-long-line"]]
    assert (number["undecodable"], number["long"]) == (5, 6)  # as README shows them


@pytest.mark.skipif(os.geteuid() != 0, reason="as another user the case above runs instead")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux's setpriv")
def test_a_read_only_run_dir_is_refused_as_root_without_its_override(workspace):
    """root writes into read-only directories (CAP_DAC_OVERRIDE), so README's "run-dir-read-only"
    message is checked here as any other user meets it: `seq2seq train` in a subprocess whose root
    has that capability (and CAP_DAC_READ_SEARCH) taken out of its bounding set."""
    argv = _read_only_parent(workspace)
    done = subprocess.run(
        [
            "setpriv",
            "--bounding-set",
            "-dac_override,-dac_read_search",
            sys.executable,
            "-m",
            "seq2seq",
            *argv,
        ],
        cwd=workspace.dir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == MESSAGES["run-dir-read-only"]
    assert not (workspace.dir / "locked" / "run").exists()
