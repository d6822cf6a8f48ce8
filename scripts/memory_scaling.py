#!/usr/bin/env python3
"""Does training memory stay flat as the corpus grows? Print one JSON object.

    python scripts/memory_scaling.py                       # 1x, 10x, 100x Multi30k, 100 updates each
    python scripts/memory_scaling.py --scales 1 10 --steps 50 --precision fp32

For each scale k, the Multi30k training files are repeated k times into a temporary folder (never
kept), the token-id cache is built once by a first short run, and a second run, in a fresh process,
trains `--steps` updates of the reference model (scripts/benchmark.py --steps) and reports its peak
resident memory and target tokens per second. The ratio of each scale's peak memory to the 1x one
is the figure that matters: training reads batches from the binary cache, so it should stay near 1.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    args = parse_args()
    source = Path(args.data)
    work = Path(tempfile.mkdtemp(prefix="seq2seq-scaling-", dir=args.tmp))
    rows = []
    try:
        for k in args.scales:
            folder = work / f"x{k}"
            start = time.perf_counter()
            lines = repeat_corpus(source, folder, k)
            cache = folder / "cache"
            prepare = benchmark(folder, cache, args, steps=6)  # tokenizer and token-id cache
            prepare_s = time.perf_counter() - start
            measured = benchmark(folder, cache, args, steps=args.steps)
            rows.append(
                {
                    "scale": k,
                    "train_pairs": lines,
                    "corpus_mb": round(sum(f.stat().st_size for f in folder.glob("train.*")) / 2**20, 1),
                    "cache_mb": round(sum(f.stat().st_size for f in cache.rglob("*.bin")) / 2**20, 1),
                    "prepare_seconds": round(prepare_s, 1),
                    "prepare_peak_rss_mb": prepare["peak_rss_mb"],
                    "peak_rss_mb": measured["peak_rss_mb"],
                    "train_tgt_tokens_per_s": measured["train_tgt_tokens_per_s"],
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            shutil.rmtree(folder)  # the 100x corpus is a few hundred MB
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = rows[0]
    for row in rows:
        row["rss_vs_first"] = round(row["peak_rss_mb"] / base["peak_rss_mb"], 3)
        speed = row["train_tgt_tokens_per_s"] / base["train_tgt_tokens_per_s"]
        row["tokens_per_s_vs_first"] = round(speed, 3)
    print(json.dumps({"precision": args.precision, "steps": args.steps, "scales": rows}, indent=1))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    p.add_argument("--steps", type=int, default=100, help="updates per measured run")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="bf16")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "multi30k"))
    p.add_argument("--tmp", default=None, help="where to build the corpora (default: the system's temp)")
    return p.parse_args()


def repeat_corpus(source: Path, folder: Path, k: int) -> int:
    """train.en/.de repeated k times; validation files copied. Returns the number of pairs."""
    folder.mkdir(parents=True)
    lines = 0
    for side in ("en", "de"):
        text = (source / f"train.{side}").read_bytes()
        with open(folder / f"train.{side}", "wb") as f:
            for _ in range(k):
                f.write(text)
        lines = text.count(b"\n") * k
        shutil.copy(source / f"val.{side}", folder / f"val.{side}")
    return lines


def benchmark(folder: Path, cache: Path, args: argparse.Namespace, steps: int) -> dict:
    command = [
        sys.executable,
        str(ROOT / "scripts" / "benchmark.py"),
        "--steps",
        str(steps),
        "--data",
        str(folder),
        "--precision",
        args.precision,
        "--threads",
        str(args.threads),
        "--set",
        f"cache_dir={cache}",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"benchmark failed on {folder}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


if __name__ == "__main__":
    main()
