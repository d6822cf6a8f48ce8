"""Markup: the text inside tags is translated, every tag comes back exactly once as it was written,
in a well-formed order, and inline tags surround the translation of the words they surrounded."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from seq2seq.inference.markup import translate_markup
from seq2seq.inference.markup_parse import _Events, parse
from seq2seq.inference.translator import Translator

# cli() adds a console handler bound to capsys's stream: restore_globals removes it after each test
pytestmark = pytest.mark.usefixtures("restore_globals")

RELEASED = Path(__file__).resolve().parents[3] / "models" / "multi30k_en_de.pt"

NASTY = [
    "ba ce <b>da</b> fe.",
    "<p>ba <b>ce <i>da</i></b> fe</p>",  # nested
    "b<b>a</b> ce da",  # a tag inside a word
    "ba ce<br/>da fe<br>ge",  # void tags, with and without the slash
    "ba &amp; ce &lt;da&gt; &eacute; &#233;",  # entities
    "<b>ba ce da fe</b>",  # a tag around the whole sentence
    '<a href="ba ce" title="da &amp; fe">ba</a> ce <img src="x.png" alt="ba ce"/>',  # attributes
    "<div>ba ce.</div><div><span>da</span> fe. ge <em>hi</em>!</div>",
    "<ul>\n  <li>ba <b>ce</b></li>\n  <li>da</li>\n</ul>\n",  # blocks and layout
    "<p>ba <B>ce</B> da</p>",  # upper case tags stay as written
    "<script>if (a < b) { x = '<b>'; }</script><p>ba</p><!-- a comment -->",
    "<p></p><b></b>ba",  # empty elements
]


XML_NASTY = [
    '<doc><title>ba ce</title><p>da <b>fe <i>ge</i></b> hi<ph id="1"/> ja.</p></doc>',
    '<seg>ba <g id="1">ce</g> da<x id="2"/></seg>',
    "<p><b>ba ce da</b></p>",  # an element alone in its parent: a block, kept around its text
    "<seg><b><i>ba</i></b> ce</seg>",  # inside an inline element, everything is inline
    "ba <b>ce</b> da",  # no root element: the top level holds text
]


def tags(markup: str, xml: bool = False) -> list[tuple[str, str]]:
    events = _Events(xml=xml)
    events.feed(markup)
    events.close()
    return [(kind, raw) for kind, _, raw in events.events if kind in ("tag", "void", "end")]


def well_formed(markup: str, xml: bool = False) -> bool:
    events = _Events(xml=xml)
    events.feed(markup)
    events.close()
    stack = []
    for kind, name, _ in events.events:
        if kind == "tag":
            stack.append(name)
        elif kind == "end":
            if not stack or stack.pop() != name:
                return False
    return not stack


@pytest.fixture(scope="module")
def toy(model_file):
    return Translator.load(model_file, beam_size=2)


@pytest.mark.parametrize("markup", NASTY)
def test_every_tag_comes_back_once_as_written_and_well_formed(toy, markup):
    out = translate_markup(markup, toy, "en")
    assert Counter(tags(out)) == Counter(tags(markup))
    assert well_formed(out) == well_formed(markup)
    if "<script>" in markup:
        assert "<script>if (a < b) { x = '<b>'; }</script>" in out and "<!-- a comment -->" in out


@pytest.mark.parametrize("markup", XML_NASTY)
def test_xml_tags_come_back_once_as_written_and_well_formed(toy, markup):
    out = translate_markup(markup, toy, "en", xml=True)
    assert Counter(tags(out, xml=True)) == Counter(tags(markup, xml=True))
    assert well_formed(out, xml=True) and well_formed(markup, xml=True)


def test_xml_elements_are_inline_where_the_element_around_them_holds_text():
    parts = parse("<doc><p>ba <b>ce <i>da</i></b> fe<x/>.</p><p><b>ge</b></p></doc>", xml=True)
    units = [p for p in parts if not isinstance(p, str)]
    assert [u.text for u in units] == ["ba ce da fe.", "ge"]
    b, x = units[0].elements
    assert (b.name, b.begin, b.end, x.name, x.begin, x.end) == ("b", 3, 8, "x", 11, 11)
    assert [(c.name, c.begin, c.end) for c in b.children] == [("i", 6, 8)]
    assert "".join(p for p in parts if isinstance(p, str)) == "<doc><p></p><p><b></b></p></doc>"


def test_block_tags_split_the_text_into_units_and_inline_tags_do_not():
    parts = parse("<p>ba <b>ce</b> da</p><div>fe</div>")
    units = [p for p in parts if not isinstance(p, str)]
    assert [u.text for u in units] == ["ba ce da", "fe"]
    (b,) = units[0].elements
    assert (b.start_tag, b.end_tag, b.begin, b.end) == ("<b>", "</b>", 3, 5)


def test_text_is_escaped_where_markup_needs_it(toy):
    out = translate_markup("<p>ba &lt;ce&gt;</p>", toy, "en")
    assert "<" not in out.removeprefix("<p>").removesuffix("</p>")


@pytest.mark.skipif(not RELEASED.exists(), reason="the released model is not in this checkout")
def test_inline_tags_surround_the_translation_of_their_words():
    tr = Translator.load(RELEASED)
    out = translate_markup('<p>A <b>dog</b> runs along the <a href="/beach">beach</a>.</p>', tr, "en")
    assert "<b>Hund</b>" in out and '<a href="/beach">' in out
    assert out.index('<a href="/beach">') < out.index("Strand") < out.index("</a>")


def test_the_command_translates_a_markup_file_as_the_function_does(capsys, model_file, tmp_path, toy):
    from helpers import cli

    page = "<html><body><p>ba <b>ce</b> da.</p>\n<p>fe &amp; <a href='x'>ge</a></p></body></html>\n"
    (tmp_path / "in.html").write_text(page, encoding="utf-8")
    code, out, err = cli(
        capsys, "translate", model_file, "--markup", "html", "--document", tmp_path / "in.html"
    )
    assert code == 0, err
    assert out == translate_markup(page, toy, "en")
    code, _, err = cli(
        capsys, "translate", model_file, "--markup", "html", "--format", "jsonl", "-i", tmp_path / "in.html"
    )
    assert code == 2 and "--markup translates a whole text; drop --format jsonl" in err
