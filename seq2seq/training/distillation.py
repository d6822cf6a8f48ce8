"""Sequence-level knowledge distillation (Kim and Rush 2016, arXiv:1606.07947), the teacher's
translations added to the references: with `data.distill_from: MODEL` (or a list of model files,
an ensemble: Freitag et al. 2017), the teacher translates every training source once, with the
search settings saved in its (the first) file, and the run trains on each source twice, with its
reference and with the teacher's translation.

The pair of files the run then reads is made in cache_dir, named by the content of the teacher
files and of the training files: a resumed run, and any other run with the same teacher and data,
reads it again instead of translating anew. The run's last.pt keeps the teacher file's SHA-256 as
it keeps the data files' (run_dir.DATA_FILES), so resuming with another teacher is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import time
from pathlib import Path

from ..config.load import Config
from ..data import batches as data
from ..decoding.translate import translate
from ..errors import UserError
from ..models.ensemble import Ensemble, check_shared_vocabulary
from ..models.model_file import ModelFile, named_model_file
from ..runtime.device import decoding_precision, pick_device
from .run_dir import data_digests

log = logging.getLogger("seq2seq")


def with_distilled_data(cfg: Config) -> Config:
    """`cfg` itself without data.distill_from; with it, `cfg` with data.train_src and train_tgt
    naming the cached pair: the training pairs, then each training source with the teacher's
    translation (sources it translates to nothing are left out of the second part)."""
    d = cfg.data
    if not d.distill_from:
        return cfg
    files = [
        named_model_file(
            "data.distill_from",
            Path(name),
            "distill from",
            "train the teacher first, or point data.distill_from at a model file (best.pt, averaged.pt, "
            "a released model)",
        )
        for name in d.distill_from
    ]
    teacher_digest = data_digests(cfg).get("data.distill_from", "")
    key = hashlib.sha256(f"{teacher_digest}:{data.check_parallel(d.train_src, d.train_tgt)}".encode())
    folder = Path(cfg.cache_dir) / f"distilled-{key.hexdigest()[:16]}"
    src, tgt = folder / "train.src", folder / "train.tgt"
    if src.is_file() and tgt.is_file():
        log.info(f"distillation: the teacher's translations of {d.train_src} from {folder}")
    else:
        sources, references = data.read_lines(d.train_src), data.read_lines(d.train_tgt)
        outputs = teach(files, sources, cfg.train.device)
        taught = [(s, t) for s, t in zip(sources, outputs) if t.strip()]
        folder.mkdir(parents=True, exist_ok=True)
        _write_lines(tgt, references + [t for _, t in taught])  # tgt first: src marks a whole pair
        _write_lines(src, sources + [s for s, _ in taught])
        log.info(f"distillation: {len(taught):,} translations added to {len(sources):,} pairs, in {folder}")
    return dataclasses.replace(cfg, data=dataclasses.replace(d, train_src=str(src), train_tgt=str(tgt)))


def teach(files: list[ModelFile], sources: list[str], device: str) -> list[str]:
    """The teacher's translation of each source, as `seq2seq translate MODEL... -i` writes them:
    one model, or several decoding as an ensemble (Freitag et al. 2017, arXiv:1702.01802), with
    the first one's search settings and decoding precision, on `device` (train.device)."""
    built = [file.build() for file in files]
    names = [str(file.source) for file in files]
    for name, (_, other, _) in zip(names, built):
        if other.task != "translate":
            raise UserError(
                f"data.distill_from {name} is a classifier (task: {other.task}); name a translation model"
            )
    check_shared_vocabulary(names, [tokenizer for _, _, tokenizer in built])
    _, cfg, tokenizer = built[0]
    where = pick_device(device, "train.device")
    models = [model.to(where) for model, _, _ in built]
    model = models[0] if len(models) == 1 else Ensemble(models)
    model = model.inference_copy(decoding_precision(cfg.train.precision, where))
    s = cfg.search
    log.info(
        f"distillation: {' + '.join(names)} translate{'s' if len(names) == 1 else ''} {len(sources):,} "
        f"training sources (beam {s.beam_size}, length penalty {s.length_penalty})"
    )
    start = time.perf_counter()
    texts = [t.text for t in translate(model, tokenizer, sources, s, max_src_len=cfg.data.max_len)]
    log.info(f"distillation: translated in {time.perf_counter() - start:.0f} s")
    return texts


def _write_lines(path: Path, lines: list[str]) -> None:
    """Whole or not at all: a killed process leaves no half-written file under the final name."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    os.replace(tmp, path)
