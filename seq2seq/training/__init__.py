"""The trainer, its state, schedule, validation, kept models, run folder and curves."""
