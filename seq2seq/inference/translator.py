"""Use a trained model file: translate lines or a stream, test against references, average models.

Everything here needs only the model file: the config, tokenizer and weights are all inside it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from ..config.load import Config, SearchConfig
from ..data.batches import read_lines
from ..data.line_stream import line_batches
from ..data.tokenizer import Tokenizer
from ..decoding import translate as evaluate
from ..decoding.sampler import Sampler
from ..decoding.translate import Translation
from ..errors import UserError
from ..models.build import Seq2Seq
from ..models.ensemble import Ensemble
from ..models.model_file import ModelFile
from ..models.model_file import average as average_files
from ..runtime.device import decoding_precision, describe, pick_device, pick_precision, precision_warning

log = logging.getLogger("seq2seq")


@dataclass
class Translator:
    model: Seq2Seq | Ensemble
    tokenizer: Tokenizer
    config: Config
    search: SearchConfig
    precision: str
    device: str = "cpu"  # where it decodes, as the log says it: 'cpu (2 threads)', 'cuda:0 (NVIDIA H200)'
    sampler: Sampler | None = None  # sample instead of searching (chat)

    @classmethod
    def load(
        cls,
        paths: str | Path | Sequence[str | Path],
        device: str = "auto",
        precision: str | None = None,
        compile: bool = False,
        **search: float | int | None,
    ) -> Translator:
        """Load a model file, or several as an ensemble; `search` overrides the decoding settings
        saved in the (first) file (None: keep). `compile`: torch.compile the recurrent decoders'
        step (Seq2Seq.compile_steps)."""
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        loaded = [ModelFile.read(p).build() for p in paths]
        for path, (_, other_cfg, _) in zip(paths, loaded):
            if other_cfg.task != "translate":
                raise UserError(
                    f"{path} is a classifier (task: {other_cfg.task}), not a translation model; "
                    f"use seq2seq classify {path}, or seq2seq test {path} with --src and --ref"
                )
        _, cfg, tokenizer = loaded[0]
        for path, (_, _, other) in zip(paths[1:], loaded[1:]):
            for side, name in (("tgt", "target"), ("src", "source")):
                if not getattr(tokenizer, side).same_as(getattr(other, side)):
                    raise UserError(
                        f"{path} has another {name} vocabulary than {paths[0]}; the models of an ensemble "
                        "must share it (train them with the same data and tokenizer settings)"
                    )
        where = pick_device(device, "--device")
        settings = dataclasses.replace(cfg.search, **{k: v for k, v in search.items() if v is not None})
        if precision is None:
            precision = decoding_precision(cfg.train.precision, where)
        elif warning := precision_warning(precision, where, "--precision"):
            log.warning(warning)
        precision = pick_precision(precision, where)
        models = [model.to(where) for model, _, _ in loaded]
        model = models[0] if len(models) == 1 else Ensemble(models)
        model = evaluate.inference_copy(model, precision)
        if compile:
            model.compile_steps()
        return cls(model, tokenizer, cfg, settings, precision, describe(where))

    def show_head(self, head: int | None) -> None:
        """Report one attention head (None: their average); a ValueError names the heads there are."""
        self.model.show_head(head)

    def translate(
        self, lines: Sequence[str], n_best: int = 1, with_attention: bool = False
    ) -> list[Translation]:
        return evaluate.translate(
            self.model,
            self.tokenizer,
            lines,
            self.search,
            n_best,
            with_attention,
            max_src_len=self.config.data.max_len,
            sampler=self.sampler,
        )


# ---------------------------------------------------------------- seq2seq test


def test(
    translator: Translator,
    src: str,
    ref: str,
    output: str | None = None,
    lowercase: bool = False,
    tokenize: str | None = None,
    compare: str | None = None,
) -> dict:
    """Translate a source file, score it against references; optionally compare with another
    system's output by paired bootstrap resampling. Returns scores, signatures and timing."""
    src_lines, refs = read_lines(src), read_lines(ref)
    _same_length(src, len(src_lines), ref, len(refs))
    other = read_lines(compare) if compare else None
    if other is not None:
        _same_length(compare, len(other), ref, len(refs))
    start = time.perf_counter()
    hyps = [t.text for t in translator.translate(src_lines)]
    seconds = time.perf_counter() - start
    if output:
        Path(output).write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    scores = evaluate.score(hyps, refs, lowercase=lowercase, tokenize=tokenize)
    result = {
        "bleu": round(scores.bleu, 2),
        "chrf": round(scores.chrf, 2),
        "ter": round(scores.ter, 2),
        "signatures": scores.signatures,
        "lines": scores.lines,
        "sentences": len(src_lines),
        "seconds": round(seconds, 3),
        "sentences_per_second": round(len(src_lines) / max(seconds, 1e-9), 1),
        "device": translator.device,
        "precision": translator.precision,
    }
    if other is not None:
        result["compare"] = _paired_bootstrap(hyps, other, refs, compare, lowercase, tokenize)
    return result


