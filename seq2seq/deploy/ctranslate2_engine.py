"""Translate with a CTranslate2 export (`seq2seq export --ctranslate2`): the same face as
`translator.Translator`, so `translate` and `test` take an exported directory as they take a model
file; the engine follows from what the path is.

Around the engine everything is ours: the SentencePiece models and config in the directory, lines
longer than data.max_len translated in parts (`decoding/translate.py`: `translate_lines`), our length limit
(search.max_len_ratio x source pieces + max_len_offset, one engine call per limit), n-best lists.
What the engine does differently is said, not hidden: its length penalty divides a hypothesis' score
by length ** alpha (ours: GNMT's ((5 + length) / 6) ** alpha), a hypothesis cut by the length limit
ends without EOS (ours must end with it), it reports no attention, and it has no --compile.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from ..config.load import Config, SearchConfig, load_config
from ..data.tokenizer import Tokenizer
from ..decoding.hypotheses import Hypothesis
from ..decoding.search import max_lengths
from ..decoding.translate import Translation, searched_n_best, translate_lines
from ..errors import UserError
from ..models.build import count_parameters
from .ctranslate2_export import CONFIG_FILE, ctranslate2_module, read_tokenizer

COMPUTE_TYPES = {None: "default", "fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
NO_ATTENTION = "a CTranslate2 export reports no attention; use the model file for attention"


def is_export(path: str | Path) -> bool:
    """Whether `path` is a CTranslate2 export directory (rather than a model file)."""
    return (
        Path(path).is_dir() and (Path(path) / "model.bin").is_file() and (Path(path) / CONFIG_FILE).is_file()
    )


@dataclass
class CTranslate2Translator:
    """What `translator.Translator` offers its users (translate, test, serve), with CTranslate2
    decoding; `engine` and `reports_attention` say what a server may promise."""

    engine: ClassVar[str] = "ctranslate2"
    reports_attention: ClassVar[bool] = False
    obeys_glossaries: ClassVar[bool] = False  # CTranslate2 has no lexically constrained search
    ct2_translator: object  # a ctranslate2.Translator
    tokenizer: Tokenizer
    config: Config
    search: SearchConfig
    precision: str  # the engine's compute type
    device: str
    parameters: int  # the model's, as its model file counts them

    @classmethod
    def load(
        cls,
        directory: str | Path,
        device: str = "auto",
        precision: str | None = None,
        compile: bool = False,
        **search: float | int | None,
    ) -> CTranslate2Translator:
        ct2 = ctranslate2_module()
        directory = Path(directory)
        if compile:
            raise UserError(
                f"--compile is for model files; CTranslate2 runs {directory} as it is: leave it off"
            )
        if precision == "auto":
            precision = None
        where = (
            "cuda" if device == "cuda" or (device == "auto" and ct2.get_cuda_device_count() > 0) else "cpu"
        )
        threads = torch.get_num_threads() if where == "cpu" else 0
        engine = ct2.Translator(
            str(directory), device=where, compute_type=COMPUTE_TYPES[precision], intra_threads=threads
        )
        cfg = load_config(directory / CONFIG_FILE)
        settings = dataclasses.replace(cfg.search, **{k: v for k, v in search.items() if v is not None})
        described = f"{where} ({threads} threads)" if where == "cpu" else where
        tokenizer = read_tokenizer(directory)
        parameters = count_parameters(cfg, len(tokenizer.src), len(tokenizer.tgt))
        return cls(engine, tokenizer, cfg, settings, engine.compute_type, described, parameters)

    @functools.cached_property
    def _target_ids(self) -> dict[str, int]:
        """Target piece -> id (the engine answers in pieces)."""
        return {p: i for i, p in enumerate(self.tokenizer.tgt.pieces(range(len(self.tokenizer.tgt))))}

    def show_head(self, head: int | None) -> None:
        if head is not None:
            raise ValueError(NO_ATTENTION)

    def translate(
        self, lines: Sequence[str], n_best: int = 1, with_attention: bool = False
    ) -> list[Translation]:
        if with_attention:
            raise UserError(NO_ATTENTION)
        pool = searched_n_best(n_best, self.search.beam_size)
        return translate_lines(
            self.tokenizer, lines, lambda c: self._decode(c, pool), self.config.data.max_len, None, n_best
        )

    def _decode(self, chunks: list[np.ndarray], n_best: int) -> list[list[Hypothesis]]:
        """Each chunk's hypotheses, best first; one engine call per length limit."""
        s = self.search
        limits = max_lengths(torch.tensor([len(c) + 1 for c in chunks]), s.max_len_ratio, s.max_len_offset)
        vocab = self._target_ids
        results: list[list[Hypothesis]] = [[] for _ in chunks]
        for limit in sorted(set(limits.tolist())):
            rows = [i for i, n in enumerate(limits.tolist()) if n == limit]
            found = self.ct2_translator.translate_batch(
                [[*self.tokenizer.src.pieces(chunks[i]), "</s>"] for i in rows],
                beam_size=s.beam_size,
                num_hypotheses=n_best,
                length_penalty=s.length_penalty if s.beam_size > 1 else 0.0,
                max_decoding_length=limit,
                min_decoding_length=0,  # as ours: </s> may come first (with 1, p renormalizes without it)
                max_batch_size=s.batch_tokens,
                batch_type="tokens",
                return_scores=True,
            )
            for i, result in zip(rows, found):
                results[i] = [
                    Hypothesis([vocab[p] for p in tokens], score, score, [], None, len(tokens) < limit)
                    for tokens, score in zip(result.hypotheses, result.scores)
                ]
        return results


def load_export(paths: Sequence[str | Path], **options) -> CTranslate2Translator:
    """The translator of one export directory; an ensemble of exports is refused."""
    if len(paths) > 1:
        raise UserError(
            f"{paths[0]} is a CTranslate2 export; ensembles are of model files: give the model files"
        )
    return CTranslate2Translator.load(paths[0], **options)
