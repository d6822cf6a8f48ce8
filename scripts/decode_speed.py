#!/usr/bin/env python3
"""Decoding speed of a model file on Multi30k test2016: sentences per second, greedy and beam 5.

    python scripts/decode_speed.py runs/multi30k_gru_bahdanau/best.pt
    python scripts/decode_speed.py MODEL --src other.en --precision fp32 --repeat 3
    python scripts/decode_speed.py MODEL --device cuda --batch-tokens 32000 --repeat 3

Prints one JSON object: the machine's thread count, torch's, and for each search the seconds the
translation took in this process (model already loaded, first call included: no warm-up, since a
user's `seq2seq translate` has none either), sentences per second and BLEU against --ref.
Whole-command times, startup included, are what `/usr/bin/time seq2seq test ...` prints.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from seq2seq import evaluate
from seq2seq.data import read_lines
from seq2seq.translator import Translator

# greedy, beam 5 with the model's length penalty, and beam 5 without one (the peers' benchmark
# setting: with no penalty a sentence is done as soon as its best finished hypothesis outscores
# every live one, so fewer steps are decoded)
SEARCHES = (("greedy", 1, None), ("beam5", 5, None), ("beam5_no_lp", 5, 0.0))
M30K = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "multi30k"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--src", default=str(M30K / "test_2016_flickr.en"))
    p.add_argument("--ref", default=str(M30K / "test_2016_flickr.de"))
    p.add_argument("--precision", choices=("fp32", "bf16"), help="default: the model's training precision")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--batch-tokens", type=int, help="source tokens per decoding batch (default: the model's)")
    p.add_argument("--compile", action="store_true", help="torch.compile the recurrent decoder's step")
    p.add_argument("--searches", default="greedy,beam5,beam5_no_lp", help="which of them, comma-separated")
    p.add_argument("--repeat", type=int, default=1, help="decode the set this many times; report the best")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    src, ref = read_lines(args.src), read_lines(args.ref)
    result = {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "sentences": len(src)}
    for name, beam, alpha in SEARCHES:
        if name not in args.searches.split(","):
            continue
        translator = Translator.load(
            args.model,
            device=args.device,
            precision=args.precision,
            compile=args.compile,
            beam_size=beam,
            length_penalty=alpha,
            batch_tokens=args.batch_tokens,
        )
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            hyps = [t.text for t in translator.translate(src)]
            best = min(best, time.perf_counter() - start)
        result["precision"], result["device"] = translator.precision, translator.device
        result[name] = {
            "seconds": round(best, 2),
            "sent_per_s": round(len(src) / best, 1),
            "bleu": round(evaluate.score(hyps, ref, with_ter=False).bleu, 2),
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
