"""Baselines for a classification task: the majority class, and a bag-of-words logistic regression.

    python scripts/classify_baselines.py data/chatterbot/topics      # needs pip install -e '.[bench]'

DIR holds {train,valid,test}.txt and .labels (as scripts/prepare_chatterbot.py and
scripts/make_classify_toy_data.py write them). The regression reads word counts (scikit-learn's
CountVectorizer, lowercased unigrams) and picks its inverse regularization C on the validation
macro-F1. Figures are computed by seq2seq.classify.metrics, as `seq2seq test` computes them, and printed as
JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from seq2seq.classify.metrics import class_scores, confusion_matrix
from seq2seq.data.batches import read_lines

C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


def figures(gold: list[str], predicted: list[str], labels: list[str]) -> dict:
    index = {label: i for i, label in enumerate(labels)}
    confusion = confusion_matrix(
        np.array([index[g] for g in gold]), np.array([index[p] for p in predicted]), len(labels)
    )
    scores = class_scores(confusion)
    return {"accuracy": round(scores.accuracy, 2), "macro_f1": round(scores.macro_f1, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="folder with {train,valid,test}.txt and .labels")
    args = parser.parse_args()
    try:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise SystemExit("this needs scikit-learn: pip install -e '.[bench]'") from None
    text = {s: read_lines(args.dir / f"{s}.txt") for s in ("train", "valid", "test")}
    gold = {s: [x.strip() for x in read_lines(args.dir / f"{s}.labels")] for s in text}
    labels = sorted(set(gold["train"]) | set(gold["valid"]) | set(gold["test"]))
    majority = max(set(gold["train"]), key=gold["train"].count)
    result: dict = {
        "data": str(args.dir),
        "majority_class": {"label": majority}
        | {s: figures(gold[s], [majority] * len(gold[s]), labels) for s in ("valid", "test")},
    }
    vectorizer = CountVectorizer(lowercase=True)
    features = {
        s: (vectorizer.fit_transform if s == "train" else vectorizer.transform)(text[s]) for s in text
    }
    best = None
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=5000).fit(features["train"], gold["train"])
        valid = figures(gold["valid"], list(model.predict(features["valid"])), labels)
        if best is None or valid["macro_f1"] > best[1]["macro_f1"]:
            best = (c, valid, model)
    c, valid, model = best
    result["logistic_regression"] = {
        "features": f"word counts, {features['train'].shape[1]} words",
        "C": c,
        "valid": valid,
        "test": figures(gold["test"], list(model.predict(features["test"])), labels),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
