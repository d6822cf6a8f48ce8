"""Model soups (Wortsman et al. 2022, arXiv:2203.05482): the weights of models fine-tuned from one
model, averaged, often translate better than each of them, and cost no more to run than one of
them (an ensemble costs as many). With `train.average_with: [MODEL, ...]`, the best.pt of runs that
started from the same model as this one or from a relative of it (another start or seed of the same
recipe), the end of training (final_model.py) also tries each of its candidates averaged with those
files, on the validation set with every search setting, as one more candidate.

The files are read and checked when the run starts (the same model and tokenizer as this run's),
so a wrong path fails in the first second rather than after hours of training; `requires:` can
train them first. The average of unrelated models (other random starts) translates nothing, and
the validation then passes it over: the list is for relatives.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..config.load import Config
from ..data.tokenizer import Tokenizer
from ..errors import UserError
from ..models.model_file import mean_weights, named_model_file

log = logging.getLogger("seq2seq")

Weights = dict[str, torch.Tensor]


def soup_partners(cfg: Config, model: nn.Module, tokenizer: Tokenizer) -> list[Weights]:
    """The weights of the files train.average_with names, each checked to be this run's model
    (the same weights, of the same shapes) with this run's tokenizer."""
    shapes = {name: t.shape for name, t in model.state_dict().items()}
    partners = []
    for name in cfg.train.average_with:
        path = Path(name)
        missing = "train its run first (list that run's config in requires:) or correct the path"
        file = named_model_file("train.average_with", path, "average with", missing)
        theirs = file.vocab()  # the same pieces for the same ids, as an ensemble needs
        same_tokenizer = tokenizer.src.same_as(theirs.src) and tokenizer.tgt.same_as(theirs.tgt)
        same_model = {k: t.shape for k, t in file.weights.items()} == shapes
        if not (same_model and same_tokenizer):
            what = "another model" if not same_model else "another tokenizer"
            raise UserError(
                f"train.average_with {path} holds {what} than this run; list models fine-tuned "
                "from the same model as this run (its train.init_from or a relative of it)"
            )
        partners.append(file.weights)
    if partners:
        n = len(partners)
        log.info(f"train.average_with: at the end each candidate is also tried averaged with {n} model(s)")
    return partners


def soups(
    candidates: list[tuple[str, Weights]], partners: Sequence[Weights], names: Sequence[str]
) -> list[tuple[str, Weights]]:
    """(label, weights) of each candidate averaged with the partners; none without partners."""
    if not partners:
        return []
    return [
        (f"{label} averaged with {', '.join(names)}", mean_weights([weights, *partners]))
        for label, weights in candidates
    ]
