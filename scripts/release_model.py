#!/usr/bin/env python3
"""Write a released model file: a run's best.pt with its floating-point weights stored in bf16 (or
fp16), no training state, checked on the validation set against the original.

    python scripts/release_model.py runs/multi30k_best/best.pt models/multi30k_en_de.pt \
        --src data/multi30k/val.en --ref data/multi30k/val.de

The model file keeps its config (search settings included) and SentencePiece model, so `test`,
`translate` and `serve` need nothing else; loading copies the weights into the model's fp32
parameters. Tied weights stay one tensor. Both files are decoded on the validation set with the
model's own search settings; if the smaller one loses more than --tolerance BLEU, nothing is written
(use --dtype fp32). Prints one JSON object: sizes and both BLEU figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import torch

from seq2seq.data import batches as data
from seq2seq.inference.translator import Translator
from seq2seq.models.model_file import ModelFile
from seq2seq.report import metrics

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def compact(model_file: ModelFile, dtype: torch.dtype) -> ModelFile:
    """The model file without training state, its floating-point weights in `dtype`; weights that
    share storage (tied embeddings) still share it."""
    cast: dict[int, torch.Tensor] = {}
    weights = {}
    for name, t in model_file.weights.items():
        if t.is_floating_point():
            key = t.untyped_storage().data_ptr() + t.storage_offset()
            if key not in cast:
                cast[key] = t.detach().to(dtype).clone()
            weights[name] = cast[key]
        else:
            weights[name] = t
    return dataclasses.replace(model_file, weights=weights, train_state=None)


def bleu(model: Path, src: list[str], ref: list[str]) -> float:
    translator = Translator.load(model)
    return metrics.score([t.text for t in translator.translate(src)], ref, with_ter=False).bleu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="the chosen model file (a run's best.pt)")
    p.add_argument("output", type=Path, help="the released model file to write")
    p.add_argument("--src", required=True, help="validation source")
    p.add_argument("--ref", required=True, help="validation reference")
    p.add_argument("--dtype", choices=DTYPES, default="bf16")
    p.add_argument("--tolerance", type=float, default=0.1, help="BLEU the smaller file may lose")
    args = p.parse_args()
    src, ref = data.read_lines(args.src), data.read_lines(args.ref)
    released = compact(ModelFile.read(args.model), DTYPES[args.dtype])
    with tempfile.TemporaryDirectory() as tmp:
        candidate = Path(tmp) / "model.pt"
        released.write(candidate)
        before, after = bleu(args.model, src, ref), bleu(candidate, src, ref)
        report = {
            "model": str(args.model),
            "output": str(args.output),
            "dtype": args.dtype,
            "bytes_before": args.model.stat().st_size,
            "bytes_after": candidate.stat().st_size,
            "valid_bleu_before": round(before, 2),
            "valid_bleu_after": round(after, 2),
        }
        print(json.dumps(report, indent=1))
        if before - after > args.tolerance:
            sys.exit(f"{args.dtype} loses {before - after:.2f} BLEU (> {args.tolerance}); nothing written")
        args.output.parent.mkdir(parents=True, exist_ok=True)
        released.write(args.output)


if __name__ == "__main__":
    main()
