#!/usr/bin/env python3
"""Benchmark the reference RNN on Multi30k English->German and print one JSON object.

    python scripts/benchmark.py --steps 100                         # throughput and memory only
    python scripts/benchmark.py --epochs 2 --precision fp32 bf16    # the full protocol (docs/benchmarks.md)
    python scripts/benchmark.py --epochs 2 --precision bf16 --set train.lr=0.001

Reference model and data: configs/multi30k_gru_bahdanau.yaml (data/multi30k by default, which
`seq2seq data multi30k` fills; --data DIR for another copy). Each `--precision` is a run of its
own, reported side by side under `runs`, so every ratio can be read in fp32 (the peers'
precision) and in bf16.

Training throughput counts target tokens (pieces + EOS) over pure training time (validation
excluded); with --steps the first 5 updates warm up and are not timed. Peak memory is the
process's peak resident set size. With --epochs the trained model is then decoded on test2016 by
scripts/decode_speed.py: each search in a fresh process, its first call (cold) the headline and
the best of --decode-repeat more calls beside it, with our output-length limit and with the
peers' (100 pieces). Lowercased tokenized BLEU follows the Multi30k convention (data/README.md):
lowercase, Moses-normalize and -tokenize the hypotheses (sacremoses), score with sacrebleu
tokenize=none against the official lc.norm.tok file.

`peers` repeats the peers' figures from --peers (../shared/bench/summary.json by default, written by
../shared/bench/collect.py) and `ratios` gives ours over theirs for each precision.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from seq2seq.cli.train import task_for, train
from seq2seq.config.load import load_config
from seq2seq.data import batches as data
from seq2seq.inference.translator import Translator
from seq2seq.report import metrics
from seq2seq.runtime import process
from seq2seq.training.run_dir import RunDir
from seq2seq.training.train import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
import decode_speed  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WARMUP_UPDATES = 5  # --steps: not timed (allocators, oneDNN kernel caches)


def main() -> None:
    args = parse_args()
    process.keep_freed_memory()  # as the `seq2seq` command's process has it
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = {
        "device": args.device,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "runs": {},
    }
    if len(args.precision) > 1:  # one process each: a peak RSS is the process's own, from its start
        for precision in args.precision:
            command = [sys.executable, __file__, *sys.argv[1:], "--precision", precision, "--peers", "none"]
            if args.save_model:  # MODEL.pt -> MODEL.fp32.pt, MODEL.bf16.pt
                target = Path(args.save_model)
                command += [
                    "--save-model",
                    str(target.with_name(f"{target.stem}.{precision}{target.suffix}")),
                ]
            done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
            if done.returncode != 0:
                sys.exit(f"the {precision} run failed")
            result["runs"][precision] = json.loads(done.stdout)["runs"][precision]
    for precision in args.precision if len(args.precision) == 1 else []:
        work = Path(tempfile.mkdtemp(prefix="seq2seq-bench-"))
        overrides = [
            f"run_dir={work / 'run'}",
            f"train.precision={precision}",
            f"train.device={args.device}",
            *_data_overrides(args.data),
            *args.overrides,
        ]
        try:
            if args.steps:
                cfg = load_config(args.config, overrides + ["train.early_stopping_patience=0"])
                run = measure_steps(cfg, args.steps)
            else:
                epochs = [f"train.epochs={args.epochs}", f"train.keep_last={args.epochs}"]
                cfg = load_config(args.config, overrides + epochs + ["train.early_stopping_patience=0"])
                run = measure_epochs(cfg, args, work)
                if args.save_model:  # for decoding measurements of the whole command afterwards
                    shutil.copy(Path(cfg.run_dir) / "last.pt", args.save_model)
        finally:
            shutil.rmtree(work, ignore_errors=True)  # the run's model files; caches live in cache_dir
        result["runs"][precision] = run
    peers = load_peers(args.peers)
    if peers:
        result["peers"] = peers
        result["ratios"] = {p: ratios(run, peers) for p, run in result["runs"].items()}
    print(json.dumps(result, indent=1))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--steps",
        type=int,
        help=f"train this many updates (more than {WARMUP_UPDATES}); throughput and memory",
    )
    mode.add_argument("--epochs", type=int, help="the full protocol: train, validate, decode, score")
    p.add_argument("--config", default=str(ROOT / "configs" / "multi30k_gru_bahdanau.yaml"))
    p.add_argument(
        "--data",
        default=str(ROOT / "data" / "multi30k"),
        help="folder with Multi30k train/val/test_2016_flickr .en/.de files",
    )
    p.add_argument("--precision", nargs="+", choices=("fp32", "bf16", "fp16"), default=["fp32"])
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--decode-repeat", type=int, default=3, help="decoding calls after the cold one")
    p.add_argument("--save-model", metavar="PATH", help="with --epochs: keep the trained last.pt here")
    p.add_argument(
        "--peers",
        default=str(ROOT.parent / "shared" / "bench" / "summary.json"),
        help="the peers' figures (collect.py's JSON); 'none' to leave them out",
    )
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    if args.steps is not None and args.steps <= WARMUP_UPDATES:
        p.error(
            f"--steps {args.steps}: the first {WARMUP_UPDATES} updates warm up and are not timed; "
            f"give at least {WARMUP_UPDATES + 1} (100 or more for a stable figure)"
        )
    return args


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
    trainer = Trainer(task_for(cfg), run)
    try:
        corpus = trainer.corpora.for_epoch(0)
        plan = data.epoch_batches(corpus.src_lengths, corpus.tgt_lengths, cfg.data, cfg.train.seed, 0)
        trainer.model.train()
        tokens, seconds = 0, 0.0
        for i in range(min(steps, len(plan))):
            start = time.perf_counter()
            _, n = trainer.update([corpus.batch(plan[i])])
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            if i >= WARMUP_UPDATES:
                seconds, tokens = seconds + time.perf_counter() - start, tokens + n
    finally:
        trainer.close()
    return {
        "precision": cfg.train.precision,
        "params": _params(trainer.model),
        "steps": steps,
        "train_tgt_tokens_per_s": round(tokens / seconds, 1),
        "peak_rss_mb": _peak_rss_mb(),
    }


def measure_epochs(cfg, args: argparse.Namespace, work: Path) -> dict:
    progress = train(cfg)
    peak_train = _peak_rss_mb()
    history = progress.history
    train_seconds = sum(r["train_seconds"] for r in history)
    result = {
        "precision": cfg.train.precision,
        "epochs": len(history),
        "seconds_per_epoch": round(train_seconds / len(history), 1),
        "wall_seconds_per_epoch": round(history[-1]["elapsed_seconds"] / len(history), 1),
        "train_tgt_tokens_per_s": round(sum(r["train_tokens"] for r in history) / train_seconds, 1),
        "peak_rss_mb": peak_train,
        # validation decodes with the config's search (beam 5, length penalty 1.0); the peers
        # validate with greedy search
        "val_bleu_beam5": [r["bleu"] for r in history],
    }
    folder = Path(args.data)
    # like for like with the peers, which validate with greedy search: each epoch's model, greedy
    val_src, val_ref = data.read_lines(cfg.data.valid_src), data.read_lines(cfg.data.valid_tgt)
    result["val_bleu_greedy"] = [
        round(
            metrics.score(
                greedy(Path(cfg.run_dir) / f"epoch{e}.pt", val_src, args), val_ref, with_ter=False
            ).bleu,
            2,
        )
        for e in range(1, len(history) + 1)
    ]
    model_file = Path(cfg.run_dir) / "last.pt"  # after the same number of epochs as the peers
    options = argparse.Namespace(
        src=str(folder / "test_2016_flickr.en"),
        ref=str(folder / "test_2016_flickr.de"),
        precision=None,  # the model's own
        searches=list(decode_speed.SEARCHES),
        threads=args.threads,
        device=args.device,
        repeat=args.decode_repeat,
        hyps_dir=str(work / "hyps"),
    )
    decoding = decode_speed.measure(model_file, options)
    result["decoding"] = decoding[cfg.train.precision]
    for name in ("beam5", "beam5_no_lp_max100"):
        hyps = data.read_lines(work / "hyps" / f"{name}.{cfg.train.precision}.txt")
        result[f"test_lc_tok_bleu_{name}"] = lc_tok_bleu(hyps, folder / "test_2016_flickr.lc.norm.tok.de")
        scores = metrics.score(hyps, data.read_lines(options.ref), with_ter=False)
        result[f"test_chrf_{name}"] = round(scores.chrf, 2)
        result["bleu_signature"] = scores.signatures["bleu"]
    return result


def greedy(model_file: Path, lines: list[str], args: argparse.Namespace) -> list[str]:
    translator = Translator.load(model_file, device=args.device, beam_size=1)
    return [t.text for t in translator.translate(lines)]


def load_peers(path: str) -> dict | None:
    """The peers' figures that docs/benchmarks.md quotes, as collect.py wrote them."""
    if path == "none" or not Path(path).exists():
        return None
    summary = json.loads(Path(path).read_text(encoding="utf-8"))
    peers = {"source": str(Path(path).resolve())}
    for name in ("opennmt", "joeynmt"):
        s = summary.get(name)
        if not s or "error" in s:
            continue
        peers[name] = {
            "train_tgt_tokens_per_s": s["tgt_tok_per_s"],
            "train_tgt_tokens_per_s_steady": s.get("tgt_tok_per_s_steady"),
            "peak_rss_mb": round(s["train_time_v"]["max_rss_kb"] / 1024, 1),
            "val_bleu_greedy": [round(e["val_bleu"], 2) for e in s["epochs"]],
            "test_bleu_greedy": s["decode_beam1"]["score"]["bleu"],
            "test_bleu_beam5": s["decode_beam5"]["score"]["bleu"],
            "test_chrf_beam5": s["decode_beam5"]["score"]["chrf"],
            "decode_sent_per_s_greedy": s["decode_beam1"].get("sent_per_s_toolkit"),
            "decode_sent_per_s_beam5": s["decode_beam5"].get("sent_per_s_toolkit"),
            "decode_wall_seconds_greedy": s["decode_beam1"]["wall_s"],
            "decode_wall_seconds_beam5": s["decode_beam5"]["wall_s"],
        }
    return peers


def ratios(run: dict, peers: dict) -> dict:
    """Ours over each peer's: throughput and decoding speed (higher is better), peak memory."""
    out = {}
    for name in ("opennmt", "joeynmt"):
        if name not in peers:
            continue
        peer, r = peers[name], {}
        r["train_tokens_per_s"] = round(run["train_tgt_tokens_per_s"] / peer["train_tgt_tokens_per_s"], 2)
        r["peak_rss"] = round(run["peak_rss_mb"] / peer["peak_rss_mb"], 3)
        decoding = run.get("decoding", {})
        for ours, theirs in (("greedy_max100", "greedy"), ("beam5_no_lp_max100", "beam5")):
            if ours in decoding and peer.get(f"decode_sent_per_s_{theirs}"):
                r[f"decode_{ours}_cold"] = round(
                    decoding[ours]["cold_sent_per_s"] / peer[f"decode_sent_per_s_{theirs}"], 2
                )
        out[name] = r
    return out


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
    return round(metrics.score(processed, refs, tokenize="none", with_ter=False).bleu, 2)


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


if __name__ == "__main__":
    main()
