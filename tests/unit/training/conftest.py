"""The fixtures of the training tests: `scripted`, a validator whose scores are given in advance."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from seq2seq.cli import train as train_module
from seq2seq.training.translation_task import TranslationTask


class ScriptedValidator:
    """The real validator (it decodes and scores), but its score is the next one of `scores`."""

    def __init__(self, inner, scores: Iterator[float], calls: list):
        self.inner, self.scores, self.calls = inner, scores, calls
        self.metric, self.world = inner.metric, inner.world

    def final_searches(self):
        return self.inner.final_searches()

    def validate(self, model, search=None):
        result = self.inner.validate(model, search)
        score = next(self.scores)
        self.calls.append((result.search, score))
        return dataclasses.replace(result, score=score, metrics=result.metrics | {"bleu": score})


@pytest.fixture
def scripted(monkeypatch):
    """`use(scores)`: the next training's validations score `scores`, in order of the calls."""
    calls: list = []

    def use(scores: list[float]) -> list:
        script = iter(scores)

        class Task(TranslationTask):
            def load(self, *args, **kwargs):
                tokenizer, corpora, validator = super().load(*args, **kwargs)
                return tokenizer, corpora, ScriptedValidator(validator, script, calls)

        monkeypatch.setattr(train_module, "task_for", Task)
        calls.clear()
        return calls

    return use
