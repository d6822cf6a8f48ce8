"""Turn the chatterbot-corpus package into a topic classification task and a chatbot corpus.

The package (`pip install chatterbot-corpus`, or `pip install -e '.[chat]'`) ships its data: per
language, one YAML file per topic (greetings, ai, food, ...) holding conversations, lists of turns.
Nothing is downloaded; this reads the installed files.

- OUT/topics/{train,valid,test}.txt and .labels: every distinct utterance and the topic of its file
  (the file name: `tech_support`, `ai`, ...), one per line. An utterance found under two topics is
  left out. The split is stratified: each topic gives its share to each split.
- OUT/chat/{train,valid,test}.src and .tgt: (utterance, reply) pairs, the consecutive turns of every
  conversation, distinct. All the pairs of one utterance go to the same split, so the held-out
  utterances were never seen in training. With --context the source is the previous turn and the
  utterance joined by " ||| " (seq2seq.inference.chat.CONTEXT_SEPARATOR; `seq2seq chat --context` does the
  same), or the utterance alone at the start of a conversation.

The splits are a fixed function of the package's files and --seed.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path

import yaml

CONTEXT_SEPARATOR = " ||| "  # as seq2seq.inference.chat.CONTEXT_SEPARATOR, which `chat --context` uses
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data" / "chatterbot"


def corpus_files(language: str) -> list[Path]:
    try:
        import chatterbot_corpus
    except ImportError:
        sys.exit("this needs the chatterbot-corpus package: pip install chatterbot-corpus (or '.[chat]')")
    root = Path(chatterbot_corpus.__file__).resolve().parent / "data"
    languages = sorted(p.name for p in root.iterdir() if p.is_dir())
    if language not in languages:
        sys.exit(f"no language {language!r} in chatterbot-corpus; it has: {', '.join(languages)}")
    return sorted((root / language).glob("*.yml"))


def read_conversations(path: Path) -> list[list[str]]:
    """The conversations of one file, every turn on one line (whitespace collapsed)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = []
    for conversation in data.get("conversations") or []:
        turns = [" ".join(str(turn).split()) for turn in conversation if turn is not None]
        if len(turns) >= 1 and all(turns):
            out.append(turns)
    return out


def split(items: list, shares: tuple[float, float], rng: random.Random) -> tuple[list, list, list]:
    """Shuffle, then cut into train, valid and test with the given valid and test shares."""
    items = list(items)
    rng.shuffle(items)
    n_valid, n_test = round(len(items) * shares[0]), round(len(items) * shares[1])
    return items[n_valid + n_test :], items[:n_valid], items[n_valid : n_valid + n_test]


def topics(conversations: dict[str, list[list[str]]], shares, rng) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, set[str]] = defaultdict(set)
    for topic, convs in conversations.items():
        for turns in convs:
            for turn in turns:
                found[turn].add(topic)
    ambiguous = sum(len(t) > 1 for t in found.values())
    by_topic: dict[str, list[str]] = defaultdict(list)
    for text, where in sorted(found.items()):
        if len(where) == 1:
            by_topic[next(iter(where))].append(text)
    splits: dict[str, list[tuple[str, str]]] = {"train": [], "valid": [], "test": []}
    for topic in sorted(by_topic):
        for name, part in zip(splits, split(by_topic[topic], shares, rng)):
            splits[name].extend((text, topic) for text in part)
    for part in splits.values():
        rng.shuffle(part)
    print(f"topics: {len(found)} distinct utterances, {ambiguous} under two topics left out")
    return splits


def chat_pairs(conversations: dict[str, list[list[str]]], context: bool, shares, rng) -> dict:
    by_utterance: dict[str, dict[tuple[str, str], None]] = defaultdict(dict)
    for convs in conversations.values():
        for turns in convs:
            for i in range(len(turns) - 1):
                source = turns[i - 1] + CONTEXT_SEPARATOR + turns[i] if context and i > 0 else turns[i]
                by_utterance[turns[i]][(source, turns[i + 1])] = None
    groups = split(sorted(by_utterance), shares, rng)
    splits = {}
    for name, utterances in zip(("train", "valid", "test"), groups):
        splits[name] = [pair for u in utterances for pair in by_utterance[u]]
        rng.shuffle(splits[name])
    return splits


def write(out: Path, splits: dict[str, list[tuple[str, str]]], suffixes: tuple[str, str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, pairs in splits.items():
        for index, suffix in enumerate(suffixes):
            text = "".join(pair[index] + "\n" for pair in pairs)
            (out / f"{name}.{suffix}").write_text(text, encoding="utf-8", newline="\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--language", default="english", help="a folder of chatterbot-corpus' data")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--seed", type=int, default=1, help="seed of the splits")
    parser.add_argument("--valid", type=float, default=0.1, help="share of the validation split")
    parser.add_argument("--test", type=float, default=0.1, help="share of the test split")
    parser.add_argument("--context", action="store_true", help="chat sources hold the previous turn too")
    args = parser.parse_args()
    conversations = {path.stem: read_conversations(path) for path in corpus_files(args.language)}
    shares = (args.valid, args.test)
    topic_splits = topics(conversations, shares, random.Random(args.seed))
    write(args.out / "topics", topic_splits, ("txt", "labels"))
    chat_splits = chat_pairs(conversations, args.context, shares, random.Random(args.seed))
    write(args.out / "chat", chat_splits, ("src", "tgt"))
    for name in ("train", "valid", "test"):
        counts: dict[str, int] = defaultdict(int)
        for _, label in topic_splits[name]:
            counts[label] += 1
        common = max(counts, key=counts.get)
        print(
            f"{name}: {len(topic_splits[name])} labeled utterances in {len(counts)} topics (most frequent "
            f"{common}, {100 * counts[common] / len(topic_splits[name]):.1f} %), {len(chat_splits[name])} "
            "chat pairs"
        )


if __name__ == "__main__":
    main()
