"""`seq2seq chat`: one reply per input line, piped or at a terminal; /quit and the end of input end
the conversation; sampling options; the previous turn as context. A translation model file (the
tiny untrained one) is all a chat needs, so these tests train nothing."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time

import pytest
from readme_messages import MESSAGES

from seq2seq.cli.main import main
from seq2seq.inference.chat import CONTEXT_SEPARATOR, PROMPT, Conversation
from seq2seq.inference.translator import Translator

LINES = ["bamo kifa", "daga", "", "kelo bi mafe gaji"]


def chat(capsys, monkeypatch, text: str, *options) -> tuple[int, str, str]:
    """`seq2seq chat` in this process with `text` piped to its standard input."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    with pytest.raises(SystemExit) as exit_info:
        main(["chat", *map(str, options)])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_piped_lines_get_one_reply_each_in_order(model_file, capsys, monkeypatch, restore_globals):
    code, out, _ = chat(capsys, monkeypatch, "".join(x + "\n" for x in LINES), model_file, "--greedy")
    assert code == 0
    replies = out.splitlines()
    assert len(replies) == len(LINES) and replies[2] == ""  # a blank line gets a blank reply
    expected = [t.text for t in Translator.load(model_file, beam_size=1).translate(LINES)]
    assert replies == expected  # the same replies as translate gives, line by line


def test_quit_ends_the_conversation(model_file, capsys, monkeypatch, restore_globals):
    code, out, _ = chat(capsys, monkeypatch, "bamo\ndaga\n /quit\nkelo\n", model_file)
    assert code == 0 and len(out.splitlines()) == 2


def test_sampling_with_a_seed_gives_the_same_replies(model_file, capsys, monkeypatch, restore_globals):
    text = "".join(x + "\n" for x in LINES * 3)
    options = (model_file, "--sample", "--temperature", "1.5", "--top-k", "10")
    runs = [chat(capsys, monkeypatch, text, *options, "--seed", seed)[1] for seed in (4, 4, 5)]
    assert runs[0] == runs[1] and len(runs[0].splitlines()) == 12
    assert runs[0] != runs[2]


@pytest.mark.parametrize(
    "options, message",
    [
        (["--temperature", "0.7"], MESSAGES["temperature-without-sample"].removeprefix("seq2seq: error: ")),
        (["--seed", "3"], "--seed is a sampling setting; add --sample"),
        (
            ["--sample", "--beam", "3"],
            MESSAGES["sample-and-beam"].removeprefix("seq2seq: error: "),
        ),
        (
            ["--sample", "--temperature", "0"],
            "--temperature must be above 0 (--greedy picks the most probable token)",
        ),
    ],
)
def test_bad_sampling_options_are_one_line(
    model_file, capsys, monkeypatch, restore_globals, options, message
):
    code, out, err = chat(capsys, monkeypatch, "hi\n", model_file, *options)
    assert code == 2 and out == "" and err == f"seq2seq: error: {message}\n"


class Recorder:
    """A translator stand-in that answers "reply N" and records what it was asked."""

    def __init__(self):
        self.asked: list[str] = []

    def translate(self, lines):
        self.asked.extend(lines)
        return [
            type("T", (), {"text": f"reply {len(self.asked) - len(lines) + i + 1}"})
            for i in range(len(lines))
        ]


def test_with_context_the_previous_reply_goes_before_each_line():
    recorder = Recorder()
    conversation = Conversation(recorder, context=True)
    assert conversation.replies(["hello", "how are you"]) == ["reply 1", "reply 2"]
    assert conversation.replies(["bye"]) == ["reply 3"]
    assert recorder.asked == [
        "hello",
        f"reply 1{CONTEXT_SEPARATOR}how are you",
        f"reply 2{CONTEXT_SEPARATOR}bye",
    ]
    plain = Recorder()
    Conversation(plain).replies(["hello", "how are you"])
    assert plain.asked == ["hello", "how are you"]


@pytest.mark.system
def test_at_a_terminal_each_line_is_answered_after_a_prompt_and_ctrl_d_or_quit_ends(model_file):
    for ending in (b"\x04", b"/quit\n"):
        controller, terminal = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "seq2seq", "chat", str(model_file), "--greedy"],
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,  # where Python's input() writes the prompt at a terminal
            close_fds=True,
        )
        os.close(terminal)
        try:
            screen = _read_until(controller, PROMPT.encode(), b"", timeout=60)
            os.write(controller, b"bamo kifa\n")
            screen = _read_until(controller, b"\n" + PROMPT.encode(), screen, timeout=60)
            lines = screen.replace(b"\r\n", b"\n").decode().split("\n")
            assert lines[0] == PROMPT + "bamo kifa"  # the prompt, then the echo of what was typed
            assert lines[-1] == PROMPT  # the reply came, and the next prompt after it
            os.write(controller, ending)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(controller)


def _read_until(fd: int, marker: bytes, buffer: bytes, timeout: float) -> bytes:
    """Read the terminal until `marker` appears in what was read after `buffer`; return all of it."""
    start, deadline = len(buffer), time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            buffer += os.read(fd, 4096)
        if marker in buffer[start:]:
            return buffer
    raise AssertionError(f"no {marker!r} within {timeout} s; the terminal shows {buffer!r}")
