"""Training pairs that trained models write, added to the references before the first epoch.

Forward, sequence-level knowledge distillation (Kim and Rush 2016, arXiv:1606.07947): with
`data.distill_from: MODEL` (or a list of model files, an ensemble: Freitag et al. 2017), the teacher
translates every training source, and the run trains on each source with its reference and with
the teacher's translation (with `data.distill_n_best: N`, with each distinct one of its N best).

Backward, back-translation (Sennrich et al. 2016, arXiv:1511.06709): with `data.back_translate_from:
MODEL` (or a list), a model of the other direction translates every training target, and the run
also trains on each target with that synthetic source; with `data.monolingual_tgt: FILE`, on the
back-translations of target-language text that has no source at all. With both kinds from models
of both directions this is data diversification (Nguyen et al. 2020, arXiv:1911.01986).

Each model decodes with the search settings saved in its (the first) file, exactly as `seq2seq
translate MODEL... -i` writes. Pairs with an empty side are left out. The pair of files the run then
reads is made in cache_dir, named by the content of the model files and of the training files: a
resumed run, and any other run with the same models and data, reads it again instead of
translating anew. The run's last.pt keeps the model files' SHA-256 as it keeps the data files'
(run_dir.DATA_FILES), so resuming with other models is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from pathlib import Path

from ..config.load import Config
from ..data import batches as data
from ..data import cache_entry
from ..decoding.translate import translate
from ..errors import UserError
from ..models.ensemble import Ensemble, check_shared_vocabulary
from ..models.model_file import ModelFile, named_model_file
from ..runtime.device import decoding_precision, pick_device
from .run_dir import data_digests

log = logging.getLogger("seq2seq")


def with_synthetic_pairs(cfg: Config) -> Config:
    """`cfg` itself without data.distill_from and data.back_translate_from; with either, `cfg` with
    data.train_src and train_tgt naming the cached pair: the training pairs, then each training
    source with the teacher's translation, then each training target (and each line of
    data.monolingual_tgt) with its back-translation."""
    d = cfg.data
    if not d.distill_from and not d.back_translate_from:
        return cfg
    forward = _model_files(d.distill_from, "data.distill_from", "distill from")
    backward = _model_files(d.back_translate_from, "data.back_translate_from", "back-translate with")
    digests = data_digests(cfg)
    key = f"{digests.get('data.distill_from', '')}:{data.check_parallel(d.train_src, d.train_tgt)}"
    if d.distill_n_best > 1:  # (the key of the one best as before: its cached pairs stay valid)
        key += f":n_best:{d.distill_n_best}"
    if backward:  # (a key of distillation alone as before: its cached pairs stay valid)
        text = data.check_text_file(d.monolingual_tgt)[1] if d.monolingual_tgt else ""
        key += f":back:{digests['data.back_translate_from']}:{text}"
    folder = Path(cfg.cache_dir) / f"distilled-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    src, tgt = folder / "train.src", folder / "train.tgt"
    if cache_entry.is_built(folder, src.name):  # the source side is written last
        log.info(f"synthetic pairs: the models' translations of the training data from {folder}")
    else:
        sources, targets = data.read_lines(d.train_src), data.read_lines(d.train_tgt)
        pairs = list(zip(sources, targets))
        if forward:
            lists = teach(forward, sources, cfg.train.device, "data.distill_from", d.distill_n_best)
            taught = _nonempty((s, t) for s, texts in zip(sources, lists) for t in texts)
            log.info(f"distillation: {len(taught):,} translations added to {len(sources):,} pairs")
            pairs += taught
        if backward:
            monolingual = data.read_lines(d.monolingual_tgt) if d.monolingual_tgt else []
            texts = targets + monolingual
            made = teach(backward, texts, cfg.train.device, "data.back_translate_from")
            back = _nonempty((m[0] if m else "", t) for m, t in zip(made, texts))
            lines = f"{len(targets):,} targets and {len(monolingual):,} monolingual lines"
            log.info(f"back-translation: {len(back):,} pairs added, of {lines}")
            pairs += back
        with cache_entry.building(folder, src.name) as tmp:
            _write_lines(tmp / tgt.name, [t for _, t in pairs])
            _write_lines(tmp / src.name, [s for s, _ in pairs])
        log.info(f"synthetic pairs: {len(pairs):,} training pairs in {folder}")
    return dataclasses.replace(cfg, data=dataclasses.replace(d, train_src=str(src), train_tgt=str(tgt)))


def teach(
    files: list[ModelFile], sources: list[str], device: str, key: str, n_best: int = 1
) -> list[list[str]]:
    """The model's `n_best` translations of each source, the distinct ones, best first (the first
    as `seq2seq translate MODEL... -i` writes it): one model, or several decoding as an ensemble
    (Freitag et al. 2017, arXiv:1702.01802), with the first one's search settings and decoding
    precision, on `device` (train.device); `key` names the config key the files come from in
    messages."""
    built = [file.build() for file in files]
    names = [str(file.source) for file in files]
    for name, (_, other, _) in zip(names, built):
        if other.task != "translate":
            raise UserError(f"{key} {name} is a classifier (task: {other.task}); name a translation model")
    check_shared_vocabulary(names, [tokenizer for _, _, tokenizer in built])
    _, cfg, tokenizer = built[0]
    where = pick_device(device, "train.device")
    models = [model.to(where) for model, _, _ in built]
    model = models[0] if len(models) == 1 else Ensemble(models)
    model = model.inference_copy(decoding_precision(cfg.train.precision, where))
    s = cfg.search
    if n_best > s.beam_size:
        raise UserError(
            f"data.distill_n_best {n_best} needs a beam at least as large, and {names[0]} searches with "
            f"beam {s.beam_size}; set data.distill_n_best to at most {s.beam_size}"
        )
    log.info(
        f"{key}: {' + '.join(names)} translate{'s' if len(names) == 1 else ''} {len(sources):,} "
        f"sentences (beam {s.beam_size}, length penalty {s.length_penalty})"
    )
    start = time.perf_counter()
    done = translate(model, tokenizer, sources, s, n_best, max_src_len=cfg.data.max_len)
    log.info(f"{key}: translated in {time.perf_counter() - start:.0f} s")
    return [list(dict.fromkeys(t.texts[:n_best])) for t in done]


def _model_files(names: tuple[str, ...], key: str, use: str) -> list[ModelFile]:
    missing = f"train that model first, or point {key} at a model file (best.pt, averaged.pt, a release)"
    return [named_model_file(key, Path(name), use, missing) for name in names]


def _nonempty(pairs) -> list[tuple[str, str]]:
    return [(s, t) for s, t in pairs if s.strip() and t.strip()]


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
