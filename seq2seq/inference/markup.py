"""HTML and XML: the text between tags is translated, and inline tags (`<b>`, `<a href=...>`,
`<br/>`, ...) are put back around the words they surrounded, placed by the model's attention (the
approach of Marian/Bergamot's and LibreTranslate's markup handling).

The input is read by Python's own HTML parser (html.parser, entities decoded). Block tags (`<p>`,
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
from dataclasses import dataclass, field
from html.parser import HTMLParser

from .document import split_line

BLOCK = frozenset(
    "address article aside blockquote body caption dd details dialog div dl dt fieldset figcaption "
    "figure footer form h1 h2 h3 h4 h5 h6 head header hr html legend li main nav ol option p pre "
    "section summary table tbody td tfoot th thead title tr ul".split()
)
VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
OPAQUE = frozenset({"script", "style"})


@dataclass
class Element:
    """An inline element of a unit: its tags as written, its span in the unit's text."""

    start_tag: str
    end_tag: str  # "" for a void element or one never closed
    name: str
    begin: int
    end: int = -1
    children: list[Element] = field(default_factory=list)


@dataclass
class Unit:
    """Text between block boundaries, with the inline elements in it."""

    text: str = ""
    elements: list[Element] = field(default_factory=list)  # the top-level ones


class _Events(HTMLParser):
    """The input as events: ("tag", name, raw) for start and void tags, ("end", name, raw),
    ("text", decoded text), ("raw", text to copy as it is)."""

    def __init__(self, xml: bool):
        super().__init__(convert_charrefs=True)
        self.xml, self.events = xml, []

    def handle_starttag(self, tag, attrs):
        kind = "void" if tag in VOID and not self.xml else "tag"
        self.events.append((kind, tag, self.get_starttag_text()))

    def handle_startendtag(self, tag, attrs):
        self.events.append(("void", tag, self.get_starttag_text()))

    def handle_endtag(self, tag):
        self.events.append(("end", tag, f"</{tag}>"))  # the raw text is set by parse_endtag

    def parse_endtag(self, i):
        count = len(self.events)
        j = super().parse_endtag(i)
        if j > i and len(self.events) > count and self.events[-1][0] == "end":
            self.events[-1] = ("end", self.events[-1][1], self.rawdata[i:j])
        return j

    def handle_data(self, data):
        opaque = self.events and self.events[-1][0] == "tag" and self.events[-1][1] in OPAQUE
        self.events.append(("raw" if opaque else "text", "", data))

    def handle_comment(self, data):
        self.events.append(("raw", "", f"<!--{data}-->"))

    def handle_decl(self, decl):
        self.events.append(("raw", "", f"<!{decl}>"))

    def handle_pi(self, data):
        self.events.append(("raw", "", f"<?{data}>"))

    def unknown_decl(self, data):
        self.events.append(("raw", "", f"<![{data}]>"))


def _xml_inline(events: list[tuple[str, str, str]]) -> set[int]:
    """XML names no inline elements, so the document says: an element is inline where the element
    around it (or the top level) holds text of its own, as `<b>` in `<p>A <b>big</b> dog</p>`, and
    so is everything inside an inline element; elements among elements only (`<p>` in
    `<doc><p>...</p></doc>`) are blocks. Returns the event indices of the inline elements' start
    (and self-closing) tags."""
    parent: dict[int, int] = {}  # element -> the element around it (-1: the top level)
    has_text: set[int] = set()
    stack = [(-1, "")]
    for i, (kind, name, raw) in enumerate(events):
        if kind == "text" and raw.strip():
            has_text.add(stack[-1][0])
        elif kind in ("tag", "void"):
            parent[i] = stack[-1][0]
            if kind == "tag":
                stack.append((i, name))
        elif kind == "end" and any(n == name for _, n in stack[1:]):
            while stack.pop()[1] != name:  # malformed: what it leaves open ends here
                pass
    inline: set[int] = set()
    for i in sorted(parent):  # an element after the one around it
        if parent[i] in has_text or parent[i] in inline:
            inline.add(i)
    return inline


def parse(markup: str, xml: bool = False) -> list[str | Unit]:
    """The input as raw strings to copy (block tags, comments, ...) and units to translate."""
    parser = _Events(xml)
    parser.feed(markup)
    parser.close()
    inline_xml = _xml_inline(parser.events) if xml else set()
    out: list[str | Unit] = []
    unit, stack = Unit(), []  # stack: the open inline elements of the unit

    def flush():
        nonlocal unit, stack
        for e in stack:  # never closed within the unit: it spans to the unit's end
            e.end = len(unit.text)
        if unit.text or unit.elements:
            out.append(unit)
        unit, stack = Unit(), []

    for i, (kind, name, raw) in enumerate(parser.events):
        inline = i in inline_xml if xml else name not in BLOCK and name not in OPAQUE
        if kind == "text":
            unit.text += raw
        elif kind in ("tag", "void") and inline:
            e = Element(raw, "", name, len(unit.text))
            (stack[-1].children if stack else unit.elements).append(e)
            if kind == "void":
                e.end = e.begin
            else:
                stack.append(e)
        elif kind == "end" and any(e.name == name for e in stack):
            while stack:
                e = stack.pop()
                e.end = len(unit.text)
                if e.name == name:
                    e.end_tag = raw
                    break
        else:  # a block tag, a stray end tag, script or style content, a comment
            flush()
            out.append(raw)
    flush()
    return out


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


def problem(markup: str, xml: bool = False) -> str | None:
    """What makes a text's markup malformed, or None: an end tag that closes no open element, or
    one that closes an element while an inline one inside it is still open (HTML lets block
    elements such as <p> and <li> end implicitly; XML lets nothing), or in XML an element never
    closed."""
    parser = _Events(xml)
    parser.feed(markup)
    parser.close()
    stack: list[str] = []
    for kind, name, raw in parser.events:
        if kind == "tag":
            stack.append(name)
        elif kind == "end":
            if name not in stack:
                return f"{raw} closes no open element"
            while stack[-1] != name:
                inner = stack.pop()
                if xml or inner not in BLOCK:
                    return f"{raw} closes <{name}> while <{inner}> inside it is open"
            stack.pop()
    if xml and stack:
        return f"<{stack[-1]}> is never closed"
    return None


def translate_markup(markup: str, translator, lang: str, xml: bool = False) -> str:
    """Translate an HTML (or XML) text, its tags kept."""
    parts = parse(markup, xml)
    units = [p for p in parts if isinstance(p, Unit)]
    alignments = iter(translate_units(units, translator, lang))
    return "".join(p if isinstance(p, str) else render(p, next(alignments)) for p in parts)
