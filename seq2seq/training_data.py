"""What a training run reads: the tokenizer (trained once, then cached; a resumed run uses the one
its last.pt holds), the encoded training corpus, and the validation pairs both encoded (for the
loss) and as raw lines (to translate and score). Every data file is checked before the tokenizer is
trained, so a bad path fails at once."""

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

    def close(self) -> None:
        """Close the corpus files (the training loop reads batches from them until the end)."""
        self.train.close()
        self.valid.close()


def load_training_data(cfg: Config, saved: tokenizer.Tokenizer | None = None) -> TrainingData:
    """`saved`: the tokenizer a resumed run's last.pt holds. It is used as it is, never trained or
    read from cache_dir again: the ids the model learned are the ids it keeps reading (another
    cache_dir, or another SentencePiece version, could build a different one). The encoded corpora
    are cached under the tokenizer's content, so they match it too."""
    d, cache = cfg.data, Path(cfg.cache_dir)
    digest = data.check_parallel(d.train_src, d.train_tgt)
    data.check_parallel(d.valid_src, d.valid_tgt)  # a bad path fails now, not after the tokenizer
    if saved is not None:
        tok = saved
        log.info(f"tokenizer: the one in last.pt (source {len(tok.src)}, target {len(tok.tgt)} pieces)")
    else:
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
        train_data.close()
        valid_data.close()
        raise UserError(
            f"all {len(train_data):,} training pairs are longer than data.max_len "
            f"({d.max_len} pieces); raise data.max_len"
        )
    log.info(
        f"data: {len(train_data):,} training pairs ({len(train_data) - usable:,} longer than "
        f"{d.max_len} pieces skipped), {len(valid_data):,} validation pairs"
    )
    return TrainingData(tok, train_data, valid_data, valid_src, valid_ref)


def whole_updates(n_batches: int, per_update: int) -> int:
    """How many of an epoch's `n_batches` batches are trained on: whole updates of `per_update`
    batches only (train.accumulate x processes). The few left over (fewer than `per_update`; the
    end of the epoch's shuffled order, so other ones every epoch) wait for the next epoch's order.
    So N processes with `accumulate: A` make exactly the updates of one process with `accumulate:
    N x A`, every update over the same number of batches."""
    return n_batches - n_batches % per_update
