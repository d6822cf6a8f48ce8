"""The package's import graph: every module has a rank, and imports only go to lower ranks; no
module pulls in matplotlib at import time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "seq2seq"

RANKS = {
    "__init__": 0,
    "errors": 0,
    "special_ids": 0,
    "process": 0,
    "device": 0.5,  # between errors and what picks a device (train, translator)
    "attention": 0,
    "cells": 0,
    "dropout": 0,
    "interrupt": 0,
    "memory": 0,
    "packed_rnn": 0,
    "step_linear": -1,  # below attention and cells, which use it
    "wide_linear": -2,  # below step_linear, whose layers are wide ones
    "readout": 0,
    "confusion": 0,
    "batcher": 0,
    "distributed": 1,
    "divergence": 1,
    "curves": 1,
    "encoder": 1,
    "config_sections": 0.75,  # the dataclasses, over typed_config
    "config": 1,
    "typed_config": 0.5,  # between errors and config
    "multihead": 1,
    "stacked_encoder": 2,
    "decoder": 2,
    "transformer": 2,
    "classifier": 2,
    "schedule": 2,
    "tokenizer": 2,
    "loss": 3,
    "data": 3,
    "corpus": 3.5,  # the encoded cache, over data (its batches)
    "model": 4,
    "training_data": 4,
    "labeled_data": 4,
    "hypotheses": 3,
    "search": 5,
    "sampler": 6,
    "ensemble": 5,
    "checkpoint": 5,
    "line_stream": 0,
    "classification": 5,
    "scoring": 5,
    "evaluate": 6,
    "run_dir": 6,
    "train_state": 6,
    "validation": 7,
    "kept_models": 8,
    "final_model": 8.5,  # over kept_models and the task's validator, under train
    "datasets": 0.5,
    "ctranslate2_export": 6,  # over checkpoint and transformer
    "ctranslate2_engine": 7,  # over the export and evaluate, beside translator
    "translation_task": 8,
    "classification_task": 8,
    "task": 8,
    "translator": 7,
    "labeler": 7,
    "chat": 8,
    "train": 9,
    "api": 8,
    "server": 9,
    "cli_options": 9,
    "cli_train": 10,
    "cli_test": 10,
    "cli_translate": 10,
    "cli_score": 10,
    "cli_plot": 10,
    "cli_serve": 10,
    "cli_average": 10,
    "cli_classify": 10,
    "cli_chat": 10,
    "cli_data": 10,
    "cli_export": 10,
    "cli": 11,
    "__main__": 12,
}
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py"))


def package_imports(tree: ast.AST) -> set[str]:
    """Names of the package's own modules that a module imports, anywhere in its body."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module == "seq2seq":
                    found.update(_names(a.name for a in node.names))
                elif node.module and node.module.startswith("seq2seq."):
                    found.add(node.module.split(".")[1])
            elif node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:  # from . import x: a module if there is one, else a name from __init__
                    found.update(_names(a.name for a in node.names))
            else:
                raise AssertionError(f"relative import beyond the package at line {node.lineno}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "seq2seq":
                    found.add("__init__")
                elif alias.name.startswith("seq2seq."):
                    found.add(alias.name.split(".")[1])
    return found


def _names(names) -> set[str]:
    return {n if n in MODULES else "__init__" for n in names}


def top_level_imports(tree: ast.Module) -> set[str]:
    """Root names of the modules imported at import time (outside any function)."""
    roots: set[str] = set()

    def visit(nodes):
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(node, ast.Import):
                roots.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
            visit(ast.iter_child_nodes(node))

    visit(tree.body)
    return roots


def parse(name: str) -> ast.Module:
    return ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))


def test_every_module_has_a_rank():
    unranked = [m for m in MODULES if m not in RANKS]
    assert not unranked, f"add these modules to RANKS in tests/test_imports.py: {unranked}"
    assert set(RANKS) <= set(MODULES), f"RANKS names modules that do not exist: {set(RANKS) - set(MODULES)}"


@pytest.mark.parametrize("module", MODULES)
def test_imports_only_go_down(module):
    if module not in RANKS:
        pytest.fail(f"seq2seq/{module}.py has no rank in tests/test_imports.py")
    imported = package_imports(parse(module))
    if module == "__init__":
        assert not imported, "seq2seq/__init__.py must import nothing from the package"
        return
    upward = sorted(m for m in imported if RANKS.get(m, 99) >= RANKS[module])
    assert not upward, f"seq2seq/{module}.py (rank {RANKS[module]}) imports {upward} of equal or higher rank"


@pytest.mark.parametrize("module", MODULES)
def test_matplotlib_is_imported_only_inside_functions(module):
    assert "matplotlib" not in top_level_imports(parse(module))


def test_the_checker_sees_every_import_form():
    code = """
import seq2seq.model
from seq2seq import data
from seq2seq.search import beam_search
from . import __version__
from .config import Config
from .tokenizer import PAD_ID
import matplotlib.pyplot as plt
def f():
    import matplotlib
    from .train import train
"""
    tree = ast.parse(code)
    assert package_imports(tree) == {
        "model",
        "data",
        "search",
        "__init__",
        "config",
        "tokenizer",
        "train",
    }
    assert "matplotlib" in top_level_imports(tree)
    assert "matplotlib" not in top_level_imports(ast.parse("def f():\n    import matplotlib\n"))


def test_the_model_side_knows_the_special_ids_not_the_tokenizer():
    """The loss, batches, search and models need the PAD/BOS/EOS ids only: they take them from the
    leaf special_ids, never from the tokenizer (and SentencePiece and the config behind it)."""
    for name in ("loss", "data", "hypotheses", "search", "model"):
        assert "tokenizer" not in package_imports(parse(name)), name
