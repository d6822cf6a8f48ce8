"""Text classification, mirrored on translation: data, task, prediction, metrics, labeler."""
