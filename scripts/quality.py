#!/usr/bin/env python3
"""Score trained Multi30k models for docs/benchmarks.md's quality table, in two explicit steps:

    python scripts/quality.py val runs/multi30k_transformer runs/multi30k_best   # choose on these
    python scripts/quality.py test runs/multi30k_best                            # then, once: report
    python scripts/quality.py val runs/a/best.pt runs/b/best.pt --ensemble --label "ensemble of 2"

`val` decodes the validation set (val.en/val.de) only: cased sacrebleu BLEU and chrF, the figures
every choice (config, checkpoint, length penalty) is made on. `test` decodes test2016 as well, for
the models already chosen: cased BLEU and chrF, and the lowercased tokenized BLEU ("LT") that
Multi30k papers report (scripts/benchmark.py's lc_tok_bleu); it prints the table's Markdown row.
A run directory stands for its best.pt, with the run's epochs and elapsed time from its
validations.tsv. Every model decodes with its own config's search settings unless --beam or
--length-penalty say otherwise. One JSON object per model (or per ensemble) on stdout.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from seq2seq.data import batches as data
from seq2seq.inference.translator import Translator
from seq2seq.report import metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import lc_tok_bleu  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    folder = Path(args.data)
    val_src, val_ref = data.read_lines(folder / "val.en"), data.read_lines(folder / "val.de")
    groups = [args.paths] if args.ensemble else [[p] for p in args.paths]
    for group in groups:
        models = [_model_file(p) for p in group]
        translator = Translator.load(models, beam_size=args.beam, length_penalty=args.length_penalty)
        row = {
            "label": args.label or " + ".join(str(p) for p in group),
            "models": [str(m) for m in models],
            "params": sum(p.numel() for p in translator.model.parameters()),
            "beam": translator.search.beam_size,
            "length_penalty": translator.search.length_penalty,
        }
        start = time.perf_counter()
        val = metrics.score([t.text for t in translator.translate(val_src)], val_ref, with_ter=False)
        row |= {"val_bleu": round(val.bleu, 2), "val_chrf": round(val.chrf, 2)}
        if args.step == "test":
            test_src, test_ref = (
                data.read_lines(folder / "test_2016_flickr.en"),
                data.read_lines(folder / "test_2016_flickr.de"),
            )
            test_hyps = [t.text for t in translator.translate(test_src)]
            test = metrics.score(test_hyps, test_ref, with_ter=False)
            row |= {
                "test2016_bleu": round(test.bleu, 2),
                "test2016_chrf": round(test.chrf, 2),
                "test2016_lt_bleu": lc_tok_bleu(test_hyps, folder / "test_2016_flickr.lc.norm.tok.de"),
                "bleu_signature": test.signatures["bleu"],
            }
        row["decode_seconds"] = round(time.perf_counter() - start, 1)
        row |= _run_figures(group)
        row["machine"] = args.machine or f"{platform.machine()}, {os.cpu_count()} CPU cores"
        print(json.dumps(row))
        if args.step == "test":
            print(_markdown(row), file=sys.stderr)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "step",
        choices=("val", "test"),
        help="val: validation only (to choose); test: also test2016 (to report)",
    )
    p.add_argument("paths", nargs="+", help="run directories (their best.pt) or model files")
    p.add_argument("--ensemble", action="store_true", help="score all of them as one ensemble")
    p.add_argument("--label", help="the row's name")
    p.add_argument("--beam", type=int, help="beam size (default: each model's config)")
    p.add_argument(
        "--length-penalty", type=float, help="GNMT alpha (default: each model's config); choose it on val"
    )
    p.add_argument("--data", default=str(ROOT / "data" / "multi30k"), help="Multi30k folder")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--machine", help="where the runs trained, for the table")
    return p.parse_args()


def _model_file(path: str) -> Path:
    p = Path(path)
    return p / "best.pt" if p.is_dir() else p


def _run_figures(group: list[str]) -> dict:
    """Epochs and elapsed seconds of the runs the models come from (summed for an ensemble)."""
    epochs, seconds = [], 0.0
    for path in group:
        p = Path(path)
        table = (p if p.is_dir() else p.parent) / "validations.tsv"
        if not table.exists():
            continue
        with open(table, encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if rows:
            epochs.append(int(rows[-1]["epoch"]))
            seconds += float(rows[-1]["elapsed_seconds"])
    return {"epochs": epochs, "train_wall_seconds": round(seconds)}


def _markdown(row: dict) -> str:
    cells = (
        row["label"],
        f"{row['params']:,}",
        row["val_bleu"],
        row["test2016_bleu"],
        row["test2016_chrf"],
        row["test2016_lt_bleu"],
        ", ".join(map(str, row["epochs"])),
        f"{row['train_wall_seconds']:,} s",
        row["machine"],
    )
    return "| " + " | ".join(str(c) for c in cells) + " |"


if __name__ == "__main__":
    main()
