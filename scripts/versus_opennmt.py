#!/usr/bin/env python3
"""Ours against OpenNMT-py on the same CPU, in turns, and the ratios: one JSON object.

    python scripts/versus_opennmt.py train --rounds 3                      # 150 updates each, in turns
    python scripts/versus_opennmt.py train --arch transformer --steps 300 --precision fp32 bf16
    python scripts/versus_opennmt.py decode MODEL.pt --rounds 5            # beam 5, the whole command

The protocol of issue 13's CPU targets (docs/benchmarks.md): the machine is shared and its speed
drifts by tens of percent within an hour, so a ratio is only worth something when both sides run
in the same window. Each round runs one of each, ours first in odd rounds and OpenNMT-py first in
even ones; the result gives every figure, the medians, their ratio and the median of the rounds'
own ratios.

train: `scripts/benchmark.py --steps N --peers none` (target tokens/s, 5 warm-up updates not timed)
against `STEPS=N REPORT_EVERY=50 SKIP_INSTALL=1 SKIP_DECODE=1 bash ../shared/bench/run_opennmt.sh`
(target tokens/s of its report over the last 50 updates, past its warm-up). `--arch transformer`:
configs/multi30k_transformer.yaml (the Transformer-tiny) against `run_opennmt_transformer.sh`,
OpenNMT-py's Transformer of the same size. --precision takes one or more (each a run of ours in
every round, each against the same OpenNMT-py runs); auto is what the CPU runs fastest (bf16 with
AVX-512, else fp32); OpenNMT-py trains in fp32.

decode: `seq2seq translate MODEL` with the peers' settings (beam 5, no length penalty, at most 100
pieces) against `onmt_translate` on OpenNMT-py's 2-epoch model, test2016, wall time of each
process; both outputs scored with sacrebleu (cased, 13a) as a check that both did the work.
MODEL: e.g. `scripts/benchmark.py --epochs 2 --save-model MODEL.pt`. `--batch-tokens N` decodes ours
in batches of N source tokens instead of the model's own setting (16,000: test2016 in one batch).

OpenNMT-py must be installed first: `bash ../shared/bench/run_opennmt.sh` (its full run also trains
the 2-epoch model that decode reads).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from seq2seq.report import metrics

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "bench"
PEERS = Path("/tmp/peers")  # where ../shared/bench installs and trains the peers
ONMT = PEERS / "onmt" / "bin"
SPM = PEERS / "data" / "spm8k.model"
CONFIGS = {
    "rnn": ROOT / "configs" / "multi30k_gru_bahdanau.yaml",
    "transformer": ROOT / "configs" / "multi30k_transformer.yaml",
}
PEER_SCRIPTS = {"rnn": "run_opennmt.sh", "transformer": "run_opennmt_transformer.sh"}


def main() -> None:
    args = parse_args()
    missing = next((p for p in _needs(args) if not Path(p).exists()), None)
    if missing:
        sys.exit(f"error: {missing} does not exist; {_fix(missing, args)}")
    ours, theirs = (train_ours, train_opennmt) if args.job == "train" else (decode_ours, decode_opennmt)
    figures: dict[str, list[float]] = {}
    bleu: dict[str, list[float]] = {}  # decode: each output's score
    for r in range(args.rounds):
        for run in (ours, theirs) if r % 2 == 0 else (theirs, ours):
            for name, (figure, score) in run(args).items():
                figures.setdefault(name, []).append(round(figure, 2))
                bleu.setdefault(name, []).append(score)
        print(
            f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:,.2f}" for k, v in figures.items()), file=sys.stderr
        )
    if args.job == "train":
        result = {"job": "train", "arch": args.arch, "unit": "target tokens/s", "steps": args.steps}
        for p in args.precision:  # each of ours against the same OpenNMT-py runs (fp32)
            pair = {"ours": figures[f"ours {p}"], "opennmt": figures["opennmt"]}
            result[p] = summary(pair, faster_is_higher=True)
    else:
        result = {
            "job": "decode",
            "unit": "seconds",
            **summary(figures, faster_is_higher=False),
            "bleu": bleu,
        }
    print(json.dumps(result, indent=1))


def summary(figures: dict[str, list[float]], faster_is_higher: bool) -> dict:
    """Per-round figures, medians, and how many times faster ours is: from the medians, and the
    median of each round's own ratio (robust to drift between rounds)."""
    ours, theirs = figures["ours"], figures["opennmt"]

    def faster(a: float, b: float) -> float:  # ours a against theirs b
        return a / b if faster_is_higher else b / a

    medians = {k: statistics.median(v) for k, v in figures.items()}
    return {
        "rounds": figures,
        "medians": medians,
        "ours_faster_by_medians": round(faster(medians["ours"], medians["opennmt"]), 3),
        "ours_faster_pairwise_median": round(statistics.median(map(faster, ours, theirs)), 3),
    }


def train_ours(args) -> dict[str, tuple[float, None]]:
    """One process, one run per precision."""
    script = str(ROOT / "scripts" / "benchmark.py")
    command = [sys.executable, script, "--steps", str(args.steps), "--precision", *args.precision]
    command += ["--data", args.data, "--peers", "none", "--config", str(CONFIGS[args.arch])]
    done = _run(command, cwd=ROOT)
    runs = json.loads(done.stdout)["runs"]
    return {f"ours {p}": (runs[p]["train_tgt_tokens_per_s"], None) for p in args.precision}


