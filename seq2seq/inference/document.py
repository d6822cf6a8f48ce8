"""Documents: plain text, paragraphs and all, translated sentence by sentence and written back with
its blank lines, line breaks, leading and trailing whitespace and line ends where they were.

Each line is split into sentences by sentencex (Wikimedia's rule-based splitter, one set of rules
per language, with fallbacks between related languages); the sentences of many lines are
translated together in the translator's batches, and each line is rebuilt as
    its leading whitespace + (translation + the whitespace that followed the sentence)... + its end.
A line break is kept where it was: a sentence wrapped over two lines is translated as two pieces
(join such lines first). The input streams through in batches of lines, so output starts before
the whole input is read and memory does not grow with the document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from ..data.line_stream import line_batches
from ..errors import UserError
from .translator import Translator


@dataclass
class Line:
    lead: str  # leading whitespace (all of a blank line)
    sentences: list[str]  # without the whitespace around them
    gaps: list[str]  # the whitespace after each sentence, the line's trailing whitespace last
    end: str  # "\n", "\r\n" or "" (a last line without one)

    def rebuild(self, translations: Iterable[str]) -> str:
        return self.lead + "".join(t + gap for t, gap in zip(translations, self.gaps)) + self.end


def split_line(raw: str, lang: str) -> Line:
    """One input line (with its line end) -> its sentences and the whitespace between them."""
    body = raw.rstrip("\r\n")
    end = raw[len(body) :]
    text = body.lstrip()
    lead = body[: len(body) - len(text)]
    sentences: list[str] = []
    gaps: list[str] = []
    pieces = list(_segment(lang, text)) if text else []
    if "".join(pieces) != text:  # the splitter dropped or changed something: the line is one piece
        pieces = [text] if text else []
    for piece in pieces:
        core = piece.rstrip()
        if not core:  # whitespace alone belongs to the gap before it
            gaps[-1] += piece
            continue
        sentences.append(core)
        gaps.append(piece[len(core) :])
    return Line(lead, sentences, gaps, end)


def split_text(text: str, lang: str) -> list[Line]:
    """A whole text (line breaks and all) -> its lines, split into sentences."""
    return [split_line(raw, lang) for raw in text.splitlines(keepends=True)]


def rebuild(lines: list[Line], translations: Iterator[str]) -> str:
    """The text of `split_text`'s lines, their sentences taken in turn from `translations`."""
    return "".join(line.rebuild([next(translations) for _ in line.sentences]) for line in lines)


def _segment(lang: str, text: str) -> Iterable[str]:
    try:
        from sentencex import segment
    except ImportError:
        raise UserError(
            "translate --document splits sentences with sentencex, which is not installed; "
            "pip install 'seq2seq[documents]'"
        ) from None
    return segment(lang, text)


def translate_document(
    translator: Translator,
    source: BinaryIO,
    sink: TextIO,
    lang: str,
    warn: Callable[[str], None] = print,
    batch_lines: int = 1024,
) -> int:
    """Translate a plain-text byte stream as a document; returns the number of sentences."""
    count = 0
    for first, raws in line_batches(source, warn, batch_lines, keep_ends=True):
        lines = [split_line(raw, lang) for raw in raws]
        texts = [s for line in lines for s in line.sentences]
        done = iter(translator.translate(texts) if texts else [])
        for number, line in enumerate(lines, first):
            translations = [next(done) for _ in line.sentences]
            for t in translations:
                if t.parts > 1:
                    warn(
                        f"line {number}: a sentence longer than the {translator.config.data.max_len} "
                        f"pieces the model was trained on; translated in {t.parts} parts"
                    )
            sink.write(line.rebuild(t.texts[0] for t in translations))
        sink.flush()
        count += len(texts)
    return count
