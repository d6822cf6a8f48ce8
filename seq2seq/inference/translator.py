"""The Translator: a model file (or several, as an ensemble) loaded for decoding, with its search
settings, tokenizer and precision; `translate` turns lines into Translations.

Everything here needs only the model file: the config, tokenizer and weights are all inside it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ..config.load import Config, SearchConfig
from ..data.tokenizer import Tokenizer
from ..decoding.sampler import Sampler
from ..decoding.translate import Translation, translate
from ..errors import UserError
from ..models.build import count_parameters
from ..models.ensemble import Ensemble, check_shared_vocabulary
from ..models.model_file import ModelFile
from ..models.seq2seq import Seq2Seq
from ..runtime.device import decoding_precision, describe, pick_device, pick_precision, precision_warning
from .glossary import Glossary

log = logging.getLogger("seq2seq")


@dataclass
class Translator:
    """Decoding with our own search in PyTorch. `engine` and `reports_attention` say what a
    server may promise (deploy/ctranslate2_engine.py has another engine behind the same face)."""

    engine: ClassVar[str] = "pytorch"
    reports_attention: ClassVar[bool] = True
    obeys_glossaries: ClassVar[bool] = True  # the constrained beam search
    model: Seq2Seq | Ensemble
    tokenizer: Tokenizer
    config: Config
    search: SearchConfig
    precision: str
    device: str = "cpu"  # where it decodes, as the log says it: 'cpu (2 threads)', 'cuda:0 (NVIDIA H200)'
    sampler: Sampler | None = None  # sample instead of searching (chat)
    parameters: int = 0  # the models' parameters, all of them (build.count_parameters)
    glossary: Glossary | None = None  # the terms every translation obeys (translate --glossary)

    @classmethod
    def load(
        cls,
        paths: str | Path | Sequence[str | Path],
        device: str = "auto",
        precision: str | None = None,
        compile: bool = False,
        **search: float | int | None,
    ) -> Translator:
        """Load a model file, or several as an ensemble; `search` overrides the decoding settings
        saved in the (first) file (None: keep). `compile`: torch.compile the recurrent decoders'
        step (Seq2Seq.compile_steps). With an int8 model file (export --int8) among them, decoding
        runs on the CPU with fp32 activations, and `precision` says int8."""
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        files = [ModelFile.read(p) for p in paths]
        int8 = next((p for p, f in zip(paths, files) if f.int8 is not None), None)
        if int8 is not None:
            device, precision = _int8_decoding(int8, device, precision, compile)
        loaded = [f.build() for f in files]
        for path, (_, other_cfg, _) in zip(paths, loaded):
            if other_cfg.task != "translate":
                raise UserError(
                    f"{path} is a classifier (task: {other_cfg.task}), not a translation model; "
                    f"use seq2seq classify {path}, or seq2seq test {path} with --src and --ref"
                )
        _, cfg, tokenizer = loaded[0]
        check_shared_vocabulary([str(p) for p in paths], [t for _, _, t in loaded])
        where = pick_device(device, "--device")
        settings = dataclasses.replace(cfg.search, **{k: v for k, v in search.items() if v is not None})
        if precision is None:
            precision = decoding_precision(cfg.train.precision, where)
        elif warning := precision_warning(precision, where, "--precision"):
            log.warning(warning)
        precision = pick_precision(precision, where)
        models = [model.to(where) for model, _, _ in loaded]
        model = models[0] if len(models) == 1 else Ensemble(models)
        model = model.inference_copy(precision)
        if compile:
            model.compile_steps()
        parameters = sum(count_parameters(c, len(t.src), len(t.tgt)) for _, c, t in loaded)
        precision = precision if int8 is None else "int8"  # int8 products, fp32 between them
        return cls(model, tokenizer, cfg, settings, precision, describe(where), parameters=parameters)

    def show_head(self, head: int | None) -> None:
        """Report one attention head (None: their average); a ValueError names the heads there are."""
        self.model.show_head(head)

    def translate(
        self,
        lines: Sequence[str],
        n_best: int = 1,
        with_attention: bool = False,
        glossary: Glossary | None = None,
    ) -> list[Translation]:
        """`glossary` (default: the translator's): the target terms of the source terms each line
        holds must appear in its translation (the constrained beam search)."""
        glossary = glossary if glossary is not None else self.glossary
        translations = translate(
            self.model,
            self.tokenizer,
            lines,
            self.search,
            n_best,
            with_attention,
            max_src_len=self.config.data.max_len,
            sampler=self.sampler,
            constraints=glossary.constraints(lines, self.tokenizer) if glossary else None,
        )
        return glossary.restore(translations, self.tokenizer) if glossary else translations


def _int8_decoding(path: str | Path, device: str, precision: str | None, compile: bool) -> tuple[str, str]:
    """The device and precision of decoding with an int8 model file (models/int8.py): PyTorch's
    int8 layers run on the CPU, with fp32 between them; asking for other ones is one line."""
    if device == "cuda":
        raise UserError(
            f"{path} is an int8 model file, and PyTorch runs int8 layers on the CPU only: use "
            "--device cpu, or the model file it was exported from on the GPU"
        )
    if precision not in (None, "auto", "fp32"):
        raise UserError(
            f"--precision {precision}: {path} is an int8 model file, which computes in int8 and fp32; "
            "leave --precision off"
        )
    if compile:
        raise UserError(f"--compile is for float model files; {path} is int8: leave --compile off")
    return "cpu", "fp32"