def _paired_bootstrap(hyps, other, refs, other_name, lowercase, tokenize) -> dict:
    from sacrebleu.metrics import BLEU, CHRF  # here, so translating alone never pays sacrebleu's import
    from sacrebleu.significance import PairedTest

    metrics = {"BLEU": BLEU(lowercase=lowercase, tokenize=tokenize), "chrF": CHRF(lowercase=lowercase)}
    test = PairedTest([("baseline", other), ("model", hyps)], metrics, [refs], test_type="bs", n_samples=1000)
    _, scores = test()
    out = {"baseline": other_name, "test": "paired bootstrap resampling, 1000 samples"}
    # sacrebleu names each result after its metric's signature ("chrF2"): take them in order
    results = [pair for key, pair in scores.items() if key != "System"]
    for name, (base, ours) in zip(metrics, results, strict=True):
        # sacrebleu's p-value is two-sided (how often a resample differs by as much either way):
        # the direction is the one the scores on the whole set show
        better = "model" if ours.score > base.score else "baseline" if ours.score < base.score else "neither"
        # no difference at all: sacrebleu counts resampled differences strictly above the observed
        # 0 and, with identical outputs, finds none, so it reports its smallest p-value (1/1001)
        p_value = 1.0 if better == "neither" else float(ours.p_value)
        out[name] = {
            "baseline": round(float(base.score), 2),
            "model": round(float(ours.score), 2),
            "better": better,
            "model_mean": round(float(ours.mean), 2),  # numpy floats in some cases: plain for JSON
            "model_ci95": round(float(ours.ci), 2),
            "p_value": round(p_value, 4),
            "significant": p_value < 0.05,
        }
    return out


def _same_length(a: str, n_a: int, b: str, n_b: int) -> None:
    if n_a != n_b:
        raise UserError(f"{a} has {n_a} lines but {b} has {n_b}; they must be line-aligned")


# ---------------------------------------------------------------- seq2seq translate


def stream(
    translator: Translator,
    source: BinaryIO,
    sink: TextIO,
    fmt: str = "text",
    n_best: int = 1,
    warn: Callable[[str], None] = print,
    plot_dir: Path | None = None,
    batch_lines: int = 4096,
) -> int:
    """Translate a byte stream line by line, one output line per input line, in order, flushed
    after every batch of lines (`line_batches`: a pipe is batched, a terminal answered at once).
    Returns the number of lines."""
    count = 0
    for first, texts in line_batches(source, warn, batch_lines):
        write_translations(translator, texts, sink, fmt, n_best, warn, plot_dir, first_line=first)
        count += len(texts)
    return count


def write_translations(
    translator: Translator,
    texts: list[str],
    sink: TextIO,
    fmt: str,
    n_best: int,
    warn: Callable[[str], None],
    plot_dir: Path | None,
    first_line: int = 1,
) -> None:
    with_attention = fmt == "jsonl" or plot_dir is not None
    for offset, t in enumerate(translator.translate(texts, n_best, with_attention)):
        number = first_line + offset
        if t.parts > 1:
            warn(
                f"line {number}: longer than the {translator.config.data.max_len} pieces the model was "
                f"trained on; translated in {t.parts} parts, joined with spaces"
            )
        if fmt == "jsonl":
            sink.write(json.dumps(_as_json(t, translator.tokenizer), ensure_ascii=False) + "\n")
        else:
            sink.write("\t".join(t.texts[:n_best]) + "\n")
        if plot_dir is not None and t.hypotheses and t.hypotheses[0].attention is not None:
            plot_attention(t, translator.tokenizer, plot_dir / f"line{number:06d}.png")
    sink.flush()


def _as_json(t: Translation, tok: Tokenizer) -> dict:
    src_pieces = tok.src.pieces(tok.src.encode([t.source])[0]) + ["</s>"] if t.source.strip() else []
    return {
        "source": t.source,
        "source_pieces": src_pieces,
        "hypotheses": [
            {
                "text": text,
                "score": round(h.score, 4),
                "normalized_score": round(h.norm_score, 4),
                "finished": h.finished,  # false: cut by the length limit, no </s> (search.py)
                "pieces": tok.tgt.pieces(h.tokens) + (["</s>"] if h.finished else []),
                "token_probs": [round(math.exp(lp), 4) for lp in h.token_logprobs],
                "attention": [[round(w, 4) for w in row] for row in h.attention.tolist()]
                if h.attention is not None
                else None,
            }
            for h, text in zip(t.hypotheses, t.texts)
        ],
    }


def plot_attention(t: Translation, tok: Tokenizer, path: Path) -> None:
    """Heatmap of the best hypothesis' attention: target pieces (rows) by source pieces (columns)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("--plot-attention needs matplotlib: pip install 'seq2seq[plot]'") from None
    h = t.hypotheses[0]
    src = tok.src.pieces(tok.src.encode([t.source])[0]) + ["</s>"]
    tgt = tok.tgt.pieces(h.tokens) + ["</s>"]
    weights = h.attention.float().numpy()
    fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(src) + 1.5), max(3, 0.35 * len(tgt) + 1.5)))
    ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(src)), src, rotation=90)
    ax.set_yticks(range(len(tgt)), tgt)
    ax.set_xlabel("source")
    ax.set_ylabel("translation")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------- seq2seq average


def average(paths: Iterable[str | Path], output: str | Path) -> int:
    """Average the weights of several model files of one run into a new model file."""
    paths = [Path(p) for p in paths]
    output = Path(output)
    if any(output.resolve() == p.resolve() for p in paths if p.exists()):
        raise UserError(f"the output {output} is one of the inputs; choose a new file name")
    averaged = average_files(paths)
    averaged.build()  # its config and weights fit, as every model file's do
    averaged.write(output)
    return len(paths)
