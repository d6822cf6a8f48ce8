"""Which export decodes fastest for a model of this kind and size: what `seq2seq export` says after
it writes one, from the measurements in docs/benchmarks.md ("Deploy: engines and int8", 2 cores
of an AVX-512 BF16 CPU, test2016, whole `translate` commands, `scripts/deploy_speed.py`).

    Transformer d_model 128 (2.4 M parameters): CTranslate2 float32 fastest (1.25x-1.33x ours in
        bf16); int8 0.85x-1.07x float32 in either engine: it does not pay.
    Transformer d_model 512 (48 M): int8 pays: ours 2.0x fp32 and 1.1x-1.4x bf16, CTranslate2 int8
        1.3x-1.8x its float32; BLEU within 0.3.
    GRU with Bahdanau attention (9.3 M): ours int8 1.1x-1.4x fp32, even with bf16 (no CTranslate2).
"""

from __future__ import annotations

from ..config.load import Config

WIDE = 256  # from this d_model on, the int8 products save more than quantizing their inputs costs


def advice(cfg: Config) -> str:
    """One line: the fastest way to decode this model on a CPU, as measured."""
    where = 'docs/benchmarks.md, "Deploy: engines and int8"'
    if cfg.model.architecture != "transformer":
        return (
            "fastest on CPUs, as measured for a recurrent model: this int8 file (1.1x-1.4x fp32); "
            f"bf16 decodes as fast where the CPU has bf16 units ({where})"
        )
    if cfg.model.transformer.d_model >= WIDE:
        return (
            "fastest on CPUs, as measured for a Transformer this wide: int8, "
            "--ctranslate2 --quantization int8 with beam search, --int8 greedy "
            f"(1.3x-2.0x float32; {where})"
        )
    return (
        "fastest on CPUs, as measured for a Transformer this narrow: --ctranslate2 in float32; "
        f"int8 does not pay below d_model {WIDE} (0.85x-1.07x float32; {where})"
    )
