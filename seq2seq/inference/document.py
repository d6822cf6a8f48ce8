"""Documents: plain text, paragraphs and all, translated sentence by sentence and written back with
its blank lines, line breaks, leading and trailing whitespace and line ends where they were.

Each line is split into sentences by sentencex (Wikimedia's rule-based splitter, one set of rules
per language, with fallbacks between related languages); the sentences of many lines are
translated together in the translator's batches, and each line is rebuilt as
    its leading whitespace + (translation + the whitespace that followed the sentence)... + its end.
A line break is kept where it was, so a sentence wrapped over two lines is translated as two
pieces, unless the text is declared `wrapped`: then each paragraph (lines between blank lines) is
joined into one text before its sentences are split, and its translation is wrapped again
(textwrap) to the width of its longest line, with its first line's indent and its second's for
the rest; a one-line paragraph stays one line. The input streams through in batches of lines (of
whole paragraphs when wrapped), so output starts before the whole input is read and memory does
not grow with the document.
"""

from __future__ import annotations

import textwrap
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


@dataclass
class Paragraph:
    """The lines of a hard-wrapped paragraph as one line, to be wrapped again on the way out."""

    line: Line  # the lines joined by single spaces: the first's lead, the last's end
    indent: str  # the second line's leading whitespace
    width: int  # the longest line's
    lines: int  # how many there were

    @property
    def sentences(self) -> list[str]:
        return self.line.sentences

    def rebuild(self, translations: Iterable[str]) -> str:
        text = "".join(t + gap for t, gap in zip(translations, self.line.gaps)).rstrip()
        rows = textwrap.wrap(
            text,
            self.width,
            initial_indent=self.line.lead,
            subsequent_indent=self.indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        wrapped = (self.line.end or "\n").join(rows)  # \r\n stays \r\n
        return wrapped + self.line.end


def split_paragraph(raws: list[str], lang: str) -> Line | Paragraph:
    """Consecutive non-blank lines (with their line ends) -> one text to translate; one line stays
    a `Line`."""
    if len(raws) == 1:
        return split_line(raws[0], lang)
    bodies = [raw.rstrip("\r\n") for raw in raws]
    lead = bodies[0][: len(bodies[0]) - len(bodies[0].lstrip())]
    joined = lead + " ".join(b.strip() for b in bodies) + raws[-1][len(bodies[-1]) :]
    indent = bodies[1][: len(bodies[1]) - len(bodies[1].lstrip())]
    return Paragraph(split_line(joined, lang), indent, max(len(b) for b in bodies), len(raws))


def split_wrapped(raws: list[str], lang: str) -> list[Line | Paragraph]:
    """Lines of a hard-wrapped text -> its blank lines and paragraphs."""
    out: list[Line | Paragraph] = []
    paragraph: list[str] = []
    for raw in raws:
        if raw.strip():
            paragraph.append(raw)
            continue
        if paragraph:
            out.append(split_paragraph(paragraph, lang))
            paragraph = []
        out.append(split_line(raw, lang))
    if paragraph:
        out.append(split_paragraph(paragraph, lang))
    return out


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


def split_text(text: str, lang: str, wrapped: bool = False) -> list[Line | Paragraph]:
    """A whole text (line breaks and all) -> its lines split into sentences (if `wrapped`, its
    blank lines and paragraphs)."""
    return split_lines(text.splitlines(keepends=True), lang, wrapped)


def split_lines(raws: list[str], lang: str, wrapped: bool = False) -> list[Line | Paragraph]:
    """Lines with their line ends -> each split into sentences (if `wrapped`, the blank lines and
    paragraphs)."""
    return split_wrapped(raws, lang) if wrapped else [split_line(raw, lang) for raw in raws]


def rebuild(lines: list[Line | Paragraph], translations: Iterator[str]) -> str:
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
    wrapped: bool = False,
) -> int:
    """Translate a plain-text byte stream as a document; returns the number of sentences."""
    count, pending, number = 0, [], 1  # pending: the lines of a paragraph not yet ended
    for _, raws in line_batches(source, warn, batch_lines, keep_ends=True):
        raws = pending + raws
        cut = len(raws)
        if wrapped and len(raws) < 4 * batch_lines:  # hold back the last paragraph: more may come
            cut = max((i + 1 for i, raw in enumerate(raws) if not raw.strip()), default=0)
        pending = raws[cut:]
        count += _translate_part(translator, raws[:cut], number, sink, lang, warn, wrapped)
        number += cut
    return count + _translate_part(translator, pending, number, sink, lang, warn, wrapped)


def _translate_part(
    translator: Translator,
    raws: list[str],
    first: int,
    sink: TextIO,
    lang: str,
    warn: Callable[[str], None],
    wrapped: bool,
) -> int:
    """Translate whole lines (whole paragraphs if wrapped) and write them; the number of sentences."""
    units = split_lines(raws, lang, wrapped)
    texts = [s for unit in units for s in unit.sentences]
    done = iter(translator.translate(texts) if texts else [])
    number = first
    for unit in units:
        translations = [next(done) for _ in unit.sentences]
        for t in translations:
            if t.parts > 1:
                warn(
                    f"line {number}: a sentence longer than the {translator.config.data.max_len} "
                    f"pieces the model was trained on; translated in {t.parts} parts"
                )
        sink.write(unit.rebuild(t.texts[0] for t in translations))
        number += unit.lines if isinstance(unit, Paragraph) else 1
    sink.flush()
    return len(texts)
