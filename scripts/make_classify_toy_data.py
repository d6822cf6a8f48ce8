"""Generate a small synthetic topic classification task where word order matters.

A sentence is 4 to 14 everyday filler words with one or two keywords of its topic (sport, weather,
food or music) put in at random places. In about a third of the sentences a keyword of another
topic appears too, negated ("not", "no", "never" or "without" right before it): "we talked about
the match and not the rain" is sport. The label is the topic of the keywords that are not negated.

Why it needs more than a bag of words: a sentence with a distractor holds keywords of two topics and
a negation word, and only the order says which keyword is negated. A bag-of-words classifier can
only guess on those sentences; a recurrent encoder reads "not" before a keyword, and attention
pooling learns to look at the keywords that count.

The files: {train,valid,test}.txt (one sentence per line) and .labels (one label per line).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

TOPICS = {
    "sport": "football tennis match goal referee stadium team player race coach league trophy",
    "weather": "rain storm sunshine snow wind cloud forecast thunder fog frost heatwave umbrella",
    "food": "bread cheese soup dinner kitchen recipe apple oven salad butter pasta cake",
    "music": "guitar song concert piano drums melody singer band album violin chorus rhythm",
}
KEYWORDS = {topic: words.split() for topic, words in TOPICS.items()}
FILLER = """the a we they she he saw talked about yesterday today again very really some many and
then after before with our my your old new good bad long short at in on for was were is it that
this big small there here quite always often people friends town morning evening week""".split()
NEGATIONS = ("not", "no", "never", "without")
DISTRACTOR_RATE = 0.35
DEFAULT_SEED = 7
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data" / "classify_toy"


def sample(rng: random.Random) -> tuple[str, str]:
    """One (sentence, label)."""
    topic = rng.choice(sorted(KEYWORDS))
    words = [rng.choice(FILLER) for _ in range(rng.randint(4, 14))]
    inserts = [[rng.choice(KEYWORDS[topic])] for _ in range(rng.randint(1, 2))]
    if rng.random() < DISTRACTOR_RATE:
        other = rng.choice([t for t in sorted(KEYWORDS) if t != topic])
        inserts.append([rng.choice(NEGATIONS), rng.choice(KEYWORDS[other])])
    for phrase in inserts:
        at = rng.randint(0, len(words))
        words[at:at] = phrase
    return " ".join(words), topic


def generate(n: int, seed: int) -> list[tuple[str, str]]:
    """n distinct sentences with their labels, in a fixed order for a seed."""
    rng = random.Random(seed)
    examples: dict[str, str] = {}
    while len(examples) < n:
        sentence, label = sample(rng)
        examples.setdefault(sentence, label)
    return list(examples.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="sampling seed")
    parser.add_argument("--train", type=int, default=4000, help="training sentences")
    parser.add_argument("--valid", type=int, default=300, help="validation sentences")
    parser.add_argument("--test", type=int, default=300, help="test sentences")
    args = parser.parse_args()
    examples = generate(args.train + args.valid + args.test, args.seed)
    bounds = {"train": (0, args.train), "valid": (args.train, args.train + args.valid)}
    bounds["test"] = (args.train + args.valid, len(examples))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (start, end) in bounds.items():
        part = examples[start:end]
        (args.out / f"{name}.txt").write_text("".join(s + "\n" for s, _ in part), encoding="utf-8")
        (args.out / f"{name}.labels").write_text("".join(label + "\n" for _, label in part), encoding="utf-8")
        negated = sum(any(w in NEGATIONS for w in s.split()) for s, _ in part)
        print(f"{name}: {len(part)} sentences, {negated} with a negated keyword of another topic")


if __name__ == "__main__":
    main()
