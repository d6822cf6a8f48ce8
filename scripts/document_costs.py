#!/usr/bin/env python3
"""What glossaries and document mode cost (docs/benchmarks.md, "Documents and glossaries"):

    python scripts/document_costs.py models/multi30k_en_de.pt --src data/multi30k/test_2016_flickr.en

1. Constraints: the source lines decoded with beam 5 and 0, 1 or 3 constraints per sentence (words
   of the model's own unconstrained translation of that sentence, as piece sequences, so every one
   is a term the model can place), in turns, `--repeat` times; sentences/s of the search alone
   (model loaded once) and how many constraints the outputs hold.
2. Documents: the same sentences as one sentence per line (`translate`) and as a document of
   paragraphs of 5 sentences on one line each, blank lines between (`translate --document`),
   whole commands in turns; seconds each.
One JSON object per measurement on stdout; the median of the repeats.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from seq2seq.data.batches import read_lines
from seq2seq.decoding.translate import translate
from seq2seq.inference.translator import Translator


def contains(tokens: list[int], piece_ids: list[int]) -> bool:
    n = len(piece_ids)
    return any(tokens[i : i + n] == piece_ids for i in range(len(tokens) - n + 1))


def constraint_costs(args) -> None:
    tr = Translator.load(args.model, beam_size=5)
    lines = read_lines(Path(args.src))[: args.lines]
    plain = tr.translate(lines)
    rng = random.Random(0)
    per_k = {}
    for k in (0, 1, 3):
        wanted = []
        for t in plain:
            words = [w for w in t.text.split() if len(w) > 3]
            chosen = rng.sample(words, min(k, len(words)))
            wanted.append([tr.tokenizer.tgt.encode([w])[0].tolist() for w in chosen])
        per_k[k] = wanted
    times: dict[int, list[float]] = {k: [] for k in per_k}
    held: dict[int, float] = {}
    for _ in range(args.repeat):
        for k, wanted in per_k.items():
            start = time.perf_counter()
            with torch.inference_mode():
                given = wanted if k else None
                out = translate(tr.model, tr.tokenizer, lines, tr.search, max_src_len=100, constraints=given)
            times[k].append(time.perf_counter() - start)
            total = sum(len(w) for w in wanted)
            met = sum(contains(t.hypotheses[0].tokens, c) for t, w in zip(out, wanted) for c in w)
            held[k] = met / total if total else 1.0
    for k in per_k:
        seconds = statistics.median(times[k])
        print(
            json.dumps(
                {
                    "constraints_per_sentence": k,
                    "sentences": len(lines),
                    "seconds": round(seconds, 2),
                    "sentences_per_s": round(len(lines) / seconds, 1),
                    "constraints_held": round(held[k], 4),
                    "runs": [round(t, 2) for t in times[k]],
                }
            ),
            flush=True,
        )


def document_costs(args) -> None:
    lines = read_lines(Path(args.src))[: args.lines]
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "lines.txt"
        plain.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
        doc = Path(tmp) / "doc.txt"
        paragraphs = [" ".join(lines[i : i + 5]) for i in range(0, len(lines), 5)]
        doc.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
        commands = {
            "one sentence a line": ["translate", args.model, "-i", str(plain), "-o", str(Path(tmp) / "a")],
            "document, 5 sentences a paragraph": ["translate", args.model, "--document", str(doc)],
        }
        times: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(args.repeat):
            for name, argv in commands.items():
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "seq2seq", *argv], check=True, capture_output=True)
                times[name].append(time.perf_counter() - start)
        for name, runs in times.items():
            seconds = statistics.median(runs)
            print(
                json.dumps(
                    {
                        "mode": name,
                        "sentences": len(lines),
                        "whole_command_seconds": round(seconds, 2),
                        "runs": [round(t, 2) for t in runs],
                    }
                ),
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model")
    parser.add_argument("--src", required=True)
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    constraint_costs(args)
    document_costs(args)


if __name__ == "__main__":
    main()
