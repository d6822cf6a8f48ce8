"""What `seq2seq export` advises: the engine and precision measured fastest for the model's kind
and width (docs/benchmarks.md, "Deploy: engines and int8")."""

from __future__ import annotations

from helpers import ROOT

from seq2seq.config.load import load_config
from seq2seq.deploy.advice import advice


def test_a_narrow_transformer_is_advised_ctranslate2_float32_and_no_int8():
    line = advice(load_config(ROOT / "configs" / "multi30k_transformer.yaml"))
    assert "--ctranslate2 in float32" in line and "int8 does not pay" in line


def test_a_base_size_transformer_is_advised_int8():
    wide = ["model.transformer.d_model=512", "model.transformer.heads=8", "model.transformer.d_ff=2048"]
    line = advice(load_config(ROOT / "configs" / "multi30k_transformer.yaml", wide))
    assert "--quantization int8" in line and "--int8" in line


def test_a_recurrent_model_is_advised_its_int8_file():
    line = advice(load_config(ROOT / "configs" / "multi30k_gru_bahdanau.yaml"))
    assert "int8 file" in line and "ctranslate2" not in line.lower()
