"""What a person reads: scores (sacrebleu) and pictures (matplotlib), from plain values."""
