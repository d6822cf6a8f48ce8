#!/usr/bin/env python3
"""Decoding test2016 with one model's weights in every engine and precision, whole commands in
turns (docs/benchmarks.md, "Deploy: engines and int8"):

    python scripts/deploy_speed.py models/multi30k_en_de.pt --work /tmp/deploy --repeat 3

From MODEL it makes (in --work) its int8 file (`export --int8`) and, for a Transformer, its
CTranslate2 exports in float32 and int8 (`export --ctranslate2 --quantization`), then times
`seq2seq translate` of the whole test set for each, greedy and beam 5, with the peers' settings
(no length penalty, at most 100 pieces), in turns, --repeat times. Prints one JSON object per
(engine, search): the median whole-command seconds, sentences/s, generated pieces/s (pieces of the
output, so models that write longer outputs are not favoured) and cased BLEU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import sacrebleu

ROOT = Path(__file__).resolve().parent.parent
M30K = ROOT / "data" / "multi30k"
PEERS = ["--length-penalty", "0", "--max-len-ratio", "0", "--max-len-offset", "100"]
SEARCHES = {"greedy": ["--greedy"], "beam5": ["--beam", "5"]}


def seq2seq(*argv: str) -> None:
    subprocess.run([sys.executable, "-m", "seq2seq", *argv], check=True, capture_output=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--work", required=True, help="a folder for the exports and outputs")
    p.add_argument("--src", default=str(M30K / "test_2016_flickr.en"))
    p.add_argument("--ref", default=str(M30K / "test_2016_flickr.de"))
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    from seq2seq.models.model_file import ModelFile

    _, cfg, tokenizer = ModelFile.read(args.model).build()
    engines = {
        "native bf16": [args.model, "--precision", "bf16"],
        "native fp32": [args.model, "--precision", "fp32"],
        "native int8": [str(work / "int8.pt")],
    }
    if not (work / "int8.pt").exists():
        seq2seq("export", args.model, "--int8", str(work / "int8.pt"))
    if cfg.model.architecture == "transformer":  # CTranslate2 runs Transformers only
        for q in ("float32", "int8"):
            engines[f"ctranslate2 {q}"] = [str(work / f"ct2_{q}")]
            if not (work / f"ct2_{q}").exists():
                seq2seq("export", args.model, "--ctranslate2", str(work / f"ct2_{q}"), "--quantization", q)
    refs = Path(args.ref).read_text(encoding="utf-8").splitlines()
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for search, options in SEARCHES.items():
            for engine, model in engines.items():
                out = work / f"{engine.replace(' ', '_')}.{search}.txt"
                start = time.perf_counter()
                seq2seq("translate", *model, "-i", args.src, "-o", str(out), *options, *PEERS)
                times.setdefault((engine, search), []).append(time.perf_counter() - start)
    for (engine, search), runs in times.items():
        hyps = (work / f"{engine.replace(' ', '_')}.{search}.txt").read_text(encoding="utf-8").splitlines()
        pieces = sum(len(x) for x in tokenizer.tgt.encode(hyps))
        seconds = statistics.median(runs)
        print(
            json.dumps(
                {
                    "engine": engine,
                    "search": search,
                    "seconds": round(seconds, 2),
                    "sentences_per_s": round(len(hyps) / seconds, 1),
                    "pieces_per_s": round(pieces / seconds),
                    "bleu": round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2),
                    "runs": [round(t, 2) for t in runs],
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
