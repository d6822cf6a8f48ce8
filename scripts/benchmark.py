#!/usr/bin/env python3
"""Benchmark the reference RNN on Multi30k English->German and print one JSON object.

    python scripts/benchmark.py --steps 100             # throughput and memory only
    python scripts/benchmark.py --epochs 2              # the full protocol (docs/benchmarks.md)
    python scripts/benchmark.py --epochs 2 --precision bf16 --set train.lr=0.001

Reference model and data: configs/multi30k_gru_bahdanau.yaml (../shared/data/multi30k by default,
--data DIR for another copy). Training throughput counts target tokens (pieces + EOS) over pure
training time (validation excluded); decoding speed is test2016 sentences over the time the
translation itself takes, in this process, after the model is loaded. Lowercased tokenized BLEU
follows the Multi30k convention (data/README.md): lowercase, Moses-normalize and -tokenize the
hypotheses (sacremoses), score with sacrebleu tokenize=none against the official lc.norm.tok file.
Beam 5 runs twice: with the config's length penalty (the `*_beam5` keys) and without one, the
setting the peer benchmarks decode with (`test_bleu_beam5_no_lp`, `decode_sent_per_s_beam5_no_lp`).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from seq2seq import data, evaluate
from seq2seq.config import load_config
from seq2seq.run_dir import RunDir
from seq2seq.train import Trainer, train
from seq2seq.translator import Translator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decode_speed import SEARCHES  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="seq2seq-bench-"))
    overrides = [
        f"run_dir={work / 'run'}",
        f"train.precision={args.precision}",
        f"train.device={args.device}",
        *_data_overrides(args.data),
        *args.overrides,
    ]
    result = {
        "precision": args.precision,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    try:
        if args.steps:
            cfg = load_config(args.config, overrides + ["train.early_stopping_patience=0"])
            result.update(measure_steps(cfg, args.steps))
        else:
            cfg = load_config(
                args.config, overrides + [f"train.epochs={args.epochs}", "train.early_stopping_patience=0"]
            )
            result.update(measure_epochs(cfg, args.data, args.device))
            if args.save_model:  # for decoding measurements of the whole command afterwards
                shutil.copy(Path(cfg.run_dir) / "last.pt", args.save_model)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the run's model files; caches live in cache_dir
    print(json.dumps(result, indent=1))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--steps", type=int, help="train this many updates; report throughput and memory")
    mode.add_argument("--epochs", type=int, help="the full protocol: train, validate, decode, score")
    p.add_argument("--config", default=str(ROOT / "configs" / "multi30k_gru_bahdanau.yaml"))
    p.add_argument(
        "--data",
        default=str(ROOT.parent / "shared" / "data" / "multi30k"),
        help="folder with Multi30k train/val/test_2016_flickr .en/.de files",
    )
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--save-model", metavar="PATH", help="with --epochs: keep the trained last.pt here")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    return p.parse_args()


def _data_overrides(folder: str) -> list[str]:
    d = Path(folder)
    return [
        f"data.train_src={d / 'train.en'}",
        f"data.train_tgt={d / 'train.de'}",
        f"data.valid_src={d / 'val.en'}",
        f"data.valid_tgt={d / 'val.de'}",
    ]


def measure_steps(cfg, steps: int) -> dict:
    run = RunDir.open(cfg, resume=False)
    trainer = Trainer(cfg, run)
    corpus = trainer.corpora.for_epoch(0)
    plan = data.epoch_batches(corpus.src_lengths, corpus.tgt_lengths, cfg.data, cfg.train.seed, 0)
    trainer.model.train()
    tokens, seconds = 0, 0.0
    for i in range(min(steps, len(plan))):
        start = time.perf_counter()
        _, n = trainer.update([corpus.batch(plan[i])])
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 5:  # the first updates warm up allocators and caches
            seconds, tokens = seconds + time.perf_counter() - start, tokens + n
    return {
        "params": _params(trainer.model),
        "steps": steps,
        "train_tgt_tokens_per_s": round(tokens / seconds, 1),
        "peak_rss_mb": _peak_rss_mb(),
        "seconds_per_epoch": None,
        "val_bleu": None,
        "test_bleu_greedy": None,
        "test_bleu_beam5": None,
        "test_chrf_beam5": None,
        "test_bleu_lc_tok": None,
        "decode_sent_per_s_greedy": None,
        "decode_sent_per_s_beam5": None,
    }


def measure_epochs(cfg, folder: str, device: str) -> dict:
    progress = train(cfg)
    peak_train = _peak_rss_mb()
    history = progress.history
    train_seconds = sum(r["train_seconds"] for r in history)
    result = {
        "params": None,
        "epochs": len(history),
        "seconds_per_epoch": round(train_seconds / len(history), 1),
        "wall_seconds_per_epoch": round(history[-1]["elapsed_seconds"] / len(history), 1),
        "train_tgt_tokens_per_s": round(sum(r["train_tokens"] for r in history) / train_seconds, 1),
        "peak_rss_mb": peak_train,
        "val_bleu": [r["bleu"] for r in history],
    }
    src = data.read_lines(Path(folder) / "test_2016_flickr.en")
    ref = data.read_lines(Path(folder) / "test_2016_flickr.de")
    model_file = Path(cfg.run_dir) / "last.pt"  # after the same number of epochs as the peers
    for name, beam, alpha in SEARCHES:
        translator = Translator.load(model_file, device=device, beam_size=beam, length_penalty=alpha)
        result["params"] = _params(translator.model)
        translator.translate(src[:32])  # warm-up
        start = time.perf_counter()
        hyps = [t.text for t in translator.translate(src)]
        seconds = time.perf_counter() - start
        scores = evaluate.score(hyps, ref, with_ter=False)
        result[f"test_bleu_{name}"] = round(scores.bleu, 2)
        result[f"decode_sent_per_s_{name}"] = round(len(src) / seconds, 1)
        if name == "beam5":
            result["test_chrf_beam5"] = round(scores.chrf, 2)
            result["test_bleu_lc_tok"] = lc_tok_bleu(hyps, Path(folder) / "test_2016_flickr.lc.norm.tok.de")
            result["bleu_signature"] = scores.signatures["bleu"]
    return result


def lc_tok_bleu(hyps: list[str], official: Path) -> float | None:
    """BLEU as Multi30k papers report it (lowercased, Moses-normalized and -tokenized)."""
    try:
        from sacremoses import MosesPunctNormalizer, MosesTokenizer
    except ImportError:
        logging.warning("sacremoses is not installed (pip install 'seq2seq[bench]'): no lc-tok BLEU")
        return None
    if not official.exists():
        return None
    norm, tok = MosesPunctNormalizer(lang="de"), MosesTokenizer(lang="de")
    processed = [tok.tokenize(norm.normalize(h.lower()), escape=True, return_str=True) for h in hyps]
    refs = data.read_lines(official)
    return round(evaluate.score(processed, refs, tokenize="none", with_ter=False).bleu, 2)


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


if __name__ == "__main__":
    main()
