"""Export a model file with int8 weights (`seq2seq export MODEL --int8 OUT.pt`): its linear and
recurrent layers quantized by PyTorch's dynamic quantization (models/int8.py says which and how),
for decoding on a CPU. The result is a model file like any other (model_file.py), smaller, and
`translate`, `test`, `serve`, `score`, `chat` and ensembles take it as they take the original;
it decodes on the CPU, with fp32 activations between the int8 products.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..models.int8 import int8_weights, quantize
from ..models.model_file import ModelFile


def export_int8(model_path: str | Path, out: str | Path) -> Path:
    """Write the int8 model file `out` (which must not exist) from the model file `model_path`;
    returns `out`. Written atomically: a failed export leaves nothing behind."""
    out = Path(out)
    source = ModelFile.read(model_path)
    if source.int8 is not None:
        raise UserError(f"{model_path} is an int8 model file already; export the model file it came from")
    if out.exists():
        raise UserError(f"{out} already exists; choose a new file for the int8 model")
    model, cfg, _ = source.build()
    if cfg.task != "translate":
        raise UserError(f"{model_path} is a classifier; --int8 exports translation models only")
    int8 = int8_weights(quantize(model))
    weights = {name: w for name, w in source.weights.items() if name not in int8}
    out.parent.mkdir(parents=True, exist_ok=True)
    ModelFile(source.config, source.tokenizer, weights, int8=int8).write(out)
    return out
