"""`seq2seq translate`'s output: a byte stream translated line by line, as text (n-best tab-separated)
or JSON lines (pieces, scores, token probabilities, attention), with attention heatmaps on request."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TextIO

from ..data.line_stream import line_batches
from ..data.tokenizer import Tokenizer
from ..decoding.translate import Translation
from ..report.plots import attention_heatmap
from .translator import Translator


def stream(
    translator: Translator,
    source: BinaryIO,
    sink: TextIO,
    fmt: str = "text",
    n_best: int = 1,
    warn: Callable[[str], None] = print,
    plot_dir: Path | None = None,
    batch_lines: int = 4096,
) -> tuple[int, int]:
    """Translate a byte stream line by line, one output line per input line, in order, flushed
    after every batch of lines (`line_batches`: a pipe is batched, a terminal answered at once).
    Returns the number of lines and of those whose n-best list repeats a text (`write_translations`)."""
    lines = repeated = 0
    for first, texts in line_batches(source, warn, batch_lines):
        repeated += write_translations(translator, texts, sink, fmt, n_best, warn, plot_dir, first_line=first)
        lines += len(texts)
    return lines, repeated


def write_translations(
    translator: Translator,
    texts: list[str],
    sink: TextIO,
    fmt: str,
    n_best: int,
    warn: Callable[[str], None],
    plot_dir: Path | None,
    first_line: int = 1,
) -> int:
    """Write the translations of `texts`; returns how many of their n-best lists repeat a text
    (the beam held fewer different sentences than asked for: `repeats_advice`)."""
    with_attention = fmt == "jsonl" or plot_dir is not None
    repeated = 0
    for offset, t in enumerate(translator.translate(texts, n_best, with_attention)):
        repeated += len(set(t.texts[:n_best])) < len(t.texts[:n_best])
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
    return repeated


def repeats_advice(repeated: int, lines: int, n_best: int, beam_size: int) -> str:
    """The one warning for n-best lists that repeat a text: a model trained with subword sampling
    spreads its probability over several segmentations of one sentence, which fill the beam (the
    lists give different texts first, then the repeats)."""
    whose = f"{repeated} of {lines} lines' {n_best}-best lists repeat"
    if lines == 1:
        whose = f"the {n_best}-best list repeats"
    return (
        f"{whose} a translation: the beam of {beam_size} held fewer different sentences than asked for "
        f"(the same one in other pieces); a larger --beam, e.g. --beam {max(4 * n_best, 2 * beam_size)}, "
        "finds more"
    )


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
    h = t.hypotheses[0]
    src = tok.src.pieces(tok.src.encode([t.source])[0]) + ["</s>"]
    tgt = tok.tgt.pieces(h.tokens) + ["</s>"]
    attention_heatmap(h.attention.float().numpy(), src, tgt, path)
