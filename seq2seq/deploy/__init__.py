"""Deployment engines: export to CTranslate2 and decode with it."""
