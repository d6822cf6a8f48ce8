"""Generate a small synthetic translation task that needs attention to solve.

Source: English. A sentence is one clause, or two joined by "and"; a clause is
SUBJECT VERB OBJECT [PREPOSITION NP]. A subject is a pronoun (i he she we they)
or a noun phrase [DET] ADJ* NOUN ["that" VERB NP]; DET is the, a/an, some, a
number, or nothing (bare plurals). Noun phrases inside relative clauses and
prepositional phrases take no relative clause and the word classes are
disjoint, so each source sentence has one parse and exactly one translation.

Target: an invented language with a lexicon coined from LEXICON_SEED (--seed
changes the sampled sentences, never the language).
* Order: verb-final clauses with the prepositional phrase fronted as a
  postpositional phrase, [NP POSTP] SUBJECT OBJECT VERB; noun phrases are
  NOUN ADJ* DET (adjectives mirrored); relative clauses are NOUN ... ke OBJ VERB.
* Agreement: each noun has a fixed, unmarked gender a, e or o. Adjectives end
  in the gender (singular) or gender + "n" (plural); "the" is "l" + that ending
  and "a"/"some" is "m" + it (la, len, mo, ...); numbers do not inflect. Plural
  nouns add "ri". Verbs agree with their subject: -em 1sg, -a 3sg, -emu 1pl,
  -ant 3pl.

Why attention is needed: the order is not monotone (verbs move past whole
objects, prepositional phrases jump to the front, determiners move behind their
noun), and an ending can depend on a noun or subject many source words away, so
the decoder must look back at specific source positions.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from pathlib import Path

NOUNS = """dog cat bird horse cow rabbit duck frog snake lion tiger bear monkey fox goat pig
farmer teacher doctor student king queen baker sailor soldier girl boy friend neighbor artist
driver singer house garden river tree flower table chair window door book letter box bottle cup
plate apple banana cake car boat train bus bridge road city village church school market shop
hill mountain lake island forest field castle tower kitchen room bed lamp clock key coin ring
hat shoe shirt coat bag basket ball toy picture song story gift stone candle brush bench wall
fence map pen pencil phone""".split()
ADJECTIVES = """big small old young red blue green white black yellow brown happy sad tall short
heavy new quiet loud clever lazy angry hungry tired strong weak rich poor kind brave dirty
strange famous gentle proud shy wild busy cold warm""".split()
VERBS = """see like find take carry watch follow help want need buy sell paint open hold push
pull visit love hate remember forget chase catch build break fix bring move read write draw eat
drink cook wash meet teach know leave keep throw kick hide touch count answer greet protect
admire""".split()
PREPOSITIONS = "in on near under behind with from after".split()
NUMBERS = "two three four five six seven eight nine".split()
PRONOUNS = {"i": "1sg", "he": "3sg", "she": "3sg", "we": "1pl", "they": "3pl"}
SOURCE_FUNCTION_WORDS = {"the", "a", "an", "some", "that", "and"}

LEXICON_SEED = 20240601
DEFAULT_SEED = 13
MAX_WORDS = 25
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data" / "toy"
GENDERS = ("a", "e", "o")
NOUN_PLURAL = "ri"
VERB_ENDINGS = {"1sg": "em", "3sg": "a", "1pl": "emu", "3pl": "ant"}
ADJECTIVE_ENDINGS = tuple(g + n for g in GENDERS for n in ("", "n"))
ARTICLE_PREFIXES = {"the": "l", "a": "m", "some": "m"}  # prefixed to the adjective ending
TARGET_PRONOUNS = {"i": "mi", "he": "tor", "she": "sel", "we": "nami", "they": "toni"}
POSTPOSITIONS = dict(zip(PREPOSITIONS, "ku tel pon dar vis gom sen bal".split(), strict=True))
TARGET_NUMBERS = dict(zip(NUMBERS, "dui tiro kwa pindo seku sapta okto nuve".split(), strict=True))
RELATIVE_MARKER, CONJUNCTION = "ke", "ve"
CONSONANTS, VOWELS = "bdfgklmnprstvz", "aeiou"


@dataclass(frozen=True)
class NounPhrase:
    noun: str
    plural: bool
    det: str  # "the", "a", "some", a number word, or "" for a bare plural
    adjectives: tuple[str, ...]
    relative: tuple[str, NounPhrase] | None = None  # (verb, object) of "that ..."


@dataclass(frozen=True)
class Clause:
    subject: NounPhrase | str  # a str is a pronoun
    verb: str
    obj: NounPhrase
    pp: tuple[str, NounPhrase] | None


@dataclass(frozen=True)
class Lexicon:
    nouns: dict[str, str]
    genders: dict[str, str]
    adjectives: dict[str, str]
    verbs: dict[str, str]


def add_s(word: str) -> str:
    """English plural of a noun, or third person singular of a verb."""
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2] not in VOWELS:
        return word[:-1] + "ies"
    return word + "s"


def check_source_words_unambiguous() -> None:
    """Every English surface form belongs to exactly one word class."""
    nouns, verbs = {*NOUNS, *map(add_s, NOUNS)}, {*VERBS, *map(add_s, VERBS)}
    classes = [nouns, verbs, set(ADJECTIVES), set(PREPOSITIONS), set(NUMBERS), set(PRONOUNS)]
    classes.append(SOURCE_FUNCTION_WORDS)
    if sum(map(len, classes)) != len(set().union(*classes)):
        raise ValueError("a source word belongs to more than one word class")


def coin_stem(rng: random.Random, taken: set[str], shape: str, endings: tuple[str, ...]) -> str:
    """Invent a stem of the given shape (e.g. "CVCVC") whose inflected forms are all unused."""
    while True:
        stem = "".join(rng.choice(CONSONANTS if slot == "C" else VOWELS) for slot in shape)
        forms = {stem + ending for ending in endings}
        if not forms & taken:
            taken.update(forms)
            return stem


def build_lexicon(seed: int = LEXICON_SEED) -> Lexicon:
    rng = random.Random(seed)
    taken = {*TARGET_PRONOUNS.values(), *POSTPOSITIONS.values(), *TARGET_NUMBERS.values()}
    taken |= {p + e for p in ARTICLE_PREFIXES.values() for e in ADJECTIVE_ENDINGS}
    taken |= {RELATIVE_MARKER, CONJUNCTION}
    nouns = {w: coin_stem(rng, taken, "CVCV", ("", NOUN_PLURAL)) for w in NOUNS}
    genders = {w: rng.choice(GENDERS) for w in NOUNS}
    adjectives = {w: coin_stem(rng, taken, "CVCVC", ADJECTIVE_ENDINGS) for w in ADJECTIVES}
    verb_endings = tuple(VERB_ENDINGS.values())
    verbs = {w: coin_stem(rng, taken, "CVCVC", verb_endings) for w in VERBS}
    return Lexicon(nouns, genders, adjectives, verbs)


def sample_noun_phrase(rng: random.Random, allow_relative: bool) -> NounPhrase:
    plural = rng.random() < 0.4
    if plural:
        det = rng.choices(["the", "some", rng.choice(NUMBERS), ""], [0.35, 0.2, 0.25, 0.2])[0]
    else:
        det = rng.choice(["the", "a"])
    adjectives = tuple(rng.sample(ADJECTIVES, rng.choices([0, 1, 2], [0.6, 0.3, 0.1])[0]))
    relative = None
    if allow_relative and rng.random() < 0.15:
        relative = (rng.choice(VERBS), sample_noun_phrase(rng, allow_relative=False))
    return NounPhrase(rng.choice(NOUNS), plural, det, adjectives, relative)


def sample_clause(rng: random.Random) -> Clause:
    pronoun = rng.random() < 0.2
    subject = rng.choice(list(PRONOUNS)) if pronoun else sample_noun_phrase(rng, True)
    pp = None
    if rng.random() < 0.3:
        pp = (rng.choice(PREPOSITIONS), sample_noun_phrase(rng, allow_relative=False))
    return Clause(subject, rng.choice(VERBS), sample_noun_phrase(rng, allow_relative=True), pp)


def person_number(subject: NounPhrase | str) -> str:
    """Agreement class of a subject: "1sg", "3sg", "1pl" or "3pl"."""
    if isinstance(subject, str):
        return PRONOUNS[subject]
    return "3pl" if subject.plural else "3sg"


def english_verb(verb: str, subject: NounPhrase | str) -> str:
    return add_s(verb) if person_number(subject) == "3sg" else verb


def english_noun_phrase(np: NounPhrase) -> list[str]:
    words = [*np.adjectives, add_s(np.noun) if np.plural else np.noun]
    det = "an" if np.det == "a" and words[0][0] in VOWELS else np.det
    if det:
        words.insert(0, det)
    if np.relative:
        verb, obj = np.relative
        words += ["that", english_verb(verb, np), *english_noun_phrase(obj)]
    return words


def english_clause(clause: Clause) -> list[str]:
    subject = clause.subject
    words = [subject] if isinstance(subject, str) else english_noun_phrase(subject)
    words += [english_verb(clause.verb, subject), *english_noun_phrase(clause.obj)]
    if clause.pp:
        words += [clause.pp[0], *english_noun_phrase(clause.pp[1])]
    return words


def target_verb(verb: str, subject: NounPhrase | str, lex: Lexicon) -> str:
    return lex.verbs[verb] + VERB_ENDINGS[person_number(subject)]


def target_noun_phrase(np: NounPhrase, lex: Lexicon) -> list[str]:
    ending = lex.genders[np.noun] + ("n" if np.plural else "")
    words = [lex.nouns[np.noun] + (NOUN_PLURAL if np.plural else "")]
    words += [lex.adjectives[a] + ending for a in reversed(np.adjectives)]
    if np.det in TARGET_NUMBERS:
        words.append(TARGET_NUMBERS[np.det])
    elif np.det:
        words.append(ARTICLE_PREFIXES[np.det] + ending)
    if np.relative:
        verb, obj = np.relative
        words += [RELATIVE_MARKER, *target_noun_phrase(obj, lex), target_verb(verb, np, lex)]
    return words


def target_clause(clause: Clause, lex: Lexicon) -> list[str]:
    words: list[str] = []
    if clause.pp:
        words += [*target_noun_phrase(clause.pp[1], lex), POSTPOSITIONS[clause.pp[0]]]
    subject = clause.subject
    if isinstance(subject, str):
        words.append(TARGET_PRONOUNS[subject])
    else:
        words += target_noun_phrase(subject, lex)
    words += [*target_noun_phrase(clause.obj, lex), target_verb(clause.verb, subject, lex)]
    return words


def translate(clauses: list[Clause], lex: Lexicon) -> tuple[str, str]:
    source = " and ".join(" ".join(english_clause(c)) for c in clauses)
    target = f" {CONJUNCTION} ".join(" ".join(target_clause(c, lex)) for c in clauses)
    return source, target


def generate_pairs(count: int, seed: int, lex: Lexicon) -> list[tuple[str, str]]:
    """Sample `count` pairs with distinct source sentences of at most MAX_WORDS words."""
    rng = random.Random(seed)
    pairs: dict[str, str] = {}
    while len(pairs) < count:
        clauses = [sample_clause(rng) for _ in range(1 if rng.random() < 0.75 else 2)]
        source, target = translate(clauses, lex)
        if len(source.split()) <= MAX_WORDS:
            pairs.setdefault(source, target)
    return list(pairs.items())


def write_split(out: Path, name: str, pairs: list[tuple[str, str]]) -> None:
    for side, index in (("src", 0), ("tgt", 1)):
        text = "".join(pair[index] + "\n" for pair in pairs)
        (out / f"{name}.{side}").write_text(text, encoding="utf-8", newline="\n")


def describe(splits: dict[str, list[tuple[str, str]]]) -> None:
    print(", ".join(f"{name}: {len(pairs)} pairs" for name, pairs in splits.items()))
    every_pair = [pair for pairs in splits.values() for pair in pairs]
    for side, index in (("source", 0), ("target", 1)):
        lengths = [len(pair[index].split()) for pair in every_pair]
        types = {word for pair in every_pair for word in pair[index].split()}
        mean = sum(lengths) / len(lengths)
        stats = f"length mean {mean:.1f} min {min(lengths)} max {max(lengths)}"
        print(f"{side}: {stats}, {len(types)} word types")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="sampling seed")
    parser.add_argument("--train", type=int, default=6000, help="training pairs")
    parser.add_argument("--valid", type=int, default=300, help="validation pairs")
    parser.add_argument("--test", type=int, default=300, help="test pairs")
    args = parser.parse_args()
    check_source_words_unambiguous()
    pairs = generate_pairs(args.train + args.valid + args.test, args.seed, build_lexicon())
    end_train, end_valid = args.train, args.train + args.valid
    splits = {"train": pairs[:end_train], "valid": pairs[end_train:end_valid]}
    splits["test"] = pairs[end_valid:]
    args.out.mkdir(parents=True, exist_ok=True)
    for name, split_pairs in splits.items():
        write_split(args.out, name, split_pairs)
    describe(splits)


if __name__ == "__main__":
    main()
