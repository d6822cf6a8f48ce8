"""Markup read into what the translation needs: raw strings to copy (block tags, comments, script
and style content) and units of text with the inline elements in them, each element's span in its
unit's text. Python's own HTML parser reads HTML and XML (entities decoded, every tag kept as it
was written). In HTML the inline elements are the ones not named blocks below; XML names none, so
there an element is inline where the element around it holds text of its own. `problem` says what
makes a text's markup malformed (the server's 422, before any decoding)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

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
