"""Fine-tuning: with `train.init_from: MODEL`, a new run starts from a trained model file's weights
and tokenizer instead of random weights and a new SentencePiece model (what OpenNMT-py's
`-train_from` with `-reset_optim all` and JoeyNMT's `load_model` with its resets do). The optimizer,
the learning-rate schedule and the epochs begin anew, as the config sets them; the data may be any
(new domain, distilled pairs, more of the same).

The model is the file's: the config's model section (and a classifier's head and labels) must
describe it, and its tokenizer section the file's vocabulary; only dropout rates may differ. The
run's last.pt keeps the file's SHA-256 as it keeps the data files' (run_dir.DATA_FILES), so a
resume with another file under that name is refused; a resumed run reads its weights from last.pt.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..config.load import Config, flatten, to_dict
from ..errors import UserError
from ..models.model_file import ModelFile, named_model_file

log = logging.getLogger("seq2seq")

# what the vocabulary depends on; the rest of the tokenizer section (how many sentences
# SentencePiece reads, subword sampling) only says how it was trained or how the run samples it
VOCABULARY_KEYS = (
    "tokenizer.model_type",
    "tokenizer.vocab_size",
    "tokenizer.joint",
    "tokenizer.character_coverage",
)
SHAPE_SECTIONS = ("model.", "classify.heads", "classify.attention_size", "classify.labels")


def starting_model(cfg: Config) -> ModelFile | None:
    """The model file named by train.init_from, checked to be the model the config describes;
    None without the key."""
    name = cfg.train.init_from
    if not name:
        return None
    path = Path(name)
    missing = "name a trained model file (best.pt, averaged.pt, a released model)"
    file = named_model_file("train.init_from", path, "fine-tune", missing)
    saved = file.cfg()
    if saved.task != cfg.task:
        raise UserError(
            f"train.init_from {path} is a model of task: {saved.task}, the config's task is {cfg.task}; "
            f"fine-tune a {cfg.task} model"
        )
    differences = _differences(saved, cfg)
    if differences:
        listed = ", ".join(f"{k} {theirs!r} in the file, {ours!r} here" for k, theirs, ours in differences)
        raise UserError(
            f"train.init_from {path} is another model than the config describes: {listed}; "
            "set them as the file has them (only dropout rates may change when fine-tuning)"
        )
    log.info(f"fine-tuning {path}: its weights and tokenizer; the optimizer and schedule start anew")
    return file


def _differences(saved: Config, cfg: Config) -> list[tuple[str, object, object]]:
    """(key, the file's value, the config's value) of each key that shapes the model or its
    vocabulary and differs; dropout rates are free."""
    theirs, ours = flatten(to_dict(saved)), flatten(to_dict(cfg))
    keys = [
        k
        for k in sorted(set(theirs) | set(ours))
        if (k.startswith(SHAPE_SECTIONS) and "dropout" not in k) or k in VOCABULARY_KEYS
    ]
    return [(k, theirs.get(k), ours.get(k)) for k in keys if theirs.get(k) != ours.get(k)]
