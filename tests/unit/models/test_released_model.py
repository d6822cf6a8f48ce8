"""models/multi30k_en_de.pt, the released model: small, its weights in bf16, its search settings
inside, loadable without running code, and it translates (models/README.md)."""

from __future__ import annotations

import torch
from helpers import ROOT

from seq2seq.inference.translator import Translator
from seq2seq.models.model_file import ModelFile

RELEASED = ROOT / "models" / "multi30k_en_de.pt"


def test_the_released_model_is_small_and_carries_its_choices():
    assert RELEASED.stat().st_size <= 10 * 2**20
    data = ModelFile.read(RELEASED)  # torch.load(weights_only=True) inside
    assert data.train_state is None
    assert all(t.dtype == torch.bfloat16 for t in data.weights.values() if t.is_floating_point())
    search = data.cfg().search
    assert search.beam_size == 5 and search.length_penalty in search.length_penalties


def test_the_released_model_translates_a_caption():
    translator = Translator.load(RELEASED)
    text = translator.translate(["A dog runs along the beach."])[0].text
    assert "Hund" in text and "Strand" in text, text
