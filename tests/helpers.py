"""Shared helpers of the tests (tests/ is on pytest's pythonpath: `from helpers import ...`): the
repository's ROOT; a tiny generated parallel corpus and the reversal task, in temporary directories,
with raw configs of tiny models for them; the `seq2seq` command run in this process; a
`seq2seq serve` process; undoing what train() and the CLI set globally. The fixtures are in
conftest.py."""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import queue
import random
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest
import torch

from seq2seq.cli.main import main
from seq2seq.config.load import config_from_dict
from seq2seq.models.build import build_model
from seq2seq.models.model_file import save_model
from seq2seq.special_ids import BOS_ID, PAD_ID

ROOT = Path(__file__).resolve().parent.parent  # the repository


# Disjoint alphabets: a piece of a target word can never occur in the source text.
def _words(consonants: str, vowels: str, n: int, seed: int) -> tuple[str, ...]:
    rng = random.Random(seed)
    words: dict[str, None] = {}
    while len(words) < n:
        words["".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(1, 3)))] = None
    return tuple(words)


SRC_WORDS = _words("bcdfghjklm", "aei", 40, seed=1)
TGT_WORDS = _words("nprstvwxz", "ouy", 40, seed=2)


def make_pairs(n: int, seed: int = 0, min_words: int = 2, max_words: int = 8) -> tuple[list[str], list[str]]:
    """n sentence pairs; the target is the word-by-word translation of the source, reversed."""
    rng = random.Random(seed)
    lexicon = dict(zip(SRC_WORDS, TGT_WORDS, strict=True))
    src, tgt = [], []
    for _ in range(n):
        words = [rng.choice(SRC_WORDS) for _ in range(rng.randint(min_words, max_words))]
        src.append(" ".join(words))
        tgt.append(" ".join(lexicon[w] for w in reversed(words)))
    return src, tgt


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def tiny_model(size: int = 8, dropout: float | None = None) -> dict:
    """The model section of a tiny recurrent model: embeddings, encoder and attention of `size`, a
    decoder of twice that; dropout as given (None: the config's default)."""
    encoder = {"emb_size": size, "hidden_size": size}
    decoder = {"emb_size": size, "hidden_size": 2 * size, "attention_size": size}
    if dropout is not None:
        encoder["dropout"] = decoder["dropout"] = dropout
    return {"encoder": encoder, "decoder": decoder}


def tiny_config_dict(root: Path, paths: dict[str, Path] | None = None, run: str = "run", **sections) -> dict:
    """A complete, valid raw config with a tiny model: the data files root/{train,valid}.{src,tgt}
    (or `paths`), run_dir root/run (or root/`run`), the cache in root/cache, one epoch, no examples.
    `sections` are merged into these: model={...} replaces the model section, train={...} adds to
    the train section. A `root` of Path() gives paths relative to the working directory."""
    paths = paths or {
        k: root / f"{k.replace('_', '.')}" for k in ("train_src", "train_tgt", "valid_src", "valid_tgt")
    }
    raw = {
        "run_dir": str(root / run),
        "cache_dir": str(root / "cache"),
        "data": {k: str(v) for k, v in paths.items()} | {"batch_tokens": 200},
        "tokenizer": {"vocab_size": 60},
        "model": tiny_model(),
        "train": {"epochs": 1, "examples": 0},
        "search": {"beam_size": 2},
    }
    for name, values in sections.items():
        raw[name] = values if name == "model" else raw[name] | values
    return raw


TINY_TRANSFORMER = {
    "architecture": "transformer",
    "transformer": {"encoder_layers": 1, "decoder_layers": 1, "d_model": 8, "heads": 2, "d_ff": 16},
}


def small_transformer() -> dict:
    """The model section of conftest's trained_transformer and of the Transformer tests (a student
    of it must describe the same model); a new dict each call, for tests to change."""
    return {
        "architecture": "transformer",
        "transformer": {
            "encoder_layers": 2,
            "decoder_layers": 2,
            "d_model": 32,
            "heads": 4,
            "d_ff": 64,
            "dropout": 0.0,
        },
        "tie_tgt_embeddings": True,
        "tie_src_tgt_embeddings": True,
    }


def save_tiny(root, name, tokenizer, seed, **model) -> str:
    """An untrained tiny model file (weights scaled up so that its outputs are not flat)."""
    raw = tiny_config_dict(root)
    raw["model"] = raw["model"] | model
    if model.get("architecture") == "transformer":
        raw["model"].pop("encoder"), raw["model"].pop("decoder")
    cfg = config_from_dict(raw)
    torch.manual_seed(seed)
    net = build_model(cfg.model, len(tokenizer.src), len(tokenizer.tgt))
    with torch.no_grad():  # an untrained model's outputs are too flat to tell models apart
        for p in net.parameters():
            p.mul_(8.0)
    save_model(root / name, net, cfg, tokenizer)
    return str(root / name)


# ---------------------------------------------------------------- the reversal task

SYMBOLS = "abcdefghijkl"


def write_reversal(path_src: Path, path_tgt: Path, n: int, rng: random.Random, longest: int = 8) -> None:
    """n lines of 3 to `longest` symbols; the target is the source reversed (it needs attention to
    learn)."""
    src = [" ".join(rng.choice(SYMBOLS) for _ in range(rng.randint(3, longest))) for _ in range(n)]
    path_src.write_text("".join(s + "\n" for s in src), encoding="utf-8")
    path_tgt.write_text("".join(" ".join(reversed(s.split())) + "\n" for s in src), encoding="utf-8")


