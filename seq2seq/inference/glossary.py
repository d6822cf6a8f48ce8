"""A glossary: source terms and the target terms that must translate them.

The file is tab-separated, one `source term<TAB>target term` a line; blank lines and lines that
begin with `#` are skipped. A source term matches a sentence wherever it occurs as whole words
(not inside a longer word), ignoring case; where terms overlap, the longest wins. Each matched
term's target, as written, becomes a lexical constraint of the beam search (decoding/constraints.py):
its piece sequence must appear in the translation. A target term with characters the vocabulary
lacks is still produced: its pieces (UNK among them) are the constraint, and the term's own
characters are put back in the text afterwards.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..data.tokenizer import Tokenizer
from ..decoding.translate import Translation
from ..errors import UserError
from ..special_ids import UNK_ID


@dataclass(frozen=True)
class Glossary:
    pairs: tuple[tuple[str, str], ...]
    _pattern: re.Pattern | None = field(default=None, repr=False, compare=False)

    @staticmethod
    def of(pairs: Iterable[Sequence[str]], where: str = "glossary") -> Glossary:
        """From (source, target) pairs; a ValueError names the first bad entry."""
        kept: dict[str, str] = {}
        for number, pair in enumerate(pairs, 1):
            if len(pair) != 2 or not all(isinstance(x, str) for x in pair):
                raise ValueError(f"{where} entry {number} is not a pair of a source and a target term")
            source, target = (" ".join(x.split()) for x in pair)
            if not source or not target:
                raise ValueError(f"{where} entry {number} has an empty term; give both terms")
            if kept.get(source.casefold(), target) != target:
                raise ValueError(
                    f"{where} entry {number}: {source!r} is already translated as "
                    f"{kept[source.casefold()]!r}; keep one target per source term"
                )
            kept[source.casefold()] = target
        if not kept:
            return Glossary(())
        by_length = sorted(kept, key=len, reverse=True)  # the longest match wins
        words = "|".join(re.escape(s).replace(r"\ ", r"\s+") for s in by_length)
        pattern = re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE)
        return Glossary(tuple(kept.items()), pattern)

    @staticmethod
    def read(path: Path) -> Glossary:
        """A glossary file; a bad line is one UserError that names it."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) else "it is not UTF-8 text"
            raise UserError(f"cannot read --glossary {path}: {reason}") from None
        pairs, numbers = [], []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 2:
                raise UserError(
                    f"--glossary {path} line {number}: expected 'source term<TAB>target term', "
                    f"found {len(parts) - 1} tabs; fix that line"
                )
            pairs.append(parts)
            numbers.append(number)
        try:
            return Glossary.of(pairs, where=f"--glossary {path}")
        except ValueError as e:
            raise UserError(f"{e}") from None

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def targets(self, line: str) -> list[str]:
        """The target terms of the source terms in `line`, each once, in order of appearance."""
        if self._pattern is None:
            return []
        table = dict(self.pairs)
        found: list[str] = []
        for match in self._pattern.finditer(line):
            target = table[" ".join(match.group(0).split()).casefold()]
            if target not in found:
                found.append(target)
        return found

    def restore(self, translations: list[Translation], tokenizer: Tokenizer) -> list[Translation]:
        """Put back the characters of target terms that the vocabulary lacks: such a term's pieces
        hold UNK, which decodes to nothing, so its decoded form in each text becomes the term."""
        out = []
        for t in translations:
            texts = list(t.texts)
            for term in self.targets(t.source):
                ids = tokenizer.tgt.encode([term])[0].tolist()
                if UNK_ID in ids and (shown := tokenizer.tgt.decode(ids)):
                    texts = [x.replace(shown, term, 1) if term not in x else x for x in texts]
            out.append(dataclasses.replace(t, texts=texts))
        return out

    def constraints(self, lines: Sequence[str], tokenizer: Tokenizer) -> list[list[list[int]]]:
        """Per line, the piece ids of each target term it needs."""
        wanted = [self.targets(line) for line in lines]
        terms = sorted({t for ts in wanted for t in ts})
        ids = dict(zip(terms, (x.tolist() for x in tokenizer.tgt.encode(terms)))) if terms else {}
        return [[ids[t] for t in ts if ids[t]] for ts in wanted]