def train_opennmt(args) -> dict[str, tuple[float, None]]:
    env = {
        "STEPS": str(args.steps),
        "REPORT_EVERY": "50",  # its figure: the last 50 updates, past its warm-up
        "SKIP_INSTALL": "1",
        "SKIP_DECODE": "1",
        "M30K_DIR": args.data,
    }
    done = _run(["bash", str(BENCH / PEER_SCRIPTS[args.arch])], env=env)
    return {"opennmt": (opennmt_target_tokens_per_s(done.stdout, args.steps), None)}


def opennmt_target_tokens_per_s(log: str, steps: int) -> float:
    """The target tokens/s of OpenNMT-py's report at update `steps`: '... 1292/1437 tok/s; ...'
    is source/target."""
    lines = [line for line in log.splitlines() if f"Step {steps}/" in line and " tok/s" in line]
    if not lines:
        raise SystemExit(f"error: OpenNMT-py reported no update {steps}; see {PEERS / 'logs'}")
    return float(re.search(r"(\d+)/(\d+) tok/s", lines[-1]).group(2))


def decode_ours(args) -> dict[str, tuple[float, float]]:
    options = "--beam 5 --length-penalty 0 --max-len-ratio 0 --max-len-offset 100".split()
    command = [sys.executable, "-m", "seq2seq", "translate", args.model, "-i", _test(args, "en"), *options]
    if args.batch_tokens:
        command += ["--batch-tokens", str(args.batch_tokens)]
    return {"ours": _decode(command, "-o", ROOT, {}, args)}


def decode_opennmt(args) -> dict[str, tuple[float, float]]:
    options = (
        "-beam_size 5 -max_length 100 -max_length_ratio 0 -length_penalty none -batch_size 64 "
        "-batch_type sents -gpu -1 -seed 42 -transforms sentencepiece"
    ).split()
    command = [str(ONMT / "onmt_translate"), "-model", args.peer_model, "-src", _test(args, "en"), *options]
    command += ["-src_subword_model", str(SPM), "-tgt_subword_model", str(SPM)]
    # OpenNMT-py 3.5.1's checkpoints hold an argparse.Namespace, which torch>=2.6 refuses by default
    return {"opennmt": _decode(command, "-output", PEERS, {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}, args)}


def _decode(command: list[str], output_flag: str, cwd: Path, env: dict, args) -> tuple[float, float]:
    """Wall seconds of the whole command, and the cased BLEU of what it wrote."""
    with tempfile.TemporaryDirectory(prefix="versus-") as folder:
        out = Path(folder) / "hypotheses.de"
        seconds = _timed([*command, output_flag, str(out)], env, cwd)
        hypotheses = out.read_text(encoding="utf-8").splitlines()
    references = Path(_test(args, "de")).read_text(encoding="utf-8").splitlines()
    return seconds, round(metrics.score(hypotheses, references, with_ter=False).bleu, 2)


def _timed(command: list[str], env: dict | None = None, cwd: Path | None = None) -> float:
    start = time.perf_counter()
    _run(command, env, cwd)
    return time.perf_counter() - start


def _run(command: list[str], env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env={**os.environ, **(env or {})}, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise SystemExit(
            f"error: {Path(command[1] if command[0] == 'bash' else command[0]).name} failed: {tail[0]}"
        )
    return done


def _test(args, side: str) -> str:
    return str(Path(args.data).resolve() / f"test_2016_flickr.{side}")  # the peer runs in PEERS


def _needs(args) -> list[str]:
    if args.job == "train":
        return [str(ONMT / "onmt_train"), str(Path(args.data) / "train.en")]
    return [args.model, str(ONMT / "onmt_translate"), args.peer_model, _test(args, "en")]


def _fix(missing: str, args) -> str:
    if missing.startswith(str(PEERS)):
        return "install and train OpenNMT-py once with `bash ../shared/bench/run_opennmt.sh`"
    if args.job == "decode" and missing == args.model:
        return "train one with `python scripts/benchmark.py --epochs 2 --save-model MODEL.pt`"
    return "give the Multi30k folder with --data"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("job", choices=["train", "decode"])
    p.add_argument("model", nargs="?", help="decode: our model file (the 2-epoch reference model)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--arch", choices=sorted(CONFIGS), default="rnn", help="train: which model of each")
    p.add_argument("--steps", type=int, default=150, help="train: updates per run, a multiple of 50")
    p.add_argument(
        "--precision", nargs="+", choices=["auto", "fp32", "bf16"], default=["auto"], help="train: ours, each"
    )
    p.add_argument("--data", default=str(ROOT / "data" / "multi30k"))
    p.add_argument(
        "--batch-tokens", type=int, default=0, help="decode: ours, source tokens a batch (0: the model's)"
    )
    p.add_argument("--peer-model", default=str(PEERS / "onmt_model" / "model_step_908.pt"))
    args = p.parse_args()
    if args.job == "decode" and not args.model:
        p.error("decode needs our model file: scripts/versus_opennmt.py decode MODEL.pt")
    if args.steps < 100 or args.steps % 50:
        p.error("--steps must be a multiple of 50 from 100 on: OpenNMT-py reports every 50 updates")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if "auto" in args.precision:
        import torch

        from seq2seq.runtime.device import pick_precision

        auto = pick_precision("auto", torch.device("cpu"))
        args.precision = list(dict.fromkeys(auto if p == "auto" else p for p in args.precision))
    return args


if __name__ == "__main__":
    main()
