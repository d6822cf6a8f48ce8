"""What a training run reads: the tokenizer (trained once, then cached; a resumed run uses the one
its last.pt holds), the encoded training corpus, and the validation pairs both encoded (for the
loss) and as raw lines (to translate and score). Every data file is checked before the tokenizer is
trained, so a bad path fails at once."""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..config.load import Config
from ..errors import UserError
from . import batches as data
from . import tokenizer
from .corpus import Corpus, Sampling, encode_corpus, load_corpus, sampled_corpus_exists
from .sampling import reproducible

log = logging.getLogger("seq2seq")


@dataclass
class TrainingData:
    cfg: Config
    digest: str  # of the training files' content
    tokenizer: tokenizer.Tokenizer
    train: Corpus  # deterministically segmented
    valid: Corpus
    valid_src: list[str]
    valid_ref: list[str]
    _sampled: Corpus | None = field(default=None, repr=False)
    _preparing: tuple[threading.Thread, list[BaseException]] | None = field(default=None, repr=False)

    def for_epoch(self, epoch: int, resuming: bool = False) -> Corpus:
        """The training corpus of `epoch` (0-based): `train`, or with tokenizer.sampling_alpha a
        new sampled segmentation (Kudo 2018). Drawn from the n best segmentations (sampling.py),
        it is the same in every process; else (SentencePiece's draw) it is kept in the cache until
        the epoch is over, so a run resumed inside the epoch trains on the very same one, and
        `resuming` a run whose copy is gone (another cache_dir, another machine) samples anew, and
        says so."""
        if not self.cfg.tokenizer.sampling_alpha:
            return self.train
        self._wait_for_prepared()
        sampling, cache = self._sampling(epoch), Path(self.cfg.cache_dir)
        exists = sampled_corpus_exists(self.digest, self.tokenizer, cache, sampling)
        if resuming and not exists and not reproducible(self.tokenizer.src, sampling.nbest):
            log.warning(
                f"the sampled segmentation of epoch {epoch + 1} is no longer in {cache}: sampling a new "
                "one, so the rest of this epoch differs from an uninterrupted run"
            )
        corpus = self._encode(sampling)
        if self._sampled is not None and self._sampled.directory != corpus.directory:
            self.drop_sampled()
        self._sampled = corpus
        return corpus

    def prepare(self, epoch: int) -> None:
        """Start sampling `epoch`'s segmentation in a thread, into the cache, where `for_epoch`
        finds it (and waits for it if need be). SentencePiece samples in its own threads without
        Python's lock, so a GPU trains on the epoch before meanwhile (there, sampling was 2-3 s
        of a 6-9 s epoch); on a CPU it would only take the cores from training."""
        if not self.cfg.tokenizer.sampling_alpha or self._preparing is not None:
            return
        errors: list[BaseException] = []

        def sample() -> None:
            try:
                self._encode(self._sampling(epoch)).close()
            except BaseException as e:  # raised again by the call that waits for it
                errors.append(e)

        thread = threading.Thread(target=sample, name=f"sampling epoch {epoch + 1}", daemon=True)
        thread.start()
        self._preparing = (thread, errors)

    def _wait_for_prepared(self) -> None:
        if self._preparing is not None:
            thread, errors = self._preparing
            thread.join()
            self._preparing = None
            if errors:
                raise errors[0]

    def _sampling(self, epoch: int) -> Sampling:
        t = self.cfg.tokenizer
        return Sampling(t.sampling_alpha, t.sampling_nbest, f"seed {self.cfg.train.seed}, epoch {epoch}")

    def _encode(self, sampling: Sampling) -> Corpus:
        d = self.cfg.data
        return encode_corpus(
            Path(d.train_src),
            Path(d.train_tgt),
            self.digest,
            self.tokenizer,
            Path(self.cfg.cache_dir),
            sampling,
        )

    def drop_sampled(self) -> None:
        """Close and delete the current epoch's sampled copy (at an epoch's end)."""
        if self._sampled is not None:
            self._sampled.close()
            shutil.rmtree(self._sampled.directory, ignore_errors=True)
            self._sampled = None

    def close(self) -> None:
        """Close the corpus files (the training loop reads batches from them until the end). An
        epoch's sampled copy stays in the cache: an interrupted run resumes on it (and so does the
        next epoch's, if it was being prepared)."""
        if self._preparing is not None:
            self._preparing[0].join()
            self._preparing = None
        if self._sampled is not None:
            self._sampled.close()
        self.train.close()
        self.valid.close()


def load_training_data(cfg: Config, saved: tokenizer.Tokenizer | None = None) -> TrainingData:
    """`saved`: the tokenizer a resumed run's last.pt holds, or a fine-tuning run's train.init_from
    file. It is used as it is, never trained or read from cache_dir again: the ids the model learned
    are the ids it keeps reading (another cache_dir, or another SentencePiece version, could build a
    different one). The encoded corpora are cached under the tokenizer's content, so they match it
    too."""
    d, cache = cfg.data, Path(cfg.cache_dir)
    digest = data.check_parallel(d.train_src, d.train_tgt)
    data.check_parallel(d.valid_src, d.valid_tgt)  # a bad path fails now, not after the tokenizer
    if saved is not None:
        tok = saved
        log.info(f"tokenizer: the model's own (source {len(tok.src)}, target {len(tok.tgt)} pieces)")
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
    train_data = encode_corpus(Path(d.train_src), Path(d.train_tgt), digest, tok, cache)
    valid_data = load_corpus(d.valid_src, d.valid_tgt, tok, cache)
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
    return TrainingData(cfg, digest, tok, train_data, valid_data, valid_src, valid_ref)


def whole_updates(n_batches: int, per_update: int) -> int:
    """How many of an epoch's `n_batches` batches are trained on: whole updates of `per_update`
    batches only (train.accumulate x processes). The few left over (fewer than `per_update`; the
    end of the epoch's shuffled order, so other ones every epoch) wait for the next epoch's order.
    So N processes with `accumulate: A` make exactly the updates of one process with `accumulate:
    N x A`, every update over the same number of batches."""
    return n_batches - n_batches % per_update
