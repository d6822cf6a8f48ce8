"""A conversation with a sequence-to-sequence model trained on (utterance, reply) pairs: one reply
per line, from the same `Translator` that `translate` uses (beam search, or sampling when it holds a
`Sampler`).

At a terminal: a prompt, a reply to each line entered; `/quit` or Ctrl-D ends it. Piped: one reply
per input line, in order, flushed as it goes, up to `/quit` or the end of the input. With context,
the previous turn (the model's last reply) goes before the line, joined by CONTEXT_SEPARATOR, as
scripts/prepare_chatterbot.py --context writes the training sources.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO, TextIO

from ..data.line_stream import line_batches
from .translator import Translator

QUIT = "/quit"
CONTEXT_SEPARATOR = " ||| "
PROMPT = "> "


class Conversation:
    def __init__(self, translator: Translator, context: bool = False):
        self.translator, self.context = translator, context
        self.previous = ""  # the last reply, when context is on

    def replies(self, lines: list[str]) -> list[str]:
        """A reply per line; without context all at once, with context one turn after another."""
        if not self.context:
            return [t.text for t in self.translator.translate(lines)]
        out = []
        for line in lines:
            source = self.previous + CONTEXT_SEPARATOR + line if self.previous else line
            self.previous = self.translator.translate([source])[0].text
            out.append(self.previous)
        return out


def chat_at_terminal(conversation: Conversation, read: Callable[[str], str] = input) -> int:
    """Prompt, read a line (with the terminal's line editing), reply; until /quit or Ctrl-D.
    Returns the number of replies."""
    count = 0
    while True:
        try:
            line = read(PROMPT)
        except EOFError:
            print(flush=True)  # Ctrl-D leaves the cursor after the prompt
            return count
        if line.strip() == QUIT:
            return count
        print(conversation.replies([line])[0], flush=True)
        count += 1


def chat_stream(
    conversation: Conversation, source: BinaryIO, sink: TextIO, warn: Callable[[str], None]
) -> int:
    """A reply per input line, in order, flushed after each batch of lines; until /quit or the end
    of the input. Returns the number of replies."""
    count = 0
    for _, lines in line_batches(source, warn):
        stripped = [line.strip() for line in lines]
        quit_at = stripped.index(QUIT) if QUIT in stripped else None
        sink.write("".join(reply + "\n" for reply in conversation.replies(lines[:quit_at])))
        sink.flush()
        count += len(lines[:quit_at])
        if quit_at is not None:
            break
    return count
