"""What a training run reads: the tokenizer (trained once, then cached), the encoded training
corpus, and the validation pairs both encoded (for the loss) and as raw lines (to translate and
score). Every data file is checked before the tokenizer is trained, so a bad path fails at once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from . import data, tokenizer
from .config import Config
from .errors import UserError

log = logging.getLogger("seq2seq")


@dataclass(frozen=True)
class TrainingData:
    tokenizer: tokenizer.Tokenizer
    train: data.Corpus
    valid: data.Corpus
    valid_src: list[str]
    valid_ref: list[str]


def load_training_data(cfg: Config) -> TrainingData:
    d, cache = cfg.data, Path(cfg.cache_dir)
    digest = data.check_parallel(d.train_src, d.train_tgt)
    data.check_parallel(d.valid_src, d.valid_tgt)  # a bad path fails now, not after the tokenizer
    tok = tokenizer.train_or_load(
        cfg.tokenizer,
        Path(d.train_src),
        Path(d.train_tgt),
        digest,
        cache,
        log.info,
        shared_vocab=cfg.model.tie_src_tgt_embeddings,
    )
    train_data = data.encode_corpus(Path(d.train_src), Path(d.train_tgt), digest, tok, cache)
    valid_data = data.load_corpus(d.valid_src, d.valid_tgt, tok, cache)
    valid_src, valid_ref = data.read_lines(d.valid_src), data.read_lines(d.valid_tgt)
    usable = int(((train_data.src_lengths <= d.max_len) & (train_data.tgt_lengths <= d.max_len)).sum())
    if usable == 0:
        raise UserError(
            f"all {len(train_data):,} training pairs are longer than data.max_len "
            f"({d.max_len} pieces); raise data.max_len"
        )
    log.info(
        f"data: {len(train_data):,} training pairs ({len(train_data) - usable:,} longer than "
        f"{d.max_len} pieces skipped), {len(valid_data):,} validation pairs"
    )
    return TrainingData(tok, train_data, valid_data, valid_src, valid_ref)
