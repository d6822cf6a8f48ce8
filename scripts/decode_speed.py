#!/usr/bin/env python3
"""Decoding speed of a model file on Multi30k test2016: sentences per second, greedy and beam 5.

    python scripts/decode_speed.py runs/multi30k_gru_bahdanau/best.pt
    python scripts/decode_speed.py MODEL --precision fp32 bf16 --repeat 3
    python scripts/decode_speed.py MODEL --device cuda --batch-tokens 32000 --repeat 3

Prints one JSON object: per precision and search, the seconds the translation of the whole set
took in this process after the model is loaded. Each search runs in a fresh Python process, as a
user's `seq2seq translate` and the peers' single runs do, and reports:
- `cold`: the first call, the headline (nothing warmed up: kernels, caches and allocator are as a
  new process has them);
- `best_of_N`: the fastest of N more calls in the same process, beside it (what a server that
  keeps the model loaded sees).
BLEU is of the cold call's output against --ref. The searches: `greedy`, `beam5` (the model's
length penalty), `beam5_no_lp`, all with our output-length limit (the model's
search.max_len_ratio x source pieces + search.max_len_offset, 2 x source + 10 by default), and
`greedy_max100`, `beam5_no_lp_max100`: the peers' benchmark settings exactly (no length penalty,
at most 100 output pieces: OpenNMT-py `-max_length 100 -max_length_ratio 0`, JoeyNMT
`max_output_length: 100`). Whole-command times, startup included, are what `/usr/bin/time seq2seq
test ...` prints.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# name: (beam size, length penalty (None: the model's), output limit (None: the model's; else
# (max_len_ratio, max_len_offset)))
SEARCHES = {
    "greedy": (1, None, None),
    "beam5": (5, None, None),
    "beam5_no_lp": (5, 0.0, None),
    "greedy_max100": (1, None, (0.0, 100)),
    "beam5_no_lp_max100": (5, 0.0, (0.0, 100)),
}
M30K = Path(__file__).resolve().parent.parent / "data" / "multi30k"  # `seq2seq data multi30k` fills it


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--src", default=str(M30K / "test_2016_flickr.en"))
    p.add_argument("--ref", default=str(M30K / "test_2016_flickr.de"))
    p.add_argument(
        "--precision", nargs="+", choices=("fp32", "bf16"), help="default: the model's training precision"
    )
    p.add_argument("--searches", nargs="+", choices=tuple(SEARCHES), default=list(SEARCHES))
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    p.add_argument("--batch-tokens", type=int, help="source tokens per decoding batch (default: the model's)")
    p.add_argument("--compile", action="store_true", help="torch.compile the recurrent decoder's step")
    p.add_argument("--repeat", type=int, default=3, help="calls after the cold one; the best is reported")
    p.add_argument("--hyps-dir", help="write each search's cold output here, as SEARCH.PRECISION.txt")
    p.add_argument("--one", metavar="SEARCH", help=argparse.SUPPRESS)  # the child process's job
    args = p.parse_args()
    if args.one:
        print(json.dumps(measure_one(args, args.one, (args.precision or [None])[0])))
        return
    print(json.dumps(measure(args.model, args), indent=1))


def measure(model: str, args: argparse.Namespace) -> dict:
    """Every search in every precision, each in its own process."""
    out: dict = {"cpu_count": os.cpu_count(), "model": str(model), "repeat": args.repeat}
    for precision in args.precision or [None]:
        runs = {}
        for name in args.searches:
            command = [
                sys.executable,
                __file__,
                str(model),
                "--one",
                name,
                "--src",
                args.src,
                "--ref",
                args.ref,
            ]
            command += ["--threads", str(args.threads), "--device", args.device, "--repeat", str(args.repeat)]
            command += ["--precision", precision] if precision else []
            command += ["--hyps-dir", args.hyps_dir] if args.hyps_dir else []
            batch_tokens = getattr(args, "batch_tokens", None)  # benchmark.py passes its own args
            command += ["--batch-tokens", str(batch_tokens)] if batch_tokens else []
            command += ["--compile"] if getattr(args, "compile", False) else []
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"decoding {name} failed:\n{done.stderr[-3000:]}")
            runs[name] = json.loads(done.stdout.strip().splitlines()[-1])
        out[next(iter(runs.values()))["precision"]] = runs
    return out


def measure_one(args: argparse.Namespace, name: str, precision: str | None) -> dict:
    import torch

    from seq2seq.data.batches import read_lines
    from seq2seq.inference.translator import Translator
    from seq2seq.report import metrics
    from seq2seq.runtime import process

    process.keep_freed_memory()  # as the `seq2seq` command's process has it
    if args.threads:
        torch.set_num_threads(args.threads)
    beam, alpha, limit = SEARCHES[name]
    ratio, offset = limit or (None, None)
    src, ref = read_lines(args.src), read_lines(args.ref)
    translator = Translator.load(
        args.model,
        device=args.device,
        precision=precision,
        compile=args.compile,
        batch_tokens=args.batch_tokens,
        beam_size=beam,
        length_penalty=alpha,
        max_len_ratio=ratio,
        max_len_offset=offset,
    )
    seconds, hyps = [], []
    for _ in range(1 + args.repeat):
        start = time.perf_counter()
        texts = [t.text for t in translator.translate(src)]
        if translator.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
        hyps = hyps or texts
    if args.hyps_dir:
        Path(args.hyps_dir).mkdir(parents=True, exist_ok=True)
        out = Path(args.hyps_dir) / f"{name}.{translator.precision}.txt"
        out.write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    s = translator.search
    best = min(seconds[1:]) if args.repeat else None
    return {
        "precision": translator.precision,
        "torch_threads": torch.get_num_threads(),
        "beam": s.beam_size,
        "length_penalty": s.length_penalty if s.beam_size > 1 else None,
        "max_output": f"{s.max_len_ratio:g} x source pieces + {s.max_len_offset}",
        "cold_seconds": round(seconds[0], 2),
        "cold_sent_per_s": round(len(src) / seconds[0], 1),
        f"best_of_{args.repeat}_seconds": round(best, 2) if best else None,
        f"best_of_{args.repeat}_sent_per_s": round(len(src) / best, 1) if best else None,
        "bleu": round(metrics.score(hyps, ref, with_ter=False).bleu, 2),
    }


if __name__ == "__main__":
    main()
