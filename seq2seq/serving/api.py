"""The HTTP API's contract, apart from the web framework: what a translation request may hold
(`Limits`, `parse_request`), what an answer holds (`decoded_item`) and what `/info` says.

Every way a request can be wrong is a `Refused` with a 4xx status and one line that names the
problem and the fix. The request schema is a pydantic model (strict: no silent coercion of "5" to
5 or of true to 1; unknown fields are refused); pydantic comes with the `serve` extra.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..config.load import to_dict
from ..config.sections import ModelConfig
from ..data.tokenizer import Tokenizer
from ..decoding.translate import Translation
from ..inference.glossary import Glossary
from ..inference.translator import Translator


@dataclass(frozen=True)
class Limits:
    """What one server accepts; `seq2seq serve` options of the same names set them."""

    max_lines: int = 256  # sentences per request
    max_chars: int = 2000  # characters per sentence
    max_queue: int = 1024  # sentences waiting to be decoded, over all requests; more: 503
    max_beam: int = 16  # largest beam_size (and n_best) a request may ask for
    batch_wait_ms: float = 5.0  # how long a decoding batch waits for more requests to join it

    @property
    def max_body(self) -> int:
        """Bytes a request body may have: enough for max_lines x max_chars, each character
        written as a 6-byte JSON escape, plus room for the other fields."""
        return 6 * self.max_lines * self.max_chars + 65536


class Refused(Exception):
    """A request answered with `status` and {"error": message}."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


FIELDS = (
    "text",
    "beam_size",
    "n_best",
    "length_penalty",
    "attention",
    "glossary",
    "document",
    "wrapped",
    "format",
)
EXAMPLE = '{"text": ["A sentence."]}'


@dataclass(frozen=True)
class Parsed:
    texts: list[str]  # sentences, or with `document` whole texts (line breaks and all)
    key: Hashable  # the decoding settings lines share a batch by (server.py's work() reads it)
    document: bool = False
    format: str = "text"  # html, xml: each text is markup (inference/markup.py)
    wrapped: bool = False  # documents hard-wrapped: paragraphs joined, translations wrapped again


def parse_request(body: bytes, translator: Translator, limits: Limits) -> Parsed:
    """A POST /translate body -> its texts and the decoding settings they share a batch by:
    (beam_size, length_penalty, n_best, attention, glossary). Raises Refused, also for what
    `translator` cannot do."""
    if not body.strip():
        raise Refused(400, f"empty request body; send JSON such as {EXAMPLE}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Refused(400, f"request body is not UTF-8 (byte {e.start + 1}); send JSON in UTF-8") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise Refused(
            400, f"request body is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
        ) from None
    from pydantic import ValidationError

    try:
        request = _schema(limits).model_validate(raw)
    except ValidationError as e:
        raise _refusal(e.errors(include_url=False), limits) from None
    if request.attention and not translator.reports_attention:
        raise Refused(
            422,
            f"'attention': this server's engine ({translator.engine}) reports no attention weights; "
            "send the request without 'attention'",
        )
    search = translator.search
    beam = request.beam_size or search.beam_size
    if request.n_best > beam:
        raise Refused(422, f"n_best {request.n_best} needs a beam at least as large (beam_size {beam})")
    if request.wrapped and (not request.document or request.format != "text"):
        raise Refused(
            422, "'wrapped' is for plain-text documents: send it with \"document\": true, without 'format'"
        )
    if request.document or request.format != "text":
        what = "'document'" if request.document else f"format {request.format}"
        for name, given in (("attention", request.attention), ("n_best", request.n_best > 1)):
            if given:
                raise Refused(422, f"{what} answers with whole texts; send the request without '{name}'")
        if request.format != "text":
            from ..inference.markup_parse import problem

            for i, text in enumerate(request.text):
                if found := problem(text, xml=request.format == "xml"):
                    raise Refused(
                        422, f"text[{i}] is not well-formed {request.format}: {found}; fix the markup"
                    )
    else:
        for i, line in enumerate(request.text):
            if "\n" in line or "\r" in line:
                raise Refused(
                    422,
                    f"text[{i}] holds a line break; send one sentence per item of 'text', "
                    'or whole texts with "document": true',
                )
    glossary = _glossary(request.glossary, translator)
    alpha = search.length_penalty if request.length_penalty is None else request.length_penalty
    key = (beam, alpha, request.n_best, request.attention, glossary)
    return Parsed(request.text, key, request.document, request.format, request.wrapped)


def _glossary(pairs: list[list[str]] | None, translator: Translator) -> Glossary | None:
    if not pairs:
        return None
    if not translator.obeys_glossaries:
        raise Refused(
            422,
            f"'glossary': this server's engine ({translator.engine}) has no constrained search; "
            "send the request without 'glossary'",
        )
    try:
        return Glossary.of(pairs, where="'glossary'")
    except ValueError as e:
        raise Refused(422, str(e)) from None


