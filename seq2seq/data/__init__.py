"""Text to ids and back: tokenizer, parallel files, the encoded corpus cache, batches, line streams,
datasets."""
