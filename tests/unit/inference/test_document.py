"""translate --document: sentences split and translated, the text's layout kept exactly."""

from __future__ import annotations

import io
import os
import random
import textwrap
import threading
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from helpers import cli

from seq2seq.inference.document import split_line, translate_document

# cli() adds a console handler bound to capsys's stream: restore_globals removes it after each test
pytestmark = pytest.mark.usefixtures("restore_globals")

WORDS = [
    "Dr.",
    "Smith",
    "went",
    "home",
    "e.g.",
    "the",
    "3.5",
    "cats",
    "U.S.",
    "ok",
    "(yes)",
    "«quoted»",
    "Über",
]
ENDS = [".", "!", "?", "...", ",", ";", ""]
SPACES = [" ", "  ", "\t", " \t "]
LINE_ENDS = ["\n", "\r\n", ""]


def random_line(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return rng.choice(["", " ", "\t "]) + rng.choice(LINE_ENDS)
    sentences = []
    for _ in range(rng.randint(1, 4)):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))
        sentences.append(words + rng.choice(ENDS) + rng.choice(SPACES))
    lead = rng.choice(["", " ", "    ", "\t"])
    return lead + "".join(sentences).rstrip(rng.choice(["", " "])) + rng.choice(LINE_ENDS)


def test_a_line_is_its_whitespace_and_sentences_exactly():
    """Rebuilt from its own sentences, every line is itself: leading and trailing whitespace, the
    whitespace between sentences and the line end are all kept; no sentence holds outer spaces."""
    rng = random.Random(0)
    for _ in range(500):
        raw = random_line(rng)
        line = split_line(raw, "en")
        assert line.rebuild(line.sentences) == raw
        assert all(s == s.strip() and s for s in line.sentences)


def test_sentences_are_split_by_the_languages_rules():
    assert split_line("Dr. Smith went home. He slept!\n", "en").sentences == [
        "Dr. Smith went home.",
        "He slept!",
    ]
    assert split_line("Das ist z.B. gut. Ja.", "de").sentences == ["Das ist z.B. gut.", "Ja."]


@dataclass
class Marked:
    texts: list[str]
    parts: int = 1


class FakeTranslator:
    """Translates a sentence into <sentence>; records the batches it was given."""

    def __init__(self):
        self.config = SimpleNamespace(data=SimpleNamespace(max_len=100))
        self.calls: list[list[str]] = []

    def translate(self, texts):
        self.calls.append(list(texts))
        return [Marked([f"<{t}>"]) for t in texts]


def test_a_document_keeps_its_paragraphs_lines_and_whitespace_and_translates_every_sentence():
    text = "First one. Second one!\n  Indented line.  \r\n\n\n\tAfter two blank lines? Yes.\nLast, no end"
    out = io.StringIO()
    fake = FakeTranslator()
    count = translate_document(fake, io.BytesIO(text.encode()), out, "en")
    assert out.getvalue() == (
        "<First one.> <Second one!>\n  <Indented line.>  \r\n\n\n\t<After two blank lines?> <Yes.>\n"
        "<Last, no end>"
    )
    assert count == 6 and len(fake.calls) == 1  # the sentences of all lines in one shared batch


