"""Validation during training: the loss on the validation set, its translations, and their BLEU
and chrF.

The trainer asks a validator for one `Validation` per epoch and reads only its metrics (columns of
validations.tsv), its score (higher is better: it picks the best model, drives the plateau schedule
and early stopping) and the lines to log; a task with another metric brings another validator.
After each epoch the translations come from the search `seq2seq test` uses, with
`search.valid_beam_size` as its beam; at the end of training `final_searches` lists the settings the
final choice tries (`final_model.py`), each passed back to `validate`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..config.load import Config, SearchConfig
from ..data.batches import sorted_batches
from ..data.corpus import Corpus
from ..data.tokenizer import Tokenizer
from ..decoding.translate import translate
from ..models.loss import sequence_loss
from ..models.seq2seq import Seq2Seq
from ..report.metrics import perplexity, score
from ..runtime.device import pick_precision
from ..runtime.distributed import World
from .state import Progress

log = logging.getLogger("seq2seq")


@dataclass(frozen=True)
class Validation:
    metrics: dict[str, float]  # validations.tsv's columns of this validation, in order
    score: float  # higher is better; named `Validator.metric` in messages
    summary: str  # the end of the epoch's log line
    details: list[str]  # logged after that line: sacrebleu's lines and example translations
    search: str = ""  # how it decoded (validations.tsv's search column); empty where it does not


class Validator:
    metric = "BLEU"

    def __init__(
        self,
        cfg: Config,
        tokenizer: Tokenizer,
        corpus: Corpus,
        src: list[str],
        ref: list[str],
        world: World,
        autocast: Callable,
    ):
        """`corpus`: the encoded validation pairs (for the loss); `src`, `ref`: their raw lines (to
        translate and score against)."""
        self.cfg, self.tokenizer, self.world, self.autocast = cfg, tokenizer, world, autocast
        self.corpus, self.src, self.ref = corpus, src, ref

    def epoch_search(self) -> SearchConfig:
        """The search of the validation after each epoch: the config's, with its validation beam."""
        s = self.cfg.search
        return dataclasses.replace(s, beam_size=s.valid_beam_size or s.beam_size)

    def final_searches(self) -> list[SearchConfig | None]:
        """The settings the end of training chooses among: search.beam_size with each of
        search.length_penalties. [None] (the validation after each epoch) when that is all it is."""
        s = self.cfg.search
        alphas = s.length_penalties or (s.length_penalty,)
        searches = [dataclasses.replace(s, length_penalty=a) for a in alphas]
        return [None] if searches == [self.epoch_search()] else searches

    def validate(self, model: Seq2Seq, search: SearchConfig | None = None) -> Validation:
        """Validation loss and BLEU of translations by `search` (default: `epoch_search()`); each
        process takes a share of the sentences and the results are gathered, so BLEU is the same as
        one process would find. Leaves `model` in train mode."""
        cfg, world = self.cfg, self.world
        search = search or self.epoch_search()
        start = time.perf_counter()
        lengths = np.maximum(self.corpus.src_lengths, self.corpus.tgt_lengths) + 1
        batches = sorted_batches(lengths, cfg.data.batch_tokens, cfg.data.batch_sentences)
        total, tokens = world.sum(
            list(validation_loss(model, self.corpus, batches[world.rank :: world.size], self.autocast))
        )
        nll = total / max(tokens, 1)
        device = next(model.parameters()).device
        decoder = model.inference_copy(pick_precision(cfg.train.precision, device))
        share = math.ceil(len(self.src) / world.size)
        mine = self.src[world.rank * share : (world.rank + 1) * share]
        translations = [
            t
            for part in world.gather(
                translate(decoder, self.tokenizer, mine, search, max_src_len=cfg.data.max_len)
            )
            for t in part
        ]
        scores = score([t.text for t in translations], self.ref, with_ter=False)
        model.train()
        metrics = {
            "valid_loss": round(nll, 4),
            "valid_ppl": round(perplexity(nll), 3),
            "bleu": round(scores.bleu, 2),
            "chrf": round(scores.chrf, 2),
        }
        examples = [
            f"example {i + 1}\n  source:     {t.source}\n  reference:  {self.ref[i]}\n  hypothesis: {t.text}"
            for i, t in enumerate(translations[: cfg.train.examples])
        ]
        return Validation(
            metrics,
            score=metrics["bleu"],
            summary=(
                f"validation loss {nll:.3f}, ppl {metrics['valid_ppl']:.2f}, "
                f"{describe(search)}, decoded in {time.perf_counter() - start:.1f} s"
            ),
            details=[scores.lines["bleu"], scores.lines["chrf"], *examples],
            search=describe(search),
        )


def describe(search: SearchConfig) -> str:
    """'greedy', or 'beam 5, length penalty 1.4'."""
    if search.beam_size == 1:
        return "greedy"
    return f"beam {search.beam_size}, length penalty {search.length_penalty:g}"


def training_line(progress: Progress, unit: str = "target tokens") -> str:
    """The training figures of the epoch just trained, as train.log gives them: what `report`
    starts its line with, and all that an epoch not validated (train.validate_every) logs."""
    p = progress
    return (
        f"epoch {p.epoch + 1} (update {p.step}): train loss {p.epoch_loss / max(p.epoch_tokens, 1):.3f}, "
        f"{p.epoch_tokens / max(p.epoch_seconds, 1e-9):,.0f} {unit}/s "
        f"over {p.epoch_seconds:.1f} s of training"
    )


def report(
    result: Validation, progress: Progress, lr: float, elapsed: float, unit: str = "target tokens"
) -> dict:
    """Log an epoch's training figures with its validation; return its row of validations.tsv:
    the training columns around the validator's metrics, then which model it was and how it
    decoded. `unit`: what the loss is counted in."""
    p = progress
    train_loss = p.epoch_loss / max(p.epoch_tokens, 1)
    log.info(f"{training_line(p, unit)}; {result.summary}")
    for line in result.details:
        log.info(line)
    return (
        {"epoch": p.epoch + 1, "step": p.step, "train_loss": round(train_loss, 4)}
        | result.metrics
        | {
            "lr": lr,
            "train_tokens": p.epoch_tokens,
            "train_seconds": round(p.epoch_seconds, 1),
            "elapsed_seconds": round(elapsed, 1),
            "model": f"epoch {p.epoch + 1}",
            "search": result.search,
        }
    )


@torch.inference_mode()
def validation_loss(model: Seq2Seq, corpus: Corpus, batches: list[np.ndarray], autocast) -> tuple[float, int]:
    """Summed negative log-likelihood (no label smoothing) and token count over these batches."""
    model.eval()
    device = next(model.parameters()).device
    total, tokens = 0.0, 0
    for indices in batches:
        batch = corpus.batch(indices).to(device)
        with autocast():
            logits = model(batch.src, batch.src_lengths, batch.tgt_in)
        loss, n = sequence_loss(logits, batch.tgt_out, smoothing=0.0)
        total, tokens = total + float(loss), tokens + int(n)
    return total, tokens
