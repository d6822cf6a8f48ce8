#!/usr/bin/env python3
"""Does training memory stay flat as the corpus grows? Print one JSON object.

    python scripts/memory_scaling.py                       # 1x, 10x, 100x Multi30k, 200 updates each
    python scripts/memory_scaling.py --scales 1 10 --steps 100 --precision fp32

For each scale k, the Multi30k training files are repeated k times into a temporary folder (never
kept), the tokenizer and token-id cache are built once by a first short run (scripts/benchmark.py
--steps 6), and a second process runs the real training loop of the reference model for `--steps`
updates (`Trainer.train_epoch`, with its periodic release of free heap pages every 50 updates),
then the end of that epoch (`Trainer.end_epoch`: validation on the Multi30k validation set, beam
5, then best.pt and last.pt saved), and reports its peak resident memory after the updates and
after the validation, and the target tokens per second.

What stays in memory grows with the corpus, by a fixed amount per sentence pair, and the script
reports it: the cache's index (lengths and offsets of every pair) and the epoch's batch order (the
index of every pair, held for the whole epoch), plus what building that order needs for a moment
(the kept pairs, their permutation, their padded lengths). The ratio of each scale's peak memory to
the 1x one says how much of the rest depends on the corpus: training reads its batches from the
binary cache, so that part stays flat.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    args = parse_args()
    if args.child:
        print(json.dumps(train_and_validate(Path(args.child), args)))
        return
    source = Path(args.data)
    work = Path(tempfile.mkdtemp(prefix="seq2seq-scaling-", dir=args.tmp))
    rows = []
    try:
        for k in args.scales:
            folder = work / f"x{k}"
            start = time.perf_counter()
            lines = repeat_corpus(source, folder, k)
            cache = folder / "cache"
            prepare = benchmark(folder, cache, args)  # tokenizer and token-id cache
            prepare_s = time.perf_counter() - start
            measured = child(folder, cache, args)
            per_pair = measured["index_bytes_per_pair"] + measured["order_bytes_per_pair"]
            rows.append(
                {
                    "scale": k,
                    "train_pairs": lines,
                    "corpus_mb": round(sum(f.stat().st_size for f in folder.glob("train.*")) / 2**20, 1),
                    "cache_mb": round(sum(f.stat().st_size for f in cache.rglob("*.bin")) / 2**20, 1),
                    "prepare_seconds": round(prepare_s, 1),
                    "prepare_peak_rss_mb": prepare["runs"][args.precision]["peak_rss_mb"],
                    **measured,
                    "held_per_pair_mb": round(per_pair * lines / 2**20, 1),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            shutil.rmtree(folder)  # the 100x corpus is a few hundred MB
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = rows[0]
    for row in rows:
        row["rss_vs_first"] = round(row["peak_rss_mb"] / base["peak_rss_mb"], 3)
        row["train_rss_vs_first"] = round(row["train_peak_rss_mb"] / base["train_peak_rss_mb"], 3)
        speed = row["train_tgt_tokens_per_s"] / base["train_tgt_tokens_per_s"]
        row["tokens_per_s_vs_first"] = round(speed, 3)
    print(json.dumps({"precision": args.precision, "steps": args.steps, "scales": rows}, indent=1))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    p.add_argument("--steps", type=int, default=200, help="updates per measured run (at least 2)")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="bf16")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--data", default=str(ROOT / "data" / "multi30k"))
    p.add_argument("--tmp", default=None, help="where to build the corpora (default: the system's temp)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--child", metavar="FOLDER", help=argparse.SUPPRESS)  # the measuring process's job
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


def benchmark(folder: Path, cache: Path, args: argparse.Namespace) -> dict:
    command = [sys.executable, str(ROOT / "scripts" / "benchmark.py"), "--steps", "6", "--data", str(folder)]
    command += ["--precision", args.precision, "--threads", str(args.threads), "--peers", "none"]
    command += ["--set", f"cache_dir={cache}", *(a for o in args.overrides for a in ("--set", o))]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"benchmark failed on {folder}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def child(folder: Path, cache: Path, args: argparse.Namespace) -> dict:
    """The measurement, in a fresh process (its peak memory is its own)."""
    command = [sys.executable, __file__, "--child", str(folder), "--steps", str(args.steps)]
    command += ["--precision", args.precision, "--threads", str(args.threads)]
    command += [a for o in args.overrides for a in ("--set", o)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"training failed on {folder}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def train_and_validate(folder: Path, args: argparse.Namespace) -> dict:
    """`--steps` updates of the real training loop, then the end of the epoch (validation)."""
    import numpy as np
    import torch

    from seq2seq.cli.train import task_for
    from seq2seq.config.load import load_config
    from seq2seq.data import batches as data
    from seq2seq.training.run_dir import RunDir
    from seq2seq.training.train import Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=folder))
    shutil.rmtree(run_dir)
    overrides = [f"run_dir={run_dir}", f"cache_dir={folder / 'cache'}", f"train.precision={args.precision}"]
    overrides += [f"data.{k}={folder / f}" for k, f in (("train_src", "train.en"), ("train_tgt", "train.de"))]
    overrides += [f"data.{k}={folder / f}" for k, f in (("valid_src", "val.en"), ("valid_tgt", "val.de"))]
    overrides += ["train.examples=0", *args.overrides]
    cfg = load_config(ROOT / "configs" / "multi30k_gru_bahdanau.yaml", overrides)
    trainer = Trainer(task_for(cfg), RunDir.open(cfg, resume=False))
    corpus, steps = trainer.corpora.for_epoch(0), args.steps
    update, done = trainer.update, []

    def counted(batches):  # after the next-to-last update, ask the loop to stop after the next one
        result = update(batches)
        done.append(1)
        trainer.stop_requested = len(done) >= steps - 1
        return result

    trainer.update = counted
    try:
        trainer.train_epoch()
        train_peak = _peak_rss_mb()
        p = trainer.progress
        tokens_per_s = p.epoch_tokens / max(p.epoch_seconds, 1e-9)
        trainer.end_epoch()
        # what stays in memory per pair: the cache's index, and the epoch's batch order
        index = corpus.src_lengths.nbytes + corpus.tgt_lengths.nbytes
        index += corpus._src_offsets.nbytes + corpus._tgt_offsets.nbytes
        order = data.epoch_batches(corpus.src_lengths, corpus.tgt_lengths, cfg.data, cfg.train.seed, 0)
        keep = np.flatnonzero(corpus.src_lengths <= cfg.data.max_len)
        padded = np.maximum(corpus.src_lengths, corpus.tgt_lengths) + 1
        building = 2 * keep.itemsize + padded.itemsize  # the kept pairs, their permutation, padding
    finally:
        trainer.close()
    n = len(corpus)
    return {
        "updates": len(done),
        "train_tgt_tokens_per_s": round(tokens_per_s, 1),
        "train_peak_rss_mb": train_peak,
        "peak_rss_mb": _peak_rss_mb(),
        "index_bytes_per_pair": round(index / n, 2),
        "order_bytes_per_pair": round(sum(b.nbytes for b in order) / n, 2),
        "order_building_bytes_per_pair": building,
    }


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


if __name__ == "__main__":
    main()