def test_a_wrapped_paragraph_is_translated_whole_and_wrapped_again_to_its_width():
    """--wrapped: the sentences of a paragraph run across its lines; its translation comes back
    wrapped to the paragraph's longest line, with its indents; blank lines and one-line
    paragraphs stay as they were."""
    rng = random.Random(1)
    for _ in range(200):
        words = [rng.choice(WORDS) + rng.choice(["", "", "", "."]) for _ in range(rng.randint(2, 40))]
        width = rng.randint(24, 40)
        rows = textwrap.wrap(" ".join(words), width)
        lead, indent, end = rng.choice(["", "  "]), rng.choice(["", "  ", "\t"]), rng.choice(["\n", "\r\n"])
        paragraph = [(lead if i == 0 else indent) + row + end for i, row in enumerate(rows)]
        text = "One line.\n\n" + "".join(paragraph) + "\n" + "Last."
        out = io.StringIO()
        translate_document(
            FakeTranslator(), io.BytesIO(text.encode()), out, "en", wrapped=True, batch_lines=4
        )
        got = out.getvalue()
        assert got.startswith("<One line.>\n\n") and got.endswith(f"{end}\n<Last.>")
        body = got[len("<One line.>\n\n") : -len(f"{end}\n<Last.>")]
        sentences = split_line(" ".join(rows), "en").sentences  # the paragraph as one line
        assert body.split() == " ".join(f"<{s}>" for s in sentences).split()  # every sentence, whole
        out_rows = body.split(end)
        if len(rows) == 1:
            assert out_rows == [lead + body.strip()]
        else:
            longest = max(len(r) for r in paragraph) - len(end)
            assert all(len(r) <= longest or " " not in r.strip() for r in out_rows)
            assert out_rows[0].startswith(lead) and all(r.startswith(indent) for r in out_rows[1:])
            assert all("\n" not in r and "\r" not in r for r in out_rows)


def test_output_starts_before_the_input_ends():
    """A pipe whose writer is still open: the lines already sent are translated and written."""
    read_end, write_end = os.pipe()
    written = threading.Event()

    class Sink(io.StringIO):
        def flush(self):
            if self.getvalue():
                written.set()

    sink = Sink()
    source, writer = open(read_end, "rb"), open(write_end, "wb")
    try:
        worker = threading.Thread(
            target=translate_document, args=(FakeTranslator(), source, sink, "en"), daemon=True
        )
        worker.start()
        writer.write(b"One. Two.\n")
        writer.flush()
        assert written.wait(timeout=60), "nothing written while the input was open"
        assert sink.getvalue() == "<One.> <Two.>\n"
        writer.write(b"Three.\n")
        writer.close()  # the end of the input: the rest is translated, then it returns
        worker.join(timeout=60)
        assert not worker.is_alive()
    finally:
        writer.close()
        source.close()
    assert sink.getvalue() == "<One.> <Two.>\n<Three.>\n"


def test_the_command_translates_a_document_as_its_sentences_alone(capsys, model_file, tmp_path):
    """Each sentence's translation in a document is what translating that sentence alone gives."""
    doc = tmp_path / "doc.txt"
    doc.write_text("ab cd. ef gh!\n\n   ij kl.\n", encoding="utf-8")
    code, _, err = cli(capsys, "translate", model_file, "--document", doc, "-o", tmp_path / "out.txt")
    assert code == 0, err
    code, alone, _ = cli(capsys, "translate", model_file, "ab cd.", "ef gh!", "ij kl.")
    one, two, three = alone.split("\n")[:3]
    assert (tmp_path / "out.txt").read_text(encoding="utf-8") == f"{one} {two}\n\n   {three}\n"


@pytest.mark.parametrize(
    "options, message",
    [
        (["--n-best", "2"], "--document translates a whole text; drop --n-best"),
        (["--format", "jsonl"], "drop --format jsonl"),
        (["-i", "x.txt"], "drop --input"),
        (["--plot-attention", "p"], "drop --plot-attention"),
    ],
)
def test_options_a_document_cannot_take_are_refused_in_one_line(
    capsys, model_file, tmp_path, options, message
):
    doc = tmp_path / "doc.txt"
    doc.write_text("ab.\n", encoding="utf-8")
    code, out, err = cli(capsys, "translate", model_file, "--document", doc, *options)
    assert code == 2 and out == "" and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_missing_document_is_one_line(capsys, model_file, tmp_path):
    code, _, err = cli(capsys, "translate", model_file, "--document", tmp_path / "none.txt")
    assert code == 2 and "cannot read --document" in err and len(err.strip().splitlines()) == 1


def test_wrapped_without_a_plain_document_is_one_line(capsys, model_file, tmp_path):
    for options in (["ab cd."], ["--markup", "html", "--document", tmp_path / "x.html"]):
        code, out, err = cli(capsys, "translate", model_file, "--wrapped", *options)
        assert code == 2 and out == "" and "--wrapped is for plain-text documents" in err
        assert len(err.strip().splitlines()) == 1
