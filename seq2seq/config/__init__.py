"""Typed config sections, loading and overrides."""
