#!/usr/bin/env python3
"""`seq2seq serve` under the same load from a model file and from its CTranslate2 export, in turns
(docs/benchmarks.md, "Deploy: engines and int8"):

    python scripts/serve_engines.py models/multi30k_en_de.pt /tmp/deploy/ct2_float32 \\
        --clients 32 --seconds 20 --rounds 3

Each round starts a server on each target in turn (one at a time, on a free loopback port), waits
until it answers, runs `scripts/load_test.py` against it (closed loop, one sentence a request,
test2016 sentences in turn) and stops it. Prints one JSON object per target: the median
sentences/s and p99 latency over the rounds, every round's figures, and the ratio of each
target's sentences/s to the first target's, taken round by round (the machine is shared: a ratio
within one round is steadier than absolute figures).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def serve(target: str, extra: list[str]) -> tuple[subprocess.Popen, str]:
    """A running server on `target` and its address."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "seq2seq", "serve", target, "--port", "0", *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stderr:
        if line.startswith("listening on "):  # then keep reading, so that its log never blocks it
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, line.split()[-1]
    proc.wait()
    sys.exit(f"seq2seq serve {target} exited at start")


def load(url: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, str(ROOT / "scripts" / "load_test.py"), url]
    command += ["--clients", str(args.clients), "--seconds", str(args.seconds)]
    command += ["--input", args.input] + (["--beam", str(args.beam)] if args.beam else [])
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("targets", nargs="+", help="model files or CTranslate2 export directories")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--beam", type=int, help="beam_size to ask for (default: each server's)")
    p.add_argument("--input", default=str(ROOT / "data" / "multi30k" / "test_2016_flickr.en"))
    p.add_argument("--serve-args", default="", help="more options for every `seq2seq serve`")
    args = p.parse_args()
    rounds: dict[str, list[dict]] = {t: [] for t in args.targets}
    for _ in range(args.rounds):
        for target in args.targets:
            proc, url = serve(target, args.serve_args.split())
            try:
                rounds[target].append(load(url, args))
            finally:
                proc.terminate()
                proc.wait(timeout=60)
    first = rounds[args.targets[0]]
    for target, runs in rounds.items():
        rates = [r["sentences_per_s"] for r in runs]
        print(
            json.dumps(
                {
                    "target": target,
                    "clients": args.clients,
                    "sentences_per_s": statistics.median(rates),
                    "p99_ms": statistics.median(r["latency_ms"]["p99"] for r in runs),
                    "errors": sum(r["errors"] for r in runs),
                    "ratio_to_first": round(
                        statistics.median(a / b["sentences_per_s"] for a, b in zip(rates, first)), 2
                    ),
                    "rounds": [{"sentences_per_s": r["sentences_per_s"], **r["latency_ms"]} for r in runs],
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