def reversal_corpus(root: Path, train: int, valid: int, seed: int = 0) -> Path:
    """`train` pairs of the reversal task in root/train.src and .tgt, then `valid` pairs in
    root/valid.src and .tgt, drawn from one generator seeded with `seed`; returns root."""
    rng = random.Random(seed)
    write_reversal(root / "train.src", root / "train.tgt", train, rng)
    write_reversal(root / "valid.src", root / "valid.tgt", valid, rng)
    return root


def reversal_config(root: Path, run: str = "run", **sections) -> dict:
    """tiny_config_dict for the reversal files of reversal_corpus in `root`: a vocabulary of 20 (the
    12 symbols need no more) and one thread, unless `sections` say otherwise."""
    sections["tokenizer"] = {"vocab_size": 20} | sections.get("tokenizer", {})
    sections["train"] = {"threads": 1} | sections.get("train", {})
    return tiny_config_dict(root, run=run, **sections)


def validation_rows(run: Path) -> list[dict]:
    """The rows of a run's validations.tsv."""
    with open(run / "validations.tsv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def same_weights(a: dict, b: dict) -> bool:
    """Two state dicts hold the same tensors, bit for bit."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def random_batch(src_lengths: list[int], src_vocab: int, tgt_vocab: int, steps: int):
    """A padded batch of random source sentences of these lengths and random teacher-forcing
    inputs of `steps` tokens that start with BOS, drawn after torch.manual_seed(1):
    (src, src_lengths tensor, tgt_in). Ids start at 4, after the special ones."""
    torch.manual_seed(1)
    src = torch.full((len(src_lengths), max(src_lengths)), PAD_ID)
    for i, n in enumerate(src_lengths):
        src[i, :n] = torch.randint(4, src_vocab, (n,))
    tgt_in = torch.randint(4, tgt_vocab, (len(src_lengths), steps))
    tgt_in[:, 0] = BOS_ID
    return src, torch.tensor(src_lengths), tgt_in


# ---------------------------------------------------------------- global state


@contextlib.contextmanager
def kept_globals():
    """What restore_globals does, for fixtures of a wider scope."""
    threads = torch.get_num_threads()
    logger = logging.getLogger("seq2seq")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        for handler in [h for h in logger.handlers if h not in handlers]:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(level)
        logger.propagate = propagate


# ---------------------------------------------------------------- the seq2seq command


def cli(capsys, *argv) -> tuple[int, str, str]:
    """`seq2seq ARGV...` in this process: (exit code, standard output, standard error)."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def translate_jsonl(capsys, models: Path | list[Path], lines: list[str], *options) -> list[dict]:
    """What `seq2seq translate MODELS --format jsonl OPTIONS LINES` says, one record a line."""
    models = models if isinstance(models, list) else [models]
    code, out, err = cli(capsys, "translate", *models, "--format", "jsonl", *options, *lines)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def same_from_arguments_file_and_pipe(
    capsys, command: str, model: Path, lines: list[str], folder: Path
) -> str:
    """`seq2seq COMMAND MODEL` answers `lines` given as arguments, in a file (folder/in.txt to
    folder/out.txt) and on a pipe to a process of its own, also as `-i - -o -`, with the same text;
    returns that text."""
    code, from_args, _ = cli(capsys, command, model, *lines)
    assert code == 0

    (folder / "in.txt").write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    code, _, _ = cli(capsys, command, model, "-i", folder / "in.txt", "-o", folder / "out.txt")
    assert code == 0
    assert (folder / "out.txt").read_text(encoding="utf-8") == from_args

    for dashes in ([], ["-i", "-", "-o", "-"]):
        piped = subprocess.run(
            [sys.executable, "-m", "seq2seq", command, str(model), *dashes],
            input="".join(x + "\n" for x in lines),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert piped.returncode == 0, piped.stderr
        assert piped.stdout == from_args
    return from_args


PNG = b"\x89PNG\r\n\x1a\n"  # the first bytes of a PNG file


def assert_attention_plots(folder: Path, lines: int) -> None:
    """`--plot-attention folder` drew one PNG picture a line: line000001.png, ..."""
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"line{i:06d}.png" for i in range(1, lines + 1)]
    assert all((folder / name).read_bytes().startswith(PNG) for name in names)


# ---------------------------------------------------------------- seq2seq serve


class ServerProcess:
    """`with ServerProcess(model, "--max-lines", "8") as server:` ... server.url; leaving the block
    stops the process (SIGTERM, then SIGKILL if it does not exit)."""

    def __init__(self, models: Path | list[Path], *args: str, timeout: float = 120):
        models = [models] if isinstance(models, Path) else models
        self.proc = subprocess.Popen(
            # one decoding thread: two stall on each other when other work holds the cores
            [
                sys.executable,
                "-m",
                "seq2seq",
                "serve",
                *map(str, models),
                "--port",
                "0",
                "--threads",
                "1",
                *args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr: list[str] = []
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._drain, args=(lines,), daemon=True).start()
        try:
            while True:
                line = lines.get(timeout=timeout)
                if line is None:
                    raise RuntimeError(f"seq2seq serve exited at start: {''.join(self.stderr)}")
                if line.startswith("listening on "):
                    self.url = line.split()[-1]
                    return
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    def _drain(self, lines: queue.Queue) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line)
            lines.put(line.strip())
        lines.put(None)

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=60) as r:
            return json.loads(r.read())

    def post(self, body: dict | bytes, path: str = "/translate") -> tuple[int, dict, Message]:
        """-> (status, JSON answer, headers); a 4xx or 5xx is returned, not raised."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as r:
                return r.status, json.loads(r.read()), r.headers
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read()), e.headers

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
