"""HTML and XML: the text between tags is translated, and inline tags (`<b>`, `<a href=...>`,
`<br/>`, ...) are put back around the words they surrounded, placed by the model's attention (the
approach of Marian/Bergamot's and LibreTranslate's markup handling).

The input is read into raw strings and units of text by `markup_parse.py`: block tags (`<p>`,
`<div>`, `<li>`, headings, table cells, ...), comments and declarations are kept in place and end
a unit of text; the content of `<script>` and `<style>` is copied as it is. Each unit's text is
split into sentences and translated; each inline element spans some characters of the source,
which are some source pieces; the target pieces whose strongest attention falls on those pieces
give its span in the translation. Elements are placed as a tree (a child inside its parent,
siblings side by side), so the output is well-formed when the input is, and every tag of the input
appears exactly once, written as it was written (attribute values are never translated). Where no
alignment is known (a sentence cut into parts, a piece sequence that does not spell the text), a
position is carried over in proportion to the text's length.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

from .document import split_line
from .markup_parse import Element, Unit, parse

# ---------------------------------------------------------------- alignment


@dataclass
class Alignment:
    """A unit's translation: its text, and for each target character offset map (begin, end) of
    a source span -> (begin, end) of the target span."""

    text: str
    place: Callable[[int, int], tuple[int, int]]


def piece_spans(pieces: list[str], text: str, start: int = 0) -> list[tuple[int, int]] | None:
    """Character spans of SentencePiece pieces in `text` (from `start`), or None where they do not
    spell it (normalization changed it)."""
    spans, pos = [], start
    for piece in pieces:
        s = piece.replace("\u2581", " ")
        if s.startswith(" "):
            while pos < len(text) and text[pos].isspace():
                pos += 1
            s = s[1:]
        if text[pos : pos + len(s)] != s:
            return None
        spans.append((pos, pos + len(s)))
        pos += len(s)
    return spans


def translate_units(units: list[Unit], translator, lang: str) -> list[Alignment]:
    """Each unit's translation with the placement of its elements."""
    per_unit, sentences = [], []
    for unit in units:
        line = split_line(unit.text, lang)
        per_unit.append(line)
        sentences.extend(line.sentences)
    done = iter(translator.translate(sentences, with_attention=True) if sentences else [])
    tok = translator.tokenizer
    return [_align(u, line, [next(done) for _ in line.sentences], tok) for u, line in zip(units, per_unit)]


def _align(unit: Unit, line, translations, tok) -> Alignment:
    text, src_cursor = line.lead, len(line.lead)
    links: list[tuple[tuple[int, int], tuple[int, int]]] = []  # (source, target span) a target piece
    anchors = [(0, 0)]  # (source offset, target offset) of sentence starts, for the fallback
    for sentence, gap, t in zip(line.sentences, line.gaps, translations):
        begin = unit.text.index(sentence, src_cursor)
        anchors.append((begin, len(text)))
        best = t.hypotheses[0] if t.hypotheses else None
        out = t.texts[0] if t.texts else ""
        src = piece_spans(tok.src.pieces(tok.src.encode([sentence])[0]), unit.text, begin) if best else None
        tgt_pieces = tok.tgt.pieces(best.tokens) if best else []
        tgt = piece_spans(tgt_pieces, out) if best else None
        if best is not None and best.attention is not None and src and tgt is not None:
            weights = best.attention[: len(tgt), : len(src)]
            if weights.numel():
                for j, i in enumerate(weights.argmax(dim=1).tolist()):
                    links.append((src[i], (len(text) + tgt[j][0], len(text) + tgt[j][1])))
        text += out + gap
        src_cursor = begin + len(sentence)
        anchors.append((src_cursor, len(text) - len(gap)))
    text += line.end
    anchors.append((len(unit.text), len(text)))

    def proportional(offset: int) -> int:
        before = max(a for a in anchors if a[0] <= offset)
        after = min((a for a in anchors if a[0] >= offset), default=anchors[-1])
        if after[0] == before[0]:
            return before[1]
        share = (offset - before[0]) / (after[0] - before[0])
        return round(before[1] + share * (after[1] - before[1]))

    def place(b: int, e: int) -> tuple[int, int]:
        if e > b:
            hits = [t for s, t in links if s[0] < e and s[1] > b]
            if hits:
                return min(h[0] for h in hits), max(h[1] for h in hits)
        else:  # a point (a void element): after the target of the source piece before it
            before = [t for s, t in links if s[1] <= b]
            if before and links:
                last = max(before, key=lambda t: t[1])
                return last[1], last[1]
        p, q = proportional(b), proportional(e)
        return p, max(p, q)

    return Alignment(text, place)


# ---------------------------------------------------------------- output


def render(unit: Unit, alignment: Alignment) -> str:
    text = alignment.text

    def spans(elements: list[Element], lo: int, hi: int) -> list[tuple[Element, int, int]]:
        placed = []
        for e in elements:
            b, en = alignment.place(e.begin, e.end)
            while b < en and text[b].isspace():  # not the space before the first word
                b += 1
            b, en = min(max(b, lo), hi), min(max(en, lo), hi)
            placed.append((e, b, max(b, en)))
        placed.sort(key=lambda x: (x[1], x[2]))
        kept, pos = [], lo  # siblings side by side: a later one starts where an earlier ends
        for e, b, en in placed:
            b = max(b, pos)
            en = max(en, b)
            kept.append((e, b, en))
            pos = en
        return kept

    def write(elements: list[Element], lo: int, hi: int) -> str:
        out, pos = [], lo
        for e, b, en in spans(elements, lo, hi):
            out.append(html.escape(text[pos:b], quote=False))
            out.append(e.start_tag + write(e.children, b, en) + e.end_tag)
            pos = en
        out.append(html.escape(text[pos:hi], quote=False))
        return "".join(out)

    return write(unit.elements, 0, len(text))


def translate_markup(markup: str, translator, lang: str, xml: bool = False) -> str:
    """Translate an HTML (or XML) text, its tags kept."""
    parts = parse(markup, xml)
    units = [p for p in parts if isinstance(p, Unit)]
    alignments = iter(translate_units(units, translator, lang))
    return "".join(p if isinstance(p, str) else render(p, next(alignments)) for p in parts)
