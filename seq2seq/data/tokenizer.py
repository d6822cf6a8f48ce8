"""SentencePiece subwords: train once per (data, settings), then text in, text out.

The model sees compact ids: each side keeps only the pieces that occur in its training text (a joint
8k model whose German side uses 5.5k pieces gets a 5.5k output layer), plus four fixed specials.
Users never see ids or pieces except where they ask (attention plots, JSONL output).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import sentencepiece as spm
import torch
from sentencepiece import sentencepiece_model_pb2

from ..config.load import TokenizerConfig
from ..errors import UserError
from ..special_ids import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID
from . import cache_entry

__all__ = ["BOS_ID", "EOS_ID", "PAD_ID", "SPECIALS", "UNK_ID", "SubwordVocab", "Tokenizer", "train_or_load"]
_CHUNK = 10_000  # lines encoded per SentencePiece call


class SubwordVocab:
    """One side: a SentencePiece model and the subset of its pieces the translation model uses."""

    def __init__(self, proto: bytes, spm_ids: np.ndarray):
        self.proto = proto
        self.sp = spm.SentencePieceProcessor(model_proto=proto)
        self.spm_ids = np.asarray(spm_ids, dtype=np.int64)  # model id -> SentencePiece id
        if not np.array_equal(self.spm_ids[: len(SPECIALS)], np.arange(len(SPECIALS))):
            raise ValueError("the first model ids must be the special pieces")
        self._to_model = np.full(self.sp.get_piece_size(), UNK_ID, dtype=np.int64)
        self._to_model[self.spm_ids] = np.arange(len(self.spm_ids))

    def __len__(self) -> int:
        return len(self.spm_ids)

    def encode(self, lines: Sequence[str], threads: int = 0) -> list[np.ndarray]:
        """Text -> model ids (no BOS/EOS); pieces unseen in training become UNK. SentencePiece
        uses `threads` threads (0: one per core)."""
        encoded = self.sp.encode(list(lines), out_type=int, num_threads=threads or os.cpu_count() or 1)
        return [self._to_model[np.asarray(ids, dtype=np.int64)] for ids in encoded]

    def sample(
        self, lines: Sequence[str], alpha: float, nbest: int, seed: int, threads: int = 0
    ) -> list[np.ndarray]:
        """Text -> model ids of a sampled segmentation: unigram sampling with smoothing `alpha` over
        the `nbest` best segmentations (-1: all; Kudo 2018, arXiv:1804.10959), or BPE-dropout with
        probability `alpha` (Provilkov et al. 2020, arXiv:1910.13267).

        SentencePiece's worker threads seed their generators from the last seed set, so without a
        new seed every call would draw the same segmentation again. It draws from absl's
        generator, which mixes a salt of its own into the seed per process: `seed` makes the draws
        of one process differ from call to call, not two processes agree. SentencePiece samples
        in `threads` threads (0: one per core): sampling costs several times plain encoding, and
        with a fast GPU it would otherwise hold up every epoch."""
        spm.set_random_generator_seed(seed)
        encoded = self.sp.encode(
            list(lines),
            out_type=int,
            enable_sampling=True,
            alpha=alpha,
            nbest_size=nbest,
            num_threads=threads or os.cpu_count() or 1,
        )
        return [self._to_model[np.asarray(ids, dtype=np.int64)] for ids in encoded]

    @property
    def is_unigram(self) -> bool:
        model = sentencepiece_model_pb2.ModelProto.FromString(self.proto)
        return model.trainer_spec.model_type == sentencepiece_model_pb2.TrainerSpec.UNIGRAM

    def nbest(self, lines: Sequence[str], n: int) -> list[tuple[list[np.ndarray], np.ndarray]]:
        """The `n` best segmentations of each line (fewer where it has fewer), best first, as model
        ids, with their scores: each one's log-probability under the unigram model, the sum of its
        pieces' (an unknown piece costs SentencePiece's penalty, 10 below the lowest piece)."""
        size = self.sp.get_piece_size()
        piece_scores = np.array([self.sp.get_score(i) for i in range(size)], dtype=np.float64)
        normal = [i for i in range(size) if not (self.sp.is_unknown(i) or self.sp.is_control(i))]
        piece_scores[self.sp.unk_id()] = piece_scores[normal].min() - 10.0
        result = []
        for segmentations in self.sp.nbest_encode_as_numpy(list(lines), nbest_size=n):
            segmentations = segmentations or [np.zeros(0, dtype=np.int32)]
            scores = np.array([piece_scores[s].sum() for s in segmentations])
            result.append(([self._to_model[s] for s in segmentations], scores))
        return result

    def same_as(self, other: SubwordVocab) -> bool:
        """Whether both segment text alike and give each id the same piece: the same pieces with
        the same scores (the model files themselves also record where they were trained)."""
        if not np.array_equal(self.spm_ids, other.spm_ids):
            return False
        ours, theirs = self.sp, other.sp
        return ours.get_piece_size() == theirs.get_piece_size() and all(
            ours.id_to_piece(i) == theirs.id_to_piece(i) and ours.get_score(i) == theirs.get_score(i)
            for i in range(ours.get_piece_size())
        )

    def decode(self, ids: Iterable[int]) -> str:
        """Model ids -> text; specials are dropped."""
        kept = [i for i in ids if i >= len(SPECIALS)]
        return self.sp.decode([int(i) for i in self.spm_ids[kept]]) if kept else ""

    def pieces(self, ids: Iterable[int]) -> list[str]:
        return [self.sp.id_to_piece(int(self.spm_ids[i])) for i in ids]


class Tokenizer:
    """Source and target subword vocabularies (the same SentencePiece model when joint)."""

    def __init__(self, src: SubwordVocab, tgt: SubwordVocab):
        self.src = src
        self.tgt = tgt

    def state(self) -> dict[str, torch.Tensor]:
        """Tensors only, so a model file holding it loads with torch.load(weights_only=True)."""
        return {
            "src_model": torch.frombuffer(bytearray(self.src.proto), dtype=torch.uint8),
            "tgt_model": torch.frombuffer(bytearray(self.tgt.proto), dtype=torch.uint8),
            "src_ids": torch.from_numpy(self.src.spm_ids.copy()),
            "tgt_ids": torch.from_numpy(self.tgt.spm_ids.copy()),
        }

    def digest(self) -> str:
        """What the ids of an encoded text depend on: both SentencePiece models, the pieces kept,
        and the SentencePiece version that encodes (the key of the encoded-corpus cache)."""
        h = hashlib.sha256(spm.__version__.encode())
        for v in (self.src, self.tgt):
            h.update(v.proto)
            h.update(v.spm_ids.tobytes())
        return h.hexdigest()

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> Tokenizer:
        return cls(
            SubwordVocab(state["src_model"].numpy().tobytes(), state["src_ids"].numpy()),
            SubwordVocab(state["tgt_model"].numpy().tobytes(), state["tgt_ids"].numpy()),
        )


def train_or_load(
    cfg: TokenizerConfig,
    src_path: Path,
    tgt_path: Path,
    fingerprint: str,
    cache_dir: Path,
    log,
    shared_vocab: bool = False,
) -> Tokenizer:
    """The tokenizer for these training files and settings, trained on first use and cached.

    `fingerprint` identifies the training files' content; together with the settings it names
    the cache entry, so a changed file or setting trains a new tokenizer. With `shared_vocab`
    (a joint model whose source and target embeddings are tied) both sides use the union of the
    pieces either side uses, so an id means the same piece on both sides.
    """
    if shared_vocab and not cfg.joint:
        raise ValueError("a shared vocabulary needs a joint SentencePiece model")
    # sampling does not change the SentencePiece model, only which of its pieces the vocabulary holds
    settings = {k: v for k, v in asdict(cfg).items() if not k.startswith("sampling_")}
    key = hashlib.sha256(
        json.dumps([settings, fingerprint, spm.__version__, shared_vocab], sort_keys=True).encode()
    ).hexdigest()[:16]
    entry = cache_dir / f"tokenizer-{key}"
    if not cache_entry.is_built(entry, "vocab.json"):
        files = " and ".join(dict.fromkeys(map(str, (src_path, tgt_path))))
        log(
            f"training SentencePiece {cfg.model_type} tokenizer ({cfg.vocab_size} pieces, "
            f"{'joint' if cfg.joint else 'separate'}) on {files}"
        )
        _train(cfg, src_path, tgt_path, entry, shared_vocab)
    else:
        log(f"reusing tokenizer {entry}")
    vocab = json.loads((entry / "vocab.json").read_text())
    if cfg.sampling_alpha:  # a sampled segmentation may use any piece of the model
        vocab = {f"{side}_ids": _all_pieces(entry / f"{side}.model") for side in ("src", "tgt")}
    tok = Tokenizer(
        SubwordVocab((entry / "src.model").read_bytes(), np.array(vocab["src_ids"])),
        SubwordVocab((entry / "tgt.model").read_bytes(), np.array(vocab["tgt_ids"])),
    )
    log(f"vocabulary: source {len(tok.src)}, target {len(tok.tgt)} pieces (of {cfg.vocab_size})")
    return tok


def _train(cfg: TokenizerConfig, src_path: Path, tgt_path: Path, entry: Path, shared_vocab: bool) -> None:
    with cache_entry.building(entry, "vocab.json") as tmp:
        if cfg.joint or src_path == tgt_path:  # one text (a classifier's): one model
            _train_spm(cfg, list(dict.fromkeys([src_path, tgt_path])), tmp / "src.model")
            shutil.copyfile(tmp / "src.model", tmp / "tgt.model")
        else:
            _train_spm(cfg, [src_path], tmp / "src.model")
            _train_spm(cfg, [tgt_path], tmp / "tgt.model")
        src_ids = _used_pieces(tmp / "src.model", src_path)
        tgt_ids = _used_pieces(tmp / "tgt.model", tgt_path)
        if shared_vocab:
            src_ids = tgt_ids = sorted(set(src_ids) | set(tgt_ids))
        (tmp / "vocab.json").write_text(json.dumps({"src_ids": src_ids, "tgt_ids": tgt_ids}))


def _train_spm(cfg: TokenizerConfig, paths: list[Path], model_path: Path) -> None:
    spm.set_random_generator_seed(1)
    try:
        spm.SentencePieceTrainer.train(
            input=[str(p) for p in paths],
            model_prefix=str(model_path.with_suffix("")),
            model_type=cfg.model_type,
            vocab_size=cfg.vocab_size,
            character_coverage=cfg.character_coverage,
            input_sentence_size=cfg.max_sentences,
            shuffle_input_sentence=True,
            pad_id=PAD_ID,
            unk_id=UNK_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
            num_threads=os.cpu_count() or 1,
            minloglevel=2,
        )
    except RuntimeError as e:
        message = str(e).splitlines()[-1] if str(e) else repr(e)
        raise UserError(
            f"SentencePiece could not train on {', '.join(map(str, paths))}: {message} "
            "(for a small corpus, lower tokenizer.vocab_size)"
        ) from None


def _all_pieces(model_path: Path) -> list[int]:
    return list(range(spm.SentencePieceProcessor(model_file=str(model_path)).get_piece_size()))


def _used_pieces(model_path: Path, text_path: Path) -> list[int]:
    """SentencePiece ids of the specials plus every piece that occurs in the text, ascending."""
    sp = spm.SentencePieceProcessor(model_file=str(model_path))
    counts = np.zeros(sp.get_piece_size(), dtype=np.int64)
    with open(text_path, encoding="utf-8") as f:
        while lines := [line.rstrip("\n") for _, line in zip(range(_CHUNK), f)]:
            ids = sp.encode(lines, out_type=int, num_threads=os.cpu_count() or 1)
            flat = np.fromiter((i for sent in ids for i in sent), dtype=np.int64)
            counts += np.bincount(flat, minlength=len(counts))
    counts[: len(SPECIALS)] = 1
    return np.flatnonzero(counts).tolist()