@functools.cache
def _schema(limits: Limits):
    from typing import Annotated, Literal

    from pydantic import BaseModel, ConfigDict, Field

    class TranslateRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        text: Annotated[
            list[Annotated[str, Field(max_length=limits.max_chars)]], Field(max_length=limits.max_lines)
        ]
        beam_size: int | None = Field(None, ge=1, le=limits.max_beam)
        n_best: int = Field(1, ge=1, le=limits.max_beam)
        length_penalty: float | None = Field(None, ge=0.0, allow_inf_nan=False)
        attention: bool = False
        # [[source term, target term], ...]: the target terms of the source terms a text holds
        # appear in its translation
        glossary: Annotated[list[list[str]], Field(max_length=1000)] | None = None
        document: bool = False  # each text a document: sentences split, line breaks kept
        wrapped: bool = False  # with document: hard-wrapped, as `translate --document --wrapped`
        format: Literal["text", "html", "xml"] = "text"  # html, xml: the text inside tags translated

    return TranslateRequest


def _refusal(errors: list[dict], limits: Limits) -> Refused:
    """pydantic's first validation error as one line; limits exceeded are 413, the rest 422."""
    e = errors[0]
    kind, loc = e["type"], e["loc"]
    where = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(loc))
    if kind == "model_type":
        return Refused(422, f"the request must be a JSON object such as {EXAMPLE}")
    if kind == "extra_forbidden":
        return Refused(422, f"unknown field '{where}'; the fields are {', '.join(FIELDS)}")
    if kind == "missing":
        return Refused(422, f"field '{where}' is missing; send JSON such as {EXAMPLE}")
    if kind == "too_long" and loc == ("text",):
        lines = len(e["input"])
        return Refused(413, f"{lines} lines in one request; at most {limits.max_lines} (--max-lines)")
    if kind == "string_too_long":
        return Refused(
            413, f"{where} has {len(e['input'])} characters; at most {limits.max_chars} (--max-chars)"
        )
    if kind == "string_unicode":  # JSON's \ud800 escapes can name lone surrogates, which are no text
        return Refused(422, f"{where} holds a lone surrogate (a \\ud800-\\udfff escape); send valid Unicode")
    shown = json.dumps(e["input"], ensure_ascii=False).encode("utf-8", "backslashreplace").decode("utf-8")
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return Refused(422, f"'{where}' is {shown}: {e['msg'][0].lower()}{e['msg'][1:]}")


def decoded_item(t: Translation, n_best: int, attention: bool, tok: Tokenizer) -> dict:
    """One input's answer: the best text and its log-probability (log p(y|x), EOS included, the
    `score` of `translate --format jsonl`); with n_best > 1 the hypotheses, best first; with
    attention the best one's weights over the source pieces (None for a line cut into parts)."""
    hyps = [{"text": text, "score": round(h.score, 4)} for h, text in zip(t.hypotheses, t.texts)]
    hyps = hyps or [{"text": "", "score": 0.0}]  # an empty line: the empty translation, surely
    item = dict(hyps[0])
    if n_best > 1:
        item["hypotheses"] = hyps
    if attention:
        best = t.hypotheses[0] if t.hypotheses else None
        item["attention"] = (
            {
                "source": tok.src.pieces(tok.src.encode([t.source])[0]) + ["</s>"],
                "target": tok.tgt.pieces(best.tokens) + ["</s>"],
                "weights": [[round(w, 4) for w in row] for row in best.attention.float().tolist()],
            }
            if best is not None and best.attention is not None
            else None
        )
    return item


def info(translator: Translator, models: list[str], limits: Limits) -> dict:
    """What GET /info says about the model and the server."""
    cfg, tok = translator.config, translator.tokenizer
    return {
        "toolkit": "seq2seq",
        "version": __version__,
        "models": models,
        "languages": {"src": language(cfg.data.train_src), "tgt": language(cfg.data.train_tgt)},
        "vocabulary": {"src": len(tok.src), "tgt": len(tok.tgt)},
        "architecture": cfg.model.architecture,
        "model": model_settings(cfg.model),
        "parameters": translator.parameters,
        "max_len": cfg.data.max_len,  # longer lines are translated in parts
        "search": to_dict(translator.search),
        "engine": translator.engine,
        "attention": translator.reports_attention,  # whether a request may ask for attention
        "precision": translator.precision,
        "device": translator.device,
        "limits": dataclasses.asdict(limits) | {"max_body_bytes": limits.max_body},
    }


def model_settings(model: ModelConfig) -> dict:
    """The model section without the sections its architecture does not read (a Transformer's
    config still holds the recurrent encoder's and decoder's defaults, and a recurrent one the
    Transformer's)."""
    unused = ("encoder", "decoder") if model.architecture == "transformer" else ("transformer",)
    return {key: value for key, value in to_dict(model).items() if key not in unused}


# file suffixes that are not language codes
_NOT_LANGUAGES = {"src", "tgt", "txt", "tok", "raw", "bpe", "spm", "out", "hyp", "ref", "tsv", "csv", "gz"}


def language(path: str) -> str | None:
    """The language a training file's suffix names (train.en -> "en"), None when it names none
    (train.src): model files record no language, so this is the best /info can say."""
    suffix = Path(path).suffix.lstrip(".")
    if re.fullmatch(r"[a-z]{2,3}([_-][A-Za-z]{2,4})?", suffix) and suffix not in _NOT_LANGUAGES:
        return suffix
    return None
