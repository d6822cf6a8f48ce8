"""seq2seq: RNN and Transformer translation from a YAML config (train, test, serve); classification, chat."""

import os

__version__ = "0.1.0"

# oneDNN (PyTorch's CPU matmul library) caches up to 1,024 compiled kernels, one per matrix shape.
# Batches of varying length make a new shape nearly every update, so the cache fills with kernels
# that are rarely used again and add up to a large share of training's peak memory. 128 keeps the
# ones that repeat, for a lower peak at the same speed (docs/benchmarks.md). Read at the first
# matrix product, so it must be set before that; a value in the environment wins.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "128")
